//! The visual mapping: activations to glow, weights to lines, gradients to halos.

use bevy::prelude::*;

use crate::app::AppSystems;
use crate::app::history::Shown;
use crate::app::network::{AppliedFrame, NetworkView, Neuron, Selection};
use crate::app::quads::{
    FIELD_COMPACT, FIELD_DIMMED, FIELD_HEADER, FIELD_IDS, FIELD_LAYER, FIELD_LAYER_RECORDS,
    FIELD_LAYERS, FIELD_MIN_ALPHA, FIELD_NEGATIVE, FIELD_POSITIONS, FIELD_POSITIVE, FIELD_QUADS,
    FIELD_WEIGHTS, LAYER_ALPHA, LAYER_FIRST_SYNAPSE, LAYER_MAX_WEIGHT, LAYER_MAX_WIDTH,
    LAYER_SOURCES, LAYER_TARGET_COUNT, LAYER_TARGETS, QuadBatch, QuadInstance, SynapseField,
    TARGET_DIMMED, TARGET_LIT, TARGET_PLAIN,
};
use crate::lab::scene::Highlight;

/// How much of its light a part of the network keeps while a lesson highlights another.
const DIMMED: f32 = 0.2;
/// Hue of positive weights (cool blue).
pub(super) const POSITIVE: [f32; 3] = [0.25, 0.55, 1.0];
/// Hue of negative weights (warm orange).
pub(super) const NEGATIVE: [f32; 3] = [1.0, 0.42, 0.08];
/// Glow of a positive activation (white-cyan).
const GLOW_POSITIVE: [f32; 3] = [0.6, 0.9, 1.0];
/// Glow of a negative activation (magenta).
const GLOW_NEGATIVE: [f32; 3] = [1.0, 0.35, 0.85];
/// The warm halo of a large gradient.
const HALO: [f32; 3] = [1.0, 0.45, 0.12];
/// The ring of a unit dropout left out of the shown step.
const DROPPED: [f32; 3] = [1.0, 0.05, 0.1];
/// The ring marking the selected neuron.
const SELECTED: [f32; 3] = [0.3, 1.0, 0.4];

/// Settings of the visual mapping, changed from the UI.
#[derive(Resource, Debug, Clone, PartialEq)]
pub(super) struct VisualSettings {
    /// Brightness of neuron glow (0.5 to 3).
    pub glow_intensity: f32,
    /// Speed of the forward/backward particle flow (0.25 to 3).
    pub flow_speed: f32,
    /// Opacity of synapse lines (0 to 1).
    pub synapse_opacity: f32,
    /// At most this many synapses are drawn; the strongest are kept.
    pub synapse_budget: usize,
    /// Glow with the mini-batch mean activation instead of the probe sample's.
    pub show_batch_mean: bool,
    /// Draw particles.
    pub particles: bool,
    /// Multisample antialiasing (4x). Off by default on software renderers,
    /// where it costs more than it gives.
    pub msaa: bool,
    /// On 2D tasks, each neuron's map as a card beside it.
    pub neuron_cards: bool,
    /// With dropout, draw the units the shown step leaves out dark, ringed in red.
    pub show_dropout: bool,
}

impl Default for VisualSettings {
    fn default() -> Self {
        VisualSettings {
            glow_intensity: 1.0,
            flow_speed: 1.0,
            synapse_opacity: 0.6,
            synapse_budget: 150_000,
            show_batch_mean: false,
            particles: true,
            msaa: true,
            neuron_cards: true,
            show_dropout: true,
        }
    }
}

/// How brightly a neuron glows, 0 to 1, and how strong its gradient halo is.
#[derive(Component, Debug, Clone, Copy, Default, PartialEq)]
pub(super) struct Glow {
    /// Log-scaled |activation|, normalised within the layer.
    pub level: f32,
    /// Log-scaled |∂L/∂z|, normalised within the layer.
    pub halo: f32,
}

