//! The neuron inspector: the selected neuron's values, its bias as a
//! threshold, incoming and outgoing weights, its layer's blame (what
//! silencing each neuron costs the test loss) and its history.

use crossbeam_channel::{Receiver, TryRecvError};
use std::sync::Arc;

use bevy_egui::egui;
use egui_plot::{Legend, Line, Plot, PlotPoints};

use crate::app::beside::beside;
use crate::app::network::NeuronId;
use crate::app::visual::{NEGATIVE, POSITIVE};
use crate::lab::analysis::{Blame, DEFAULT_BLAME_SAMPLES, Readout, blame};
use crate::lab::data::{Dataset, InputLayout};
use crate::lab::scene::LossKind;
use crate::lab::{Frame, Topology};

/// Outgoing weights listed, the largest first.
const OUTGOING_SHOWN: usize = 16;

/// Longest history kept for the selected neuron.
const HISTORY_MAX: usize = 5_000;

/// The selected neuron's history and weight texture.
#[derive(Default)]
pub(crate) struct Inspector {
    /// The neuron the history belongs to.
    neuron: Option<NeuronId>,
    /// The run the history belongs to (the change tick of its start).
    run: u64,
    /// (step, activation, ∂L/∂z) per frame seen.
    history: Vec<(u64, f32, f32)>,
    /// Incoming weights as an image.
    weights: Option<egui::TextureHandle>,
    /// The step the texture shows.
    weights_step: Option<u64>,
    /// The latest blame of the selected neuron's layer.
    blame: Option<Blame>,
    /// A blame being measured off the UI thread: (layer, step), and where it will arrive.
    blame_job: Option<BlameJob>,
}

/// A blame under way: its (layer, step), and where it will arrive.
type BlameJob = ((usize, u64), Receiver<Option<Blame>>);

/// What blame needs beside the frame: the data set and the loss.
#[derive(Clone, Copy)]
pub(crate) struct BlameInput<'a> {
    /// The run's data (its test set is what silenced neurons are measured on).
    pub data: &'a Arc<Dataset>,
    /// The run's loss.
    pub loss: LossKind,
}

/// One neuron's numbers at a frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct NeuronValues {
    /// Output after the non-linearity.
    pub activation: f32,
    /// z = Σ w·x + b.
    pub pre_activation: f32,
    /// The bias.
    pub bias: f32,
    /// ∂L/∂z for the probe sample.
    pub gradient: f32,
    /// ∂L/∂b over the mini-batch.
    pub batch_gradient: f32,
}

/// The values of neuron `index` of neuron layer `layer` (0 = inputs) in `frame`.
pub(crate) fn neuron_values(frame: &Frame, layer: usize, index: usize) -> Option<NeuronValues> {
    if layer == 0 {
        let x = *frame.probe.input.get(index)?;
        return Some(NeuronValues {
            activation: x,
            pre_activation: x,
            bias: 0.0,
            gradient: 0.0,
            batch_gradient: 0.0,
        });
    }
    let l = frame.layers.get(layer - 1)?;
    Some(NeuronValues {
        activation: *l.activations.get(index)?,
        pre_activation: *l.pre_activations.get(index)?,
        bias: *l.biases.get(index)?,
        gradient: *l.probe_grads.get(index)?,
        batch_gradient: *l.bias_grads.get(index)?,
    })
}

/// A name for a neuron layer: input, hidden k or output.
pub(crate) fn layer_name(layer: usize, layers: usize) -> String {
    match layer {
        0 => "input".into(),
        l if l + 1 == layers => "output".into(),
        l => format!("hidden {l}"),
    }
}

/// Colour of a weight for heatmaps: blue positive, orange negative, dark when small.
pub(crate) fn weight_color(w: f32, max: f32) -> egui::Color32 {
    let t = if max > 0.0 {
        (w.abs() / max).clamp(0.0, 1.0)
    } else {
        0.0
    };
    let hue = if w >= 0.0 { POSITIVE } else { NEGATIVE };
    let c = |h: f32| (20.0 + (h * 255.0 - 20.0) * t) as u8;
    egui::Color32::from_rgb(c(hue[0]), c(hue[1]), c(hue[2]))
}

