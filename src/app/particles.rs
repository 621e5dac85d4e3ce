//! Particles that follow the training phases: forward signals input→output in
//! cool white-blue, backward gradients output→input in red-orange.

use bevy::prelude::*;

use crate::app::AppSystems;
use crate::app::bridge::TrainingState;
use crate::app::history::Shown;
use crate::app::network::{AppliedFrame, NetworkView};
use crate::app::quads::{QuadBatch, QuadInstance};
use crate::app::visual::VisualSettings;

/// Most particles alive at once.
pub(super) const MAX_PARTICLES: usize = 12_000;
/// Particles a fully active weight layer emits per second (spread over its synapses).
const LAYER_RATE: f32 = 2500.0;
/// Seconds of one forward + backward cycle at flow speed 1.
const CYCLE_SECONDS: f32 = 3.0;
/// Seconds a particle takes to cross a synapse at flow speed 1.
const TRAVEL_SECONDS: f32 = 0.45;

/// Which way the flow currently goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Direction {
    /// Activations: input to output.
    Forward,
    /// Gradients: output to input.
    Backward,
}

/// Where the animated training cycle is: direction and the weight layer now active.
#[derive(Resource, Debug, Clone, Copy, PartialEq)]
pub(super) struct FlowPhase {
    /// 0..1 through one forward + backward cycle.
    pub cycle: f32,
    /// The direction of the current half.
    pub direction: Direction,
    /// The weight layer emitting now.
    pub layer: usize,
    /// 0..1 through that layer's window.
    pub within: f32,
    /// False while training is paused and the last cycle has played out.
    pub active: bool,
}

impl Default for FlowPhase {
    fn default() -> Self {
        FlowPhase {
            cycle: 0.0,
            direction: Direction::Forward,
            layer: 0,
            within: 0.0,
            active: true,
        }
    }
}

impl FlowPhase {
    /// The phase at `cycle` (0..1) for a network of `layers` weight layers.
    pub(super) fn at(cycle: f32, layers: usize) -> Self {
        let cycle = cycle.rem_euclid(1.0);
        let layers = layers.max(1);
        let (direction, half) = if cycle < 0.5 {
            (Direction::Forward, cycle * 2.0)
        } else {
            (Direction::Backward, (cycle - 0.5) * 2.0)
        };
        let pos = half * layers as f32;
        let step = (pos as usize).min(layers - 1);
        let layer = match direction {
            Direction::Forward => step,
            Direction::Backward => layers - 1 - step,
        };
        FlowPhase {
            cycle,
            direction,
            layer,
            within: pos - step as f32,
            active: true,
        }
    }
}

/// One particle travelling along a synapse.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Particle {
    /// Where it starts.
    pub from: Vec3,
    /// Where it goes.
    pub to: Vec3,
    /// 0..1 along the way.
    pub t: f32,
    /// Forward or backward.
    pub direction: Direction,
    /// 0..1: how strong the signal it carries is.
    pub strength: f32,
}

/// Particle state: the live particles and, per weight layer and synapse, the
/// emission rates and accumulators.
#[derive(Resource, Default)]
pub(super) struct Particles {
    /// Live particles.
    pub live: Vec<Particle>,
    /// Forward rate per synapse: |w · a_from|, normalised in the layer.
    pub forward: Vec<Vec<f32>>,
    /// Backward rate per synapse: |∂L/∂w|, normalised in the layer.
    pub backward: Vec<Vec<f32>>,
    /// Fractional emissions carried over between frames.
    pub carry: Vec<Vec<f32>>,
    /// Particles emitted per synapse since the start (for inspection and tests).
    pub emitted: Vec<Vec<u32>>,
    /// Set when new rates arrive: a paused view plays one cycle for them.
    fresh: bool,
}

/// The particle batch and no other: Bevy then knows that drawing particles
/// never touches the neuron batch, and needs no order with it.
type OnlyParticles = (
    With<ParticleBatch>,
    Without<crate::app::visual::NeuronBatch>,
);