/// How many synapses are drawn, out of how many.
#[derive(Resource, Debug, Clone, Copy, Default, PartialEq)]
pub(super) struct SynapseStats {
    /// Sent to the GPU to draw (which leaves out lines too faint to see).
    pub shown: usize,
    /// In the network.
    pub total: usize,
    /// Left out because the budget keeps only the strongest.
    pub over_budget: usize,
}

/// What stands out in the 3D view (the rest dims); set by lesson steps.
#[derive(Resource, Debug, Default, Clone, PartialEq)]
pub(super) struct HighlightState(pub Option<Highlight>);

/// Marks the batch of synapse lines.
#[derive(Component)]
pub(super) struct SynapseBatch;

/// Marks the batch of neuron bulbs.
#[derive(Component)]
pub(super) struct NeuronBatch;

/// Maps components to what is drawn.
pub(super) struct VisualPlugin;

impl Plugin for VisualPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<VisualSettings>()
            .init_resource::<SynapseStats>()
            .init_resource::<HighlightState>()
            .add_systems(Startup, spawn_batches)
            .add_systems(
                Update,
                adapt_to_renderer
                    .in_set(AppSystems::Apply)
                    .run_if(crate::app::renderer::on_software),
            )
            .add_systems(
                Update,
                (
                    add_glow,
                    neuron_glow.run_if(
                        resource_changed::<AppliedFrame>
                            .or_eager(resource_changed::<VisualSettings>),
                    ),
                    neuron_bulbs,
                    synapse_lines.run_if(
                        resource_changed::<AppliedFrame>
                            .or_eager(resource_changed::<VisualSettings>)
                            .or_eager(resource_changed::<HighlightState>),
                    ),
                )
                    .chain()
                    .in_set(AppSystems::Visualize),
            );
    }
}

/// The synapse budget of the interactive view on a software renderer: the
/// strongest lines only, since rasterising a hundred thousand blended lines on
/// the CPU is what makes a big network slow there (films keep every line).
/// With it, MNIST draws at about 11 frames a second on lavapipe at 1280x720
/// instead of 3.
pub(super) const SOFTWARE_SYNAPSE_BUDGET: usize = 8_000;

/// On a software rasteriser the interactive view gets cheaper defaults (no
/// MSAA, bloom or tone mapping; the strongest synapses only) as its camera
/// appears; films, which have no main camera, keep their quality.
fn adapt_to_renderer(
    mut commands: Commands,
    mut settings: ResMut<VisualSettings>,
    main: Query<Entity, Added<crate::app::camera::MainCamera>>,
) {
    for camera in &main {
        settings.msaa = false;
        settings.synapse_budget = settings.synapse_budget.min(SOFTWARE_SYNAPSE_BUDGET);
        crate::app::camera::software_lens(&mut commands.entity(camera));
    }
}

fn spawn_batches(mut commands: Commands) {
    // Lines are drawn first, then bulbs over them.
    commands.spawn((
        SynapseBatch,
        SynapseField {
            order: 1000.0,
            ..default()
        },
    ));
    commands.spawn((NeuronBatch, QuadBatch::default()));
}

