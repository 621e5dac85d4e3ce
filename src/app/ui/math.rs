//! The math view: the probe sample's real numbers, forward and backward, for the selected neuron.

use bevy_egui::egui;

use crate::app::network::NeuronId;
use crate::app::particles::Direction;
use crate::lab::model::{OutputKind, plain_forward};
use crate::lab::{Frame, Topology};

/// Terms of a sum shown one by one; the rest are summed up.
const TERMS: usize = 4;

fn num(v: f64) -> String {
    if v.abs() >= 1e4 || (v != 0.0 && v.abs() < 1e-3) {
        format!("{v:.2e}")
    } else {
        format!("{v:.3}")
    }
}

/// `Σ a_i·b_i` written out: the largest terms, then the rest as one number.
pub(crate) fn sum_terms(pairs: &[(f64, f64)]) -> (String, f64) {
    let mut order: Vec<usize> = (0..pairs.len()).collect();
    order.sort_by(|&i, &j| {
        (pairs[j].0 * pairs[j].1)
            .abs()
            .total_cmp(&(pairs[i].0 * pairs[i].1).abs())
    });
    let total: f64 = pairs.iter().map(|(a, b)| a * b).sum();
    let mut text: Vec<String> = order
        .iter()
        .take(TERMS)
        .map(|&i| format!("({})·({})", num(pairs[i].0), num(pairs[i].1)))
        .collect();
    if pairs.len() > TERMS {
        let shown: f64 = order
            .iter()
            .take(TERMS)
            .map(|&i| pairs[i].0 * pairs[i].1)
            .sum();
        text.push(format!(
            "[{} more: {}]",
            pairs.len() - TERMS,
            num(total - shown)
        ));
    }
    (text.join(" + "), total)
}

fn row(ui: &mut egui::Ui, lit: bool, text: String) {
    let rich = egui::RichText::new(text).monospace().size(12.0);
    ui.label(if lit {
        rich.color(egui::Color32::from_rgb(255, 220, 140))
    } else {
        rich
    });
}

