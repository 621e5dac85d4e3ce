//! The camera: orbit, pan and zoom through the network; hotkeys frame it; a click picks a neuron.

use bevy::core_pipeline::tonemapping::{DebandDither, Tonemapping};
use bevy::input::mouse::MouseButton;
use bevy::post_process::bloom::Bloom;
use bevy::prelude::*;
use bevy::window::PrimaryWindow;
use bevy_egui::input::EguiWantsInput;
use bevy_panorbit_camera::PanOrbitCamera;

use crate::app::AppSystems;
use crate::app::bridge::TrainingState;
use crate::app::messages::{CameraPose, FrameTarget, SendCommand};
use crate::app::network::{NetworkView, Neuron, NeuronId, Selection};
use crate::app::visual::VisualSettings;
use crate::lab::TrainerCommand;

/// The keys that frame neuron layers 0 to 9.
pub(super) const DIGIT_KEYS: [KeyCode; 10] = [
    KeyCode::Digit0,
    KeyCode::Digit1,
    KeyCode::Digit2,
    KeyCode::Digit3,
    KeyCode::Digit4,
    KeyCode::Digit5,
    KeyCode::Digit6,
    KeyCode::Digit7,
    KeyCode::Digit8,
    KeyCode::Digit9,
];

/// Vertical field of view of the camera, in radians.
const FOV: f32 = std::f32::consts::FRAC_PI_4;

/// The main camera.
#[derive(Component)]
pub(super) struct MainCamera;

/// What the camera frames when a network appears or the view changes shape:
/// the whole network, or (in the dashboard) the surface.
#[derive(Resource, Debug, Clone, Copy, PartialEq)]
pub(super) struct CameraHome(pub FrameTarget);

impl Default for CameraHome {
    fn default() -> Self {
        CameraHome(FrameTarget::All)
    }
}