impl Inspector {
    /// Records the selected neuron's values at the shown frame of run `run`
    /// (the change tick of its start), once per step, in step order: scrubbing
    /// back through the history adds to it, a new run starts it afresh.
    pub(crate) fn observe(&mut self, selected: Option<NeuronId>, frame: Option<&Frame>, run: u64) {
        if self.neuron != selected || self.run != run {
            let same_layer =
                self.run == run && self.neuron.map(|n| n.layer) == selected.map(|n| n.layer);
            if !same_layer {
                self.blame = None;
                self.blame_job = None;
            }
            self.neuron = selected;
            self.run = run;
            self.history.clear();
            self.weights_step = None;
        }
        let (Some(NeuronId { layer: l, index: i }), Some(f)) = (selected, frame) else {
            return;
        };
        let at = self.history.partition_point(|h| h.0 < f.step);
        if self.history.get(at).is_some_and(|h| h.0 == f.step) {
            return;
        }
        if let Some(v) = neuron_values(f, l, i) {
            self.history.insert(at, (f.step, v.activation, v.gradient));
            if self.history.len() > HISTORY_MAX {
                self.history.drain(..HISTORY_MAX / 2);
            }
        }
    }

    #[cfg(test)]
    /// The steps of the history, oldest first.
    pub(crate) fn history_steps(&self) -> impl Iterator<Item = u64> + '_ {
        self.history.iter().map(|h| h.0)
    }

    #[cfg(test)]
    /// The latest blame measured for the selected neuron's layer.
    pub(crate) fn blame(&self) -> Option<&Blame> {
        self.blame.as_ref()
    }

    /// True while a blame is being measured.
    pub(crate) fn measuring_blame(&self) -> bool {
        self.blame_job.is_some()
    }

    /// Takes a finished blame, and starts measuring layer `layer` at
    /// `frame`'s step when that is not the blame shown or being measured.
    /// The measure runs on its own thread: a big layer on a big test set
    /// takes seconds, and a frame must not wait for it.
    fn refresh_blame(
        &mut self,
        frame: &Frame,
        topology: &Topology,
        input: BlameInput<'_>,
        layer: usize,
    ) {
        if let Some((_, rx)) = &self.blame_job {
            match rx.try_recv() {
                Ok(result) => {
                    self.blame = result;
                    self.blame_job = None;
                }
                Err(TryRecvError::Empty) => return,
                Err(TryRecvError::Disconnected) => self.blame_job = None,
            }
        }
        let key = (layer, frame.step);
        if self
            .blame
            .as_ref()
            .is_some_and(|b| (b.layer, b.step) == key)
        {
            return;
        }
        let readout = Readout {
            activations: topology.network.activations.clone(),
            output: topology.network.output,
            loss: input.loss,
        };
        let (frame, data) = (frame.clone(), input.data.clone());
        let rx = beside("blame", move || {
            blame(&frame, &readout, &data, layer, DEFAULT_BLAME_SAMPLES)
        });
        self.blame_job = Some((key, rx));
    }
}

/// Draws the inspector for the selected neuron.
pub(crate) fn inspector_ui(
    ui: &mut egui::Ui,
    inspector: &mut Inspector,
    frame: &Frame,
    topology: &Topology,
    blame_input: Option<BlameInput<'_>>,
) {
    let Some(NeuronId { layer: l, index: i }) = inspector.neuron else {
        ui.label("Click a neuron to inspect it (Esc clears, G frames it).");
        return;
    };
    let layers = topology.network.sizes.len();
    let mut title = format!("{} layer, neuron {i}", layer_name(l, layers));
    if l + 1 == layers
        && let Some(name) = topology.output_names.get(i)
    {
        title.push_str(&format!(" (\"{name}\")"));
    }
    ui.strong(title);
    let Some(v) = neuron_values(frame, l, i) else {
        ui.label("(not in this frame)");
        return;
    };
    egui::Grid::new("inspector-values")
        .num_columns(2)
        .show(ui, |ui| {
            let row = |ui: &mut egui::Ui, k: &str, val: f32| {
                ui.label(k);
                ui.monospace(format!("{val:+.5}"));
                ui.end_row();
            };
            row(ui, "activation a", v.activation);
            if l > 0 {
                row(ui, "pre-activation z", v.pre_activation);
                row(ui, "bias b", v.bias);
                row(ui, "∂L/∂z (probe)", v.gradient);
                row(ui, "∂L/∂b (batch)", v.batch_gradient);
            }
        });
    if l > 0 {
        // z = scale · (Σ w·x + b) under a mean-field parameterisation.
        let scale = frame
            .layers
            .get(l - 1)
            .map_or(1.0, |layer| layer.scale)
            .max(f32::MIN_POSITIVE);
        let weighted = v.pre_activation / scale - v.bias;
        let output = l + 1 == layers;
        ui.label(threshold_text(
            v.bias,
            weighted,
            topology.network.activation(l - 1),
            output,
        ))
        .on_hover_text("z = Σ w·x + b: the bias sets where along Σ w·x the neuron turns on");
        incoming_weights_ui(ui, inspector, frame, topology, l, i);
    }
    if l + 1 < layers {
        outgoing_weights_ui(ui, frame, l, i);
    }
    if l > 0 && l + 1 < layers {
        if let Some(input) = blame_input {
            inspector.refresh_blame(frame, topology, input, l);
        }
        blame_ui(ui, inspector, i);
    }
    let history = &inspector.history;
    if history.len() > 1 {
        Plot::new("neuron-history")
            .height(90.0)
            .legend(Legend::default())
            .allow_scroll(false)
            .show(ui, |p| {
                let act: PlotPoints = history
                    .iter()
                    .map(|h| [h.0 as f64, f64::from(h.1)])
                    .collect();
                let grad: PlotPoints = history
                    .iter()
                    .map(|h| [h.0 as f64, f64::from(h.2)])
                    .collect();
                p.line(Line::new("activation", act).color(egui::Color32::from_rgb(140, 220, 255)));
                p.line(Line::new("∂L/∂z", grad).color(egui::Color32::from_rgb(255, 120, 40)));
            });
    }
}

