//! Neurons and synapses as ECS entities: spawned from the topology, filled from frames.

use bevy::prelude::*;

use crate::app::AppSystems;
use crate::app::bridge::{Run, SceneInForce};
use crate::app::history::Shown;
use crate::app::layout::NetworkLayout;
use crate::lab::Frame;

/// A neuron and its live values (those of the probe sample, unless noted).
#[derive(Component, Debug, Clone, Default, PartialEq)]
pub(super) struct Neuron {
    /// Layer, 0 being the inputs.
    pub layer: usize,
    /// Index within the layer.
    pub index: usize,
    /// Output after the non-linearity (the pixel value for an input).
    pub activation: f32,
    /// z = Σ w·x + b (0 for inputs).
    pub pre_activation: f32,
    /// Activation averaged over the mini-batch.
    pub mean_activation: f32,
    /// ∂L/∂z for the probe sample (0 for inputs).
    pub gradient: f32,
    /// ∂L/∂b over the mini-batch (0 for inputs).
    pub batch_gradient: f32,
    /// Bias (0 for inputs).
    pub bias: f32,
    /// Left out of the shown step's training pass by dropout (for the
    /// first sample of its batch; the probe's values are the whole network's).
    pub dropped: bool,
}

/// A synapse (one weight) and its live values.
#[derive(Component, Debug, Clone, Default, PartialEq)]
pub(super) struct Synapse {
    /// Weight layer: joins neuron layer `layer` to `layer + 1`.
    pub layer: usize,
    /// Index of the source neuron in layer `layer`.
    pub from: usize,
    /// Index of the target neuron in layer `layer + 1`.
    pub to: usize,
    /// The weight.
    pub weight: f32,
    /// ∂L/∂w over the mini-batch.
    pub gradient: f32,
}

/// The network's layout and entities; written only when a new run's
/// network is spawned, so its change is what "rebuilt" means downstream.
#[derive(Resource, Default)]
pub(super) struct NetworkView {
    /// Positions of the neurons.
    pub layout: Option<NetworkLayout>,
    /// Neuron entities per layer.
    pub neurons: Vec<Vec<Entity>>,
}

/// Which shown frame's values are in the network's components.
#[derive(Resource, Debug, Default, Clone, Copy, PartialEq)]
pub(super) struct AppliedFrame {
    /// The [`Shown`] frame's serial (0: none since the last rebuild).
    pub serial: u64,
    /// The dropout (seed and rate) its marks were drawn with: a live edit of
    /// the rate redraws them on the shown frame.
    pub dropout: Option<(u64, f32)>,
}

impl AppliedFrame {
    /// The shown frame, once its values are in the entities (and it fits them).
    pub(super) fn of<'a>(&self, shown: &'a Shown) -> Option<&'a Frame> {
        (self.serial == shown.serial && self.serial != 0)
            .then_some(shown.frame.as_deref())
            .flatten()
    }
}

/// A neuron of the shown network: its layer (0: the inputs) and its index
/// in the layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NeuronId {
    /// The layer, 0 for the inputs.
    pub layer: usize,
    /// The neuron's index in its layer.
    pub index: usize,
}

impl Neuron {
    /// Which neuron this is.
    pub(super) fn id(&self) -> NeuronId {
        NeuronId::new(self.layer, self.index)
    }
}

impl NeuronId {
    /// Neuron `index` of layer `layer`.
    pub fn new(layer: usize, index: usize) -> Self {
        NeuronId { layer, index }
    }

    /// Whether a network of layer widths `sizes` has this neuron.
    pub(super) fn is_in(self, sizes: &[usize]) -> bool {
        sizes.get(self.layer).is_some_and(|&n| self.index < n)
    }
}

/// The neuron the user picked, if any.
#[derive(Resource, Debug, Default, Clone, Copy, PartialEq)]
pub(super) struct Selection {
    /// The selected neuron.
    pub neuron: Option<NeuronId>,
}

/// Spawns and updates the network's entities.
pub(super) struct NetworkPlugin;

impl Plugin for NetworkPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<NetworkView>()
            .init_resource::<AppliedFrame>()
            .init_resource::<Selection>()
            .add_systems(
                Update,
                (respawn.run_if(resource_changed::<Run>), apply_frame)
                    .chain()
                    .in_set(AppSystems::Apply),
            );
    }
}

/// Filter for the entities that make up the network.
type NetworkEntity = Or<(With<Neuron>, With<Synapse>)>;

