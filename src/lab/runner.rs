//! Sessions and the trainer thread: training, evaluation and recording, driven by commands.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use burn::tensor::backend::AutodiffBackend;
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError};

use crate::lab::data::Dataset;
use crate::lab::error::LabResult;
use crate::lab::frame::{Frame, Topology};
use crate::lab::lesson::LessonProgress;
use crate::lab::model::Activation;
use crate::lab::record::{MetricsRow, RunRecorder};
use crate::lab::scene::{OptimizerKind, Scene};
use crate::lab::train::{Evaluation, StepOutcome, Trainer};

/// What one [`Session::advance`] produced.
#[derive(Debug, Default)]
pub struct Advance {
    /// The frame of the state before the update, when one was captured.
    pub frame: Option<Box<Frame>>,
    /// The evaluation made before the update, when one was due.
    pub evaluation: Option<Evaluation>,
    /// Set when the loss blew up: (step, loss).
    pub diverged: Option<(u64, f32)>,
}

/// A trainer with its run directory and evaluation schedule: what `nnm train`
/// and the trainer thread both drive.
pub struct Session<B: AutodiffBackend> {
    trainer: Trainer<B>,
    recorder: Option<RunRecorder>,
    runs_root: Option<PathBuf>,
    last_eval: Option<Evaluation>,
    last_batch_loss: f32,
}

impl<B: AutodiffBackend> Session<B> {
    /// Loads the data, builds the network and, with `runs_root`, creates the run directory.
    pub fn start(scene: &Scene, device: &B::Device, runs_root: Option<&Path>) -> LabResult<Self> {
        let trainer = Trainer::new(scene, device)?;
        Self::from_trainer(trainer, runs_root)
    }

    /// Like [`Session::start`], for data that is already loaded.
    pub fn with_data(
        scene: &Scene,
        data: Arc<Dataset>,
        device: &B::Device,
        runs_root: Option<&Path>,
    ) -> LabResult<Self> {
        Self::from_trainer(Trainer::with_data(scene, data, device)?, runs_root)
    }

    fn from_trainer(trainer: Trainer<B>, runs_root: Option<&Path>) -> LabResult<Self> {
        let recorder = match runs_root {
            Some(root) => Some(RunRecorder::start(
                root,
                trainer.scene(),
                &trainer.topology(),
            )?),
            None => None,
        };
        Ok(Session {
            trainer,
            recorder,
            runs_root: runs_root.map(Path::to_path_buf),
            last_eval: None,
            last_batch_loss: f32::NAN,
        })
    }

    /// The trainer.
    pub fn trainer(&self) -> &Trainer<B> {
        &self.trainer
    }

    /// The trainer, for changing settings between steps.
    pub fn trainer_mut(&mut self) -> &mut Trainer<B> {
        &mut self.trainer
    }

    /// The run directory being written, if any.
    pub fn run_dir(&self) -> Option<&Path> {
        self.recorder.as_ref().map(|r| r.dir().path.as_path())
    }

    /// The latest evaluation.
    pub fn last_evaluation(&self) -> Option<&Evaluation> {
        self.last_eval.as_ref()
    }

    /// Bytes of frames recorded so far.
    pub fn frame_bytes(&self) -> u64 {
        self.recorder.as_ref().map_or(0, RunRecorder::frame_bytes)
    }

    /// Starts a new run (new network, new run directory) with `scene`'s settings.
    pub fn restart(&mut self, scene: &Scene) -> LabResult<()> {
        self.trainer.restart(scene)?;
        self.recorder = match &self.runs_root {
            Some(root) => Some(RunRecorder::start(
                root,
                self.trainer.scene(),
                &self.trainer.topology(),
            )?),
            None => None,
        };
        self.last_eval = None;
        self.last_batch_loss = f32::NAN;
        Ok(())
    }

