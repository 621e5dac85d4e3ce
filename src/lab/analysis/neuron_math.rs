//! One neuron's computation for a frame's probe sample, forward and backward,
//! in double precision: the numbers the math view writes out term by term,
//! each beside the value the frame recorded.

use crate::lab::frame::Frame;
use crate::lab::model::{Activation, MlpConfig, OutputKind, plain_forward};

/// What the last layer does with `z`, for the neuron the math is of.
#[derive(Debug, Clone, PartialEq)]
pub enum NeuronOutput {
    /// A hidden neuron: `a = f(z)`.
    Hidden {
        /// The non-linearity.
        activation: Activation,
        /// `f(z)`.
        a: f64,
    },
    /// An output of a softmax network: every class's probability, and the
    /// probe's loss when it has a label: `(label, p_label, −log p_label)`.
    Softmax {
        /// The probabilities of every output.
        p: Vec<f64>,
        /// The probe's label, its probability and the loss it gives.
        loss: Option<(u32, f64, f64)>,
    },
    /// An output of a linear network: the value is `z`; its target.
    Linear {
        /// The probe's target for this output.
        target: f64,
    },
}

/// How the error signal `δ = ∂L/∂z` arises.
#[derive(Debug, Clone, PartialEq)]
pub enum NeuronBackward {
    /// An output of a softmax network with a labelled probe: `p − target`.
    Softmax {
        /// The output's probability.
        p: f64,
        /// 1 for the probe's class, 0 otherwise.
        target: f64,
    },
    /// Another output: straight from the loss.
    FromLoss,
    /// A hidden neuron: the next layer's errors weighted back, `Σ w·δ`, times
    /// the slope of its non-linearity at `z`.
    Chain {
        /// `(w·s_next, δ_next)` per neuron of the next layer.
        terms: Vec<(f64, f64)>,
        /// The non-linearity.
        activation: Activation,
        /// `f′(z)`.
        slope: f64,
    },
}

/// The strongest incoming weight's gradient and update.
#[derive(Debug, Clone, PartialEq)]
pub struct WeightUpdate {
    /// The input it comes from.
    pub input: usize,
    /// The weight.
    pub w: f64,
    /// `∂L/∂w` for the probe sample: `s·δ·x`.
    pub probe_gradient: f64,
    /// `∂L/∂w` over the mini-batch, as the frame recorded it.
    pub batch_gradient: f64,
    /// The learning rate of the step.
    pub learning_rate: f64,
}

/// One neuron's forward and backward computation for the probe sample.
#[derive(Debug, Clone, PartialEq)]
pub struct NeuronMath {
    /// The neuron's layer (1: the first hidden layer; the last: the outputs).
    pub layer: usize,
    /// Its index in the layer.
    pub index: usize,
    /// Whether it is an output.
    pub is_output: bool,
    /// `(w, x)` per input: the terms of `Σ w·x`.
    pub inputs: Vec<(f64, f64)>,
    /// The bias.
    pub bias: f64,
    /// The pre-activation's factor `s` (1 but for mean-field scaling and gain).
    pub scale: f64,
    /// `z = s·(Σ w·x + b)`, computed here.
    pub z: f64,
    /// `z` as the frame recorded it.
    pub recorded_z: f64,
    /// What follows `z`.
    pub output: NeuronOutput,
    /// The probe's loss as the frame recorded it.
    pub recorded_loss: f64,
    /// `δ = ∂L/∂z` as the frame recorded it.
    pub recorded_delta: f64,
    /// How `δ` arises.
    pub backward: NeuronBackward,
    /// The strongest incoming term's weight, its gradient and update.
    pub strongest: Option<WeightUpdate>,
}

