//! The bridge to the lab's trainer: events in (under a budget), commands out,
//! and a trainer without a thread of its own given its slice of each frame.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::lab::clock::Instant;

use bevy::ecs::system::SystemParam;
use bevy::prelude::*;

use crate::app::AppSystems;
use crate::app::messages::SendCommand;
use crate::lab::data::Dataset;
use crate::lab::frame::LayerStats;
use crate::lab::runner::Driver;
use crate::lab::{Frame, Metrics, Scene, Topology, TrainerCommand, TrainerEvent, TrainerHandle};

/// Longest time a frame spends draining trainer events, by default.
pub(super) const INGEST_BUDGET: Duration = Duration::from_millis(2);

/// The least time a frame lets a trainer without a thread of its own train
/// (the web build's, or `nnm view --cooperative`); a threaded one trains
/// anyway.
const COOPERATIVE_BUDGET: Duration = Duration::from_millis(8);

/// The most time a frame lets such a trainer train: the view keeps 10
/// frames a second wherever the rest of a frame takes under 60 ms.
const COOPERATIVE_BUDGET_MAX: Duration = Duration::from_millis(40);

/// The time a frame lets a trainer without a thread train, given the
/// period of the last frame: two fifths of it, between those bounds. Where
/// frames are slow for drawing (software WebGL, the other core busy
/// rasterising), training keeps pace with them instead of getting the same
/// 8 ms of a longer frame.
pub(super) fn cooperative_budget(last_frame: Duration) -> Duration {
    (last_frame * 2 / 5).clamp(COOPERATIVE_BUDGET, COOPERATIVE_BUDGET_MAX)
}

/// How long a frame may spend draining trainer events; what does not fit
/// waits for the next frame.
#[derive(Resource, Debug, Clone, Copy, PartialEq)]
pub(super) struct IngestBudget(pub Duration);

impl Default for IngestBudget {
    fn default() -> Self {
        IngestBudget(INGEST_BUDGET)
    }
}

/// The handle of the thread that sends the app its frames: a trainer, or a
/// replay of a recording (absent in apps that train nothing, such as the
/// compare view's).
#[derive(Resource)]
pub(super) struct TrainerLink(TrainerHandle);

impl TrainerLink {
    /// Links the app to a running trainer.
    pub(super) fn new(handle: TrainerHandle) -> Self {
        TrainerLink(handle)
    }
}

/// Where training stands, as far as the app knows.
#[derive(Resource, Debug, Clone, Copy, PartialEq, Default)]
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

/// The run the trainer (or a replay) started: its network, data and
/// directory. Written only when a run (re)starts, so a change to it means
/// the network's entities must be rebuilt.
#[derive(Resource, Default)]
pub(super) struct Run {
    /// The network's shape.
    pub topology: Option<Topology>,
    /// The data set being trained on.
    pub data: Option<Arc<Dataset>>,
    /// The run directory being written.
    pub run_dir: Option<PathBuf>,
    /// What moves the run: a trainer, a recording, or a stream.
    pub driver: Driver,
}

impl Run {
    /// True when the frames come from a recorded run, not a trainer.
    pub(super) fn replay(&self) -> bool {
        self.driver == Driver::Replay
    }
}

/// The newest frame the trainer sent; changed with each frame.
#[derive(Resource, Default)]
pub(super) struct NewestFrame(pub Option<Arc<Frame>>);

/// The scene in force (resolved, with the changes made since the start).
#[derive(Resource, Default)]
pub(super) struct SceneInForce(pub Option<Scene>);

/// What the current run has measured so far, as it arrived.
#[derive(Resource, Default)]
pub(super) struct RunLog {
    /// Every evaluation, oldest first.
    pub evaluations: Vec<Metrics>,
    /// Mini-batch loss of every frame received: (step, loss).
    pub batch_losses: Vec<(u64, f32)>,
    /// Each layer's stats at every step they arrived for (in frames, or
    /// from a replay's `layers.csv`), in step order.
    pub layer_stats: Vec<(u64, Vec<LayerStats>)>,
    /// Named numbers a training loop sent, by name: (step, value), in step order.
    pub scalars: std::collections::BTreeMap<String, Vec<(u64, f32)>>,
}

impl RunLog {
    /// Keeps a step's layer stats; a step at or before the last one kept
    /// (a restart, or a paused view's frame shown again) replaces what follows.
    fn push_layers(&mut self, step: u64, stats: Vec<LayerStats>) {
        if self.layer_stats.last().is_some_and(|(s, _)| *s >= step) {
            self.layer_stats.retain(|(s, _)| *s < step);
        }
        self.layer_stats.push((step, stats));
    }