/// Hermite step from 0 at `lo` to 1 at `hi`.
fn smoothstep(lo: f32, hi: f32, x: f32) -> f32 {
    let t = ((x - lo) / (hi - lo)).clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

/// Log scale: small values stay visible next to large ones. `x` in [0, max].
pub(super) fn log_level(x: f32, max: f32) -> f32 {
    if max <= f32::EPSILON || !x.is_finite() {
        return 0.0;
    }
    ((1.0 + 9.0 * (x / max).clamp(0.0, 1.0)).ln() / 10f32.ln()).clamp(0.0, 1.0)
}

fn add_glow(mut commands: Commands, new: Query<Entity, (With<Neuron>, Without<Glow>)>) {
    for e in &new {
        commands.entity(e).insert(Glow::default());
    }
}

/// Per-layer normalised glow and halo for every neuron (run when a frame
/// is applied, the network rebuilt, or the settings changed).
fn neuron_glow(
    view: Res<NetworkView>,
    settings: Res<VisualSettings>,
    mut neurons: Query<(&Neuron, &mut Glow)>,
) {
    let layers = view.neurons.len();
    let mut max_act = vec![0.0f32; layers];
    let mut max_grad = vec![0.0f32; layers];
    let activation = |n: &Neuron| {
        if settings.show_batch_mean && n.layer > 0 {
            n.mean_activation
        } else {
            n.activation
        }
    };
    for (n, _) in &neurons {
        if let (Some(a), Some(g)) = (max_act.get_mut(n.layer), max_grad.get_mut(n.layer)) {
            *a = a.max(activation(n).abs());
            *g = g.max(n.gradient.abs());
        }
    }
    for (n, mut glow) in &mut neurons {
        let (ma, mg) = (
            max_act.get(n.layer).copied().unwrap_or(0.0),
            max_grad.get(n.layer).copied().unwrap_or(0.0),
        );
        let new = Glow {
            level: log_level(activation(n).abs(), ma),
            // Only the largest gradients of a layer get a halo worth noticing.
            halo: smoothstep(0.45, 1.0, log_level(n.gradient.abs(), mg)),
        };
        if *glow != new {
            *glow = new;
        }
    }
}

#[allow(
    clippy::too_many_arguments,
    reason = "a Bevy system takes each resource and query it reads as a parameter"
)]
fn neuron_bulbs(
    view: Res<NetworkView>,
    applied: Res<AppliedFrame>,
    settings: Res<VisualSettings>,
    selection: Res<Selection>,
    highlight: Res<HighlightState>,
    neurons: Query<(&Neuron, &Glow, &Transform)>,
    changed: Query<(), Changed<Glow>>,
    camera: Query<Ref<GlobalTransform>, With<Camera3d>>,
    mut batch: Single<&mut QuadBatch, With<NeuronBatch>>,
) {
    let eye = camera.iter().next();
    let moved = eye.as_ref().is_some_and(|t| t.is_changed());
    // A frame applied changes the activations' signs, which Glow does not hold.
    if changed.is_empty()
        && !view.is_changed()
        && !applied.is_changed()
        && !settings.is_changed()
        && !selection.is_changed()
        && !highlight.is_changed()
        && !moved
    {
        return;
    }
    let Some(layout) = &view.layout else { return };
    let mut out = Vec::with_capacity(neurons.iter().len());
    for (n, glow, t) in &neurons {
        let Some(layer) = layout.layers.get(n.layer) else {
            continue;
        };
        let hue = if n.activation < 0.0 {
            GLOW_NEGATIVE
        } else {
            GLOW_POSITIVE
        };
        // Inputs are many and often saturated (pixels): keep them dimmer than neurons.
        let layer_gain = if n.layer == 0 { 2.0 } else { 5.0 };
        let mut strength = glow.level * settings.glow_intensity * layer_gain;
        let lit = highlight.0.as_ref().map(|h| h.has_neuron(n.layer, n.index));
        if lit == Some(false) {
            strength *= DIMMED;
        }
        let dropped = settings.show_dropout && n.dropped;
        if dropped {
            strength = 0.0;
        }
        let color = [hue[0] * strength, hue[1] * strength, hue[2] * strength, 1.0];
        let halo = if selection.neuron == Some(n.id()) || lit == Some(true) {
            [SELECTED[0] * 4.0, SELECTED[1] * 4.0, SELECTED[2] * 4.0, 1.0]
        } else if dropped {
            [DROPPED[0] * 3.0, DROPPED[1] * 3.0, DROPPED[2] * 3.0, 0.8]
        } else {
            [HALO[0] * 3.0, HALO[1] * 3.0, HALO[2] * 3.0, glow.halo]
        };
        out.push(QuadInstance::bulb(
            t.translation,
            2.0 * layer.radius,
            color,
            halo,
        ));
    }
    // Bulbs partly hide what is behind them, so draw the farthest first.
    if let Some(eye) = eye {
        let eye = eye.translation();
        out.sort_by(|a, b| {
            let d = |q: &QuadInstance| Vec3::from(q.start).distance_squared(eye);
            d(b).total_cmp(&d(a))
        });
    }
    batch.instances = out;
}

