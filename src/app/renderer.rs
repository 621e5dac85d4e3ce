//! What draws the window: a GPU or a software rasteriser (lavapipe), decided
//! once the render adapter is known, for the plugins that trade quality for
//! speed on the latter.

use bevy::prelude::*;
use bevy::render::renderer::RenderAdapterInfo;

use crate::app::AppSystems;

/// The kind of renderer. It is `Hardware` until the adapter is known, and in
/// apps without a renderer (tests, benchmarks).
#[derive(Resource, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum RendererTier {
    /// A GPU: every line, MSAA, bloom and tone mapping.
    #[default]
    Hardware,
    /// A software rasteriser, where each line and effect is CPU time.
    Software,
}

impl RendererTier {
    /// The tier of the adapter `info` describes.
    pub(crate) fn of(info: &RenderAdapterInfo) -> RendererTier {
        if info.device_type == wgpu::DeviceType::Cpu {
            RendererTier::Software
        } else {
            RendererTier::Hardware
        }
    }

    /// Whether the renderer is a software rasteriser.
    pub(crate) fn is_software(self) -> bool {
        self == RendererTier::Software
    }
}

/// A run condition: the renderer is a software rasteriser.
pub(crate) fn on_software(tier: Res<RendererTier>) -> bool {
    tier.is_software()
}

/// Decides [`RendererTier`] once the render adapter is known.
pub(crate) struct RendererTierPlugin;

impl Plugin for RendererTierPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<RendererTier>().add_systems(
            Update,
            decide_tier
                .in_set(AppSystems::Input)
                .run_if(resource_added::<RenderAdapterInfo>),
        );
    }
}

fn decide_tier(info: Res<RenderAdapterInfo>, mut tier: ResMut<RendererTier>) {
    tier.set_if_neq(RendererTier::of(&info));
}
