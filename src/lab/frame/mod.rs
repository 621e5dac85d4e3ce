//! The frame: one training step as plain data (no tensors), shared by the lab and the app.

mod metrics;

pub use metrics::{Measure, Metrics, RunStatus, convergence_score};

use serde::{Deserialize, Serialize};

use crate::lab::data::{Dataset, InputLayout};
use crate::lab::model::{Activation, DenseRef, MlpConfig, OutputKind};

/// The network a frame stream describes, and how its inputs and outputs
/// look: what a recording's header holds and the app builds its view from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "TopologyText")]
pub struct Topology {
    /// The network.
    pub network: MlpConfig,
    /// How inputs are arranged (image grid, plane, line).
    pub layout: InputLayout,
    /// Names of the outputs (classes, or the regressed value).
    pub output_names: Vec<String>,
}

/// A topology as written: since this build, its network; before, the
/// network's widths, non-linearities and output beside the layout
/// (recordings made before per-layer activations hold one `activation`
/// for every hidden layer).
#[derive(Deserialize)]
#[serde(rename = "Topology")]
struct TopologyText {
    #[serde(default, deserialize_with = "present")]
    network: Option<MlpConfig>,
    #[serde(default)]
    sizes: Vec<usize>,
    #[serde(default = "default_activation")]
    activation: Activation,
    #[serde(default)]
    activations: Vec<Activation>,
    #[serde(default = "default_output")]
    output: OutputKind,
    layout: InputLayout,
    output_names: Vec<String>,
}

/// A field that is there (written plainly, not as `Some(..)`).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<MlpConfig>, D::Error> {
    MlpConfig::deserialize(d).map(Some)
}

/// What a topology without any activation meant: tanh, the scenes' default.
fn default_activation() -> Activation {
    Activation::Tanh
}

/// What a topology without an output meant: a classifier.
fn default_output() -> OutputKind {
    OutputKind::Softmax
}

impl From<TopologyText> for Topology {
    fn from(t: TopologyText) -> Self {
        let network = t.network.unwrap_or_else(|| {
            let hidden = t.sizes.len().saturating_sub(2);
            let activations =
                crate::lab::model::hidden_activations(t.activation, &t.activations, hidden);
            MlpConfig::new(t.sizes, activations).with_output(t.output)
        });
        Topology {
            network,
            layout: t.layout,
            output_names: t.output_names,
        }
    }
}

impl Topology {
    /// The topology of `network` trained on `data`.
    pub fn new(network: MlpConfig, data: &Dataset) -> Self {
        Topology {
            network,
            layout: data.layout.clone(),
            output_names: data.class_names.clone(),
        }
    }
}

/// The sample the frame follows through the network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Probe {
    /// Index in the test set.
    pub index: usize,
    /// Its input.
    pub input: Vec<f32>,
    /// Its target: a one-hot vector for classification, values for regression.
    pub target: Vec<f32>,
    /// Its label, for classification.
    pub label: Option<u32>,
    /// The network's output for it (probabilities or values).
    pub output: Vec<f32>,
    /// Its loss alone.
    pub loss: f32,
}

/// One weight layer's state at a step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerFrame {
    /// Inputs of the layer.
    pub inputs: usize,
    /// Outputs (neurons) of the layer.
    pub outputs: usize,
    /// `[inputs][outputs]`, row-major: `weights[i * outputs + j]` joins input i to neuron j.
    pub weights: Vec<f32>,
    /// One per neuron.
    pub biases: Vec<f32>,
    /// ∂L/∂W of the mini-batch, same layout as `weights`.
    pub weight_grads: Vec<f32>,
    /// ∂L/∂b of the mini-batch.
    pub bias_grads: Vec<f32>,
    /// z = s·(x·W + b) for the probe sample.
    pub pre_activations: Vec<f32>,
    /// The activation of z for the probe sample.
    pub activations: Vec<f32>,
    /// Activations averaged over the mini-batch.
    pub mean_activations: Vec<f32>,
    /// ∂L/∂z for the probe sample alone (its error signal).
    pub probe_grads: Vec<f32>,
    /// The factor `s` of the pre-activation: 1, or a mean-field scale and gain.
    #[serde(default = "one")]
    pub scale: f32,
}

fn one() -> f32 {
    1.0
}

impl Default for LayerFrame {
    fn default() -> Self {
        LayerFrame {
            inputs: 0,
            outputs: 0,
            weights: Vec::new(),
            biases: Vec::new(),
            weight_grads: Vec::new(),
            bias_grads: Vec::new(),
            pre_activations: Vec::new(),
            activations: Vec::new(),
            mean_activations: Vec::new(),
            probe_grads: Vec::new(),
            scale: 1.0,
        }
    }
}

impl LayerFrame {
    /// The weights as a plain-data layer view.
    pub fn dense(&self) -> DenseRef<'_> {
        DenseRef {
            inputs: self.inputs,
            outputs: self.outputs,
            weights: &self.weights,
            biases: &self.biases,
            scale: self.scale,
        }
    }

    /// The weight joining input `i` to neuron `j`.
    pub fn weight(&self, i: usize, j: usize) -> f32 {
        self.weights[i * self.outputs + j]
    }
}

/// One weight layer's health at a step: what the gradient-flow plot and
/// `layers.csv` show. Vanishing gradients are a `grad_norm` that falls layer
/// by layer towards the input; a healthy `update_ratio` is near 10⁻³.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct LayerStats {
    /// ‖W, b‖: the L2 norm of the layer's weights and biases together.
    pub weight_norm: f32,
    /// ‖∂L/∂W, ∂L/∂b‖ of the mini-batch.
    pub grad_norm: f32,
    /// ‖Δ(W, b)‖ of the update the step applied; NaN when none was (a paused view).
    pub update_norm: f32,
    /// Mean of the layer's activations over the mini-batch and its neurons.
    pub activation_mean: f32,
    /// Their standard deviation.
    pub activation_std: f32,
    /// Share of the layer's ReLU units that are zero for every sample of the
    /// mini-batch ("dead"); NaN for other activations.
    pub dead_fraction: f32,
}

