//! The protocol between the app and a frame source (a trainer or a replay):
//! commands in, events out.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::lab::data::Dataset;
use crate::lab::frame::Metrics;
use crate::lab::frame::{Frame, LayerStats, Topology};
use crate::lab::model::Activation;
use crate::lab::scene::PausePoint;
use crate::lab::scene::{OptimizerKind, Scene};

/// How fast the trainer thread steps.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Speed {
    /// As fast as the machine allows.
    Max,
    /// At most this many steps per second.
    StepsPerSecond(f32),
    /// Exactly this many steps for each frame the app draws (see `FrameTick`).
    StepsPerFrame(u32),
}

/// A change asked of the trainer thread (from the UI or a lesson).
#[derive(Debug, Clone, PartialEq)]
pub enum TrainerCommand {
    /// Stop stepping.
    Pause,
    /// Step continuously.
    Resume,
    /// Apply this many updates, then pause (each sends a frame).
    Step(u32),
    /// Change the learning rate.
    SetLearningRate(f32),
    /// Change the mini-batch size.
    SetBatchSize(usize),
    /// Switch optimiser (its state restarts).
    SetOptimizer(OptimizerKind),
    /// Change the dropout rate of the hidden layers (training goes on).
    SetDropout(f32),
    /// Give every hidden layer this activation (training restarts).
    SetActivation(Activation),
    /// Change the hidden layers: their widths and each one's activation
    /// (training restarts).
    SetLayers {
        /// Widths, input side first.
        hidden: Vec<usize>,
        /// One activation per layer of `hidden`.
        activations: Vec<Activation>,
    },
    /// Restart with another seed.
    Reseed(u64),
    /// Restart with the same settings.
    Reset,
    /// Change the stepping speed.
    SetSpeed(Speed),
    /// Send frames at most this often.
    SetFrameInterval(Duration),
    /// The app drew a frame: with `Speed::StepsPerFrame(k)`, allows k more steps.
    FrameTick,
    /// Replace the whole scene (training restarts).
    LoadScene(Box<Scene>),
    /// Take the presentation of this scene (see [`Scene::take_presentation`]);
    /// training goes on.
    SetPresentation(Box<Scene>),
    /// Pause where a lesson needs it (at a step, or right after an evaluation
    /// meets a trigger), showing exactly that frame (`None`: never).
    PauseAt(Option<PausePoint>),
    /// Save a checkpoint of the state now (model, optimiser and session) in
    /// the run directory's `checkpoints/`.
    SaveCheckpoint,
    /// End the thread.
    Shutdown,
}

/// What the trainer thread reports.
#[derive(Debug, Clone)]
pub enum TrainerEvent {
    /// A run (re)started, or a replay opened.
    Started(Box<RunInfo>),
    /// The state at a step (frames may be dropped when the app falls behind).
    Frame(Box<Frame>),
    /// A full-set evaluation (never dropped).
    Evaluated(Metrics),
    /// Named numbers a training loop sent with a step (loss, reward...),
    /// streamed in or read back from `scalars.csv`.
    Scalars(u64, std::collections::BTreeMap<String, f64>),
    /// Each layer's stats at a recorded step, read back by a replay (a
    /// trainer sends them inside its frames).
    Layers(u64, Vec<LayerStats>),
    /// The settings in force after a live edit (learning rate, batch size,
    /// optimizer, dropout): training goes on, in the same run.
    Settings(Box<Scene>),
    /// Stepping paused or resumed.
    Running(bool),
    /// The loss became NaN or infinite; training stopped.
    Diverged {
        /// Step at which it happened.
        step: u64,
        /// The loss.
        loss: f32,
    },
    /// The scene's step count was reached (training pauses; resuming goes on).
    Finished {
        /// Steps done.
        step: u64,
    },
    /// Something went wrong; the thread keeps the last good run.
    Error(String),
    /// Something the user asked for was done (a checkpoint saved, say).
    Notice(String),
    /// The thread has ended on a failure and will send nothing more.
    Stopped(String),
}

/// What a frame source says about the run it serves.
#[derive(Debug, Clone)]
pub struct RunInfo {
    /// The network's shape.
    pub topology: Topology,
    /// The resolved scene.
    pub scene: Scene,
    /// The data set (shared, read-only), for plotting points and test samples;
    /// absent when a replay cannot load it.
    pub data: Option<Arc<Dataset>>,
    /// Where the run is recorded, if anywhere.
    pub run_dir: Option<PathBuf>,
    /// What moves the run forward.
    pub driver: Driver,
}

/// What moves a run forward, which decides the controls that apply to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Driver {
    /// A trainer that takes every `TrainerCommand` (here or served).
    #[default]
    Trainer,
    /// A recorded run read back: no trainer, only its history.
    Replay,
    /// A training loop elsewhere streaming its steps in: it sets its own
    /// settings and pace, so no training control applies.
    Stream,
}