/// Animates the flow.
pub(super) struct ParticlesPlugin;

/// Marks the batch of particle quads.
#[derive(Component)]
pub(super) struct ParticleBatch;

impl Plugin for ParticlesPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<Particles>()
            .init_resource::<FlowPhase>()
            .add_systems(Startup, |mut commands: Commands| {
                commands.spawn((
                    ParticleBatch,
                    QuadBatch {
                        order: -1000.0,
                        ..default()
                    },
                ));
            })
            .add_systems(
                Update,
                (
                    rebuild_rates.run_if(resource_changed::<AppliedFrame>),
                    advance_flow,
                    draw_particles,
                )
                    .chain()
                    .in_set(AppSystems::Visualize),
            );
    }
}

/// Turns the newest weights, activations and gradients into emission rates,
/// straight from the applied frame's flat arrays (run when another frame
/// is applied, or the network is rebuilt).
fn rebuild_rates(
    view: Res<NetworkView>,
    applied: Res<AppliedFrame>,
    shown: Res<Shown>,
    mut particles: ResMut<Particles>,
) {
    let layers = view.neurons.len().saturating_sub(1);
    let sizes: Vec<usize> = view.neurons.iter().map(Vec::len).collect();
    let frame = applied.of(&shown);
    // Before any frame, everything reads as zero.
    let activation = |l: usize| -> &[f32] {
        match (frame, l) {
            (Some(f), 0) => &f.probe.input,
            (Some(f), l) => f.layers.get(l - 1).map_or(&[][..], |x| &x.activations),
            (None, _) => &[],
        }
    };
    let shape = |l: usize| sizes[l] * sizes[l + 1];
    // The last frame's buffers are reused rather than allocated again.
    let mut forward = std::mem::take(&mut particles.forward);
    let mut backward = std::mem::take(&mut particles.backward);
    for rates in [&mut forward, &mut backward] {
        rates.resize_with(layers, Vec::new);
        for (l, r) in rates.iter_mut().enumerate() {
            r.clear();
            r.resize(shape(l), 0.0);
        }
    }
    for l in 0..layers {
        let (Some(f), inputs) = (frame.and_then(|f| f.layers.get(l)), activation(l)) else {
            continue;
        };
        let outputs = sizes[l + 1];
        if outputs == 0 {
            continue;
        }
        // Row by row (a source neuron's synapses), so that the loops vectorise;
        // what a short frame lacks stays zero.
        let rows = forward[l]
            .chunks_mut(outputs)
            .zip(backward[l].chunks_mut(outputs));
        for (i, (fw, bw)) in rows.enumerate() {
            let a = inputs.get(i).copied().unwrap_or(0.0);
            let at = (i * outputs).min(f.weights.len());
            for (fw, w) in fw.iter_mut().zip(&f.weights[at..]) {
                *fw = (w * a).abs();
            }
            let at = (i * outputs).min(f.weight_grads.len());
            for (bw, g) in bw.iter_mut().zip(&f.weight_grads[at..]) {
                *bw = g.abs();
            }
        }
    }
    for rates in forward.iter_mut().chain(backward.iter_mut()) {
        let max = rates.iter().copied().fold(0.0f32, f32::max);
        if max > 0.0 && max.is_finite() {
            rates.iter_mut().for_each(|r| *r /= max);
        } else {
            rates.iter_mut().for_each(|r| *r = 0.0);
        }
    }
    if particles.carry.len() != layers
        || particles
            .carry
            .iter()
            .zip(&forward)
            .any(|(c, f)| c.len() != f.len())
    {
        particles.carry = forward.iter().map(|f| vec![0.0; f.len()]).collect();
        particles.emitted = forward.iter().map(|f| vec![0; f.len()]).collect();
        particles.live.clear();
    }
    particles.forward = forward;
    particles.backward = backward;
    particles.fresh = true;
}