/// Lines fainter than this are not drawn at all.
const MIN_VISIBLE_ALPHA: f32 = 0.012;

/// The part of a synapse line's opacity that is the same for a whole layer
/// (the shader multiplies it by one that grows with the weight's relative
/// strength): crowded layers fade, so that a hundred thousand additive lines
/// do not wash out to white.
fn layer_alpha(count: usize, opacity: f32) -> f32 {
    opacity * (3_000.0 / count.max(1) as f32).sqrt().min(1.0)
}

/// Widest line of a weight layer with `count` synapses: thinner when crowded.
fn layer_max_width(count: usize) -> f32 {
    0.01 + 0.1 * (200.0 / count.max(1) as f32).sqrt().min(1.0)
}

/// Writes the applied frame's weights, each layer's scale and the neurons'
/// positions into the [`SynapseField`] that the GPU draws lines from; over
/// the budget, with the list of the strongest synapses. Nothing here runs
/// per synapse but a copy, a maximum, and the budget's selection.
fn synapse_lines(
    view: Res<NetworkView>,
    applied: Res<AppliedFrame>,
    shown: Res<Shown>,
    settings: Res<VisualSettings>,
    highlight: Res<HighlightState>,
    mut stats: ResMut<SynapseStats>,
    mut field: Single<&mut SynapseField, With<SynapseBatch>>,
) {
    let Some(layout) = &view.layout else { return };
    let frame = applied.of(&shown);
    let weight_layers = layout.layers.len().saturating_sub(1);
    let counts: Vec<usize> = (0..weight_layers)
        .map(|l| layout.layers[l].positions.len() * layout.layers[l + 1].positions.len())
        .collect();
    let total = counts.iter().sum::<usize>();
    let neurons = layout
        .layers
        .iter()
        .map(|l| l.positions.len())
        .sum::<usize>();
    let over_budget = total.saturating_sub(settings.synapse_budget);
    let compact = over_budget > 0;
    let quads = total.min(settings.synapse_budget);
    let records = FIELD_HEADER;
    let positions = records + FIELD_LAYER * weight_layers;
    let ids = positions + 4 * neurons;
    let weights = ids + if compact { quads } else { 0 };
    let mut data = std::mem::take(&mut field.data);
    data.clear();
    data.resize(weights + total, 0.0);
    let mut header = [0.0f32; FIELD_HEADER];
    header[FIELD_QUADS] = quads as f32;
    header[FIELD_LAYERS] = weight_layers as f32;
    header[FIELD_COMPACT] = f32::from(u8::from(compact));
    header[FIELD_LAYER_RECORDS] = records as f32;
    header[FIELD_POSITIONS] = positions as f32;
    header[FIELD_IDS] = ids as f32;
    header[FIELD_WEIGHTS] = weights as f32;
    header[FIELD_DIMMED] = DIMMED;
    header[FIELD_MIN_ALPHA] = MIN_VISIBLE_ALPHA;
    header[FIELD_POSITIVE..FIELD_POSITIVE + 3].copy_from_slice(&POSITIVE);
    header[FIELD_NEGATIVE..FIELD_NEGATIVE + 3].copy_from_slice(&NEGATIVE);
    data[..FIELD_HEADER].copy_from_slice(&header);
    let mut neuron = 0usize;
    for (l, layer) in layout.layers.iter().enumerate() {
        for (i, p) in layer.positions.iter().enumerate() {
            // The synapses into this neuron come from weight layer l - 1.
            let mark = match (&highlight.0, l.checked_sub(1)) {
                (Some(h), Some(into)) if h.has_synapse(into, i) => TARGET_LIT,
                (Some(_), _) => TARGET_DIMMED,
                (None, _) => TARGET_PLAIN,
            };
            let at = positions + 4 * (neuron + i);
            data[at..at + 4].copy_from_slice(&[p.x, p.y, p.z, mark]);
        }
        neuron += layer.positions.len();
    }
    let (mut first_synapse, mut first_neuron) = (0usize, 0usize);
    let mut max_weights = Vec::with_capacity(weight_layers);
    for (l, &count) in counts.iter().enumerate() {
        let sources = layout.layers[l].positions.len();
        let to = &mut data[weights + first_synapse..weights + first_synapse + count];
        // Before any frame every weight reads as zero; a non-finite one as
        // zero too, so that the shader's comparisons mean what they say.
        if let Some(w) = frame.and_then(|f| f.layers.get(l)).map(|l| &l.weights) {
            for (to, &w) in to.iter_mut().zip(w) {
                *to = if w.is_finite() { w } else { 0.0 };
            }
        }
        let max_weight = to.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        max_weights.push(max_weight);
        let mut record = [0.0f32; FIELD_LAYER];
        record[LAYER_FIRST_SYNAPSE] = first_synapse as f32;
        record[LAYER_SOURCES] = first_neuron as f32;
        record[LAYER_TARGETS] = (first_neuron + sources) as f32;
        record[LAYER_TARGET_COUNT] = layout.layers[l + 1].positions.len() as f32;
        record[LAYER_MAX_WEIGHT] = max_weight;
        record[LAYER_MAX_WIDTH] = layer_max_width(count);
        record[LAYER_ALPHA] = layer_alpha(count, settings.synapse_opacity);
        let at = records + FIELD_LAYER * l;
        data[at..at + FIELD_LAYER].copy_from_slice(&record);
        first_synapse += count;
        first_neuron += sources;
    }
    if compact {
        let strongest = strongest_synapses(&data[weights..], &counts, &max_weights, quads);
        for (slot, s) in data[ids..ids + quads].iter_mut().zip(strongest) {
            *slot = s as f32;
        }
    }
    *stats = SynapseStats {
        shown: quads,
        total,
        over_budget,
    };
    let field = &mut **field;
    field.quads = quads;
    field.data = data;
}