/// The bias read as a threshold: the weighted input Σ w·x at which the
/// neuron turns on (relu, step-like units) or crosses its midpoint.
pub(crate) fn threshold_text(
    bias: f32,
    weighted_input: f32,
    activation: crate::lab::model::Activation,
    output: bool,
) -> String {
    use crate::lab::model::Activation;
    let at = -bias;
    let side = if weighted_input > at {
        "above"
    } else {
        "below"
    };
    let what = match (output, activation) {
        (true, _) => "its logit is 0",
        (false, Activation::Relu) => "it turns on",
        (false, Activation::Linear) => "it crosses 0",
        (false, _) => "it crosses its midpoint",
    };
    format!(
        "threshold: {what} where Σ w·x = {at:+.4}; the probe's Σ w·x = {weighted_input:+.4} is {side} it"
    )
}

/// The neuron's outgoing weights, the largest first, as signed bars.
fn outgoing_weights_ui(ui: &mut egui::Ui, frame: &Frame, l: usize, j: usize) {
    let Some(next) = frame.layers.get(l) else {
        return;
    };
    if j >= next.inputs {
        return;
    }
    let mut out: Vec<(usize, f32)> = (0..next.outputs).map(|k| (k, next.weight(j, k))).collect();
    let max = out.iter().fold(0.0f32, |m, (_, w)| m.max(w.abs()));
    out.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()).then(a.0.cmp(&b.0)));
    ui.label(format!(
        "Outgoing weights ({} to layer {}, max |w| {max:.3})",
        next.outputs,
        l + 1
    ));
    for (k, w) in out.iter().take(OUTGOING_SHOWN) {
        bar_row_ui(ui, &format!("→ n{k}"), f64::from(*w), f64::from(max), false);
    }
    if out.len() > OUTGOING_SHOWN {
        ui.small(format!("and {} smaller", out.len() - OUTGOING_SHOWN));
    }
}

/// One labelled signed bar: blue to the right for positive, orange to the
/// left for negative, scaled by `max`.
fn bar_row_ui(ui: &mut egui::Ui, label: &str, value: f64, max: f64, strong: bool) {
    ui.horizontal(|ui| {
        let text = egui::RichText::new(format!("{label:>6}")).monospace();
        ui.label(if strong { text.strong() } else { text });
        let (rect, _) = ui.allocate_exact_size(egui::vec2(140.0, 10.0), egui::Sense::hover());
        let mid = rect.center().x;
        let t = if max > 0.0 {
            (value / max).clamp(-1.0, 1.0) as f32
        } else {
            0.0
        };
        let end = mid + t * rect.width() / 2.0;
        let bar = egui::Rect::from_x_y_ranges(mid.min(end)..=mid.max(end), rect.y_range());
        ui.painter().rect_filled(bar, 1.0, weight_color(t, 1.0));
        ui.painter().vline(
            mid,
            rect.y_range(),
            egui::Stroke::new(1.0, egui::Color32::from_gray(90)),
        );
        ui.monospace(format!("{value:+.4}"));
    });
}

/// The layer's blame, a ranked bar list, the selected neuron marked.
fn blame_ui(ui: &mut egui::Ui, inspector: &Inspector, selected: usize) {
    let Some(b) = &inspector.blame else {
        ui.label(if inspector.measuring_blame() {
            "Blame: silencing each neuron of the layer…"
        } else {
            "Blame: not measurable for this run (a PDE's residual loss)"
        });
        return;
    };
    ui.label(format!(
        "Blame at step {}: the test loss's rise when each neuron of layer {} is silenced ({} test samples, loss {:.4}){}",
        b.step,
        b.layer,
        b.samples,
        b.base_loss,
        if inspector.measuring_blame() { ", updating…" } else { "" }
    ));
    let ranked = b.ranked();
    let max = ranked.iter().fold(0.0f64, |m, (_, r)| m.max(r.abs()));
    for (j, rise) in &ranked {
        bar_row_ui(ui, &format!("n{j}"), *rise, max, *j == selected);
    }
}