/// Where the overlay's panels are on screen (logical pixels), so that the
/// camera and picking leave them alone. The overlay (`UiPlugin`) keeps it.
#[derive(Resource, Debug, Default, Clone)]
pub(super) struct OverlayRects {
    /// Each panel's name and (min, max) corners.
    pub rects: Vec<(&'static str, Vec2, Vec2)>,
    /// The area the panels leave free for the 3D view, if they take any.
    pub free: Option<(Vec2, Vec2)>,
}

impl OverlayRects {
    /// True when `p` lies on a panel.
    pub(super) fn contains(&self, p: Vec2) -> bool {
        self.rects
            .iter()
            .any(|(_, lo, hi)| p.x >= lo.x && p.y >= lo.y && p.x <= hi.x && p.y <= hi.y)
    }
}

/// Camera, hotkeys and picking.
pub(super) struct CameraPlugin;

impl Plugin for CameraPlugin {
    fn build(&self, app: &mut App) {
        // The overlay camera carries the egui context: egui must not make its own.
        app.insert_resource(bevy_egui::EguiGlobalSettings {
            auto_create_primary_context: false,
            ..default()
        })
        .init_resource::<CameraHome>()
        .add_systems(Startup, spawn_camera)
        .add_systems(
            Update,
            (
                gate_camera,
                hotkeys,
                pick,
                apply_msaa,
                fit_viewport,
                frame_on_new_network,
                apply_frame_target,
                apply_camera_pose,
            )
                .chain()
                .in_set(AppSystems::Input),
        );
    }
}

/// Marks the camera that draws only the egui overlay, over the whole window.
#[derive(Component)]
pub(super) struct OverlayCamera;

/// The 3D camera's lens, shared by the app and films: HDR look, bloom, MSAA.
pub(super) fn lens() -> impl Bundle {
    (
        Camera3d::default(),
        Projection::Perspective(PerspectiveProjection {
            fov: FOV,
            ..default()
        }),
        Tonemapping::TonyMcMapface,
        Bloom {
            intensity: 0.25,
            ..Bloom::NATURAL
        },
        Msaa::Sample4,
        Transform::from_xyz(-12.0, 6.0, 24.0).looking_at(Vec3::ZERO, Vec3::Y),
    )
}

/// Takes the HDR look off a camera for a software renderer: bloom, tone
/// mapping and dithering cost such a renderer more than the scene does.
pub(super) fn software_lens(camera: &mut EntityCommands) {
    camera
        .remove::<Bloom>()
        .insert((Tonemapping::None, DebandDither::Disabled));
}

/// A camera that draws only egui, over what the 3D camera drew.
pub(super) fn egui_overlay() -> impl Bundle {
    (
        bevy_egui::PrimaryEguiContext,
        Camera2d,
        bevy::camera::visibility::RenderLayers::none(),
        Camera {
            order: 1,
            output_mode: bevy::camera::CameraOutputMode::Write {
                blend_state: Some(bevy::render::render_resource::BlendState::ALPHA_BLENDING),
                clear_color: ClearColorConfig::None,
            },
            clear_color: ClearColorConfig::Custom(Color::NONE),
            ..default()
        },
    )
}

fn spawn_camera(mut commands: Commands) {
    // The overlay has its own camera, so that the 3D camera can be narrowed to
    // the area between the panels while egui still covers the whole window.
    commands.spawn((OverlayCamera, egui_overlay()));
    commands.spawn((
        MainCamera,
        lens(),
        PanOrbitCamera {
            yaw: Some(-0.9),
            pitch: Some(0.3),
            radius: Some(30.0),
            ..default()
        },
    ));
}

/// Who a drag belongs to: the one under the pointer when the button went down.
#[derive(Default, PartialEq, Eq, Clone, Copy)]
enum PointerOwner {
    #[default]
    None,
    Ui,
    Camera,
}

/// True when the pointer is over an egui panel or widget.
fn pointer_on_overlay(
    wants: Option<&EguiWantsInput>,
    overlay: Option<&OverlayRects>,
    cursor: Option<Vec2>,
) -> bool {
    // Panels drawn into our own root Ui do not count as egui areas for bevy_egui,
    // so their rectangles are checked too.
    wants.is_some_and(|w| w.wants_any_pointer_input())
        || cursor.is_some_and(|c| overlay.is_some_and(|o| o.contains(c)))
}

/// The camera ignores the pointer while it is on the overlay, and a drag that
/// began on the 3D view keeps the camera even when it passes over a panel.
fn gate_camera(
    wants: Option<Res<EguiWantsInput>>,
    overlay: Option<Res<OverlayRects>>,
    buttons: Res<ButtonInput<MouseButton>>,
    window: Query<&Window, With<PrimaryWindow>>,
    mut owner: Local<PointerOwner>,
    mut cameras: Query<&mut PanOrbitCamera>,
) {
    let cursor = window.single().ok().and_then(Window::cursor_position);
    let over_ui = pointer_on_overlay(wants.as_deref(), overlay.as_deref(), cursor);
    // Whoever the pointer was over when a drag began keeps it until release.
    let any_down = buttons.get_pressed().next().is_some();
    if !any_down {
        *owner = PointerOwner::None;
    } else if *owner == PointerOwner::None {
        *owner = if over_ui {
            PointerOwner::Ui
        } else {
            PointerOwner::Camera
        };
    }
    let egui_has_pointer = match *owner {
        PointerOwner::None => over_ui,
        PointerOwner::Ui => true,
        PointerOwner::Camera => false,
    };
    for mut cam in &mut cameras {
        if cam.enabled == egui_has_pointer {
            cam.enabled = !egui_has_pointer;
        }
    }
}

fn hotkeys(
    keys: Res<ButtonInput<KeyCode>>,
    wants: Option<Res<EguiWantsInput>>,
    state: Res<TrainingState>,
    mut selection: ResMut<Selection>,
    mut targets: MessageWriter<FrameTarget>,
    mut commands: MessageWriter<SendCommand>,
) {
    if wants.is_some_and(|w| w.wants_any_keyboard_input()) {
        return;
    }
    if keys.just_pressed(KeyCode::KeyF) {
        targets.write(FrameTarget::All);
    }
    if keys.just_pressed(KeyCode::KeyG) {
        targets.write(FrameTarget::Selected);
    }
    for (d, key) in DIGIT_KEYS.iter().enumerate() {
        if keys.just_pressed(*key) {
            targets.write(FrameTarget::Layer(d));
        }
    }
    if keys.just_pressed(KeyCode::Escape) {
        selection.neuron = None;
    }
    if keys.just_pressed(KeyCode::Space) {
        let command = if *state == TrainingState::Running {
            TrainerCommand::Pause
        } else {
            TrainerCommand::Resume
        };
        commands.write(SendCommand(command));
    }
    if keys.just_pressed(KeyCode::Period) {
        commands.write(SendCommand(TrainerCommand::Step(1)));
    }
}

/// Remembers where a left click began, to tell a click from a drag.
#[derive(Default)]
struct PressAt(Option<Vec2>);

/// A left click (not a drag) on a neuron selects it.
#[allow(
    clippy::too_many_arguments,
    reason = "a Bevy system takes each resource and query it reads as a parameter"
)]
fn pick(
    mut press: Local<PressAt>,
    buttons: Res<ButtonInput<MouseButton>>,
    wants: Option<Res<EguiWantsInput>>,
    overlay: Option<Res<OverlayRects>>,
    window: Query<&Window, With<PrimaryWindow>>,
    camera: Query<(&Camera, &GlobalTransform), With<MainCamera>>,
    neurons: Query<(&Neuron, &Transform)>,
    view: Res<NetworkView>,
    mut selection: ResMut<Selection>,
) {
    let Ok(window) = window.single() else { return };
    let cursor = window.cursor_position();
    if pointer_on_overlay(wants.as_deref(), overlay.as_deref(), cursor) {
        press.0 = None;
        return;
    }
    if buttons.just_pressed(MouseButton::Left) {
        press.0 = cursor;
    }
    if !buttons.just_released(MouseButton::Left) {
        return;
    }
    let (Some(start), Some(end)) = (press.0.take(), cursor) else {
        return;
    };
    if start.distance(end) > 4.0 {
        return;
    }
    let Ok((camera, cam_transform)) = camera.single() else {
        return;
    };
    // Bevy takes window coordinates here and subtracts the viewport's corner
    // itself (the 3D view starts right of the control panel).
    let Ok(ray) = camera.viewport_to_world(cam_transform, end) else {
        return;
    };

    let Some(layout) = &view.layout else { return };
    if let Some(hit) = nearest_hit(
        ray,
        neurons.iter().map(|(n, t)| {
            let r = layout.layers.get(n.layer).map_or(0.2, |l| l.radius);
            (n.id(), t.translation, r)
        }),
    ) {
        selection.neuron = Some(hit);
    }
}

