//! Draw and predict: a drawn input takes the probe sample's place, so the 3D view shows its forward pass.

use std::sync::Arc;

use bevy::prelude::*;

use crate::app::AppSystems;
use crate::app::bridge::Run;
use crate::app::history::Shown;
use crate::lab::model::plain_forward;
use crate::lab::{Frame, Topology};

/// The user's drawing, as a network input, and what the network makes of it.
#[derive(Resource, Debug, Default)]
pub(super) struct DrawnInput {
    /// The preprocessed input (`None`: show the probe sample).
    pub input: Option<Vec<f32>>,
    /// The network's output for it at the shown step (probabilities for classes).
    pub prediction: Option<Vec<f64>>,
    /// The step whose weights gave the prediction.
    pub step: Option<u64>,
    changed: bool,
    applied_serial: Option<u64>,
}

impl DrawnInput {
    /// Replaces the drawing (`None` clears it).
    pub(super) fn set(&mut self, input: Option<Vec<f32>>) {
        self.input = input;
        self.changed = true;
    }
}

/// `frame` with `input` run through its weights in place of the probe sample,
/// and the network's output for it. No gradients: a drawing has no target.
pub(super) fn drawn_frame(frame: &Frame, topology: &Topology, input: &[f32]) -> (Frame, Vec<f64>) {
    let trace = plain_forward(
        &frame.dense_layers(),
        &topology.network.activations,
        topology.network.output,
        input,
    );
    let mut drawn = frame.clone();
    for (layer, (pre, post)) in drawn
        .layers
        .iter_mut()
        .zip(trace.pre.iter().zip(&trace.post))
    {
        layer.pre_activations = pre.iter().map(|&v| v as f32).collect();
        layer.activations = post.iter().map(|&v| v as f32).collect();
        layer.probe_grads.iter_mut().for_each(|g| *g = 0.0);
    }
    let output = trace.post.last().cloned().unwrap_or_default();
    drawn.probe.input = input.to_vec();
    drawn.probe.output = output.iter().map(|&v| v as f32).collect();
    drawn.probe.label = None;
    drawn.probe.target.clear();
    drawn.probe.loss = f32::NAN;
    (drawn, output)
}

/// Draw and predict.
pub(super) struct DrawingPlugin;

impl Plugin for DrawingPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<DrawnInput>()
            .add_systems(Update, show_drawing.in_set(AppSystems::Probe));
    }
}

/// Puts the drawing through the shown step's weights, whenever either changes.
fn show_drawing(run: Res<Run>, mut drawn: ResMut<DrawnInput>, mut shown: ResMut<Shown>) {
    let d = &mut *drawn;
    let Some(input) = &d.input else {
        if std::mem::take(&mut d.changed) {
            d.prediction = None;
            d.step = None;
            d.applied_serial = None;
            // Let the history show the real frame again.
            shown.frame = None;
            shown.serial += 1;
        }
        return;
    };
    if !d.changed && d.applied_serial == Some(shown.serial) {
        return;
    }
    let (Some(frame), Some(topology)) = (&shown.frame, &run.topology) else {
        return;
    };
    if frame.probe.input.len() != input.len() {
        return;
    }
    let (new, output) = drawn_frame(frame, topology, input);
    d.prediction = Some(output);
    d.step = Some(new.step);
    d.changed = false;
    shown.frame = Some(Arc::new(new));
    shown.serial += 1;
    d.applied_serial = Some(shown.serial);
}