    /// Evaluates, if due, then applies one update; records what is due.
    pub fn advance(&mut self, capture: bool) -> LabResult<Advance> {
        let mut out = Advance::default();
        let step = self.trainer.step_count();
        if self.trainer.is_diverged() {
            out.diverged = Some((step, self.last_batch_loss));
            return Ok(out);
        }
        let evaluated = self.last_eval.is_some_and(|e| e.step == step);
        if step.is_multiple_of(self.trainer.scene().train.eval_every) && !evaluated {
            let eval = self.evaluate_now()?;
            out.evaluation = Some(eval);
            if eval.is_diverged() {
                out.diverged = Some((step, eval.train_loss));
                return Ok(out);
            }
        }
        let record = self.recorder.as_ref().is_some_and(|r| r.wants_frame(step));
        match self.trainer.step(capture || record) {
            StepOutcome::Stepped { batch_loss, frame } => {
                self.last_batch_loss = batch_loss;
                if let Some(mut frame) = frame {
                    self.attach_eval(&mut frame);
                    if let Some(r) = &mut self.recorder {
                        r.record_frame(&frame)?;
                    }
                    out.frame = capture.then_some(frame);
                }
            }
            StepOutcome::Diverged { step, loss } => {
                self.last_batch_loss = loss;
                let lr = self.trainer.scene().train.learning_rate;
                if let Some(r) = &mut self.recorder {
                    r.record_metrics(&MetricsRow::diverged(step, loss, lr))?;
                }
                out.diverged = Some((step, loss));
            }
        }
        Ok(out)
    }

    /// The frame of the current state without training (for a paused view),
    /// with the latest evaluation attached.
    pub fn peek(&mut self) -> Option<Box<Frame>> {
        let mut frame = Box::new(self.trainer.peek()?);
        self.attach_eval(&mut frame);
        Some(frame)
    }

    /// Evaluates the current network and records the row, unless this step was
    /// already evaluated.
    pub fn finish(&mut self) -> LabResult<Evaluation> {
        match self.last_eval {
            Some(e) if e.step == self.trainer.step_count() => Ok(e),
            _ => self.evaluate_now(),
        }
    }

    fn evaluate_now(&mut self) -> LabResult<Evaluation> {
        let eval = self.trainer.evaluate();
        let lr = self.trainer.scene().train.learning_rate;
        if let Some(r) = &mut self.recorder {
            r.record_metrics(&MetricsRow::from_eval(&eval, self.last_batch_loss, lr))?;
        }
        self.last_eval = Some(eval);
        Ok(eval)
    }

    fn attach_eval(&self, frame: &mut Frame) {
        if let Some(e) = &self.last_eval {
            let m = &mut frame.metrics;
            m.eval_step = Some(e.step);
            m.train_loss = Some(e.train_loss);
            m.test_loss = Some(e.test_loss);
            m.train_accuracy = e.train_accuracy;
            m.test_accuracy = e.test_accuracy;
            m.generalization_error = e.generalization_error;
        }
    }
}

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
    /// Change the hidden activation (training restarts).
    SetActivation(Activation),
    /// Change the hidden layer widths (training restarts).
    SetHidden(Vec<usize>),
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
    /// Take the title, description, view and lesson of this scene (training goes on).
    SetPresentation(Box<Scene>),
    /// Pause when training reaches this step, showing exactly its frame (`None`: never).
    PauseAt(Option<u64>),
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
    Evaluated(Evaluation),
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
    /// True for a replay of a recorded run (no trainer behind it).
    pub replay: bool,
}

/// Settings of the trainer thread.
#[derive(Debug, Clone)]
pub struct RunnerOptions {
    /// Record runs under this folder (`None`: record nothing).
    pub runs_root: Option<PathBuf>,
    /// Send frames at most this often while running.
    pub frame_interval: Duration,
    /// Begin paused.
    pub start_paused: bool,
    /// Pause where the scene's lesson pauses at a step (interactive runs).
    pub lesson_pauses: bool,
    /// Initial speed.
    pub speed: Speed,
    /// Capacity of the event channel; frames beyond it are dropped, not queued.
    pub channel_capacity: usize,
}

impl Default for RunnerOptions {
    fn default() -> Self {
        RunnerOptions {
            runs_root: Some(PathBuf::from("runs")),
            frame_interval: Duration::from_millis(16),
            start_paused: false,
            lesson_pauses: false,
            speed: Speed::Max,
            channel_capacity: 16,
        }
    }
}

/// The app's end of a trainer thread: commands in, events out.
pub struct TrainerHandle {
    commands: Sender<TrainerCommand>,
    events: Receiver<TrainerEvent>,
    thread: Option<JoinHandle<()>>,
}