impl NeuronMath {
    /// The math of neuron `index` of layer `layer` (1 to the outputs) for
    /// `frame`'s probe, or of the output the network favours when that is
    /// not a neuron past the inputs; `None` for a frame without layers or probe.
    pub fn of(
        frame: &Frame,
        network: &MlpConfig,
        neuron: Option<(usize, usize)>,
    ) -> Option<NeuronMath> {
        let layers = frame.layers.len();
        if layers == 0 || frame.probe.input.is_empty() {
            return None;
        }
        let (l, j) = match neuron {
            Some((l, j)) if (1..=layers).contains(&l) && j < frame.layers[l - 1].outputs => (l, j),
            _ => (layers, favoured_output(frame)),
        };
        let layer = &frame.layers[l - 1];
        let below: Vec<f64> = if l == 1 {
            to_f64(&frame.probe.input)
        } else {
            to_f64(&frame.layers[l - 2].activations)
        };
        let inputs: Vec<(f64, f64)> = (0..layer.inputs)
            .map(|i| {
                (
                    f64::from(layer.weight(i, j)),
                    below.get(i).copied().unwrap_or(0.0),
                )
            })
            .collect();
        let bias = f64::from(layer.biases.get(j).copied().unwrap_or(0.0));
        let scale = f64::from(layer.scale);
        let z = (inputs.iter().map(|(w, x)| w * x).sum::<f64>() + bias) * scale;
        let is_output = l == layers;
        let recorded_delta = recorded(&layer.probe_grads, j);
        let mut math = NeuronMath {
            layer: l,
            index: j,
            is_output,
            inputs,
            bias,
            scale,
            z,
            recorded_z: recorded(&layer.pre_activations, j),
            output: NeuronOutput::Linear { target: f64::NAN },
            recorded_loss: f64::from(frame.probe.loss),
            recorded_delta,
            backward: NeuronBackward::FromLoss,
            strongest: None,
        };
        if is_output {
            math.output_side(frame, network);
        } else {
            math.hidden_side(frame, network);
        }
        math.strongest = math.strongest_update(frame);
        Some(math)
    }

    /// The output's value, loss and error signal.
    fn output_side(&mut self, frame: &Frame, network: &MlpConfig) {
        let j = self.index;
        match network.output {
            OutputKind::Softmax => {
                let trace = plain_forward(
                    &frame.dense_layers(),
                    &network.activations,
                    network.output,
                    &frame.probe.input,
                );
                let p = trace.post.last().cloned().unwrap_or_default();
                let loss = frame.probe.label.map(|label| {
                    let pl = p.get(label as usize).copied().unwrap_or(f64::NAN);
                    (label, pl, -pl.ln())
                });
                if let Some(label) = frame.probe.label {
                    self.backward = NeuronBackward::Softmax {
                        p: recorded(&frame.probe.output, j),
                        target: if j as u32 == label { 1.0 } else { 0.0 },
                    };
                }
                self.output = NeuronOutput::Softmax { p, loss };
            }
            OutputKind::Linear => {
                self.output = NeuronOutput::Linear {
                    target: recorded(&frame.probe.target, j),
                };
            }
        }
    }

    /// The hidden neuron's activation, and its error through the chain rule.
    fn hidden_side(&mut self, frame: &Frame, network: &MlpConfig) {
        let (l, j) = (self.layer, self.index);
        let activation = network.activation(l - 1);
        self.output = NeuronOutput::Hidden {
            activation,
            a: activation.eval(self.z),
        };
        // The next layer's scale multiplies its weights on the way back.
        let next = &frame.layers[l];
        let next_scale = f64::from(next.scale);
        let terms = (0..next.outputs)
            .map(|k| {
                (
                    f64::from(next.weight(j, k)) * next_scale,
                    recorded(&next.probe_grads, k),
                )
            })
            .collect();
        self.backward = NeuronBackward::Chain {
            terms,
            activation,
            slope: activation.derivative(self.z),
        };
    }