/// The closest sphere the ray passes through (with a little slack for small bulbs).
pub(super) fn nearest_hit(
    ray: Ray3d,
    spheres: impl Iterator<Item = (NeuronId, Vec3, f32)>,
) -> Option<NeuronId> {
    let dir = ray.direction.as_vec3();
    spheres
        .filter_map(|(id, center, radius)| {
            let to = center - ray.origin;
            let along = to.dot(dir);
            if along <= 0.0 {
                return None;
            }
            let miss = (to - dir * along).length();
            (miss <= radius * 1.4).then_some((along, id))
        })
        .min_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, id)| id)
}

/// Frames the whole network when a new one appears, and once more when the
/// panels first narrow the view.
fn frame_on_new_network(
    view: Res<NetworkView>,
    home: Res<CameraHome>,
    cameras: Query<&Camera, With<MainCamera>>,
    mut narrowed: Local<bool>,
    mut targets: MessageWriter<FrameTarget>,
) {
    if view.layout.is_none() {
        return;
    }
    let has_viewport = cameras.iter().any(|c| c.viewport.is_some());
    if view.is_changed() || (has_viewport && !*narrowed) {
        *narrowed = has_viewport;
        targets.write(home.0);
    }
}

fn apply_frame_target(
    mut targets: MessageReader<FrameTarget>,
    view: Res<NetworkView>,
    selection: Res<Selection>,
    mut cameras: Query<(&mut PanOrbitCamera, &Camera), With<MainCamera>>,
) {
    let Some(layout) = &view.layout else { return };
    for target in targets.read() {
        let (center, half) = match *target {
            FrameTarget::All => {
                let (lo, hi) = layout.bounds();
                ((lo + hi) / 2.0, (hi - lo) / 2.0)
            }
            FrameTarget::Surface => {
                let (lo, hi) = layout
                    .surface
                    .map_or_else(|| layout.bounds(), |s| s.bounds());
                ((lo + hi) / 2.0, (hi - lo) / 2.0)
            }
            FrameTarget::Layer(l) => match layout.layers.get(l) {
                Some(layer) => (layer.center, layer.half_extent),
                None => continue,
            },
            FrameTarget::Selected => {
                let Some(NeuronId { layer: l, index: i }) = selection.neuron else {
                    continue;
                };
                match layout
                    .layers
                    .get(l)
                    .and_then(|layer| layer.positions.get(i).map(|p| (*p, layer.radius)))
                {
                    Some((p, r)) => (p, Vec3::splat(r * 6.0)),
                    None => continue,
                }
            }
        };
        let extent = half.length().max(0.5);
        for (mut cam, camera) in &mut cameras {
            // Fit both ways: a tall, narrow view is limited by its width.
            let aspect = camera
                .logical_viewport_size()
                .map_or(1.0, |s| s.x / s.y.max(1.0));
            let tan_half = (FOV / 2.0).tan() * aspect.min(1.0);
            cam.target_focus = center;
            cam.target_radius = extent / tan_half * 1.05;
            cam.force_update = true;
        }
    }
}

