//! The frame: one training step as plain data (no tensors), shared by the lab and the app.

use serde::{Deserialize, Serialize};

use crate::lab::data::{Dataset, InputLayout};
use crate::lab::model::{Activation, DenseRef, OutputKind};

/// The shape of the network a frame stream describes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Topology {
    /// Layer widths from input to output, such as `[64, 16, 2]`.
    pub sizes: Vec<usize>,
    /// Hidden non-linearity.
    pub activation: Activation,
    /// Output non-linearity.
    pub output: OutputKind,
    /// How inputs are arranged (image grid, plane, line).
    pub layout: LayoutKind,
    /// Names of the outputs (classes, or the regressed value).
    pub output_names: Vec<String>,
}

/// A plain copy of [`InputLayout`] that can be serialized into recordings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum LayoutKind {
    /// Points of a plane with axis ranges.
    Plane {
        /// Range of the first input.
        x: (f32, f32),
        /// Range of the second input.
        y: (f32, f32),
    },
    /// One real input with its range.
    Line {
        /// Range of the input.
        x: (f32, f32),
    },
    /// A grey image.
    Image {
        /// Width in pixels.
        width: usize,
        /// Height in pixels.
        height: usize,
    },
}

impl From<&InputLayout> for LayoutKind {
    fn from(l: &InputLayout) -> Self {
        match *l {
            InputLayout::Plane { x, y } => LayoutKind::Plane { x, y },
            InputLayout::Line { x } => LayoutKind::Line { x },
            InputLayout::Image { width, height } => LayoutKind::Image { width, height },
        }
    }
}

impl Topology {
    /// The topology of a network of `sizes` trained on `data`.
    pub fn new(
        sizes: Vec<usize>,
        activation: Activation,
        output: OutputKind,
        data: &Dataset,
    ) -> Self {
        Topology {
            sizes,
            activation,
            output,
            layout: LayoutKind::from(&data.layout),
            output_names: data.class_names.clone(),
        }
    }

    /// Number of weight layers.
    pub fn layer_count(&self) -> usize {
        self.sizes.len().saturating_sub(1)
    }

    /// Number of weights (synapses), biases excluded.
    pub fn synapse_count(&self) -> usize {
        self.sizes.windows(2).map(|w| w[0] * w[1]).sum()
    }

    /// Number of neurons, inputs included.
    pub fn neuron_count(&self) -> usize {
        self.sizes.iter().sum()
    }
}

/// Measurements at one step. Evaluation fields are those of the latest
/// evaluation (`eval_step`), which may be a few steps old.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Metrics {
    /// Loss of this step's mini-batch, penalties included.
    pub batch_loss: f32,
    /// Step of the latest evaluation on the full sets.
    pub eval_step: Option<u64>,
    /// Data loss on the whole training set.
    pub train_loss: Option<f32>,
    /// Data loss on the test set.
    pub test_loss: Option<f32>,
    /// Accuracy on the training set (classification).
    pub train_accuracy: Option<f32>,
    /// Accuracy on the test set (classification).
    pub test_accuracy: Option<f32>,
    /// Loss on test points outside the training region (regression).
    pub generalization_error: Option<f32>,
    /// Learning rate used for this step.
    pub learning_rate: f32,
    /// Mini-batch size used for this step.
    pub batch_size: usize,
    /// L2 norm of the full gradient (penalties included).
    pub grad_norm: f32,
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
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
    /// z = x·W + b for the probe sample.
    pub pre_activations: Vec<f32>,
    /// The activation of z for the probe sample.
    pub activations: Vec<f32>,
    /// Activations averaged over the mini-batch.
    pub mean_activations: Vec<f32>,
    /// ∂L/∂z for the probe sample alone (its error signal).
    pub probe_grads: Vec<f32>,
}

impl LayerFrame {
    /// The weights as a plain-data layer view.
    pub fn dense(&self) -> DenseRef<'_> {
        DenseRef {
            inputs: self.inputs,
            outputs: self.outputs,
            weights: &self.weights,
            biases: &self.biases,
        }
    }

    /// The weight joining input `i` to neuron `j`.
    pub fn weight(&self, i: usize, j: usize) -> f32 {
        self.weights[i * self.outputs + j]
    }
}

/// One training step as plain data: the weights, gradients and activations
/// before the step's update is applied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Frame {
    /// Updates applied before this frame (0 for the initial network).
    pub step: u64,
    /// Measurements.
    pub metrics: Metrics,
    /// The probe sample and its output.
    pub probe: Probe,
    /// Weight layers, input side first.
    pub layers: Vec<LayerFrame>,
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