/// Despawns the old network and spawns the new one when a run (re)starts.
fn respawn(
    mut commands: Commands,
    run: Res<Run>,
    mut view: ResMut<NetworkView>,
    mut applied: ResMut<AppliedFrame>,
    mut selection: ResMut<Selection>,
    old: Query<Entity, NetworkEntity>,
) {
    let Some(topology) = &run.topology else {
        return;
    };
    for e in &old {
        commands.entity(e).despawn();
    }
    let layout = NetworkLayout::new(topology);
    let neurons: Vec<Vec<Entity>> = layout
        .layers
        .iter()
        .enumerate()
        .map(|(l, layer)| {
            layer
                .positions
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    commands
                        .spawn((
                            Neuron {
                                layer: l,
                                index: i,
                                ..default()
                            },
                            Transform::from_translation(*p),
                        ))
                        .id()
                })
                .collect()
        })
        .collect();
    let sizes = &topology.network.sizes;
    let synapses: Vec<Synapse> = sizes
        .windows(2)
        .enumerate()
        .flat_map(|(l, w)| {
            let (n_in, n_out) = (w[0], w[1]);
            (0..n_in).flat_map(move |from| {
                (0..n_out).map(move |to| Synapse {
                    layer: l,
                    from,
                    to,
                    ..default()
                })
            })
        })
        .collect();
    commands.spawn_batch(synapses);
    *view = NetworkView {
        layout: Some(layout),
        neurons,
    };
    *applied = AppliedFrame::default();
    if selection.neuron.is_some_and(|n| !n.is_in(sizes)) {
        selection.neuron = None;
    }
}

/// Which units of each hidden layer the step of `frame` kept in training
/// (see [`crate::lab::model::kept_units`]); none without dropout.
fn kept_units(scene: Option<&crate::lab::Scene>, frame: &Frame) -> Vec<Vec<bool>> {
    let Some(scene) = scene.filter(|s| s.model.dropout > 0.0) else {
        return Vec::new();
    };
    let hidden = frame.layers.len().saturating_sub(1);
    frame.layers[..hidden]
        .iter()
        .enumerate()
        .map(|(l, layer)| {
            crate::lab::model::kept_units(
                scene.seed,
                frame.step,
                l,
                layer.outputs,
                scene.model.dropout,
            )
        })
        .collect()
}

/// True when `frame` describes a network of `sizes`.
fn fits(frame: &Frame, sizes: &[usize]) -> bool {
    frame.sizes() == sizes
}

/// Writes the shown frame's values (the newest, or the one the VCR picked)
/// into the components.
fn apply_frame(
    run: Res<Run>,
    scene: Res<SceneInForce>,
    shown: Res<Shown>,
    mut applied: ResMut<AppliedFrame>,
    mut neurons: Query<&mut Neuron>,
    mut synapses: Query<&mut Synapse>,
) {
    let scene = scene.0.as_ref();
    let now = AppliedFrame {
        serial: shown.serial,
        dropout: scene.map(|s| (s.seed, s.model.dropout)),
    };
    if *applied == now {
        return;
    }
    let (Some(frame), Some(topology)) = (&shown.frame, &run.topology) else {
        return;
    };
    if !fits(frame, &topology.network.sizes) {
        return;
    }
    let kept = kept_units(scene, frame);
    for mut n in &mut neurons {
        n.dropped = kept
            .get(n.layer.wrapping_sub(1))
            .and_then(|k| k.get(n.index))
            .is_some_and(|k| !k);
        let (l, i) = (n.layer, n.index);
        if l == 0 {
            n.activation = frame.probe.input.get(i).copied().unwrap_or(0.0);
            continue;
        }
        let layer = &frame.layers[l - 1];
        let get = |v: &Vec<f32>| v.get(i).copied().unwrap_or(0.0);
        n.activation = get(&layer.activations);
        n.pre_activation = get(&layer.pre_activations);
        n.mean_activation = get(&layer.mean_activations);
        n.gradient = get(&layer.probe_grads);
        n.batch_gradient = get(&layer.bias_grads);
        n.bias = get(&layer.biases);
    }
    // A hundred thousand of them for MNIST: shared across the task pool's threads.
    synapses.par_iter_mut().for_each(|mut s| {
        let layer = &frame.layers[s.layer];
        let k = s.from * layer.outputs + s.to;
        s.weight = layer.weights.get(k).copied().unwrap_or(0.0);
        s.gradient = layer.weight_grads.get(k).copied().unwrap_or(0.0);
    });
    *applied = now;
}