/// Glides the camera to a pose asked for by a lesson.
fn apply_camera_pose(
    mut poses: MessageReader<CameraPose>,
    view: Res<NetworkView>,
    mut cameras: Query<(&mut PanOrbitCamera, &Camera), With<MainCamera>>,
) {
    let Some(layout) = &view.layout else { return };
    for CameraPose(pose) in poses.read() {
        for (mut cam, camera) in &mut cameras {
            let aspect = camera
                .logical_viewport_size()
                .map_or(1.0, |s| s.x / s.y.max(1.0));
            let (focus, eye) = crate::app::layout::pose_placement(layout, pose, FOV, aspect);
            // The orbit camera's yaw and pitch are the pose's, in radians.
            cam.target_focus = focus;
            cam.target_radius = focus.distance(eye);
            cam.target_yaw = pose.yaw.to_radians();
            cam.target_pitch = pose.pitch.to_radians();
            cam.force_update = true;
        }
    }
}

/// Draws the 3D view in the area the panels leave free, so that the network is
/// framed where it can be seen.
fn fit_viewport(
    overlay: Option<Res<OverlayRects>>,
    window: Query<&Window, With<PrimaryWindow>>,
    mut cameras: Query<&mut Camera, With<MainCamera>>,
) {
    let Some(overlay) = overlay else { return };
    if !overlay.is_changed() {
        return;
    }
    let Ok(window) = window.single() else { return };
    let scale = window.scale_factor();
    let physical = UVec2::new(window.physical_width(), window.physical_height());
    let viewport = overlay.free.and_then(|(lo, hi)| {
        let position = (lo * scale).round().as_uvec2().min(physical);
        let size = ((hi - lo) * scale)
            .round()
            .as_uvec2()
            .min(physical - position);
        (size.x > 0 && size.y > 0).then(|| bevy::camera::Viewport {
            physical_position: position,
            physical_size: size,
            ..default()
        })
    });
    let key = |v: &Option<bevy::camera::Viewport>| {
        v.as_ref().map(|v| (v.physical_position, v.physical_size))
    };
    for mut camera in &mut cameras {
        if key(&camera.viewport) != key(&viewport) {
            camera.viewport = viewport.clone();
        }
    }
}

/// Follows the antialiasing setting.
fn apply_msaa(settings: Res<VisualSettings>, mut cameras: Query<&mut Msaa, With<MainCamera>>) {
    let want = if settings.msaa {
        Msaa::Sample4
    } else {
        Msaa::Off
    };
    for mut msaa in &mut cameras {
        msaa.set_if_neq(want);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nearest_sphere_on_the_ray_is_picked() {
        let ray = Ray3d::new(Vec3::new(0.0, 0.0, 10.0), Dir3::NEG_Z);
        let n = NeuronId::new;
        let spheres = vec![
            (n(0, 0), Vec3::new(0.0, 0.0, 0.0), 0.2),
            (n(0, 1), Vec3::new(0.0, 0.0, 5.0), 0.2),
            (n(0, 2), Vec3::new(3.0, 0.0, 8.0), 0.2),
            (n(0, 3), Vec3::new(0.0, 0.0, 12.0), 0.2),
        ];
        assert_eq!(nearest_hit(ray, spheres.clone().into_iter()), Some(n(0, 1)));
        let miss = Ray3d::new(Vec3::new(1.0, 1.0, 10.0), Dir3::NEG_Z);
        assert_eq!(nearest_hit(miss, spheres.into_iter()), None);
    }
}