    /// Keeps the scalars of a step; a step at or before the last one kept
    /// for a name replaces what follows.
    fn push_scalars(&mut self, step: u64, values: std::collections::BTreeMap<String, f64>) {
        for (name, value) in values {
            let series = self.scalars.entry(name).or_default();
            if series.last().is_some_and(|(s, _)| *s >= step) {
                series.retain(|(s, _)| *s < step);
            }
            series.push((step, value as f32));
        }
    }

    /// Keeps an evaluation; a restart re-evaluates step 0, so one entry per step.
    fn push_evaluation(&mut self, e: Metrics) {
        if self
            .evaluations
            .last()
            .is_some_and(|last| last.step >= e.step)
        {
            self.evaluations.retain(|old| old.step < e.step);
        }
        self.evaluations.push(e);
    }
}

/// Errors and notices from the trainer, newest last.
#[derive(Resource, Default)]
pub(super) struct TrainerNotes(pub Vec<String>);

/// How many trainer events the last frame drained (for diagnostics).
#[derive(Resource, Debug, Default, PartialEq)]
pub(super) struct Drained(pub usize);

/// Everything the trainer has told the app, read together (the overlay,
/// exports); a system that needs one part reads that resource alone.
#[derive(SystemParam)]
pub(super) struct Live<'w> {
    /// The run: network, data, directory.
    pub run: Res<'w, Run>,
    /// The newest frame.
    pub frame: Res<'w, NewestFrame>,
    /// The scene in force.
    pub scene: Res<'w, SceneInForce>,
    /// The measurements so far.
    pub log: Res<'w, RunLog>,
    /// Stepping, paused, finished or diverged.
    pub state: Res<'w, TrainingState>,
    /// Errors and notices.
    pub notes: Res<'w, TrainerNotes>,
}

impl Live<'_> {
    /// The network's shape, once a run started.
    pub(super) fn topology(&self) -> Option<&Topology> {
        self.run.topology.as_ref()
    }

    /// The scene in force.
    pub(super) fn scene(&self) -> Option<&Scene> {
        self.scene.0.as_ref()
    }

    /// The newest frame.
    pub(super) fn frame(&self) -> Option<&Arc<Frame>> {
        self.frame.0.as_ref()
    }

    /// The current step: that of the newest frame.
    pub(super) fn step(&self) -> u64 {
        self.frame.step()
    }

    /// When the run last (re)started, as Bevy's change tick of [`Run`]: what
    /// caches of a run's views are keyed on.
    pub(super) fn run_tick(&self) -> u64 {
        u64::from(self.run.last_changed().get())
    }

    /// The newest thing the trainer said.
    pub(super) fn last_message(&self) -> Option<&String> {
        self.notes.0.last()
    }
}

impl NewestFrame {
    /// The current step: that of the newest frame.
    pub(super) fn step(&self) -> u64 {
        self.0.as_ref().map_or(0, |f| f.step)
    }
}

/// Where trainer events land: each event changes only the resources it is
/// about, so Bevy's change detection tells a new run from a new frame.
#[derive(SystemParam)]
pub(super) struct LiveWriter<'w> {
    run: ResMut<'w, Run>,
    frame: ResMut<'w, NewestFrame>,
    scene: ResMut<'w, SceneInForce>,
    log: ResMut<'w, RunLog>,
    state: ResMut<'w, TrainingState>,
    notes: ResMut<'w, TrainerNotes>,
}

