//! Blame: how much the test loss rises when one hidden neuron is silenced
//! (its activation held at zero), for every neuron of a layer: an ablation
//! study on the weights of one frame.

use crate::lab::Frame;
use crate::lab::data::{Dataset, Targets};
use crate::lab::model::{Activation, DenseRef, OutputKind, plain_forward, softmax};
use crate::lab::scene::LossKind;

/// Test samples a blame is measured on unless asked otherwise (the first
/// ones of the test set; each costs a forward pass per neuron).
pub const DEFAULT_BLAME_SAMPLES: usize = 1000;

/// The blame of each neuron of one hidden layer at one step.
#[derive(Debug, Clone, PartialEq)]
pub struct Blame {
    /// The step of the frame whose weights were used.
    pub step: u64,
    /// The neuron layer (1 being the first hidden layer).
    pub layer: usize,
    /// The test loss with every neuron in place.
    pub base_loss: f64,
    /// Per neuron, the test loss with it silenced minus `base_loss`
    /// (negative when the network does better without it).
    pub rises: Vec<f64>,
    /// The test samples the losses were measured on.
    pub samples: usize,
}

impl Blame {
    /// The neurons from most to least blamed: (index, rise).
    pub fn ranked(&self) -> Vec<(usize, f64)> {
        let mut ranked: Vec<(usize, f64)> = self.rises.iter().copied().enumerate().collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        ranked
    }
}

/// How the network is read: its hidden non-linearities, output and loss.
#[derive(Debug, Clone, PartialEq)]
pub struct Readout {
    /// Each hidden layer's non-linearity, input side first.
    pub activations: Vec<Activation>,
    /// The output non-linearity.
    pub output: OutputKind,
    /// The loss measured.
    pub loss: LossKind,
}

/// The blame of every neuron of hidden layer `layer` of `frame`'s network,
/// on the first `max_samples` test samples of `data`. `None` for a layer
/// that is not hidden, a residual (PDE) loss, or no test samples.
pub fn blame(
    frame: &Frame,
    readout: &Readout,
    data: &Dataset,
    layer: usize,
    max_samples: usize,
) -> Option<Blame> {
    let dense = frame.dense_layers();
    if layer == 0 || layer >= dense.len() || readout.loss == LossKind::Residual {
        return None;
    }
    let n = data.test.len().min(max_samples);
    if n == 0 || dense.first()?.inputs != data.inputs {
        return None;
    }
    let width = dense[layer - 1].outputs;
    let mut base = 0.0;
    let mut silenced = vec![0.0; width];
    let mut target = vec![0.0; data.outputs()];
    for s in 0..n {
        target_row(data, s, &mut target);
        let trace = plain_forward(
            &dense,
            &readout.activations,
            readout.output,
            data.test_input(s),
        );
        let z = trace.pre.last()?;
        base += sample_loss(readout, z, &target);
        let h = &trace.post[layer - 1];
        for (j, total) in silenced.iter_mut().enumerate() {
            let mut h = h.clone();
            h[j] = 0.0;
            let z = forward_from(&dense[layer..], layer, readout, h);
            *total += sample_loss(readout, &z, &target);
        }
    }
    let base_loss = base / n as f64;
    Some(Blame {
        step: frame.step,
        layer,
        base_loss,
        rises: silenced
            .into_iter()
            .map(|t| t / n as f64 - base_loss)
            .collect(),
        samples: n,
    })
}

/// The output layer's pre-activation, from hidden activations `h` through
/// `layers`, weight layers `first..` of the network (the last of which is
/// the output layer).
fn forward_from(
    layers: &[DenseRef<'_>],
    first: usize,
    readout: &Readout,
    mut h: Vec<f64>,
) -> Vec<f64> {
    let last = layers.len().saturating_sub(1);
    for (l, layer) in layers.iter().enumerate() {
        let mut z: Vec<f64> = layer.biases.iter().map(|&b| f64::from(b)).collect();
        for (i, hi) in h.iter().enumerate().take(layer.inputs) {
            if *hi == 0.0 {
                continue;
            }
            let row = &layer.weights[i * layer.outputs..(i + 1) * layer.outputs];
            for (zj, w) in z.iter_mut().zip(row) {
                *zj += hi * f64::from(*w);
            }
        }
        if layer.scale != 1.0 {
            let s = f64::from(layer.scale);
            z.iter_mut().for_each(|v| *v *= s);
        }
        if l == last {
            return z;
        }
        let f = readout
            .activations
            .get(first + l)
            .copied()
            .unwrap_or(Activation::Linear);
        h = z.iter().map(|&v| f.eval(v)).collect();
    }
    h
}

/// Sample `s`'s target as the loss reads it: one-hot for a class.
fn target_row(data: &Dataset, s: usize, out: &mut [f64]) {
    match &data.test.targets {
        Targets::Labels(labels) => {
            out.iter_mut().for_each(|v| *v = 0.0);
            if let Some(v) = out.get_mut(labels[s] as usize) {
                *v = 1.0;
            }
        }
        Targets::Values(values) => {
            let k = out.len();
            for (o, v) in out.iter_mut().zip(&values[s * k..(s + 1) * k]) {
                *o = f64::from(*v);
            }
        }
    }
}

/// One sample's loss from the output pre-activation `z`, as the trainer
/// measures it (cross-entropy on the logits; mean squared or absolute
/// error of the output).
fn sample_loss(readout: &Readout, z: &[f64], target: &[f64]) -> f64 {
    match readout.loss {
        LossKind::CrossEntropy => {
            let max = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let lse = max + z.iter().map(|v| (v - max).exp()).sum::<f64>().ln();
            z.iter().zip(target).map(|(v, t)| t * (lse - v)).sum()
        }
        LossKind::Mse | LossKind::L1 | LossKind::Residual => {
            let out = match readout.output {
                OutputKind::Softmax => softmax(z),
                OutputKind::Linear => z.to_vec(),
            };
            let k = out.len().max(1) as f64;
            out.iter()
                .zip(target)
                .map(|(o, t)| {
                    if readout.loss == LossKind::L1 {
                        (o - t).abs()
                    } else {
                        (o - t).powi(2)
                    }
                })
                .sum::<f64>()
                / k
        }
    }
}