    /// The incoming weight with the largest term `|w·x|`: its gradient for
    /// the probe, over the mini-batch, and the plain step it takes.
    fn strongest_update(&self, frame: &Frame) -> Option<WeightUpdate> {
        let layer = &frame.layers[self.layer - 1];
        let i = (0..self.inputs.len()).max_by(|&a, &b| {
            let (wa, xa) = self.inputs[a];
            let (wb, xb) = self.inputs[b];
            (wa * xa).abs().total_cmp(&(wb * xb).abs())
        })?;
        let (w, x) = self.inputs[i];
        Some(WeightUpdate {
            input: i,
            w,
            probe_gradient: self.scale * self.recorded_delta * x,
            batch_gradient: recorded(&layer.weight_grads, i * layer.outputs + self.index),
            learning_rate: f64::from(frame.metrics.learning_rate.unwrap_or(f32::NAN)),
        })
    }
}

/// The output the network favours for the probe.
fn favoured_output(frame: &Frame) -> usize {
    frame
        .layers
        .last()
        .map(|l| &l.activations)
        .and_then(|out| {
            out.iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .map(|(i, _)| i)
        })
        .unwrap_or(0)
}

fn to_f64(values: &[f32]) -> Vec<f64> {
    values.iter().map(|&v| f64::from(v)).collect()
}

/// Value `i` of a recorded array, NaN where there is none.
fn recorded(values: &[f32], i: usize) -> f64 {
    values.get(i).map_or(f64::NAN, |&v| f64::from(v))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::lab::{CpuBackend, Scene, Trainer};

    /// A frame of a small net after a few steps, and its network.
    fn frame(text: &str) -> (Frame, MlpConfig) {
        let scene = Scene::parse(text, Path::new("m.ron")).unwrap();
        let mut t = Trainer::<CpuBackend>::new(&scene, &Default::default()).unwrap();
        for _ in 0..15 {
            t.step(false).unwrap();
        }
        (t.peek().unwrap().unwrap(), t.topology().network)
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-4 * a.abs().max(b.abs()).max(1.0)
    }

    #[test]
    fn the_math_recomputes_what_the_frame_recorded() {
        let (f, network) = frame(
            "Scene(data: Spiral(samples: 90), model: (hidden: [6, 5], activation: Tanh), train: (batch_size: 16))",
        );
        // Every hidden neuron: its z, and its error signal by the chain rule.
        for (l, j) in [(1, 0), (1, 5), (2, 3)] {
            let m = NeuronMath::of(&f, &network, Some((l, j))).unwrap();
            assert_eq!((m.layer, m.index, m.is_output), (l, j, false));
            assert!(
                close(m.z, m.recorded_z),
                "z of {l}:{j}: {} vs {}",
                m.z,
                m.recorded_z
            );
            let NeuronBackward::Chain { terms, slope, .. } = &m.backward else {
                panic!("a hidden neuron's error comes by the chain rule")
            };
            let delta = slope * terms.iter().map(|(w, d)| w * d).sum::<f64>();
            assert!(
                close(delta, m.recorded_delta),
                "δ of {l}:{j}: {delta} vs {}",
                m.recorded_delta
            );
            let u = m.strongest.as_ref().unwrap();
            assert!(close(
                u.probe_gradient,
                m.recorded_delta * m.inputs[u.input].1
            ));
        }
        // An output: softmax probabilities, the probe's loss, and p − target.
        let m = NeuronMath::of(&f, &network, Some((3, 1))).unwrap();
        assert!(m.is_output && close(m.z, m.recorded_z));
        let NeuronOutput::Softmax {
            p,
            loss: Some((_, _, loss)),
        } = &m.output
        else {
            panic!("a labelled probe's softmax output")
        };
        assert!(close(p.iter().sum::<f64>(), 1.0));
        assert!(
            close(*loss, m.recorded_loss),
            "{loss} vs {}",
            m.recorded_loss
        );
        let NeuronBackward::Softmax { p, target } = m.backward else {
            panic!("p − target")
        };
        assert!(close(p - target, m.recorded_delta));
        // No neuron past the inputs asked for: the favoured output.
        let favoured = NeuronMath::of(&f, &network, None).unwrap();
        assert!(favoured.is_output && favoured.layer == 3);
        assert_eq!(NeuronMath::of(&f, &network, Some((0, 0))).unwrap().layer, 3);
    }
}
