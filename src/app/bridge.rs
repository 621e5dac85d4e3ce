//! The bridge to the lab's trainer thread: events in (under a budget), commands out.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bevy::prelude::*;

use crate::app::AppSystems;
use crate::app::messages::SendCommand;
use crate::lab::data::Dataset;
use crate::lab::frame::LayerStats;
use crate::lab::{Frame, Metrics, Scene, Topology, TrainerCommand, TrainerEvent, TrainerHandle};

/// Longest time a frame spends draining trainer events, by default.
pub(super) const INGEST_BUDGET: Duration = Duration::from_millis(2);

/// How long a frame may spend draining trainer events; what does not fit
/// waits for the next frame.
#[derive(Resource, Debug, Clone, Copy, PartialEq)]
pub(super) struct IngestBudget(pub Duration);

impl Default for IngestBudget {
    fn default() -> Self {
        IngestBudget(INGEST_BUDGET)
    }
}

/// The trainer thread's handle (absent when nothing trains, as in a replay).
#[derive(Resource)]
pub(super) struct TrainerLink {
    handle: Option<TrainerHandle>,
}

impl TrainerLink {
    /// Links the app to a running trainer.
    pub(super) fn new(handle: TrainerHandle) -> Self {
        TrainerLink {
            handle: Some(handle),
        }
    }
}

/// Where training stands, as far as the app knows.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub(super) enum TrainingState {
    /// Waiting for the trainer to start.
    #[default]
    Starting,
    /// Stepping.
    Running,
    /// Paused by the user.
    Paused,
    /// The scene's step count was reached.
    Finished,
    /// The loss became NaN or infinite.
    Diverged {
        /// Step at which it happened.
        step: u64,
        /// The loss.
        loss: f32,
    },
    /// The trainer (or replay) thread ended on a failure; the newest message says why.
    Stopped,
}

/// Everything the trainer has told the app: the shape, the newest frame and the history.
#[derive(Resource, Default)]
pub(super) struct Live {
    /// The network's shape.
    pub topology: Option<Topology>,
    /// The data set being trained on.
    pub data: Option<Arc<Dataset>>,
    /// The scene in force (resolved, with the changes made since).
    pub scene: Option<Scene>,
    /// The run directory being written.
    pub run_dir: Option<PathBuf>,
    /// The newest frame.
    pub frame: Option<Arc<Frame>>,
    /// Bumped whenever `frame` changes.
    pub frame_serial: u64,
    /// Bumped whenever the topology (re)starts: entities must be respawned.
    pub topology_serial: u64,
    /// Every evaluation of the current run, oldest first.
    pub evaluations: Vec<Metrics>,
    /// Mini-batch loss of every frame received: (step, loss).
    pub batch_losses: Vec<(u64, f32)>,
    /// Each layer's stats at every step they arrived for (in frames, or
    /// from a replay's `layers.csv`), in step order.
    pub layer_stats: Vec<(u64, Vec<LayerStats>)>,
    /// Stepping, paused, finished or diverged.
    pub state: TrainingState,
    /// Errors and notices from the trainer, newest last.
    pub messages: Vec<String>,
    /// Events drained in the last frame (for diagnostics).
    pub drained_last_frame: usize,
    /// True when the frames come from a recorded run, not a trainer.
    pub replay: bool,
}

impl Live {
    /// Keeps a step's layer stats; a step at or before the last one kept
    /// (a restart, or a paused view's frame shown again) replaces what follows.
    fn push_layers(&mut self, step: u64, stats: Vec<LayerStats>) {
        if self.layer_stats.last().is_some_and(|(s, _)| *s >= step) {
            self.layer_stats.retain(|(s, _)| *s < step);
        }
        self.layer_stats.push((step, stats));
    }

    /// Applies one trainer event.
    pub(super) fn apply(&mut self, event: TrainerEvent) {
        match event {
            TrainerEvent::Started(info) => {
                let info = *info;
                self.topology = Some(info.topology);
                self.scene = Some(info.scene);
                self.data = info.data;
                self.run_dir = info.run_dir;
                self.replay = info.replay;
                self.frame = None;
                self.evaluations.clear();
                self.batch_losses.clear();
                self.layer_stats.clear();
                self.state = TrainingState::Starting;
                self.topology_serial += 1;
                self.frame_serial += 1;
            }
            TrainerEvent::Frame(frame) => {
                self.batch_losses
                    .push((frame.step, frame.metrics.batch_loss.unwrap_or(f32::NAN)));
                if !frame.stats.is_empty() {
                    self.push_layers(frame.step, frame.stats.clone());
                }
                self.frame = Some(Arc::from(frame));
                self.frame_serial += 1;
            }
            TrainerEvent::Layers(step, stats) => self.push_layers(step, stats),
            TrainerEvent::Settings(scene) => self.scene = Some(*scene),
            TrainerEvent::Evaluated(e) => {
                // A restart re-evaluates step 0; keep one entry per step.
                if self
                    .evaluations
                    .last()
                    .is_some_and(|last| last.step >= e.step)
                {
                    self.evaluations.retain(|old| old.step < e.step);
                }
                self.evaluations.push(e);
            }
            TrainerEvent::Running(true) => self.state = TrainingState::Running,
            TrainerEvent::Running(false) => {
                // Finished and diverged runs are paused too, but say more.
                if matches!(
                    self.state,
                    TrainingState::Starting | TrainingState::Running | TrainingState::Paused
                ) {
                    self.state = TrainingState::Paused;
                }
            }
            TrainerEvent::Diverged { step, loss } => {
                self.state = TrainingState::Diverged { step, loss };
            }
            TrainerEvent::Finished { .. } => self.state = TrainingState::Finished,
            TrainerEvent::Error(message) | TrainerEvent::Notice(message) => {
                self.messages.push(message)
            }
            TrainerEvent::Stopped(message) => {
                self.state = TrainingState::Stopped;
                self.messages.push(message);
            }
        }
    }