impl TrainerHandle {
    /// Starts a trainer thread for `scene` on `device`.
    pub fn spawn<B: AutodiffBackend>(
        scene: Scene,
        device: B::Device,
        options: RunnerOptions,
    ) -> Self {
        let (cmd_tx, cmd_rx) = crossbeam_channel::unbounded();
        let (ev_tx, ev_rx) = crossbeam_channel::bounded(options.channel_capacity.max(1));
        let thread = std::thread::Builder::new()
            .name("nnm-trainer".into())
            .spawn(move || run::<B>(scene, device, options, cmd_rx, ev_tx))
            .ok();
        TrainerHandle {
            commands: cmd_tx,
            events: ev_rx,
            thread,
        }
    }

    /// A handle on bare channels with no thread, for tests and replays that feed events by hand.
    pub fn detached(capacity: usize) -> (Self, Sender<TrainerEvent>, Receiver<TrainerCommand>) {
        let (cmd_tx, cmd_rx) = crossbeam_channel::unbounded();
        let (ev_tx, ev_rx) = crossbeam_channel::bounded(capacity.max(1));
        (
            TrainerHandle {
                commands: cmd_tx,
                events: ev_rx,
                thread: None,
            },
            ev_tx,
            cmd_rx,
        )
    }

    /// Sends a command; a stopped thread ignores it.
    pub fn send(&self, command: TrainerCommand) {
        // A closed channel means the thread has ended; there is nobody to tell.
        let _ = self.commands.send(command);
    }

    /// The events coming back.
    pub fn events(&self) -> &Receiver<TrainerEvent> {
        &self.events
    }
}

impl Drop for TrainerHandle {
    fn drop(&mut self) {
        let _ = self.commands.send(TrainerCommand::Shutdown);
        // Drain so that a thread blocked on a full channel can see the shutdown.
        while self.events.try_recv().is_ok() {}
        if let Some(t) = self.thread.take() {
            while !t.is_finished() {
                while self.events.try_recv().is_ok() {}
                std::thread::sleep(Duration::from_millis(1));
            }
            let _ = t.join();
        }
    }
}

/// The trainer thread's state between commands.
struct Runner<B: AutodiffBackend> {
    session: Option<Session<B>>,
    scene: Scene,
    device: B::Device,
    options: RunnerOptions,
    events: Sender<TrainerEvent>,
    running: bool,
    pending_steps: u32,
    /// Steps allowed by the latest frame tick (`Speed::StepsPerFrame`).
    frame_budget: u32,
    finished: bool,
    last_frame_at: Option<Instant>,
    next_step_at: Instant,
    pause_at: Option<u64>,
}

fn run<B: AutodiffBackend>(
    scene: Scene,
    device: B::Device,
    options: RunnerOptions,
    commands: Receiver<TrainerCommand>,
    events: Sender<TrainerEvent>,
) {
    let mut options = options;
    // The scene's pace applies unless the caller chose one.
    if options.speed == Speed::Max
        && let Some(rate) = scene.view.steps_per_second
    {
        options.speed = Speed::StepsPerSecond(rate);
    }
    let mut r = Runner::<B> {
        session: None,
        scene: scene.resolved(),
        running: !options.start_paused,
        device,
        options,
        events,
        pending_steps: 0,
        frame_budget: 0,
        finished: false,
        last_frame_at: None,
        next_step_at: Instant::now(),
        pause_at: None,
    };
    r.start();
    loop {
        let waiting_for_frame =
            matches!(r.options.speed, Speed::StepsPerFrame(_)) && r.frame_budget == 0;
        let idle = r.session.is_none()
            || !(r.running || r.pending_steps > 0)
            || (r.pending_steps == 0 && waiting_for_frame);
        let command = if idle {
            match commands.recv_timeout(Duration::from_millis(50)) {
                Ok(c) => Some(c),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => return,
            }
        } else {
            commands.try_recv().ok()
        };
        if let Some(c) = command {
            if c == TrainerCommand::Shutdown {
                return;
            }
            r.handle(c);
            continue;
        }
        if !idle {
            r.tick();
        }
    }
}

impl<B: AutodiffBackend> Runner<B> {
    fn emit(&self, event: TrainerEvent) {
        // The app has gone when the channel is closed; the loop ends on Shutdown.
        let _ = self.events.send(event);
    }

