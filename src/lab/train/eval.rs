//! Evaluation: loss and accuracy on the full training and test sets.

use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Int, Tensor};

use crate::lab::error::{LabError, LabResult};
use crate::lab::frame::Metrics;
use crate::lab::model::Mlp;
use crate::lab::scene::LossKind;

use super::backprop::{pde_objective, per_sample_loss};
use super::batch::SplitTensors;
use super::{Trainer, scalar, values};

/// Largest number of samples pushed through the network at once during evaluation.
pub(super) const EVAL_CHUNK: usize = 2048;

impl<B: AutodiffBackend> Trainer<B> {
    /// Loss and accuracy on the full training and test sets, with the
    /// learning rate and batch size in force.
    pub fn evaluate(&self) -> LabResult<Metrics> {
        self.evaluate_with(None)
    }

    /// Evaluates chunks of this step's evaluation into `parts` until
    /// `deadline` (at least one chunk), so that a trainer without a thread can
    /// spread a large evaluation over frames; true once every chunk is done.
    /// `parts` of another step start over.
    pub fn evaluate_part(
        &self,
        parts: &mut EvaluationParts,
        deadline: crate::lab::clock::Instant,
    ) -> LabResult<bool> {
        if parts.step != self.step {
            *parts = EvaluationParts::at(self.step);
        }
        let splits = [&self.train, &self.test];
        let chunks = eval_chunks(splits);
        while let Some(&(s, start, end)) = chunks.get(parts.done.len()) {
            let chunk = eval_chunk(&self.model, self.scene.loss(), splits[s], start, end)?;
            parts.done.push(chunk);
            if crate::lab::clock::Instant::now() >= deadline {
                break;
            }
        }
        Ok(parts.done.len() == chunks.len())
    }

    /// [`Trainer::evaluate`], taking the chunks that `parts` already holds
    /// when they are this step's: the numbers are the same bit for bit.
    pub fn evaluate_with(&self, parts: Option<EvaluationParts>) -> LabResult<Metrics> {
        let model = &self.model;
        let kind = self.scene.loss();
        let done = parts
            .filter(|p| p.step == self.step)
            .map_or_else(Vec::new, |p| p.done);
        let [mut train, test] =
            eval_splits(model, kind, [&self.train, &self.test], eval_threads(), done)?;
        let mut solution_error = None;
        if let Some(pde) = &self.data.pde {
            // The training loss of a PINN is its objective: residual and boundary terms.
            let all: Vec<usize> = (0..self.train.len).collect();
            let objective = pde_objective(
                model,
                pde,
                self.train.x.clone(),
                self.train.targets.clone(),
                &all,
            );
            train.mean_loss = scalar(objective, "the PDE residual")?;
            // The test targets are the exact solution: its largest error.
            let worst = test.losses.iter().fold(0.0f64, |m, l| m.max(*l));
            solution_error = Some(worst.sqrt() as f32);
        }
        let generalization_error = (self.data.train_region.is_some() && self.data.pde.is_none())
            .then(|| {
                if self.test_outside.is_empty() {
                    f32::NAN
                } else {
                    let sum: f64 = self.test_outside.iter().map(|&i| test.losses[i]).sum();
                    (sum / self.test_outside.len() as f64) as f32
                }
            });
        let mut m = Metrics {
            train_loss: Some(train.mean_loss),
            test_loss: Some(test.mean_loss),
            train_accuracy: train.accuracy,
            test_accuracy: test.accuracy,
            generalization_error,
            solution_error,
            learning_rate: Some(self.scene.train.learning_rate),
            batch_size: Some(self.batch_size() as f32),
            ..Metrics::at(self.step)
        };
        if m.is_diverged() {
            m.status = crate::lab::frame::RunStatus::Diverged;
        }
        Ok(m)
    }
}

/// The chunks of one step's evaluation done so far (see [`Trainer::evaluate_part`]).
#[derive(Debug, Default)]
pub struct EvaluationParts {
    step: u64,
    done: Vec<ChunkEval>,
}

impl EvaluationParts {
    fn at(step: u64) -> Self {
        EvaluationParts {
            step,
            done: Vec::new(),
        }
    }
}

/// One split's evaluation.
pub(super) struct SplitEval {
    /// The mean per-sample loss.
    pub(super) mean_loss: f32,
    /// The share classified right (classification only).
    pub(super) accuracy: Option<f32>,
    /// Every sample's loss, in the split's order.
    pub(super) losses: Vec<f64>,
}

/// How many threads evaluate: every core (the chunks are independent).
/// Asked once: on Linux the answer reads the cgroup's files each time, and
/// small scenes evaluate every few steps.
fn eval_threads() -> usize {
    static THREADS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *THREADS.get_or_init(|| std::thread::available_parallelism().map_or(1, usize::from))
}

