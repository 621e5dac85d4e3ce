//! The trainer: it owns the session, steps it at the asked pace and answers
//! commands between steps, on a thread of its own or inside the app's frames.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::lab::clock::Instant;

use burn::tensor::backend::AutodiffBackend;
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TryRecvError, TrySendError};

use super::handle::{Pump, ThreadEnds, TrainerHandle};
use super::protocol::{Driver, RunInfo, Speed, TrainerCommand, TrainerEvent};
use super::session::Session;
use crate::lab::error::LabResult;
use crate::lab::record::Edit;
use crate::lab::scene::Scene;
use crate::lab::scene::{LessonProgress, PausePoint};

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

impl TrainerHandle {
    /// Starts a trainer thread for `scene` on `device`.
    pub fn spawn<B: AutodiffBackend>(
        scene: Scene,
        device: B::Device,
        options: RunnerOptions,
    ) -> LabResult<Self> {
        let capacity = options.channel_capacity;
        Self::spawn_thread("trainer", capacity, move |ends| {
            run::<B>(scene, device, options, ends)
        })
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
    pause_at: Option<PausePoint>,
    /// An evaluation met the trigger of `PausePoint::Evaluation`.
    pause_trigger_met: bool,
}

fn run<B: AutodiffBackend>(
    scene: Scene,
    device: B::Device,
    options: RunnerOptions,
    ends: ThreadEnds,
) {
    let ThreadEnds { commands, events } = ends;
    let mut r = Runner::<B>::new(scene, device, options, events);
    r.start();
    serve(&mut r, &commands);
}

/// The thread's scheduler: it waits for commands while there is nothing to
/// do, and sleeps until a paced step is due.
fn serve<B: AutodiffBackend>(r: &mut Runner<B>, commands: &Receiver<TrainerCommand>) {
    loop {
        let command = if r.idle() {
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
        if let Turn::Wait(due) = r.tick(None) {
            std::thread::sleep(due.min(Duration::from_millis(20)));
        }
    }
}

/// What one turn of the trainer did.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Turn {
    /// Nothing to do until a command comes.
    Idle,
    /// A paced step is due in this long.
    Wait(Duration),
    /// It took a step, or part of the evaluation before one (or tried to,
    /// and said why it could not).
    Stepped,
}

/// Room kept in the event channel before a cooperative turn: the most
/// events one command or one step sends.
const EVENTS_PER_TURN: usize = 8;

/// The trainer run inside the app's own frames instead of on a thread (the
/// web build has no threads): the same [`Runner`], commands and events, with
/// a scheduler that steps within a time budget and never blocks.
struct Cooperative<B: AutodiffBackend> {
    runner: Runner<B>,
    commands: Receiver<TrainerCommand>,
    started: bool,
    ended: bool,
}

impl<B: AutodiffBackend> Pump for Cooperative<B> {
    fn pump(&mut self, budget: Duration) -> bool {
        let start = Instant::now();
        let mut worked = false;
        if !self.started {
            // Loading the data set happens in the first frame, not while the app builds.
            self.started = true;
            self.runner.start();
            worked = true;
        }
        // A full event channel would block: the app drains it next frame.
        while !self.ended && self.runner.has_room(EVENTS_PER_TURN) {
            match self.commands.try_recv() {
                Ok(TrainerCommand::Shutdown) | Err(TryRecvError::Disconnected) => {
                    self.ended = true;
                }
                Ok(c) => {
                    self.runner.handle(c);
                    worked = true;
                }
                Err(TryRecvError::Empty) => {
                    if start.elapsed() >= budget
                        || self.runner.tick(Some(start + budget)) != Turn::Stepped
                    {
                        break;
                    }
                    worked = true;
                }
            }
        }
        worked
    }
}

impl TrainerHandle {
    /// A trainer for `scene` with no thread of its own: it trains when the
    /// app calls [`TrainerHandle::pump`] each frame, within that call's
    /// budget, and otherwise speaks the same commands and events as
    /// [`TrainerHandle::spawn`]'s thread (byte for byte the same metrics).
    pub fn cooperative<B: AutodiffBackend>(
        scene: Scene,
        device: B::Device,
        options: RunnerOptions,
    ) -> Self {
        // Room for a frame's worth of events beyond what one turn may send.
        let capacity = options.channel_capacity.max(4 * EVENTS_PER_TURN);
        let (handle, events, commands) = Self::detached(capacity);
        handle.with_pump(Box::new(Cooperative {
            runner: Runner::<B>::new(scene, device, options, events),
            commands,
            started: false,
            ended: false,
        }))
    }
}

impl<B: AutodiffBackend> Runner<B> {
    fn new(
        scene: Scene,
        device: B::Device,
        mut options: RunnerOptions,
        events: Sender<TrainerEvent>,
    ) -> Self {
        // The scene's pace applies unless the caller chose one.
        if options.speed == Speed::Max
            && let Some(rate) = scene.view.steps_per_second
        {
            options.speed = Speed::StepsPerSecond(rate);
        }
        Runner {
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
            pause_trigger_met: false,
        }
    }

