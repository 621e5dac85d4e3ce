//! What `nnm serve` and its clients say: the settings a client may change
//! (`POST /settings`, or a viewer's command), the run's events as JSON, and
//! a frame as a stream message (the network at a step, in safetensors).

use serde::{Deserialize, Serialize};

use crate::lab::error::{LabError, LabResult};
use crate::lab::frame::{Frame, Metrics};
use crate::lab::model::Activation;
use crate::lab::runner::TrainerCommand;
use crate::lab::scene::OptimizerKind;
use crate::lab::stream::{LayerTensors, NetworkMessage};

/// A change of the served run's settings; what is left out stays.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The learning rate (training goes on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub learning_rate: Option<f32>,
    /// The mini-batch size (training goes on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_size: Option<usize>,
    /// The optimiser, as scene files name it (`Adam`, `Sgd`, `Momentum`,
    /// `Gd`; its state restarts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optimizer: Option<OptimizerKind>,
    /// The hidden layers' widths (training restarts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hidden: Option<Vec<usize>>,
    /// The hidden layers' non-linearity (`relu`, `tanh`...; training restarts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activation: Option<String>,
    /// The hidden layers' dropout rate (training goes on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dropout: Option<f32>,
    /// Another seed (training restarts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
}

impl Settings {
    /// The trainer commands that make these changes, checked first: a bad
    /// value is an error naming its field, and then nothing changes. New
    /// hidden widths without an activation keep `activation_now`.
    pub fn commands(&self, activation_now: Activation) -> LabResult<Vec<TrainerCommand>> {
        let mut out = Vec::new();
        if let Some(lr) = self.learning_rate {
            if !(lr.is_finite() && lr > 0.0) {
                return Err(LabError::setting(
                    "learning_rate",
                    "must be a positive number",
                ));
            }
            out.push(TrainerCommand::SetLearningRate(lr));
        }
        if let Some(b) = self.batch_size {
            if b == 0 {
                return Err(LabError::setting("batch_size", "must be at least 1"));
            }
            out.push(TrainerCommand::SetBatchSize(b));
        }
        if let Some(o) = self.optimizer {
            out.push(TrainerCommand::SetOptimizer(o));
        }
        if let Some(d) = self.dropout {
            if !(0.0..1.0).contains(&d) {
                return Err(LabError::setting("dropout", "must be in [0, 1)"));
            }
            out.push(TrainerCommand::SetDropout(d));
        }
        let activation = match &self.activation {
            Some(a) => {
                Some(Activation::from_label(a).map_err(|e| LabError::setting("activation", e))?)
            }
            None => None,
        };
        match (&self.hidden, activation) {
            (Some(hidden), act) => {
                if hidden.contains(&0) {
                    return Err(LabError::setting(
                        "hidden",
                        "a layer needs at least one neuron",
                    ));
                }
                let act = act.unwrap_or(activation_now);
                out.push(TrainerCommand::SetLayers {
                    hidden: hidden.clone(),
                    activations: vec![act; hidden.len()],
                });
            }
            (None, Some(act)) => out.push(TrainerCommand::SetActivation(act)),
            (None, None) => {}
        }
        if let Some(seed) = self.seed {
            out.push(TrainerCommand::Reseed(seed));
        }
        Ok(out)
    }
}

/// What a viewer sends over `/stream`: commands, and `next` when it is
/// ready for more (the server sends only then, so a slow viewer is sent
/// fewer frames and never slows the trainer).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ViewerMessage {
    /// Send what is new: the events since the last batch and the newest frame.
    Next,
    /// Stop stepping.
    Pause,
    /// Step continuously.
    Resume,
    /// Apply this many updates, then pause.
    Step(u32),
    /// Restart with the same settings.
    Reset,
    /// Change settings.
    Settings(Settings),
}

/// What the server sends a viewer over `/stream`, as JSON text; frames go
/// as binary stream messages between them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServerEvent {
    /// A run started: its scene (RON) and where it is recorded.
    Started {
        /// The resolved scene, as a scene file.
        scene: String,
        /// The run directory on the server.
        run_dir: Option<String>,
    },
    /// A full-set evaluation.
    Evaluated(Metrics),
    /// The settings in force after an edit: the scene, as a scene file.
    Settings(String),
    /// Stepping paused (false) or resumed (true).
    Running(bool),
    /// The scene's steps were done.
    Finished(u64),
    /// The loss blew up at this step.
    Diverged {
        /// The step.
        step: u64,
        /// The loss.
        loss: f32,
    },
    /// Something the viewer should read (an error, a notice).
    Note(String),
    /// The run was stopped (`POST /stop`).
    Stopped,
    /// The end of a batch: the viewer may say `next` again.
    End,
}

/// A frame as a stream message: its weights and biases (and gradients),
/// and its step's measures as scalars (`batch_loss`, `learning_rate`...).
pub fn frame_message(frame: &Frame) -> NetworkMessage {
    let layers = frame
        .layers
        .iter()
        .enumerate()
        .map(|(i, l)| LayerTensors {
            inputs: l.inputs,
            outputs: l.outputs,
            weights: l.weights.clone(),
            biases: l.biases.clone(),
            weight_grads: (!l.weight_grads.is_empty()).then(|| l.weight_grads.clone()),
            bias_grads: (!l.bias_grads.is_empty()).then(|| l.bias_grads.clone()),
            name: format!("layers.{i}.weight"),
        })
        .collect();
    let scalars = Metrics::MEASURES
        .iter()
        .filter_map(|m| (m.get)(&frame.metrics).map(|v| (m.name.to_string(), f64::from(v))))
        .filter(|(_, v)| v.is_finite())
        .collect();
    NetworkMessage {
        step: frame.step,
        layers,
        scalars,
        ..Default::default()
    }
}
