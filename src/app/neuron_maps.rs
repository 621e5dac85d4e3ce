//! Neuron maps on 2D tasks: each hidden and output neuron's activation over
//! the input plane, coloured as TensorFlow Playground colours them, for the
//! panel and for the cards that float beside the neurons in 3D. They follow
//! the shown frame, and so the VCR cursor.

use bevy::asset::RenderAssetUsages;
use bevy::prelude::*;
use bevy::render::render_resource::{Extent3d, TextureDimension, TextureFormat};

use crate::app::AppSystems;
use crate::app::bridge::Run;
use crate::app::camera::MainCamera;
use crate::app::history::Shown;
use crate::app::network::{NetworkView, Neuron};
use crate::app::ui::task_view::{class_colour, tint, value_color};
use crate::app::visual::VisualSettings;
use crate::lab::analysis::{DEFAULT_MAP_SIDE, NeuronMaps};
use crate::lab::data::InputLayout;
use crate::lab::model::OutputKind;
use crate::lab::{Frame, Topology};

/// Recompute the maps at most this often while frames stream in (a map costs
/// a forward pass per pixel).
const REFRESH_EVERY: std::time::Duration = std::time::Duration::from_millis(150);

/// The maps of the shown frame, and their colours.
#[derive(Resource, Debug, Default)]
pub(super) struct NeuronMapView {
    /// The maps, when the task is on a plane.
    pub maps: Option<NeuronMaps>,
    /// RGBA pixels per neuron layer (after the inputs), per neuron.
    pub colours: Vec<Vec<Vec<u8>>>,
    /// Bumped whenever the maps change.
    pub serial: u64,
    /// The [`Shown`] frame's serial the maps were computed for.
    key: Option<u64>,
    /// When they were last computed.
    refreshed_at: Option<crate::lab::clock::Instant>,
    /// Recompute for every new frame (films: what a frame shows must not
    /// depend on the wall clock).
    pub every_frame: bool,
}

impl NeuronMapView {
    /// The RGBA pixels of neuron `index` of neuron layer `layer` (1 being the
    /// first hidden layer).
    pub(super) fn colours_of(&self, layer: usize, index: usize) -> Option<&[u8]> {
        self.colours
            .get(layer.checked_sub(1)?)?
            .get(index)
            .map(Vec::as_slice)
    }

    /// Pixels per side of each map (0 without maps).
    pub(super) fn side(&self) -> usize {
        self.maps.as_ref().map_or(0, |m| m.side)
    }
}

/// Computes the neuron maps of the shown frame on 2D tasks.
pub(super) struct NeuronMapsPlugin;

impl Plugin for NeuronMapsPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<NeuronMapView>()
            .add_systems(Update, update_maps.in_set(AppSystems::Visualize));
    }
}

/// The maps' colours: a hidden neuron's on a diverging scale (blue above
/// zero, orange below, its own largest |activation| saturated, so that each
/// map shows its pattern whatever its size); a softmax output in its
/// class's colour, saturated at probability 1; a linear output on a
/// diverging scale like a hidden neuron.
pub(super) fn map_colours(maps: &NeuronMaps, output: OutputKind) -> Vec<Vec<Vec<u8>>> {
    let last = maps.layers.len().saturating_sub(1);
    maps.layers
        .iter()
        .enumerate()
        .map(|(l, layer)| {
            let softmax = l == last && output == OutputKind::Softmax;
            layer
                .iter()
                .enumerate()
                .map(|(n, map)| {
                    let scale = map
                        .iter()
                        .filter(|v| v.is_finite())
                        .fold(0.0f32, |m, v| m.max(v.abs()))
                        .max(1e-6);
                    map.iter()
                        .flat_map(|&v| {
                            let c = if !v.is_finite() {
                                [0, 0, 0]
                            } else if softmax {
                                tint(class_colour(n), v.clamp(0.0, 1.0))
                            } else {
                                value_color(v / scale)
                            };
                            [c[0], c[1], c[2], 255]
                        })
                        .collect()
                })
                .collect()
        })
        .collect()
}

/// The maps of `frame` over `topology`'s input plane, `None` when the
/// inputs are not a plane.
pub(super) fn maps_of(frame: &Frame, topology: &Topology, side: usize) -> Option<NeuronMaps> {
    let InputLayout::Plane { x, y } = topology.layout else {
        return None;
    };
    if frame.sizes() != topology.network.sizes {
        return None;
    }
    NeuronMaps::compute(
        frame,
        &topology.network.activations,
        topology.network.output,
        (x, y),
        side,
    )
}

fn update_maps(run: Res<Run>, shown: Res<Shown>, mut view: ResMut<NeuronMapView>) {
    if run.is_changed() {
        // A new run's maps are drawn with its first frame, not throttled.
        view.key = None;
        view.refreshed_at = None;
    }
    let key = shown.serial;
    if view.key == Some(key) {
        return;
    }
    if !view.every_frame
        && view
            .refreshed_at
            .is_some_and(|t| t.elapsed() < REFRESH_EVERY)
    {
        return;
    }
    let (Some(frame), Some(topology)) = (&shown.frame, &run.topology) else {
        return;
    };
    let maps = maps_of(frame, topology, DEFAULT_MAP_SIDE);
    view.key = Some(key);
    view.refreshed_at = Some(crate::lab::clock::Instant::now());
    view.colours = maps
        .as_ref()
        .map(|m| map_colours(m, topology.network.output))
        .unwrap_or_default();
    view.maps = maps;
    view.serial += 1;
}