/// The `keep` synapses of largest relative strength (|w| over its layer's
/// largest), in order; `weights` holds every layer's, `counts` long each.
fn strongest_synapses(
    weights: &[f32],
    counts: &[usize],
    max_weights: &[f32],
    keep: usize,
) -> Vec<usize> {
    let mut rels: Vec<f32> = Vec::with_capacity(weights.len());
    let mut rest = weights;
    for (&count, &max) in counts.iter().zip(max_weights) {
        let (layer, after) = rest.split_at(count.min(rest.len()));
        rels.extend(
            layer
                .iter()
                .map(|w| if max > 0.0 { w.abs() / max } else { 0.0 }),
        );
        rest = after;
    }
    if keep == 0 {
        return Vec::new();
    }
    if keep >= rels.len() {
        return (0..rels.len()).collect();
    }
    let mut sorted = rels.clone();
    let cutoff = *sorted
        .select_nth_unstable_by(keep - 1, |a, b| b.total_cmp(a))
        .1;
    // Ties at the cutoff: the first ones, so that exactly `keep` are drawn.
    let mut ties = keep - rels.iter().filter(|&&r| r > cutoff).count();
    let mut out = Vec::with_capacity(keep);
    for (s, &r) in rels.iter().enumerate() {
        if r > cutoff {
            out.push(s);
        } else if r == cutoff && ties > 0 {
            ties -= 1;
            out.push(s);
        }
    }
    out
}
