//! The forward pass on plain weights, in double precision: what the app's views and the lab's checks compute without tensors.

use super::{Activation, OutputKind};

/// Plain-data weights of one layer, for computing without tensors.
#[derive(Debug, Clone, Copy)]
pub struct DenseRef<'a> {
    /// Inputs of the layer.
    pub inputs: usize,
    /// Outputs of the layer.
    pub outputs: usize,
    /// `[inputs][outputs]`, row-major: `weights[i * outputs + j]` joins input i to output j.
    pub weights: &'a [f32],
    /// One per output.
    pub biases: &'a [f32],
    /// The factor of the pre-activation: `z = scale · (x·W + b)`.
    pub scale: f32,
}

/// Pre- and post-activations of every layer for one sample, in double precision.
#[derive(Debug, Clone, PartialEq)]
pub struct PlainTrace {
    /// z per layer.
    pub pre: Vec<Vec<f64>>,
    /// Activation per layer (probabilities for a softmax output).
    pub post: Vec<Vec<f64>>,
}

/// The forward pass of one sample on plain weights: the same function as
/// [`Mlp::forward_trace`], for the math view, drawings and derivative checks.
/// `activations` holds each hidden layer's non-linearity (a layer past its
/// end is linear).
pub fn plain_forward(
    layers: &[DenseRef<'_>],
    activations: &[Activation],
    output: OutputKind,
    x: &[f32],
) -> PlainTrace {
    let x: Vec<f64> = x.iter().map(|&v| f64::from(v)).collect();
    plain_forward_f64(layers, activations, output, &x)
}

/// [`plain_forward`] of an input given in double precision (for finite
/// differences in the inputs).
pub fn plain_forward_f64(
    layers: &[DenseRef<'_>],
    activations: &[Activation],
    output: OutputKind,
    x: &[f64],
) -> PlainTrace {
    let mut h: Vec<f64> = x.to_vec();
    let mut trace = PlainTrace {
        pre: Vec::with_capacity(layers.len()),
        post: Vec::with_capacity(layers.len()),
    };
    for (l, layer) in layers.iter().enumerate() {
        let mut z: Vec<f64> = layer.biases.iter().map(|&b| f64::from(b)).collect();
        for (i, hi) in h.iter().enumerate().take(layer.inputs) {
            let row = &layer.weights[i * layer.outputs..(i + 1) * layer.outputs];
            for (zj, w) in z.iter_mut().zip(row) {
                *zj += hi * f64::from(*w);
            }
        }
        if layer.scale != 1.0 {
            let s = f64::from(layer.scale);
            z.iter_mut().for_each(|v| *v *= s);
        }
        let post = if l + 1 == layers.len() {
            match output {
                OutputKind::Softmax => softmax(&z),
                OutputKind::Linear => z.clone(),
            }
        } else {
            let f = activations.get(l).copied().unwrap_or(Activation::Linear);
            z.iter().map(|&v| f.eval(v)).collect()
        };
        h = post.clone();
        trace.pre.push(z);
        trace.post.push(post);
    }
    trace
}

/// A numerically stable softmax.
pub fn softmax(z: &[f64]) -> Vec<f64> {
    let max = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let exp: Vec<f64> = z.iter().map(|v| (v - max).exp()).collect();
    let sum: f64 = exp.iter().sum();
    exp.into_iter().map(|e| e / sum).collect()
}