/// Advances the cycle, emits along the active layer and moves particles.
///
/// The flow follows the trainer: while it runs, forward and backward waves
/// alternate; while it is paused, each new frame (a single step) plays one
/// forward + backward cycle and the flow then rests.
pub(super) fn advance_flow(
    time: Res<Time>,
    settings: Res<VisualSettings>,
    view: Res<NetworkView>,
    state: Res<TrainingState>,
    mut phase: ResMut<FlowPhase>,
    mut particles: ResMut<Particles>,
) {
    let dt = time.delta_secs() * settings.flow_speed;
    let layers = particles.forward.len();
    if layers == 0 || !settings.particles {
        particles.live.clear();
        return;
    }
    let running = *state == TrainingState::Running;
    let fresh = std::mem::take(&mut particles.fresh);
    let mut cycle = phase.cycle;
    let mut active = phase.active;
    if fresh && !running {
        cycle = 0.0;
        active = true;
    }
    let next = cycle + dt / CYCLE_SECONDS;
    if !running && active && next >= 1.0 {
        active = false;
    }
    let mut now = FlowPhase::at(if active || running { next } else { 0.0 }, layers);
    now.active = active || running;
    *phase = now;
    let Some(layout) = &view.layout else { return };
    let speed = dt / TRAVEL_SECONDS;
    particles.live.retain_mut(|p| {
        p.t += speed;
        p.t < 1.0
    });
    let Particles {
        forward,
        backward,
        carry,
        emitted,
        live,
        ..
    } = &mut *particles;
    if !now.active {
        return;
    }
    let l = now.layer;
    let rates = match now.direction {
        Direction::Forward => &forward[l],
        Direction::Backward => &backward[l],
    };
    let total: f32 = rates.iter().sum();
    if total <= 0.0 {
        return;
    }
    // The layer emits LAYER_RATE particles per second, shared by strength.
    let per_unit = LAYER_RATE * dt / total;
    let outputs = layout.layers[l + 1].positions.len();
    // First every carry grows (a loop that vectorises), then the few that
    // reached a whole particle emit.
    for (c, rate) in carry[l].iter_mut().zip(rates) {
        *c += rate * per_unit;
    }
    for (k, (c, rate)) in carry[l].iter_mut().zip(rates).enumerate() {
        while *c >= 1.0 {
            *c -= 1.0;
            emitted[l][k] += 1;
            if live.len() >= MAX_PARTICLES {
                continue;
            }
            let (from, to) = (k / outputs, k % outputs);
            let (a, b) = (
                layout.layers[l].positions[from],
                layout.layers[l + 1].positions[to],
            );
            let (from_pos, to_pos) = match now.direction {
                Direction::Forward => (a, b),
                Direction::Backward => (b, a),
            };
            live.push(Particle {
                from: from_pos,
                to: to_pos,
                t: 0.0,
                direction: now.direction,
                strength: *rate,
            });
        }
    }
}

fn draw_particles(particles: Res<Particles>, mut batch: Single<&mut QuadBatch, OnlyParticles>) {
    if !particles.is_changed() {
        return;
    }
    batch.instances = particles
        .live
        .iter()
        .map(|p| {
            let pos = p.from.lerp(p.to, p.t);
            // Fade in and out along the way.
            let fade = (std::f32::consts::PI * p.t).sin();
            let s = 0.4 + 0.6 * p.strength;
            let color = match p.direction {
                Direction::Forward => [0.75 * s * 3.0, 0.9 * s * 3.0, 1.0 * s * 3.0, fade],
                // From orange to red as the gradient travels back.
                Direction::Backward => [1.0 * s * 3.0, (0.5 - 0.35 * p.t) * s * 3.0, 0.1 * s, fade],
            };
            QuadInstance::spark(pos, 0.06 + 0.08 * p.strength, color)
        })
        .collect();
}