/// Bit for bit: NaN (no update, no ReLU) equals NaN, so that frames with
/// the same numbers compare equal.
impl PartialEq for LayerStats {
    fn eq(&self, other: &Self) -> bool {
        self.values()
            .iter()
            .zip(other.values())
            .all(|(a, b)| a.to_bits() == b.to_bits())
    }
}

impl LayerStats {
    /// The stats' names, in the order of [`LayerStats::values`] (the columns of `layers.csv`).
    pub const NAMES: [&'static str; 7] = [
        "weight_norm",
        "grad_norm",
        "update_norm",
        "update_ratio",
        "activation_mean",
        "activation_std",
        "dead_fraction",
    ];

    /// ‖Δθ‖ / ‖θ‖: how far one step moves the layer, relative to its size.
    pub fn update_ratio(&self) -> f32 {
        self.update_norm / self.weight_norm
    }

    /// The values, in the order of [`LayerStats::NAMES`].
    pub fn values(&self) -> [f32; 7] {
        [
            self.weight_norm,
            self.grad_norm,
            self.update_norm,
            self.update_ratio(),
            self.activation_mean,
            self.activation_std,
            self.dead_fraction,
        ]
    }

    /// The stats of one layer's parameters, gradients and mini-batch
    /// activations `posts` (`[batch][outputs]`, row-major); `relu` says
    /// whether dead units are counted. The update is not known yet (NaN).
    pub fn measure(layer: &LayerFrame, posts: &[f32], relu: bool) -> LayerStats {
        let norm = |a: &[f32], b: &[f32]| (sum_squares(a) + sum_squares(b)).sqrt() as f32;
        let n = posts.len().max(1) as f64;
        let mean = sum_lanes(posts, |v| v) / n;
        let var = sum_lanes(posts, |v| (v - mean) * (v - mean)) / n;
        let width = layer.outputs.max(1);
        let dead_fraction = if relu && !posts.is_empty() {
            let mut alive = vec![false; width];
            for row in posts.chunks_exact(width) {
                for (a, v) in alive.iter_mut().zip(row) {
                    *a |= *v > 0.0;
                }
            }
            alive.iter().filter(|a| !**a).count() as f32 / width as f32
        } else {
            f32::NAN
        };
        LayerStats {
            weight_norm: norm(&layer.weights, &layer.biases),
            grad_norm: norm(&layer.weight_grads, &layer.bias_grads),
            update_norm: f32::NAN,
            activation_mean: mean as f32,
            activation_std: var.sqrt() as f32,
            dead_fraction,
        }
    }
}

/// Σ v² in `f64`, in the fixed lane order of [`sum_lanes`].
pub(crate) fn sum_squares(values: &[f32]) -> f64 {
    sum_lanes(values, |v| v * v)
}

/// Σ f(v) in `f64`, over eight lanes then the tail: the same order every
/// time (so the same sums, bit for bit), and independent additions that
/// vectorise. A frame sums every weight and gradient, every recorded step.
pub(crate) fn sum_lanes(values: &[f32], f: impl Fn(f64) -> f64) -> f64 {
    const LANES: usize = 8;
    let mut lanes = [0.0f64; LANES];
    let mut chunks = values.chunks_exact(LANES);
    for chunk in &mut chunks {
        for (lane, &v) in lanes.iter_mut().zip(chunk) {
            *lane += f(f64::from(v));
        }
    }
    let tail: f64 = chunks.remainder().iter().map(|&v| f(f64::from(v))).sum();
    lanes.iter().sum::<f64>() + tail
}

/// One training step as plain data: the weights, gradients and activations
/// before the step's update is applied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Frame {
    /// Updates applied before this frame (0 for the initial network).
    pub step: u64,
    /// This step's own measures: its mini-batch loss, learning rate, batch
    /// size and gradient norm.
    pub metrics: Metrics,
    /// The latest full-set evaluation at or before this step, if any.
    pub evaluation: Option<Metrics>,
    /// The probe sample and its output.
    pub probe: Probe,
    /// Weight layers, input side first.
    pub layers: Vec<LayerFrame>,
    /// Each weight layer's health, input side first (empty in recordings
    /// older than format 5).
    #[serde(default)]
    pub stats: Vec<LayerStats>,
}

impl Frame {
    /// Layer widths from input to output.
    pub fn sizes(&self) -> Vec<usize> {
        let mut s: Vec<usize> = self
            .layers
            .first()
            .map(|l| vec![l.inputs])
            .unwrap_or_default();
        s.extend(self.layers.iter().map(|l| l.outputs));
        s
    }

    /// Plain-data views of every layer's weights.
    pub fn dense_layers(&self) -> Vec<DenseRef<'_>> {
        self.layers.iter().map(LayerFrame::dense).collect()
    }

    /// Number of `f32` values the frame carries.
    pub fn value_count(&self) -> usize {
        self.probe.input.len()
            + self.probe.target.len()
            + self.probe.output.len()
            + self
                .layers
                .iter()
                .map(|l| {
                    2 * l.weights.len()
                        + 2 * l.biases.len()
                        + l.pre_activations.len()
                        + l.activations.len()
                        + l.mean_activations.len()
                        + l.probe_grads.len()
                })
                .sum::<usize>()
    }
}