/// A neuron's map as a card floating beside it in the 3D scene.
#[derive(Component, Debug, Clone, Copy, PartialEq)]
pub(super) struct NeuronCard {
    /// Neuron layer (1 being the first hidden layer).
    pub layer: usize,
    /// Index within the layer.
    pub index: usize,
    /// Where its neuron is.
    pub anchor: Vec3,
    /// How far right of the neuron (as the camera sees it) its centre is.
    pub offset: f32,
}

/// The cards' images, and the maps they show.
#[derive(Resource, Debug, Default)]
struct CardState {
    /// Set when the network is rebuilt: the cards wait for its maps.
    stale: bool,
    /// The map serial the images hold.
    shown: u64,
    /// Each card's image.
    images: Vec<(NeuronCard, Handle<Image>)>,
    /// The cards, despawned with their network.
    entities: Vec<Entity>,
}

/// Draws the maps as textured cards beside their neurons (needs a renderer).
pub(super) struct NeuronCardsPlugin;

impl Plugin for NeuronCardsPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<CardState>().add_systems(
            Update,
            // In Upload: the cards are painted from the maps Visualize made.
            (build_cards, paint_cards, face_camera)
                .chain()
                .in_set(AppSystems::Upload),
        );
    }
}

/// Cards are made for layers drawn as a column of at most this many neurons.
const CARD_LAYER_MAX: usize = 24;

/// Spawns a card beside each neuron of the hidden and output layers once a
/// network on a plane has its maps.
#[allow(
    clippy::too_many_arguments,
    reason = "a Bevy system takes each resource and query it reads as a parameter"
)]
fn build_cards(
    mut commands: Commands,
    run: Res<Run>,
    network: Res<NetworkView>,
    maps: Res<NeuronMapView>,
    neurons: Query<(&Neuron, &Transform)>,
    mut state: ResMut<CardState>,
    mut meshes: ResMut<Assets<Mesh>>,
    mut materials: ResMut<Assets<StandardMaterial>>,
    mut images: ResMut<Assets<Image>>,
) {
    if network.is_changed() {
        state.stale = true;
    }
    if !state.stale || maps.maps.is_none() {
        return;
    }
    let (Some(layout), Some(topology)) = (&network.layout, &run.topology) else {
        return;
    };
    state.stale = false;
    state.shown = 0;
    state.images.clear();
    for e in state.entities.drain(..) {
        commands.entity(e).despawn();
    }
    let side = maps.side() as u32;
    for (neuron, at) in &neurons {
        let (l, i) = (neuron.layer, neuron.index);
        let width = topology.network.sizes.get(l).copied().unwrap_or(0);
        if l == 0 || width > CARD_LAYER_MAX {
            continue;
        }
        let Some(spacing) = layout.layers.get(l).map(|layer| {
            if width > 1 {
                layer.positions[0].distance(layer.positions[1])
            } else {
                1.2
            }
        }) else {
            continue;
        };
        let card_side = (spacing * 0.85).min(0.9);
        let image = images.add(Image::new_fill(
            Extent3d {
                width: side,
                height: side,
                depth_or_array_layers: 1,
            },
            TextureDimension::D2,
            &[0, 0, 0, 255],
            TextureFormat::Rgba8UnormSrgb,
            RenderAssetUsages::default(),
        ));
        let material = materials.add(StandardMaterial {
            base_color_texture: Some(image.clone()),
            unlit: true,
            double_sided: true,
            cull_mode: None,
            ..default()
        });
        let radius = layout.layers[l].radius;
        let card = NeuronCard {
            layer: l,
            index: i,
            anchor: at.translation,
            offset: radius + 0.1 + card_side / 2.0,
        };
        let entity = commands
            .spawn((
                card,
                Mesh3d(meshes.add(Rectangle::new(card_side, card_side))),
                MeshMaterial3d(material),
                Transform::from_translation(card.anchor + Vec3::X * card.offset),
            ))
            .id();
        state.entities.push(entity);
        state.images.push((card, image));
    }
}

/// Writes the shown maps into the cards' images, and hides the cards when
/// they are turned off or there are no maps.
fn paint_cards(
    maps: Res<NeuronMapView>,
    settings: Res<VisualSettings>,
    mut state: ResMut<CardState>,
    mut images: ResMut<Assets<Image>>,
    mut cards: Query<&mut Visibility, With<NeuronCard>>,
) {
    let visible = settings.neuron_cards && maps.maps.is_some();
    for mut v in &mut cards {
        let want = if visible {
            Visibility::Inherited
        } else {
            Visibility::Hidden
        };
        if *v != want {
            *v = want;
        }
    }
    if state.shown == maps.serial || !visible {
        return;
    }
    state.shown = maps.serial;
    for (card, handle) in &state.images {
        if let (Some(pixels), Some(mut image)) = (
            maps.colours_of(card.layer, card.index),
            images.get_mut(handle),
        ) && image.data.as_ref().is_some_and(|d| d.len() == pixels.len())
        {
            image.data = Some(pixels.to_vec());
        }
    }
}

/// Turns every card to face the camera, to the right of its neuron as the
/// camera sees it: a map read edge-on shows nothing.
fn face_camera(
    cameras: Query<(&GlobalTransform, Has<MainCamera>), With<Camera3d>>,
    mut cards: Query<(&NeuronCard, &mut Transform)>,
) {
    // The app's camera, or a film's.
    let Some((eye, _)) = cameras.iter().max_by_key(|(_, main)| *main) else {
        return;
    };
    let (_, rotation, _) = eye.to_scale_rotation_translation();
    let right = rotation * Vec3::X;
    for (card, mut t) in &mut cards {
        let placed = Transform {
            translation: card.anchor + right * card.offset,
            rotation,
            scale: Vec3::ONE,
        };
        if *t != placed {
            *t = placed;
        }
    }
}