    /// Whether there is nothing to do until a command comes.
    fn idle(&self) -> bool {
        let waiting_for_frame =
            matches!(self.options.speed, Speed::StepsPerFrame(_)) && self.frame_budget == 0;
        self.session.is_none()
            || !(self.running || self.pending_steps > 0)
            || (self.pending_steps == 0 && waiting_for_frame)
    }

    /// Whether `events` more events fit in the channel without waiting.
    fn has_room(&self, events: usize) -> bool {
        self.events
            .capacity()
            .is_none_or(|c| self.events.len() + events <= c)
    }

    fn emit(&self, event: TrainerEvent) {
        // The app has gone when the channel is closed; the loop ends on Shutdown.
        let _ = self.events.send(event);
    }

    fn fail(&mut self, error: impl std::fmt::Display) {
        let was_moving = self.running || self.pending_steps > 0;
        self.running = false;
        self.pending_steps = 0;
        self.emit(TrainerEvent::Error(error.to_string()));
        if was_moving {
            self.emit(TrainerEvent::Running(false));
        }
    }

    /// Sends the exact frame of the current state, if there is one.
    fn show_frame(&mut self) {
        let Some(s) = &mut self.session else { return };
        match s.peek() {
            Ok(Some(frame)) => self.emit(TrainerEvent::Frame(frame)),
            Ok(None) => {}
            Err(e) => self.fail(e),
        }
    }