    /// The current step: that of the newest frame.
    pub(super) fn step(&self) -> u64 {
        self.frame.as_ref().map_or(0, |f| f.step)
    }
}

/// Lockstep with the trainer, for films: each drawn frame waits for the
/// trainer's frame of its step, so the film does not depend on the machine's
/// speed. (Interactive use never waits: nothing blocks a frame there.)
#[derive(Resource, Debug, Clone)]
pub(super) struct Lockstep {
    /// Training steps between two drawn frames.
    pub steps_per_frame: u32,
    /// The drawn frame wanted next (0: the untrained network); its owner moves it on.
    pub wanted: u64,
    /// The drawn frame whose trainer frame has arrived.
    pub delivered: Option<u64>,
    /// Longest wait for the trainer before giving up.
    pub timeout: Duration,
    /// Set when the trainer did not answer in time, or stopped.
    pub failed: Option<String>,
}

impl Lockstep {
    /// The step whose frame drawn frame `i` shows: the untrained network
    /// first, then the state before the last update of each batch of steps.
    pub(super) fn step_of(&self, i: u64) -> u64 {
        if i == 0 {
            0
        } else {
            i * u64::from(self.steps_per_frame) - 1
        }
    }
}

/// Connects the app to the trainer thread.
pub(super) struct BridgePlugin;

impl Plugin for BridgePlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<Live>()
            .init_resource::<IngestBudget>()
            .add_systems(
                Update,
                (forward_commands, ingest_events)
                    .chain()
                    .in_set(AppSystems::Ingest),
            );
    }
}

/// Sends the commands written since the last frame to the trainer, then a
/// frame tick (which paces a trainer set to so many steps per frame).
fn forward_commands(
    mut commands: MessageReader<SendCommand>,
    link: Option<Res<TrainerLink>>,
    lockstep: Option<Res<Lockstep>>,
) {
    let Some(handle) = link.as_ref().and_then(|l| l.handle.as_ref()) else {
        commands.clear();
        return;
    };
    for SendCommand(c) in commands.read() {
        handle.send(c.clone());
    }
    // In lockstep, ticks go out with each frame's wait (see `ingest_events`).
    if lockstep.is_none() {
        handle.send(TrainerCommand::FrameTick);
    }
}

/// Drains trainer events until the channel is empty or the budget is spent;
/// in lockstep, waits for the frame this drawn frame must show instead.
pub(super) fn ingest_events(
    link: Option<Res<TrainerLink>>,
    budget: Res<IngestBudget>,
    mut live: ResMut<Live>,
    lockstep: Option<ResMut<Lockstep>>,
) {
    let Some(handle) = link.as_ref().and_then(|l| l.handle.as_ref()) else {
        return;
    };
    if let Some(mut lockstep) = lockstep
        && !live.replay
    {
        lockstep_ingest(handle, &mut live, &mut lockstep);
        return;
    }
    let start = Instant::now();
    let mut drained = 0;
    for event in handle.events().try_iter() {
        live.apply(event);
        drained += 1;
        if start.elapsed() >= budget.0 {
            break;
        }
    }
    live.drained_last_frame = drained;
}

fn lockstep_ingest(handle: &TrainerHandle, live: &mut Live, lockstep: &mut Lockstep) {
    if lockstep.failed.is_some() || lockstep.delivered == Some(lockstep.wanted) {
        return;
    }
    let want = lockstep.step_of(lockstep.wanted);
    if lockstep.wanted > 0 {
        handle.send(TrainerCommand::FrameTick);
    }
    let deadline = Instant::now() + lockstep.timeout;
    let mut drained = 0;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let event = match handle.events().recv_timeout(left) {
            Ok(e) => e,
            Err(_) => {
                lockstep.failed =
                    Some(format!("the trainer sent no frame for step {want} in time"));
                break;
            }
        };
        let reached = matches!(&event, TrainerEvent::Frame(f) if f.step >= want);
        let stopped = match &event {
            TrainerEvent::Diverged { step, .. } => {
                Some(format!("training diverged at step {step}"))
            }
            TrainerEvent::Error(e) | TrainerEvent::Stopped(e) => Some(e.clone()),
            _ => None,
        };
        live.apply(event);
        drained += 1;
        if reached {
            break;
        }
        if let Some(why) = stopped {
            lockstep.failed = Some(why);
            break;
        }
    }
    live.drained_last_frame = drained;
    lockstep.delivered = Some(lockstep.wanted);
}