/// Draws the forward and backward computation of neuron `(layer, index)` (layer ≥ 1)
/// for the frame's probe sample; `phase` lights the half the particles are playing.
pub(crate) fn math_ui(
    ui: &mut egui::Ui,
    frame: &Frame,
    topology: &Topology,
    neuron: Option<NeuronId>,
    phase: Option<Direction>,
) {
    let layers = frame.layers.len();
    if layers == 0 || frame.probe.input.is_empty() {
        return;
    }
    // The selected neuron, or the output the network favours.
    let (l, j) = match neuron {
        Some(NeuronId { layer: l, index: j })
            if l >= 1 && l <= layers && j < frame.layers[l - 1].outputs =>
        {
            (l, j)
        }
        _ => {
            let out = &frame.layers[layers - 1].activations;
            let best = out
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .map_or(0, |(i, _)| i);
            (layers, best)
        }
    };
    let layer = &frame.layers[l - 1];
    let inputs: Vec<f64> = if l == 1 {
        frame.probe.input.iter().map(|&v| f64::from(v)).collect()
    } else {
        frame.layers[l - 2]
            .activations
            .iter()
            .map(|&v| f64::from(v))
            .collect()
    };
    let forward = phase != Some(Direction::Backward);
    let backward = phase != Some(Direction::Forward);
    let is_output = l == layers;
    ui.label(format!(
        "Neuron {j} of {} at step {} (select another with a click)",
        if is_output {
            "the outputs".to_string()
        } else {
            format!("layer {l}")
        },
        frame.step
    ));

    ui.strong("Forward");
    let pairs: Vec<(f64, f64)> = (0..layer.inputs)
        .map(|i| (f64::from(layer.weight(i, j)), inputs[i]))
        .collect();
    let (terms, sum) = sum_terms(&pairs);
    let b = f64::from(layer.biases[j]);
    let scale = f64::from(layer.scale);
    let z = (sum + b) * scale;
    row(
        ui,
        forward,
        if scale == 1.0 {
            format!("z = Σ w·x + b = {terms} + ({})", num(b))
        } else {
            // Mean-field scaling (and a gain) multiply the sum.
            format!(
                "z = s·(Σ w·x + b) = {}·({terms} + ({}))",
                num(scale),
                num(b)
            )
        },
    );
    row(
        ui,
        forward,
        format!(
            "  = {}   (the frame says {})",
            num(z),
            num(f64::from(layer.pre_activations[j]))
        ),
    );
    if is_output {
        match topology.network.output {
            OutputKind::Softmax => {
                let trace = plain_forward(
                    &frame.dense_layers(),
                    &topology.network.activations,
                    topology.network.output,
                    &frame.probe.input,
                );
                let p = trace.post.last().cloned().unwrap_or_default();
                let shown: Vec<String> = p
                    .iter()
                    .take(10)
                    .enumerate()
                    .map(|(k, v)| format!("p{k}={}", num(*v)))
                    .collect();
                row(
                    ui,
                    forward,
                    format!("softmax: p_k = e^z_k / Σ e^z = {}", shown.join(" ")),
                );
                if let Some(label) = frame.probe.label {
                    let pl = p.get(label as usize).copied().unwrap_or(f64::NAN);
                    row(
                        ui,
                        forward,
                        format!(
                            "loss: L = −log p_{label} = −log {} = {}   (frame: {})",
                            num(pl),
                            num(-pl.ln()),
                            num(f64::from(frame.probe.loss))
                        ),
                    );
                }
            }
            OutputKind::Linear => {
                let t = frame.probe.target.get(j).copied().unwrap_or(f32::NAN);
                row(
                    ui,
                    forward,
                    format!(
                        "output y = z = {}, target {}; loss (frame) {}",
                        num(z),
                        num(f64::from(t)),
                        num(f64::from(frame.probe.loss))
                    ),
                );
            }
        }
    } else {
        let f = topology.network.activation(l - 1);
        let a = f.eval(z);
        row(ui, forward, format!("a = {}(z) = {}", f.label(), num(a)));
    }

    ui.strong("Backward");
    let delta = f64::from(layer.probe_grads.get(j).copied().unwrap_or(f32::NAN));
    if is_output {
        if let (OutputKind::Softmax, Some(label)) = (topology.network.output, frame.probe.label) {
            let p = f64::from(frame.probe.output.get(j).copied().unwrap_or(f32::NAN));
            let t = if j as u32 == label { 1.0 } else { 0.0 };
            row(
                ui,
                backward,
                format!(
                    "∂L/∂z = p − target = {} − {t} = {}   (frame: {})",
                    num(p),
                    num(p - t),
                    num(delta)
                ),
            );
        } else {
            row(
                ui,
                backward,
                format!("∂L/∂z = {} (from the loss)", num(delta)),
            );
        }
    } else {
        // The chain rule: the error of the next layer, weighted back, times the slope here.
        let next = &frame.layers[l];
        // The next layer's scale multiplies its weights on the way back.
        let next_scale = f64::from(next.scale);
        let back: Vec<(f64, f64)> = (0..next.outputs)
            .map(|k| {
                (
                    f64::from(next.weight(j, k)) * next_scale,
                    f64::from(next.probe_grads[k]),
                )
            })
            .collect();
        let (terms, sum) = sum_terms(&back);
        let f = topology.network.activation(l - 1);
        let slope = f.derivative(z);
        row(
            ui,
            backward,
            format!("∂L/∂a = Σ w·δ(next) = {terms} = {}", num(sum)),
        );
        row(
            ui,
            backward,
            format!(
                "δ = ∂L/∂z = {}'(z)·∂L/∂a = {}·{} = {}   (frame: {})",
                f.label(),
                num(slope),
                num(sum),
                num(slope * sum),
                num(delta)
            ),
        );
    }
    // The strongest incoming weight: its gradient for this sample, and the update.
    if let Some(i) = (0..layer.inputs).max_by(|&a, &b| {
        (pairs[a].0 * pairs[a].1)
            .abs()
            .total_cmp(&(pairs[b].0 * pairs[b].1).abs())
    }) {
        let w = f64::from(layer.weight(i, j));
        let g_probe = scale * delta * inputs[i];
        let g_batch = f64::from(layer.weight_grads[i * layer.outputs + j]);
        let eta = f64::from(frame.metrics.learning_rate.unwrap_or(f32::NAN));
        row(
            ui,
            backward,
            if scale == 1.0 {
                format!(
                    "∂L/∂w[{i}→{j}] = δ·x = {}·{} = {} for this sample; {} over the mini-batch",
                    num(delta),
                    num(inputs[i]),
                    num(g_probe),
                    num(g_batch)
                )
            } else {
                format!(
                    "∂L/∂w[{i}→{j}] = s·δ·x = {}·{}·{} = {} for this sample; {} over the mini-batch",
                    num(scale),
                    num(delta),
                    num(inputs[i]),
                    num(g_probe),
                    num(g_batch)
                )
            },
        );
        row(
            ui,
            backward,
            format!(
                "update: w ← w − η·∇w = {} − {}·{} = {}",
                num(w),
                num(eta),
                num(g_batch),
                num(w - eta * g_batch)
            ),
        );
    }
    ui.small(
        "Momentum and Adam rescale the step with their running averages; the plain step is shown.",
    );
}