    /// (Re)starts a run from `self.scene`; on failure keeps the old one.
    fn start(&mut self) {
        let result = match &mut self.session {
            Some(s) => s.restart(&self.scene),
            None => Session::start(&self.scene, &self.device, self.options.runs_root.as_deref())
                .map(|s| self.session = Some(s)),
        };
        match result {
            Ok(()) => {
                self.finished = false;
                self.pending_steps = 0;
                // The trainer runs ahead of the view: it must know the lesson's first stop itself.
                self.pause_trigger_met = false;
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
                        driver: Driver::Trainer,
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
        match s.finish() {
            Ok(eval) => self.emit(TrainerEvent::Evaluated(eval)),
            Err(e) => return self.fail(e),
        }
        self.show_frame();
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
                self.show_frame();
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
            TrainerCommand::SetLearningRate(lr) => self.edit(Edit::LearningRate(lr)),
            TrainerCommand::SetBatchSize(b) => self.edit(Edit::BatchSize(b)),
            TrainerCommand::SetOptimizer(kind) => self.edit(Edit::Optimizer(kind)),
            TrainerCommand::SetDropout(p) => self.edit(Edit::Dropout(p)),
            TrainerCommand::SetActivation(a) => self.restart_with(|s| {
                let hidden = s.model.hidden.clone();
                s.model.set_layers(hidden.clone(), vec![a; hidden.len()]);
                // A network without hidden layers keeps it for when it has some.
                s.model.activation = a;
            }),
            TrainerCommand::SetLayers {
                hidden,
                activations,
            } => self.restart_with(|s| s.model.set_layers(hidden, activations)),
            TrainerCommand::Reseed(seed) => self.restart_with(|s| s.seed = seed),
            TrainerCommand::Reset => self.restart_with(|_| {}),
            TrainerCommand::LoadScene(scene) => self.restart_with(|s| *s = scene.resolved()),
            TrainerCommand::SetSpeed(speed) => {
                self.options.speed = speed;
                self.next_step_at = Instant::now();
            }
            TrainerCommand::SetFrameInterval(d) => self.options.frame_interval = d,
            TrainerCommand::SetPresentation(scene) => {
                let probe_moved = self.scene.view.probe != scene.view.probe;
                self.scene.take_presentation(&scene);
                if let Some(s) = &mut self.session {
                    s.set_presentation(&scene);
                }
                // A paused view shows the new probe at once.
                if probe_moved && !self.running {
                    self.show_frame();
                }
            }
            TrainerCommand::PauseAt(at) => {
                self.pause_at = at;
                self.pause_trigger_met = false;
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
            TrainerCommand::SaveCheckpoint => {
                let Some(s) = &mut self.session else { return };
                let step = s.trainer().step_count();
                match s.checkpoint() {
                    Ok(Some(dir)) => self.emit(TrainerEvent::Notice(format!(
                        "checkpoint of step {step} saved in {}",
                        dir.display()
                    ))),
                    Ok(None) => self.emit(TrainerEvent::Error(
                        "no checkpoint: this run is not recorded (--no-record)".into(),
                    )),
                    Err(e) => self.emit(TrainerEvent::Error(e.to_string())),
                }
            }
            TrainerCommand::Shutdown => {}
        }
    }

    /// Pauses where [`TrainerCommand::PauseAt`] asked, sending its
    /// exact frame; true when it paused.
    fn pause_if_due(&mut self) -> bool {
        let Some(session) = &self.session else {
            return false;
        };
        let step = session.trainer().step_count();
        let due = match self.pause_at {
            Some(PausePoint::Step(at)) => step >= at,
            Some(PausePoint::Evaluation(_)) => self.pause_trigger_met,
            None => false,
        };
        if !due {
            return false;
        }
        self.pause_at = None;
        self.pause_trigger_met = false;
        let was_moving = self.running || self.pending_steps > 0;
        self.running = false;
        self.pending_steps = 0;
        self.show_frame();
        if was_moving {
            self.emit(TrainerEvent::Running(false));
        }
        true
    }

    /// Applies a setting that does not restart training, logging it in the
    /// run's `edits.csv`.
    fn edit(&mut self, edit: Edit) {
        let Some(s) = &mut self.session else { return };
        match s.edit(edit) {
            Ok(()) => {
                self.scene = s.trainer().scene().clone();
                self.emit(TrainerEvent::Settings(Box::new(self.scene.clone())));
            }
            Err(e) => self.emit(TrainerEvent::Error(e.to_string())),
        }
    }

    /// Takes the step that is due, if one is. With a `deadline` (a trainer
    /// without a thread), an evaluation due first is taken in parts until
    /// then, over as many calls as it needs, so that no frame waits for all of it.
    fn tick(&mut self, deadline: Option<Instant>) -> Turn {
        if self.idle() {
            return Turn::Idle;
        }
        if let (Some(deadline), Some(session)) = (deadline, &mut self.session) {
            match session.evaluate_ahead(deadline) {
                Ok(true) => {}
                Ok(false) => return Turn::Stepped,
                Err(e) => {
                    self.fail(e);
                    return Turn::Stepped;
                }
            }
        }
        if let Speed::StepsPerSecond(rate) = self.options.speed {
            let now = Instant::now();
            if now < self.next_step_at && self.pending_steps == 0 {
                return Turn::Wait(self.next_step_at - now);
            }
            let period = Duration::from_secs_f32(1.0 / rate.max(0.01));
            // Do not try to catch up after a pause or a slow step.
            self.next_step_at = (self.next_step_at + period).max(now);
        }
        let Some(session) = &mut self.session else {
            return Turn::Idle;
        };
        let single = self.pending_steps > 0;
        let mut last_of_frame = false;
        if !single && let Speed::StepsPerFrame(_) = self.options.speed {
            if self.frame_budget == 0 {
                return Turn::Idle;
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
                self.fail(e);
                return Turn::Stepped;
            }
        };
        let step = session.trainer().step_count();
        let total = session.trainer().scene().train.steps;
        if let Some(e) = advance.evaluation {
            if let Some(PausePoint::Evaluation(t)) = self.pause_at
                && t.met_by_evaluation(&e) == Some(true)
            {
                self.pause_trigger_met = true;
            }
            self.emit(TrainerEvent::Evaluated(e));
        }
        if let Some(frame) = advance.frame {
            self.last_frame_at = Some(Instant::now());
            match self.events.try_send(TrainerEvent::Frame(frame)) {
                // A full channel means the app is behind: it only wants the newest frame anyway.
                Ok(()) | Err(TrySendError::Full(_)) => {}
                Err(TrySendError::Disconnected(_)) => return Turn::Stepped,
            }
        }
        if let Some((step, loss)) = advance.diverged {
            self.running = false;
            self.pending_steps = 0;
            self.emit(TrainerEvent::Diverged { step, loss });
            self.emit(TrainerEvent::Running(false));
            return Turn::Stepped;
        }
        if single {
            self.pending_steps -= 1;
            if self.pending_steps == 0 {
                self.emit(TrainerEvent::Running(false));
            }
        }
        if self.pause_if_due() {
            return Turn::Stepped;
        }
        if step >= total && !self.finished {
            self.finished = true;
            self.running = false;
            self.pending_steps = 0;
            if let Some(s) = &mut self.session {
                match s.finish() {
                    Ok(e) => self.emit(TrainerEvent::Evaluated(e)),
                    Err(e) => self.emit(TrainerEvent::Error(e.to_string())),
                }
            }
            // Show the final network, whatever frames were skipped on the way.
            self.show_frame();
            self.emit(TrainerEvent::Finished { step });
            self.emit(TrainerEvent::Running(false));
        }
        Turn::Stepped
    }
}