impl LiveWriter<'_> {
    /// True when the frames come from a recorded run.
    fn replay(&self) -> bool {
        self.run.replay()
    }

    /// Applies one trainer event.
    pub(super) fn apply(&mut self, event: TrainerEvent) {
        match event {
            TrainerEvent::Started(info) => {
                let info = *info;
                *self.run = Run {
                    topology: Some(info.topology),
                    data: info.data,
                    run_dir: info.run_dir,
                    driver: info.driver,
                };
                self.scene.0 = Some(info.scene);
                self.frame.0 = None;
                *self.log = RunLog::default();
                *self.state = TrainingState::Starting;
            }
            TrainerEvent::Frame(frame) => {
                let loss = frame.metrics.batch_loss.unwrap_or(f32::NAN);
                self.log.batch_losses.push((frame.step, loss));
                if !frame.stats.is_empty() {
                    self.log.push_layers(frame.step, frame.stats.clone());
                }
                self.frame.0 = Some(Arc::from(frame));
            }
            TrainerEvent::Layers(step, stats) => self.log.push_layers(step, stats),
            TrainerEvent::Scalars(step, values) => self.log.push_scalars(step, values),
            TrainerEvent::Settings(scene) => self.scene.0 = Some(*scene),
            TrainerEvent::Evaluated(e) => self.log.push_evaluation(e),
            TrainerEvent::Running(true) => {
                self.state.set_if_neq(TrainingState::Running);
            }
            TrainerEvent::Running(false) => {
                // Finished and diverged runs are paused too, but say more.
                if matches!(
                    *self.state,
                    TrainingState::Starting | TrainingState::Running | TrainingState::Paused
                ) {
                    self.state.set_if_neq(TrainingState::Paused);
                }
            }
            TrainerEvent::Diverged { step, loss } => {
                *self.state = TrainingState::Diverged { step, loss };
            }
            TrainerEvent::Finished { .. } => *self.state = TrainingState::Finished,
            TrainerEvent::Error(message) | TrainerEvent::Notice(message) => {
                self.notes.0.push(message)
            }
            TrainerEvent::Stopped(message) => {
                *self.state = TrainingState::Stopped;
                self.notes.0.push(message);
            }
        }
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
        app.init_resource::<Run>()
            .init_resource::<NewestFrame>()
            .init_resource::<SceneInForce>()
            .init_resource::<RunLog>()
            .init_resource::<TrainingState>()
            .init_resource::<TrainerNotes>()
            .init_resource::<Drained>()
            .init_resource::<IngestBudget>()
            .add_systems(
                Update,
                (forward_commands, ingest_events)
                    .chain()
                    .in_set(AppSystems::Ingest)
                    .run_if(resource_exists::<TrainerLink>),
            );
    }
}

/// Sends the commands written since the last frame to the trainer, then a
/// frame tick (which paces a trainer set to so many steps per frame).
fn forward_commands(
    mut commands: MessageReader<SendCommand>,
    link: Res<TrainerLink>,
    lockstep: Option<Res<Lockstep>>,
    #[cfg(target_arch = "wasm32")] mut exports: MessageWriter<crate::app::messages::ExportRequest>,
) {
    let handle = &link.0;
    for SendCommand(c) in commands.read() {
        // A page has no run folder to save into: its checkpoint is a
        // download of the shown network.
        #[cfg(target_arch = "wasm32")]
        if matches!(c, TrainerCommand::SaveCheckpoint) {
            exports.write(crate::app::messages::ExportRequest::Weights);
            continue;
        }
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
    link: Res<TrainerLink>,
    budget: Res<IngestBudget>,
    mut live: LiveWriter,
    mut drained_last_frame: ResMut<Drained>,
    lockstep: Option<ResMut<Lockstep>>,
    time: Res<Time<Real>>,
) {
    let handle = &link.0;
    if let Some(mut lockstep) = lockstep
        && !live.replay()
    {
        if let Some(drained) = lockstep_ingest(handle, &mut live, &mut lockstep) {
            drained_last_frame.set_if_neq(Drained(drained));
        }
        return;
    }
    handle.pump(cooperative_budget(time.delta()));
    let start = Instant::now();
    let mut drained = 0;
    for event in handle.events().try_iter() {
        live.apply(event);
        drained += 1;
        if start.elapsed() >= budget.0 {
            break;
        }
    }
    drained_last_frame.set_if_neq(Drained(drained));
}

/// Waits for the trainer's frame of the drawn frame wanted next; returns the
/// events drained, or `None` when there was nothing to wait for.
fn lockstep_ingest(
    handle: &TrainerHandle,
    live: &mut LiveWriter,
    lockstep: &mut Lockstep,
) -> Option<usize> {
    if lockstep.failed.is_some() || lockstep.delivered == Some(lockstep.wanted) {
        return None;
    }
    let want = lockstep.step_of(lockstep.wanted);
    if lockstep.wanted > 0 {
        handle.send(TrainerCommand::FrameTick);
    }
    let deadline = Instant::now() + lockstep.timeout;
    let mut drained = 0;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let event = match handle.next_event(left) {
            Some(e) => e,
            None => {
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
    lockstep.delivered = Some(lockstep.wanted);
    Some(drained)
}