/// Fewest samples worth a second thread: below this, starting it costs
/// more than it saves.
const PARALLEL_SAMPLES: usize = 2 * EVAL_CHUNK;

/// Each split's chunks of [`EVAL_CHUNK`] samples, in order: (split, start, end).
fn eval_chunks<B: Backend, const N: usize>(
    splits: [&SplitTensors<B>; N],
) -> Vec<(usize, usize, usize)> {
    splits
        .iter()
        .enumerate()
        .flat_map(|(s, split)| {
            (0..split.len)
                .step_by(EVAL_CHUNK)
                .map(move |start| (s, start, (start + EVAL_CHUNK).min(split.len)))
        })
        .collect()
}

/// The evaluation of each split, its chunks of [`EVAL_CHUNK`] samples
/// shared among up to `threads` threads, after the first chunks that are
/// `done` already. A chunk's numbers do not depend on which thread, or which
/// frame, computed it, and they are summed in order afterwards, so the result
/// is the same, bit for bit, for any number of threads.
pub(super) fn eval_splits<B: Backend, const N: usize>(
    model: &Mlp<B>,
    kind: LossKind,
    splits: [&SplitTensors<B>; N],
    threads: usize,
    done: Vec<ChunkEval>,
) -> LabResult<[SplitEval; N]> {
    let chunks = eval_chunks(splits);
    let samples: usize = splits.iter().map(|s| s.len).sum();
    let ready = done.len();
    let threads = match samples >= PARALLEL_SAMPLES {
        true => threads.clamp(1, chunks.len().saturating_sub(ready).max(1)),
        false => 1,
    };
    let next = std::sync::atomic::AtomicUsize::new(ready);
    let work = || {
        let mut done = Vec::new();
        loop {
            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let Some(&(s, start, end)) = chunks.get(i) else {
                return done;
            };
            done.push((i, eval_chunk(model, kind, splits[s], start, end)));
        }
    };
    let mut results: Vec<(usize, LabResult<ChunkEval>)> = match threads {
        1 => work(),
        _ => std::thread::scope(|scope| {
            let helpers: Vec<_> = (1..threads).map(|_| scope.spawn(work)).collect();
            let mut all = work();
            for helper in helpers {
                match helper.join() {
                    Ok(done) => all.extend(done),
                    Err(panic) => std::panic::resume_unwind(panic),
                }
            }
            all
        }),
    };
    results.extend(done.into_iter().enumerate().map(|(i, c)| (i, Ok(c))));
    results.sort_by_key(|(i, _)| *i);
    let mut evals: [SplitEval; N] = std::array::from_fn(|s| SplitEval {
        mean_loss: 0.0,
        accuracy: None,
        losses: Vec::with_capacity(splits[s].len),
    });
    let mut correct = [0usize; N];
    for (i, result) in results {
        let chunk = result?;
        let s = chunks[i].0;
        evals[s].losses.extend(chunk.losses);
        correct[s] += chunk.correct;
    }
    for (s, eval) in evals.iter_mut().enumerate() {
        let split = splits[s];
        eval.mean_loss = (eval.losses.iter().sum::<f64>() / eval.losses.len().max(1) as f64) as f32;
        eval.accuracy = split
            .labels
            .as_ref()
            .map(|_| correct[s] as f32 / split.len.max(1) as f32);
    }
    Ok(evals)
}

/// One chunk's per-sample losses, and how many of its samples were classified right.
#[derive(Debug)]
pub(super) struct ChunkEval {
    losses: Vec<f64>,
    correct: usize,
}

fn eval_chunk<B: Backend>(
    model: &Mlp<B>,
    kind: LossKind,
    split: &SplitTensors<B>,
    start: usize,
    end: usize,
) -> LabResult<ChunkEval> {
    let x = split.x.clone().narrow(0, start, end - start);
    let t = split.targets.clone().narrow(0, start, end - start);
    let z = model.forward(x);
    let mut correct = 0;
    if let Some(labels) = &split.labels {
        let predicted: Tensor<B, 2, Int> = z.clone().argmax(1);
        let predicted = predicted
            .into_data()
            .convert::<i64>()
            .to_vec::<i64>()
            .map_err(|e| LabError::tensor("the predicted classes", format!("{e:?}")))?;
        if predicted.len() != end - start {
            return Err(LabError::tensor(
                "the predicted classes",
                format!("{} classes for {} samples", predicted.len(), end - start),
            ));
        }
        correct = predicted
            .iter()
            .zip(&labels[start..end])
            .filter(|(p, l)| **p == i64::from(**l))
            .count();
    }
    let l = per_sample_loss(kind, model.output(), z, t);
    let losses = values(l, "per-sample losses")?
        .into_iter()
        .map(f64::from)
        .collect();
    Ok(ChunkEval { losses, correct })
}