    /// (Re)starts a run from `self.scene`; on failure keeps the old one.
    fn start(&mut self) {
        let result = match &mut self.session {
            Some(s) => s.restart(&self.scene).map(|_| ()),
            None => Session::start(&self.scene, &self.device, self.options.runs_root.as_deref())
                .map(|s| self.session = Some(s)),
        };
        match result {
            Ok(()) => {
                self.finished = false;
                self.pending_steps = 0;
                // The trainer runs ahead of the view: it must know the lesson's first stop itself.
                self.pause_at = if self.options.lesson_pauses {
                    LessonProgress::default().pause_due(&self.scene.lesson)
                } else {
                    None
                };
                if let Some(s) = &self.session {
                    self.scene = s.trainer().scene().clone();
                    self.emit(TrainerEvent::Started(Box::new(RunInfo {
                        topology: s.trainer().topology(),
                        scene: self.scene.clone(),
                        data: Some(s.trainer().data().clone()),
                        run_dir: s.run_dir().map(Path::to_path_buf),
                        replay: false,
                    })));
                    self.emit(TrainerEvent::Running(self.running));
                }
                self.show_current();
            }
            Err(e) => self.emit(TrainerEvent::Error(e.to_string())),
        }
    }

    /// Sends the evaluation and frame of the current state, so that a paused
    /// view shows the network before it trains.
    fn show_current(&mut self) {
        let Some(s) = &mut self.session else { return };
        let Ok(eval) = s.finish() else { return };
        let frame = s.peek();
        self.emit(TrainerEvent::Evaluated(eval));
        if let Some(f) = frame {
            self.emit(TrainerEvent::Frame(f));
        }
    }

    fn restart_with(&mut self, change: impl FnOnce(&mut Scene)) {
        let previous = self.scene.clone();
        change(&mut self.scene);
        if let Err(e) = self.scene.validate() {
            self.scene = previous;
            self.emit(TrainerEvent::Error(e.to_string()));
            return;
        }
        self.start();
    }

    fn handle(&mut self, command: TrainerCommand) {
        match command {
            TrainerCommand::Pause => {
                self.running = false;
                self.pending_steps = 0;
                // Frames are thinned while running: show exactly where training stopped.
                if let Some(frame) = self.session.as_mut().and_then(Session::peek) {
                    self.emit(TrainerEvent::Frame(frame));
                }
                self.emit(TrainerEvent::Running(false));
            }
            TrainerCommand::Resume => {
                self.running = true;
                self.next_step_at = Instant::now();
                self.emit(TrainerEvent::Running(true));
            }
            TrainerCommand::Step(n) => {
                self.running = false;
                self.pending_steps = self.pending_steps.saturating_add(n);
            }
            TrainerCommand::SetLearningRate(lr) => self.change(|t| t.set_learning_rate(lr)),
            TrainerCommand::SetBatchSize(b) => self.change(|t| t.set_batch_size(b)),
            TrainerCommand::SetOptimizer(kind) => self.change(|t| {
                t.set_optimizer(kind);
                Ok(())
            }),
            TrainerCommand::SetActivation(a) => self.restart_with(|s| {
                s.model.activation = a;
                // Let the initialisation follow the activation again.
                s.model.init = None;
            }),
            TrainerCommand::SetHidden(h) => self.restart_with(|s| s.model.hidden = h),
            TrainerCommand::Reseed(seed) => self.restart_with(|s| s.seed = seed),
            TrainerCommand::Reset => self.restart_with(|_| {}),
            TrainerCommand::LoadScene(scene) => self.restart_with(|s| *s = scene.resolved()),
            TrainerCommand::SetSpeed(speed) => {
                self.options.speed = speed;
                self.next_step_at = Instant::now();
            }
            TrainerCommand::SetFrameInterval(d) => self.options.frame_interval = d,
            TrainerCommand::SetPresentation(scene) => {
                let Scene {
                    title,
                    description,
                    view,
                    lesson,
                    ..
                } = *scene;
                self.scene.title = title;
                self.scene.description = description;
                self.scene.view = view;
                self.scene.lesson = lesson;
                if let Some(s) = &mut self.session {
                    s.trainer_mut().set_presentation(&self.scene);
                }
            }
            TrainerCommand::PauseAt(at) => {
                self.pause_at = at;
                self.pause_if_due();
            }
            TrainerCommand::FrameTick => {
                if let Speed::StepsPerFrame(k) = self.options.speed
                    && self.running
                {
                    // No backlog: a slow trainer does k steps per tick it sees.
                    self.frame_budget = k;
                }
            }
            TrainerCommand::Shutdown => {}
        }
    }

