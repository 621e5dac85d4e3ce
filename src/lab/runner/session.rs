//! A session: a trainer with its run directory and evaluation schedule, which
//! `nnm train` and the trainer thread both drive.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use burn::tensor::backend::{AutodiffBackend, Backend};

use crate::lab::analysis::Spectrum;
use crate::lab::data::Dataset;
use crate::lab::error::{LabError, LabResult};
use crate::lab::frame::Frame;
use crate::lab::frame::Metrics;
use crate::lab::record::{EDITS_FILE, RunDir, RunRecorder, Thinning};
use crate::lab::record::{Edit, read_edits};
use crate::lab::scene::Scene;
use crate::lab::stream::NetworkMessage;
use crate::lab::train::{EvaluationParts, StepOutcome, Trainer, TrainerState};

/// |Δθ·v|: the length of the update from `before` to `after` along the unit vector `v`.
fn projection(before: &[f32], after: &[f32], v: &[f64]) -> f32 {
    before
        .iter()
        .zip(after)
        .zip(v)
        .map(|((b, a), v)| (f64::from(*a) - f64::from(*b)) * v)
        .sum::<f64>()
        .abs() as f32
}

/// What one [`Session::advance`] produced.
#[derive(Debug, Default)]
pub struct Advance {
    /// The frame of the state before the update, when one was captured.
    pub frame: Option<Box<Frame>>,
    /// The evaluation made before the update, when one was due.
    pub evaluation: Option<Metrics>,
    /// Set when the loss blew up: (step, loss).
    pub diverged: Option<(u64, f32)>,
}

/// What one [`Session::stream_state`] made of a streamed step.
#[derive(Debug, Default)]
pub struct Streamed {
    /// The frame of the network at that step (`None` once diverged).
    pub frame: Option<Box<Frame>>,
    /// The evaluation, when one was due.
    pub evaluation: Option<Metrics>,
}

/// A trainer with its run directory and evaluation schedule.
pub struct Session<B: AutodiffBackend> {
    trainer: Trainer<B>,
    recorder: Option<RunRecorder>,
    runs_root: Option<PathBuf>,
    last_eval: Option<Metrics>,
    /// The latest step's own measures (mini-batch loss, gradient norm...).
    last_step: Metrics,
    /// The latest sharpness measurement: its eigenvector warm-starts the next
    /// one, and every update is projected onto it.
    spectrum: Option<Spectrum>,
    /// The training loss of every evaluation, for the convergence score.
    train_losses: Vec<f32>,
    /// The step of the last checkpoint saved.
    checkpointed: Option<u64>,
    /// Edits to make as training reaches their steps (a re-run's).
    pending_edits: std::collections::VecDeque<(u64, Edit)>,
    /// The step of the last message streamed in ([`Session::stream_state`]).
    streamed_step: Option<u64>,
    /// Chunks of the coming evaluation taken ahead ([`Session::evaluate_ahead`]);
    /// dropped whenever the network may have changed.
    ahead: Option<EvaluationParts>,
}

/// A checkpoint's `state.ron`: the session's state at the start of a step,
/// besides the model and optimiser (burn records beside it).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct CheckpointState {
    /// The trainer's step, sampler and settings.
    trainer: TrainerState,
    /// The latest evaluation.
    last_eval: Option<Metrics>,
    /// The latest step's own measures.
    last_step: Metrics,
    /// The training loss of every evaluation so far.
    train_losses: Vec<f32>,
    /// The latest sharpness measurement (its eigenvector warm-starts the next).
    spectrum: Option<Spectrum>,
    /// Which steps the recording keeps.
    thinning: Option<Thinning>,
}

/// The folder of a run's checkpoints, `checkpoints/step_N` each.
pub const CHECKPOINTS_DIR: &str = "checkpoints";
/// The session state file of a checkpoint.
const STATE_FILE: &str = "state.ron";