fn incoming_weights_ui(
    ui: &mut egui::Ui,
    inspector: &mut Inspector,
    frame: &Frame,
    topology: &Topology,
    l: usize,
    j: usize,
) {
    let Some(layer) = frame.layers.get(l - 1) else {
        return;
    };
    let weights: Vec<f32> = (0..layer.inputs).map(|i| layer.weight(i, j)).collect();
    let max = weights.iter().fold(0.0f32, |m, w| m.max(w.abs()));
    let (w, h) = match (&topology.layout, l) {
        (InputLayout::Image { width, height }, 1) => (*width, *height),
        _ => {
            let cols = (weights.len() as f32).sqrt().ceil() as usize;
            (cols, weights.len().div_ceil(cols))
        }
    };
    if inspector.weights_step != Some(frame.step) {
        let mut img = egui::ColorImage::filled([w, h], egui::Color32::BLACK);
        for (k, wt) in weights.iter().enumerate() {
            img.pixels[k] = weight_color(*wt, max);
        }
        match &mut inspector.weights {
            Some(t) => t.set(img, egui::TextureOptions::NEAREST),
            None => {
                inspector.weights = Some(ui.ctx().load_texture(
                    "incoming",
                    img,
                    egui::TextureOptions::NEAREST,
                ))
            }
        }
        inspector.weights_step = Some(frame.step);
    }
    ui.label(format!(
        "Incoming weights ({} inputs, max |w| {max:.3})",
        weights.len()
    ));
    if let Some(t) = &inspector.weights {
        let scale = (120.0 / w.max(h) as f32).max(4.0);
        ui.add(egui::Image::new((
            t.id(),
            egui::vec2(w as f32 * scale, h as f32 * scale),
        )));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::LayerFrame;

    #[test]
    fn values_come_from_the_right_layer_and_index() {
        let frame = Frame {
            probe: crate::lab::Probe {
                input: vec![0.5, 0.25],
                ..Default::default()
            },
            layers: vec![LayerFrame {
                inputs: 2,
                outputs: 3,
                activations: vec![0.1, 0.2, 0.3],
                pre_activations: vec![1.0, 2.0, 3.0],
                biases: vec![-1.0, -2.0, -3.0],
                probe_grads: vec![0.01, 0.02, 0.03],
                bias_grads: vec![0.5, 0.6, 0.7],
                ..Default::default()
            }],
            ..Default::default()
        };
        assert_eq!(neuron_values(&frame, 0, 1).unwrap().activation, 0.25);
        let v = neuron_values(&frame, 1, 2).unwrap();
        assert_eq!(
            (
                v.activation,
                v.pre_activation,
                v.bias,
                v.gradient,
                v.batch_gradient
            ),
            (0.3, 3.0, -3.0, 0.03, 0.7)
        );
        assert!(neuron_values(&frame, 1, 3).is_none());
        assert!(neuron_values(&frame, 2, 0).is_none());
    }

    #[test]
    fn scrubbing_back_keeps_the_history_and_a_new_run_clears_it() {
        let at = |step: u64| Frame {
            step,
            layers: vec![LayerFrame {
                inputs: 1,
                outputs: 1,
                activations: vec![step as f32],
                pre_activations: vec![0.0],
                biases: vec![0.0],
                probe_grads: vec![0.0],
                bias_grads: vec![0.0],
                ..Default::default()
            }],
            ..Default::default()
        };
        let mut inspector = Inspector::default();
        for step in [10, 20, 30] {
            inspector.observe(Some(NeuronId::new(1, 0)), Some(&at(step)), 1);
        }
        // The VCR goes back to step 5, then 20: the history only grows.
        inspector.observe(Some(NeuronId::new(1, 0)), Some(&at(5)), 1);
        inspector.observe(Some(NeuronId::new(1, 0)), Some(&at(20)), 1);
        let steps: Vec<u64> = inspector.history_steps().collect();
        assert_eq!(steps, vec![5, 10, 20, 30]);
        // A restart (a new run) starts over, even at a later step.
        inspector.observe(Some(NeuronId::new(1, 0)), Some(&at(40)), 2);
        assert_eq!(inspector.history_steps().collect::<Vec<_>>(), vec![40]);
    }
}