    /// Pauses at the step asked for by [`TrainerCommand::PauseAt`], sending its
    /// exact frame; true when it paused.
    fn pause_if_due(&mut self) -> bool {
        let Some(session) = &mut self.session else {
            return false;
        };
        let step = session.trainer().step_count();
        if self.pause_at.is_none_or(|at| step < at) {
            return false;
        }
        self.pause_at = None;
        let was_moving = self.running || self.pending_steps > 0;
        self.running = false;
        self.pending_steps = 0;
        if let Some(frame) = session.peek() {
            self.emit(TrainerEvent::Frame(frame));
        }
        if was_moving {
            self.emit(TrainerEvent::Running(false));
        }
        true
    }

    /// Applies a setting that does not restart training.
    fn change(&mut self, f: impl FnOnce(&mut Trainer<B>) -> LabResult<()>) {
        let Some(s) = &mut self.session else { return };
        match f(s.trainer_mut()) {
            Ok(()) => self.scene = s.trainer().scene().clone(),
            Err(e) => self.emit(TrainerEvent::Error(e.to_string())),
        }
    }

    fn tick(&mut self) {
        if let Speed::StepsPerSecond(rate) = self.options.speed {
            let now = Instant::now();
            if now < self.next_step_at && self.pending_steps == 0 {
                std::thread::sleep((self.next_step_at - now).min(Duration::from_millis(20)));
                return;
            }
            let period = Duration::from_secs_f32(1.0 / rate.max(0.01));
            // Do not try to catch up after a pause or a slow step.
            self.next_step_at = (self.next_step_at + period).max(now);
        }
        let Some(session) = &mut self.session else {
            return;
        };
        let single = self.pending_steps > 0;
        let mut last_of_frame = false;
        if !single && let Speed::StepsPerFrame(_) = self.options.speed {
            if self.frame_budget == 0 {
                return;
            }
            self.frame_budget -= 1;
            last_of_frame = self.frame_budget == 0;
        }
        let per_frame = matches!(self.options.speed, Speed::StepsPerFrame(_));
        // Per-frame pacing sends exactly the frame of each tick's last step.
        let capture = single
            || last_of_frame
            || (!per_frame
                && self
                    .last_frame_at
                    .is_none_or(|t| t.elapsed() >= self.options.frame_interval));
        let advance = match session.advance(capture) {
            Ok(a) => a,
            Err(e) => {
                self.running = false;
                self.pending_steps = 0;
                self.emit(TrainerEvent::Error(e.to_string()));
                self.emit(TrainerEvent::Running(false));
                return;
            }
        };
        let step = session.trainer().step_count();
        let total = session.trainer().scene().train.steps;
        if let Some(e) = advance.evaluation {
            self.emit(TrainerEvent::Evaluated(e));
        }
        if let Some(frame) = advance.frame {
            self.last_frame_at = Some(Instant::now());
            match self.events.try_send(TrainerEvent::Frame(frame)) {
                // A full channel means the app is behind: it only wants the newest frame anyway.
                Ok(()) | Err(TrySendError::Full(_)) => {}
                Err(TrySendError::Disconnected(_)) => return,
            }
        }
        if let Some((step, loss)) = advance.diverged {
            self.running = false;
            self.pending_steps = 0;
            self.emit(TrainerEvent::Diverged { step, loss });
            self.emit(TrainerEvent::Running(false));
            return;
        }
        if single {
            self.pending_steps -= 1;
            if self.pending_steps == 0 {
                self.emit(TrainerEvent::Running(false));
            }
        }
        if self.pause_if_due() {
            return;
        }
        if step >= total && !self.finished {
            self.finished = true;
            if let Some(s) = &mut self.session {
                match s.finish() {
                    Ok(e) => self.emit(TrainerEvent::Evaluated(e)),
                    Err(e) => self.emit(TrainerEvent::Error(e.to_string())),
                }
            }
            self.running = false;
            self.pending_steps = 0;
            // Show the final network, whatever frames were skipped on the way.
            if let Some(frame) = self.session.as_mut().and_then(Session::peek) {
                self.emit(TrainerEvent::Frame(frame));
            }
            self.emit(TrainerEvent::Finished { step });
            self.emit(TrainerEvent::Running(false));
        }
    }
}

#[cfg(test)]
mod tests;