/// The checkpoints of the run in `run_dir`, by step (complete ones only:
/// each is written aside and renamed into place).
pub fn checkpoints(run_dir: &Path) -> LabResult<Vec<(u64, PathBuf)>> {
    let dir = run_dir.join(CHECKPOINTS_DIR);
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(LabError::io(&dir, "cannot list", e)),
    };
    let mut out: Vec<(u64, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let step = name.strip_prefix("step_")?.parse().ok()?;
            e.path()
                .join(STATE_FILE)
                .is_file()
                .then(|| (step, e.path()))
        })
        .collect();
    out.sort();
    Ok(out)
}

/// The session state a checkpoint folder saved (its `state.ron`).
fn read_state(dir: &Path) -> LabResult<CheckpointState> {
    let path = dir.join(STATE_FILE);
    let text = std::fs::read_to_string(&path).map_err(|e| LabError::io(&path, "cannot read", e))?;
    ron::from_str(&text)
        .map_err(|e| LabError::run(&path, format!("line {}: {}", e.span.start.line, e.code)))
}

/// One of this project's checkpoints (a run's `checkpoints/step_N` folder)
/// as a network message at its step, with its hidden and output
/// non-linearities and its batch loss, and the scene its run was training
/// when it was saved (with any change made before).
pub fn read_checkpoint<B: Backend>(
    dir: &Path,
    device: &B::Device,
) -> LabResult<(NetworkMessage, Scene)> {
    let state = read_state(dir)?;
    let record = dir.join(format!("{}.mpk", crate::lab::train::MODEL_FILE));
    let layers = crate::lab::train::read_model_record::<B>(&record, device)?;
    let scene = state.trainer.scene;
    let inputs = layers.first().map_or(0, |l| l.inputs);
    let outputs = layers.last().map_or(0, |l| l.outputs);
    let config = scene.mlp_config(inputs, outputs);
    let message = NetworkMessage {
        step: state.trainer.step,
        layers,
        activations: Some(
            (0..config.hidden().len())
                .map(|l| config.activation(l))
                .collect(),
        ),
        output: Some(config.output),
        scalars: state
            .last_step
            .batch_loss
            .map(|loss| ("loss".to_string(), f64::from(loss)))
            .into_iter()
            .collect(),
        ..Default::default()
    };
    Ok((message, scene))
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
            last_step: Metrics::default(),
            spectrum: None,
            train_losses: Vec::new(),
            checkpointed: None,
            pending_edits: Default::default(),
            streamed_step: None,
            ahead: None,
        })
    }

    /// Continues the run in `run_dir` from its latest checkpoint, in place:
    /// what was recorded after the checkpoint (metrics, layers, frames) is
    /// cut, and training goes on exactly as it would have. With `steps`, the
    /// run is extended (or its end moved) to that many steps.
    pub fn resume(run_dir: &Path, device: &B::Device, steps: Option<u64>) -> LabResult<Self> {
        let run = RunDir::open(run_dir)?;
        let Some((_, latest)) = checkpoints(&run.path)?.pop() else {
            return Err(LabError::run(
                &run.path,
                format!(
                    "has no checkpoint to resume from ({CHECKPOINTS_DIR}/step_N/{STATE_FILE}); runs save one every record.checkpoint_every steps and at their end"
                ),
            ));
        };
        let mut state = read_state(&latest)?;
        let step = state.trainer.step;
        if let Some(n) = steps {
            if n < step {
                return Err(LabError::setting(
                    "--steps",
                    format!("{n} is before the checkpoint the run resumes from (step {step})"),
                ));
            }
            state.trainer.scene.train.steps = n;
        }
        let data = Arc::new(state.trainer.scene.load_data()?);
        let trainer = Trainer::<B>::from_checkpoint(&latest, &state.trainer, data, device)?;
        let recorder = RunRecorder::resume(
            &run,
            trainer.scene(),
            &trainer.topology(),
            step,
            state.thinning,
        )?;
        Ok(Session {
            trainer,
            recorder: Some(recorder),
            runs_root: run.path.parent().map(Path::to_path_buf),
            last_eval: state.last_eval,
            last_step: state.last_step,
            spectrum: state.spectrum,
            train_losses: state.train_losses,
            checkpointed: Some(step),
            pending_edits: Default::default(),
            streamed_step: None,
            ahead: None,
        })
    }

    /// Changes a training setting from the next update on, and appends the
    /// change to the run's `edits.csv`, so that re-running the run repeats it.
    pub fn edit(&mut self, edit: Edit) -> LabResult<()> {
        self.ahead = None;
        let t = &mut self.trainer;
        match edit {
            Edit::LearningRate(lr) => t.set_learning_rate(lr)?,
            Edit::BatchSize(b) => t.set_batch_size(b)?,
            Edit::Optimizer(kind) => t.set_optimizer(kind),
            Edit::Dropout(p) => t.set_dropout(p)?,
        }
        let step = self.trainer.step_count();
        match &mut self.recorder {
            Some(r) => r.record_edit(step, &edit),
            None => Ok(()),
        }
    }

    /// Makes each of `edits` as training reaches its step (before that
    /// step's update), as the run they were read from made them.
    pub fn follow(&mut self, edits: Vec<(u64, Edit)>) {
        self.pending_edits = edits.into();
    }

    /// Starts a new run of the run in `run_dir`: its `scene.ron`, with the
    /// edits of its `edits.csv` made at their steps (to `steps` steps, if given).
    pub fn rerun(
        run_dir: &Path,
        device: &B::Device,
        runs_root: Option<&Path>,
        steps: Option<u64>,
    ) -> LabResult<Self> {
        let run = RunDir::open(run_dir)?;
        let edits = read_edits(&run.path.join(EDITS_FILE))?;
        let mut scene = run.scene()?;
        if let Some(n) = steps {
            scene.train.steps = n;
        }
        let mut session = Self::start(&scene, device, runs_root)?;
        session.follow(edits);
        Ok(session)
    }

    /// Saves a checkpoint of the state now, at the start of the current step,
    /// as `checkpoints/step_N` of the run directory; `None` without one.
    /// Written aside and renamed into place, so that a killed run leaves
    /// either a whole checkpoint or none.
    pub fn checkpoint(&mut self) -> LabResult<Option<PathBuf>> {
        let Some(recorder) = &mut self.recorder else {
            return Ok(None);
        };
        // Frames handed over before this step must be on disk with it.
        recorder.settle()?;
        let step = self.trainer.step_count();
        let root = recorder.dir().path.join(CHECKPOINTS_DIR);
        let dir = root.join(format!("step_{step}"));
        let aside = root.join(format!(".step_{step}.partial"));
        let _ = std::fs::remove_dir_all(&aside);
        std::fs::create_dir_all(&aside).map_err(|e| LabError::io(&aside, "cannot create", e))?;
        let state = CheckpointState {
            trainer: self.trainer.save_checkpoint(&aside)?,
            last_eval: self.last_eval,
            last_step: self.last_step,
            train_losses: self.train_losses.clone(),
            spectrum: self.spectrum.clone(),
            thinning: Some(recorder.thinning()),
        };
        let text = ron::ser::to_string_pretty(&state, ron::ser::PrettyConfig::new())
            .map_err(|e| LabError::run(&aside, format!("cannot write the state: {e}")))?;
        let path = aside.join(STATE_FILE);
        std::fs::write(&path, text).map_err(|e| LabError::io(&path, "cannot write", e))?;
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::rename(&aside, &dir)
            .map_err(|e| LabError::io(&dir, "cannot move into place", e))?;
        self.checkpointed = Some(step);
        Ok(Some(dir))
    }

    /// The trainer.
    pub fn trainer(&self) -> &Trainer<B> {
        &self.trainer
    }

    /// The trainer, for changing settings between steps.
    pub fn trainer_mut(&mut self) -> &mut Trainer<B> {
        self.ahead = None;
        &mut self.trainer
    }

    /// Takes the presentation of `scene` (the probe, captions...): training
    /// is unchanged, so what was evaluated ahead stays.
    pub fn set_presentation(&mut self, scene: &Scene) {
        self.trainer.set_presentation(scene);
    }

    /// The run directory being written, if any.
    pub fn run_dir(&self) -> Option<&Path> {
        self.recorder.as_ref().map(|r| r.dir().path.as_path())
    }

    /// Waits until every frame handed to the recording is written and flushed
    /// (they are written on the recording's own thread, one behind training).
    pub fn settle(&mut self) -> LabResult<()> {
        match &mut self.recorder {
            Some(r) => r.settle(),
            None => Ok(()),
        }
    }

    /// The latest evaluation.
    pub fn last_evaluation(&self) -> Option<&Metrics> {
        self.last_eval.as_ref()
    }

    /// Bytes of frames recorded so far.
    pub fn frame_bytes(&self) -> u64 {
        self.recorder.as_ref().map_or(0, RunRecorder::frame_bytes)
    }

    /// Starts a new run (new network, new run directory) with `scene`'s settings.
    pub fn restart(&mut self, scene: &Scene) -> LabResult<()> {
        self.ahead = None;
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
        self.last_step = Metrics::default();
        self.spectrum = None;
        self.train_losses.clear();
        self.checkpointed = None;
        Ok(())
    }

    /// The latest sharpness measurement, if the scene asks for them.
    pub fn spectrum(&self) -> Option<&Spectrum> {
        self.spectrum.as_ref()
    }

    /// Takes chunks of the evaluation that the next [`Session::advance`]
    /// opens with, if one is due, until `deadline` (at least one chunk): a
    /// trainer without a thread spreads a large evaluation over frames this
    /// way. True when none of it is left. The evaluation's numbers are the
    /// same bit for bit.
    pub fn evaluate_ahead(&mut self, deadline: crate::lab::clock::Instant) -> LabResult<bool> {
        let step = self.trainer.step_count();
        if self.trainer.is_diverged() {
            return Ok(true);
        }
        // Edits due at this step come before its evaluation.
        self.make_due_edits()?;
        let evaluated = self.last_eval.is_some_and(|e| e.step == step);
        if !step.is_multiple_of(self.trainer.scene().train.eval_every) || evaluated {
            return Ok(true);
        }
        let parts = self.ahead.get_or_insert_with(EvaluationParts::default);
        self.trainer.evaluate_part(parts, deadline)
    }

    /// Makes the followed edits due by the current step.
    fn make_due_edits(&mut self) -> LabResult<()> {
        let step = self.trainer.step_count();
        while let Some(&(at, edit)) = self.pending_edits.front()
            && at <= step
        {
            self.pending_edits.pop_front();
            self.edit(edit)?;
        }
        Ok(())
    }

    /// Evaluates (and measures the sharpness), if due, then applies one
    /// update; records what is due. The evaluation's row is written after the
    /// update, so that it carries the update's projection onto the top
    /// eigenvector measured before it.
    pub fn advance(&mut self, capture: bool) -> LabResult<Advance> {
        let mut out = Advance::default();
        let step = self.trainer.step_count();
        if self.trainer.is_diverged() {
            out.diverged = Some((step, self.last_step.batch_loss.unwrap_or(f32::NAN)));
            return Ok(out);
        }
        self.make_due_edits()?;
        if let Some(every) = self.trainer.scene().record.checkpoint_every
            && step > 0
            && step.is_multiple_of(every)
            && self.checkpointed != Some(step)
        {
            self.checkpoint()?;
        }
        let evaluated = self.last_eval.is_some_and(|e| e.step == step);
        let mut eval = None;
        if step.is_multiple_of(self.trainer.scene().train.eval_every) && !evaluated {
            let e = self.measure()?;
            if let Some(loss) = e.blown_up_loss() {
                self.write_row(&e)?;
                out.evaluation = Some(e);
                out.diverged = Some((step, loss));
                return Ok(out);
            }
            eval = Some(e);
        }
        let before = match &self.spectrum {
            Some(_) => Some(self.trainer.parameters()?),
            None => None,
        };
        let record = self.recorder.as_ref().is_some_and(|r| r.wants_frame(step));
        let outcome = self.trainer.step(capture || record)?;
        let projection = match (&before, &self.spectrum) {
            (Some(before), Some(s)) if matches!(outcome, StepOutcome::Stepped { .. }) => Some(
                projection(before, &self.trainer.parameters()?, &s.eigenvector),
            ),
            _ => None,
        };
        if let Some(mut e) = eval {
            e.update_projection = projection;
            self.write_row(&e)?;
            out.evaluation = Some(e);
        }
        match outcome {
            StepOutcome::Stepped { batch_loss, frame } => {
                self.last_step = Metrics {
                    batch_loss: Some(batch_loss),
                    ..Metrics::at(step)
                };
                if let Some(mut frame) = frame {
                    frame.metrics.update_projection = projection;
                    self.last_step = frame.metrics;
                    frame.evaluation = self.last_eval;
                    let wanted = self
                        .recorder
                        .as_ref()
                        .is_some_and(|r| r.wants_frame(frame.step));
                    // The recording's thread takes the frame; the caller gets a copy only when it asked.
                    out.frame = match (&mut self.recorder, wanted, capture) {
                        (Some(r), true, true) => {
                            r.record_frame(frame.clone())?;
                            Some(frame)
                        }
                        (Some(r), true, false) => {
                            r.record_frame(frame)?;
                            None
                        }
                        _ => capture.then_some(frame),
                    };
                }
            }
            StepOutcome::Diverged { step, loss } => {
                self.last_step = Metrics {
                    batch_loss: Some(loss),
                    ..Metrics::at(step)
                };
                let lr = self.trainer.scene().train.learning_rate;
                let mut row = Metrics::diverged(step, loss, lr);
                row.convergence_score = Some(self.score(Some(step)));
                if let Some(r) = &mut self.recorder {
                    r.record_metrics(&row)?;
                }
                out.diverged = Some((step, loss));
            }
        }
        Ok(out)
    }

    /// Takes `message` as the network's state at its step (a checkpoint
    /// trained elsewhere): its weights become the trainer's and are evaluated
    /// on the scene's data (a metrics row), the probe is followed through
    /// them into an exact keyframe, and its scalars go to `scalars.csv`.
    /// `origin` names where it came from, for errors.
    pub fn import_state(&mut self, message: &NetworkMessage, origin: &str) -> LabResult<Metrics> {
        self.adopt(message, origin)?;
        let eval = self.measure()?;
        self.write_row(&eval)?;
        if let Some(frame) = self.peek()?
            && let Some(r) = &mut self.recorder
        {
            r.record_keyframe(frame)?;
        }
        self.record_scalars(message.step, &message.scalars)?;
        Ok(eval)
    }

    /// Takes `message` as the network's state at its step, streamed live from
    /// a training loop: as [`Session::import_state`], but evaluated only when
    /// the scene's `eval_every` is due (or at the first message), and
    /// recorded as an ordinary frame. Steps must increase.
    pub fn stream_state(&mut self, message: &NetworkMessage, origin: &str) -> LabResult<Streamed> {
        message.check_follows(self.streamed_step, origin)?;
        self.adopt(message, origin)?;
        self.streamed_step = Some(message.step);
        let every = self.trainer.scene().train.eval_every;
        let due = self
            .last_eval
            .is_none_or(|e| message.step / every > e.step / every);
        let evaluation = match due {
            true => {
                let e = self.measure()?;
                self.write_row(&e)?;
                Some(e)
            }
            false => None,
        };
        let frame = self.peek()?;
        if let (Some(f), Some(r)) = (&frame, &mut self.recorder) {
            r.record_frame(f.clone())?;
        }
        self.record_scalars(message.step, &message.scalars)?;
        Ok(Streamed { frame, evaluation })
    }

    /// Loads `message`'s weights and step; its `loss` is the step's loss.
    fn adopt(&mut self, message: &NetworkMessage, origin: &str) -> LabResult<()> {
        self.ahead = None;
        self.trainer.load_state(message, origin)?;
        self.last_step = Metrics {
            batch_loss: message.scalars.get("loss").map(|&v| v as f32),
            ..Metrics::at(message.step)
        };
        Ok(())
    }

    /// Appends named numbers of `step` to the run's `scalars.csv` (metrics a
    /// training loop logged between its checkpoints).
    pub fn record_scalars(
        &mut self,
        step: u64,
        scalars: &std::collections::BTreeMap<String, f64>,
    ) -> LabResult<()> {
        match &mut self.recorder {
            Some(r) => r.record_scalars(step, scalars),
            None => Ok(()),
        }
    }

    /// The frame of the current state without training (for a paused view),
    /// with the latest evaluation attached. `None` once diverged.
    pub fn peek(&mut self) -> LabResult<Option<Box<Frame>>> {
        let Some(mut frame) = self.trainer.peek()? else {
            return Ok(None);
        };
        frame.evaluation = self.last_eval;
        Ok(Some(Box::new(frame)))
    }

    /// Evaluates the current network and records the row, unless this step was
    /// already evaluated, and records the frame of the final state, so that
    /// the weights the last row reports can be replayed; every frame handed
    /// to the recording is written by then.
    pub fn finish(&mut self) -> LabResult<Metrics> {
        self.settle()?;
        // The end of a run (not the first look at a fresh one) is kept.
        let step = self.trainer.step_count();
        let end = step > 0 && !self.trainer.is_diverged();
        if end && self.checkpointed != Some(step) {
            self.checkpoint()?;
        }
        let eval = match self.last_eval {
            Some(e) if e.step == step => e,
            _ => {
                let e = self.measure()?;
                self.write_row(&e)?;
                e
            }
        };
        // After the checkpoint: a resume from it cuts this frame and
        // records the step's own frame instead.
        if end
            && self
                .recorder
                .as_ref()
                .is_some_and(|r| r.wants_final_frame(step))
        {
            if let Some(frame) = self.peek()?
                && let Some(r) = &mut self.recorder
            {
                r.record_final_frame(frame)?;
            }
            self.settle()?;
        }
        Ok(eval)
    }

    /// The convergence score of the run so far (see
    /// [`crate::lab::frame::convergence_score`]).
    fn score(&self, diverged_at: Option<u64>) -> f32 {
        crate::lab::frame::convergence_score(
            &self.train_losses,
            diverged_at,
            self.trainer.scene().train.steps,
        )
    }

    /// The evaluation of the current network, and its sharpness when due.
    fn measure(&mut self) -> LabResult<Metrics> {
        let mut eval = self.trainer.evaluate_with(self.ahead.take())?;
        if let Some(l) = eval.train_loss {
            self.train_losses.push(l);
        }
        eval.convergence_score = Some(if eval.is_diverged() {
            self.score(Some(eval.step))
        } else {
            self.score(None)
        });
        // The latest step's own measures ride along: its mini-batch loss, its gradient.
        eval.batch_loss = self.last_step.batch_loss;
        eval.grad_norm = self.last_step.grad_norm;
        let measure = &self.trainer.scene().measure;
        if measure.sharpness_due(eval.step) && !eval.is_diverged() {
            let start = self.spectrum.as_ref().map(|s| s.eigenvector.as_slice());
            let spectrum = self.trainer.sharpness(measure.top_k, start)?;
            let lambda = spectrum.top() as f32;
            let threshold = self.trainer.stability_threshold();
            eval.sharpness = Some(lambda);
            eval.sharpness_threshold = threshold;
            eval.sharpness_ratio = threshold.map(|t| lambda / t);
            eval.sharpness_iterations = Some(spectrum.iterations as f32);
            eval.sharpness_residual = Some(spectrum.residual as f32);
            if measure.top_k > 1
                && let Some(r) = &mut self.recorder
            {
                r.record_spectrum(eval.step, &spectrum.eigenvalues)?;
            }
            self.spectrum = Some(spectrum);
        }
        self.last_eval = Some(eval);
        Ok(eval)
    }

    fn write_row(&mut self, row: &Metrics) -> LabResult<()> {
        match &mut self.recorder {
            Some(r) => r.record_metrics(row),
            None => Ok(()),
        }
    }
}
