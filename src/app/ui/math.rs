//! The math view: the probe sample's real numbers, forward and backward, for the selected neuron.

use bevy_egui::egui;

use crate::app::network::NeuronId;
use crate::app::particles::Direction;
use crate::lab::analysis::{NeuronBackward, NeuronMath, NeuronOutput, WeightUpdate};
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

/// Draws the forward and backward computation of the selected neuron (the
/// output the network favours when none is) for the frame's probe sample;
/// `phase` lights the half the particles are playing. The numbers are the
/// lab's ([`NeuronMath`]); this only writes them out.
pub(crate) fn math_ui(
    ui: &mut egui::Ui,
    frame: &Frame,
    topology: &Topology,
    neuron: Option<NeuronId>,
    phase: Option<Direction>,
) {
    let Some(math) = NeuronMath::of(frame, &topology.network, neuron.map(|n| (n.layer, n.index)))
    else {
        return;
    };
    let forward = phase != Some(Direction::Backward);
    let backward = phase != Some(Direction::Forward);
    ui.label(format!(
        "Neuron {} of {} at step {} (select another with a click)",
        math.index,
        if math.is_output {
            "the outputs".to_string()
        } else {
            format!("layer {}", math.layer)
        },
        frame.step
    ));
    ui.strong("Forward");
    forward_ui(ui, &math, forward);
    ui.strong("Backward");
    backward_ui(ui, &math, backward);
    if let Some(update) = &math.strongest {
        update_ui(ui, &math, update, backward);
    }
    ui.small(
        "Momentum and Adam rescale the step with their running averages; the plain step is shown.",
    );
}

/// `z`, then what the neuron (or the output) makes of it.
fn forward_ui(ui: &mut egui::Ui, math: &NeuronMath, lit: bool) {
    let (terms, _) = sum_terms(&math.inputs);
    let (b, s) = (num(math.bias), num(math.scale));
    row(
        ui,
        lit,
        if math.scale == 1.0 {
            format!("z = Σ w·x + b = {terms} + ({b})")
        } else {
            // Mean-field scaling (and a gain) multiply the sum.
            format!("z = s·(Σ w·x + b) = {s}·({terms} + ({b}))")
        },
    );
    row(
        ui,
        lit,
        format!(
            "  = {}   (the frame says {})",
            num(math.z),
            num(math.recorded_z)
        ),
    );
    match &math.output {
        NeuronOutput::Hidden { activation, a } => {
            row(
                ui,
                lit,
                format!("a = {}(z) = {}", activation.label(), num(*a)),
            );
        }
        NeuronOutput::Softmax { p, loss } => {
            let shown: Vec<String> = p
                .iter()
                .take(10)
                .enumerate()
                .map(|(k, v)| format!("p{k}={}", num(*v)))
                .collect();
            row(
                ui,
                lit,
                format!("softmax: p_k = e^z_k / Σ e^z = {}", shown.join(" ")),
            );
            if let Some((label, p, l)) = loss {
                row(
                    ui,
                    lit,
                    format!(
                        "loss: L = −log p_{label} = −log {} = {}   (frame: {})",
                        num(*p),
                        num(*l),
                        num(math.recorded_loss)
                    ),
                );
            }
        }
        NeuronOutput::Linear { target } => row(
            ui,
            lit,
            format!(
                "output y = z = {}, target {}; loss (frame) {}",
                num(math.z),
                num(*target),
                num(math.recorded_loss)
            ),
        ),
    }
}

/// How the error signal `δ` arises.
fn backward_ui(ui: &mut egui::Ui, math: &NeuronMath, lit: bool) {
    let delta = math.recorded_delta;
    match &math.backward {
        NeuronBackward::Softmax { p, target } => row(
            ui,
            lit,
            format!(
                "∂L/∂z = p − target = {} − {target} = {}   (frame: {})",
                num(*p),
                num(p - target),
                num(delta)
            ),
        ),
        NeuronBackward::FromLoss => row(ui, lit, format!("∂L/∂z = {} (from the loss)", num(delta))),
        NeuronBackward::Chain {
            terms,
            activation,
            slope,
        } => {
            // The chain rule: the error of the next layer, weighted back, times the slope here.
            let (text, sum) = sum_terms(terms);
            row(
                ui,
                lit,
                format!("∂L/∂a = Σ w·δ(next) = {text} = {}", num(sum)),
            );
            row(
                ui,
                lit,
                format!(
                    "δ = ∂L/∂z = {}'(z)·∂L/∂a = {}·{} = {}   (frame: {})",
                    activation.label(),
                    num(*slope),
                    num(sum),
                    num(slope * sum),
                    num(delta)
                ),
            );
        }
    }
}

/// The strongest incoming weight: its gradient for this sample, and the update.
fn update_ui(ui: &mut egui::Ui, math: &NeuronMath, u: &WeightUpdate, lit: bool) {
    let (i, j) = (u.input, math.index);
    let x = math.inputs[i].1;
    let (delta, g, gb) = (
        num(math.recorded_delta),
        num(u.probe_gradient),
        num(u.batch_gradient),
    );
    row(
        ui,
        lit,
        if math.scale == 1.0 {
            format!(
                "∂L/∂w[{i}→{j}] = δ·x = {delta}·{} = {g} for this sample; {gb} over the mini-batch",
                num(x)
            )
        } else {
            format!(
                "∂L/∂w[{i}→{j}] = s·δ·x = {}·{delta}·{} = {g} for this sample; {gb} over the mini-batch",
                num(math.scale),
                num(x)
            )
        },
    );
    row(
        ui,
        lit,
        format!(
            "update: w ← w − η·∇w = {} − {}·{gb} = {}",
            num(u.w),
            num(u.learning_rate),
            num(u.w - u.learning_rate * u.batch_gradient)
        ),
    );
}
