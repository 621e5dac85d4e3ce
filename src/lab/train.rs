//! Training: the `Trainer` owns the model and optimiser, steps it and captures frames.

use std::path::Path;
use std::sync::Arc;

use burn::module::{AutodiffModule, Param};
use burn::nn::Linear;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Int, Tensor, TensorData, activation};

use crate::lab::data::{Dataset, Split, Targets};
use crate::lab::error::{LabError, LabResult};
use crate::lab::frame::{Frame, LayerFrame, LayerStats, Probe, Topology};
use crate::lab::metrics::Metrics;
use crate::lab::model::{Activation, Mlp, OutputKind};
use crate::lab::rng::{self, LabRng, Stream};
use crate::lab::scene::{LossKind, OptimizerKind, Scene};
use crate::lab::sharpness::{Spectrum, hessian_vector_product, lanczos};

/// Largest number of samples pushed through the network at once during evaluation.
const EVAL_CHUNK: usize = 2048;

/// What one call to [`Trainer::step`] did.
#[derive(Debug, Clone)]
pub enum StepOutcome {
    /// The update was applied.
    Stepped {
        /// Loss of the mini-batch, penalties included, before the update.
        batch_loss: f32,
        /// The captured frame, when one was asked for.
        frame: Option<Box<Frame>>,
    },
    /// The loss was not finite: nothing was applied and training stops.
    Diverged {
        /// The step at which the loss blew up.
        step: u64,
        /// The offending loss (NaN or infinite).
        loss: f32,
    },
}

/// Adam's decay of its first moment.
const ADAM_B1: f32 = 0.9;
/// Adam's decay of its second moment.
const ADAM_B2: f32 = 0.999;
/// Adam's ε.
const ADAM_EPS: f32 = 1e-8;

/// A layer's weights and biases, or anything shaped like them (gradients,
/// moments).
type LayerTensors<B> = (Tensor<B, 2>, Option<Tensor<B, 1>>);

/// An optimiser's state in burn's record format (see [`Optim::to_record`]).
type OptimRecord<B> = (
    i32,
    Option<Vec<LayerTensors<B>>>,
    Option<Vec<(LayerTensors<B>, LayerTensors<B>)>>,
);

/// burn's recorder for checkpoints: named MessagePack, every `f32` exact.
type CheckpointRecorder = burn::record::NamedMpkFileRecorder<burn::record::FullPrecisionSettings>;

/// The model's file in a checkpoint (burn adds `.mpk`).
const MODEL_FILE: &str = "model";
/// The optimiser's file in a checkpoint (burn adds `.mpk`).
const OPTIMIZER_FILE: &str = "optimizer";

/// What a checkpoint keeps of a trainer besides its tensors.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TrainerState {
    /// Updates applied.
    pub step: u64,
    /// The loss blew up.
    pub diverged: bool,
    /// The batch sampler's shuffles so far.
    pub shuffles: u64,
    /// Its position in the current order.
    pub cursor: usize,
    /// The settings in force (with any change made since the start).
    pub scene: Scene,
}

/// The optimiser and its state, per layer, on plain tensors: burn's SGD,
/// heavy-ball momentum and Adam, operation for operation, without the
/// autodiff graph its optimisers need their parameters to be on.
enum Optim<B: Backend> {
    /// `w − η·g`.
    Sgd,
    /// `v = β·v + g` (`v = g` at first), then `w − η·v`.
    Momentum {
        beta: f32,
        velocity: Option<Vec<LayerTensors<B>>>,
    },
    /// Adam with burn's bias corrections.
    Adam {
        time: i32,
        moments: Option<Vec<(LayerTensors<B>, LayerTensors<B>)>>,
    },
}

impl<B: Backend> Optim<B> {
    fn new(kind: OptimizerKind, momentum: f32) -> Self {
        match kind {
            OptimizerKind::Gd | OptimizerKind::Sgd => Optim::Sgd,
            OptimizerKind::Momentum => Optim::Momentum {
                beta: momentum,
                velocity: None,
            },
            OptimizerKind::Adam => Optim::Adam {
                time: 0,
                moments: None,
            },
        }
    }

    /// The optimiser's state as a burn record: Adam's time, momentum's
    /// velocity, Adam's moments (each `None` when not in use or not started).
    fn to_record(&self) -> OptimRecord<B> {
        match self {
            Optim::Sgd => (0, None, None),
            Optim::Momentum { velocity, .. } => (0, velocity.clone(), None),
            Optim::Adam { time, moments } => (*time, None, moments.clone()),
        }
    }

    /// The optimiser of `kind` in the state `record` holds.
    fn from_record(kind: OptimizerKind, momentum: f32, record: OptimRecord<B>) -> Self {
        let (time, velocity, moments) = record;
        match Optim::<B>::new(kind, momentum) {
            Optim::Sgd => Optim::Sgd,
            Optim::Momentum { beta, .. } => Optim::Momentum { beta, velocity },
            Optim::Adam { .. } => Optim::Adam { time, moments },
        }
    }

    /// Turns gradients into the steps to subtract (before the learning rate).
    fn directions(&mut self, grads: Vec<LayerTensors<B>>) -> Vec<LayerTensors<B>> {
        match self {
            Optim::Sgd => grads,
            Optim::Momentum { beta, velocity } => {
                let beta = *beta;
                let next: Vec<LayerTensors<B>> = match velocity.take() {
                    None => grads,
                    Some(previous) => grads
                        .into_iter()
                        .zip(previous)
                        .map(|((gw, gb), (vw, vb))| {
                            let b = match (gb, vb) {
                                (Some(g), Some(v)) => Some(g.add(v.mul_scalar(beta))),
                                (g, _) => g,
                            };
                            (gw.add(vw.mul_scalar(beta)), b)
                        })
                        .collect(),
                };
                *velocity = Some(next.clone());
                next
            }
            Optim::Adam { time, moments } => {
                *time += 1;
                let c2 = (1.0 - ADAM_B2.powi(*time)).sqrt();
                let factor = c2 / (1.0 - ADAM_B1.powi(*time));
                let eps = ADAM_EPS * c2;
                let previous = moments.take();
                let mut next = Vec::with_capacity(grads.len());
                let mut steps = Vec::with_capacity(grads.len());
                for (l, (gw, gb)) in grads.into_iter().enumerate() {
                    let prev = previous.as_ref().and_then(|p| p.get(l)).cloned();
                    let (pw, pb) = match prev {
                        Some(((m1w, m1b), (m2w, m2b))) => ((Some(m1w), Some(m2w)), (m1b, m2b)),
                        None => ((None, None), (None, None)),
                    };
                    let (m1w, m2w, sw) = adam_moments(gw, pw.0, pw.1, factor, eps);
                    let (b, bias_step) = match gb {
                        Some(g) => {
                            let (m1, m2, step) = adam_moments(g, pb.0, pb.1, factor, eps);
                            (Some((m1, m2)), Some(step))
                        }
                        None => (None, None),
                    };
                    let (m1b, m2b) = match b {
                        Some((m1, m2)) => (Some(m1), Some(m2)),
                        None => (None, None),
                    };
                    next.push(((m1w, m1b), (m2w, m2b)));
                    steps.push((sw, bias_step));
                }
                *moments = Some(next);
                steps
            }
        }
    }

    /// One update of `model` with `grads` at learning rate `lr`; with
    /// `measure`, the norm of each layer's update ‖η·d‖ (else none).
    fn step(
        &mut self,
        lr: f32,
        model: &mut Mlp<B>,
        grads: Vec<LayerTensors<B>>,
        measure: bool,
    ) -> LabResult<Vec<f32>> {
        let directions = self.directions(grads);
        let mut norms = Vec::new();
        if measure {
            for (dw, db) in &directions {
                let mut sq = dw.clone().square().sum();
                if let Some(db) = db {
                    sq = sq.add(db.clone().square().sum());
                }
                norms.push(lr.abs() * scalar(sq, "the update's norm")?.sqrt());
            }
        }
        let layers = std::mem::take(&mut model.layers);
        model.layers = layers
            .into_iter()
            .zip(directions)
            .map(|(layer, (dw, db))| Linear {
                weight: descend(layer.weight, dw, lr),
                bias: match (layer.bias, db) {
                    (Some(b), Some(d)) => Some(descend(b, d, lr)),
                    (b, _) => b,
                },
            })
            .collect();
        Ok(norms)
    }
}

/// Adam's moments after gradient `g` and the step they give, as burn
/// computes them: `m₁ = β₁m₁ + (1−β₁)g`, `m₂ = β₂m₂ + (1−β₂)g²`, step
/// `factor·m₁ / (√m₂ + eps)`.
fn adam_moments<B: Backend, const D: usize>(
    g: Tensor<B, D>,
    m1: Option<Tensor<B, D>>,
    m2: Option<Tensor<B, D>>,
    factor: f32,
    eps: f32,
) -> (Tensor<B, D>, Tensor<B, D>, Tensor<B, D>) {
    let m1 = match m1 {
        Some(m) => m
            .mul_scalar(ADAM_B1)
            .add(g.clone().mul_scalar(1.0 - ADAM_B1)),
        None => g.clone().mul_scalar(1.0 - ADAM_B1),
    };
    let m2 = match m2 {
        Some(m) => m
            .mul_scalar(ADAM_B2)
            .add(g.square().mul_scalar(1.0 - ADAM_B2)),
        None => g.square().mul_scalar(1.0 - ADAM_B2),
    };
    let step = m1
        .clone()
        .mul_scalar(factor)
        .div(m2.clone().sqrt().add_scalar(eps));
    (m1, m2, step)
}

/// `w − η·d`, keeping the parameter's id; the parameter holds the only
/// reference to its tensor, so the backend may update it in place.
fn descend<B: Backend, const D: usize>(
    param: Param<Tensor<B, D>>,
    direction: Tensor<B, D>,
    lr: f32,
) -> Param<Tensor<B, D>> {
    param.map(|w| w - direction.mul_scalar(lr))
}

/// Seeded mini-batch order: a fresh shuffle each epoch.
#[derive(Clone)]
pub(crate) struct BatchSampler {
    order: Vec<usize>,
    cursor: usize,
    rng: LabRng,
    /// Shuffles so far: with the cursor, all a checkpoint needs to rebuild
    /// the order and the generator (see [`BatchSampler::restore`]).
    shuffles: u64,
}

impl BatchSampler {
    pub(crate) fn new(n: usize, seed: u64) -> Self {
        BatchSampler {
            order: (0..n).collect(),
            cursor: n,
            rng: rng::rng(seed, Stream::Batches),
            shuffles: 0,
        }
    }

    /// The sampler of `n` samples and `seed` after `shuffles` shuffles, at
    /// `cursor`: the one that drew them, replayed (a shuffle is O(n)).
    pub(crate) fn restore(n: usize, seed: u64, shuffles: u64, cursor: usize) -> Self {
        use rand::seq::SliceRandom;
        let mut s = BatchSampler::new(n, seed);
        for _ in 0..shuffles {
            s.order.shuffle(&mut s.rng);
        }
        s.shuffles = shuffles;
        s.cursor = cursor.min(n);
        s
    }

    /// The next batch of indices, or `None` when the batch is the whole set.
    pub(crate) fn next(&mut self, batch_size: usize) -> Option<&[usize]> {
        use rand::seq::SliceRandom;
        let n = self.order.len();
        if batch_size >= n {
            return None;
        }
        if self.cursor + batch_size > n {
            self.order.shuffle(&mut self.rng);
            self.shuffles += 1;
            self.cursor = 0;
        }
        let batch = &self.order[self.cursor..self.cursor + batch_size];
        self.cursor += batch_size;
        Some(batch)
    }
}

/// One split as tensors, kept for full-set passes.
struct SplitTensors<B: Backend> {
    x: Tensor<B, 2>,
    targets: Tensor<B, 2>,
    labels: Option<Vec<u32>>,
    len: usize,
}

/// Owns a network, its optimiser and its data; one call to [`Trainer::step`] is one update.
pub struct Trainer<B: AutodiffBackend> {
    scene: Scene,
    data: Arc<Dataset>,
    device: B::Device,
    /// The parameters, on the plain backend: autodiff sees a copy
    /// ([`Trainer::tracked`]) only where it is needed.
    model: Mlp<B::InnerBackend>,
    optim: Optim<B::InnerBackend>,
    sampler: BatchSampler,
    step: u64,
    diverged: bool,
    train: SplitTensors<B::InnerBackend>,
    test: SplitTensors<B::InnerBackend>,
    /// The fixed subset sharpness is measured on, when not the whole training set.
    measure_set: Option<SplitTensors<B::InnerBackend>>,
    test_outside: Vec<usize>,
}

impl<B: AutodiffBackend> Trainer<B> {
    /// Loads the scene's data and builds a fresh network.
    pub fn new(scene: &Scene, device: &B::Device) -> LabResult<Self> {
        let data = Arc::new(scene.load_data()?);
        Self::with_data(scene, data, device)
    }

    /// Builds a fresh network for already-loaded data (the data must match `scene.data`).
    pub fn with_data(scene: &Scene, data: Arc<Dataset>, device: &B::Device) -> LabResult<Self> {
        let scene = scene.resolved();
        scene.validate()?;
        let model = scene
            .mlp_config(data.inputs, data.outputs())
            .init::<B>(device)
            .valid();
        let train = split_tensors::<B::InnerBackend>(&data, &data.train, device);
        let test = split_tensors::<B::InnerBackend>(&data, &data.test, device);
        // A PDE's boundary points come last: its Hessian is measured on every point.
        let measure_set = scene
            .measure
            .sharpness_samples
            .filter(|&n| n < data.train.len() && data.pde.is_none())
            .map(|n| {
                let idx: Vec<usize> = (0..n).collect();
                SplitTensors {
                    x: rows_tensor::<B::InnerBackend>(&data.train.x, data.inputs, &idx, device),
                    targets: targets_tensor::<B::InnerBackend>(&data, &data.train, &idx, device),
                    labels: None,
                    len: n,
                }
            });
        let test_outside = (0..data.test.len())
            .filter(|&i| !data.in_train_region(data.test_input(i)))
            .collect();
        Ok(Trainer {
            optim: Optim::new(scene.train.optimizer, scene.train.momentum),
            sampler: BatchSampler::new(data.train.len(), scene.seed),
            scene,
            data,
            device: device.clone(),
            model,
            step: 0,
            diverged: false,
            train,
            test,
            measure_set,
            test_outside,
        })
    }

    /// The resolved scene, with every change made since (learning rate, seed...).
    pub fn scene(&self) -> &Scene {
        &self.scene
    }

    /// The data set.
    pub fn data(&self) -> &Arc<Dataset> {
        &self.data
    }

    /// Updates applied so far.
    pub fn step_count(&self) -> u64 {
        self.step
    }

    /// True once the loss has become NaN or infinite.
    pub fn is_diverged(&self) -> bool {
        self.diverged
    }

    /// The network's shape and labels, for the app.
    pub fn topology(&self) -> Topology {
        Topology::new(
            self.model.sizes(),
            self.model.activations.clone(),
            self.model.output,
            &self.data,
        )
    }

    /// The network being trained.
    pub fn model(&self) -> &Mlp<B::InnerBackend> {
        &self.model
    }

    /// Starts again from step 0 with the scene's current settings (and a new
    /// network if the architecture or seed changed). The data is kept.
    pub fn restart(&mut self, scene: &Scene) -> LabResult<()> {
        let data = if scene.data == self.scene.data {
            self.data.clone()
        } else {
            Arc::new(scene.load_data()?)
        };
        *self = Self::with_data(scene, data, &self.device)?;
        Ok(())
    }

    /// Writes the model and optimiser state into `dir` (burn's named
    /// MessagePack records, `model.mpk` and `optimizer.mpk`) and returns the rest.
    pub fn save_checkpoint(&self, dir: &Path) -> LabResult<TrainerState> {
        use burn::module::Module;
        use burn::record::Recorder;
        let recorder = CheckpointRecorder::new();
        let fail = |file: &str, e: burn::record::RecorderError| {
            LabError::run(
                dir.join(format!("{file}.mpk")),
                format!("cannot write: {e}"),
            )
        };
        Recorder::<B::InnerBackend>::record(
            &recorder,
            self.model.clone().into_record(),
            dir.join(MODEL_FILE),
        )
        .map_err(|e| fail(MODEL_FILE, e))?;
        Recorder::<B::InnerBackend>::record(
            &recorder,
            self.optim.to_record(),
            dir.join(OPTIMIZER_FILE),
        )
        .map_err(|e| fail(OPTIMIZER_FILE, e))?;
        Ok(TrainerState {
            step: self.step,
            diverged: self.diverged,
            shuffles: self.sampler.shuffles,
            cursor: self.sampler.cursor,
            scene: self.scene.clone(),
        })
    }

    /// The trainer a checkpoint in `dir` saved, with `state` (its scene's
    /// data already loaded as `data`): it goes on exactly as the saved one would.
    pub fn from_checkpoint(
        dir: &Path,
        state: &TrainerState,
        data: Arc<Dataset>,
        device: &B::Device,
    ) -> LabResult<Self> {
        use burn::module::Module;
        use burn::record::Recorder;
        let mut t = Self::with_data(&state.scene, data, device)?;
        let recorder = CheckpointRecorder::new();
        let fail = |file: &str, e: burn::record::RecorderError| {
            LabError::run(dir.join(format!("{file}.mpk")), format!("cannot read: {e}"))
        };
        let model = Recorder::<B::InnerBackend>::load(&recorder, dir.join(MODEL_FILE), device)
            .map_err(|e| fail(MODEL_FILE, e))?;
        let sizes = t.model.sizes();
        t.model = t.model.load_record(model);
        if t.model.sizes() != sizes {
            return Err(LabError::run(
                dir.join("model.mpk"),
                format!(
                    "holds a network of {:?}, the scene's is {sizes:?}",
                    t.model.sizes()
                ),
            ));
        }
        let optim: OptimRecord<B::InnerBackend> =
            Recorder::<B::InnerBackend>::load(&recorder, dir.join(OPTIMIZER_FILE), device)
                .map_err(|e| fail(OPTIMIZER_FILE, e))?;
        let train = &t.scene.train;
        t.optim = Optim::from_record(train.optimizer, train.momentum, optim);
        t.sampler = BatchSampler::restore(
            t.data.train.len(),
            t.scene.seed,
            state.shuffles,
            state.cursor,
        );
        t.step = state.step;
        t.diverged = state.diverged;
        Ok(t)
    }

    /// Takes the presentation of `scene` (see [`Scene::take_presentation`]);
    /// training is unchanged.
    pub fn set_presentation(&mut self, scene: &Scene) {
        self.scene.take_presentation(scene);
    }

    /// Changes the learning rate from the next step on.
    pub fn set_learning_rate(&mut self, lr: f32) -> LabResult<()> {
        self.set_checked(|s| s.train.learning_rate = lr)
    }

    /// Changes the mini-batch size from the next step on.
    pub fn set_batch_size(&mut self, batch_size: usize) -> LabResult<()> {
        self.set_checked(|s| s.train.batch_size = batch_size)
    }

    /// Changes the dropout rate from the next step on.
    pub fn set_dropout(&mut self, p: f32) -> LabResult<()> {
        self.set_checked(|s| s.model.dropout = p)
    }

    /// Makes `change` to the settings if the scene it gives is valid;
    /// otherwise nothing changes.
    fn set_checked(&mut self, change: impl FnOnce(&mut Scene)) -> LabResult<()> {
        let mut scene = self.scene.clone();
        change(&mut scene);
        scene.validate()?;
        self.scene = scene;
        Ok(())
    }

    /// Switches optimiser; its state (momentum, Adam moments) starts afresh.
    pub fn set_optimizer(&mut self, kind: OptimizerKind) {
        self.scene.train.optimizer = kind;
        self.optim = Optim::new(kind, self.scene.train.momentum);
    }

    fn batch_size(&self) -> usize {
        match self.scene.train.optimizer {
            OptimizerKind::Gd => self.data.train.len(),
            _ => self.scene.train.batch_size.min(self.data.train.len()),
        }
    }

    /// Applies one update. With `capture`, also returns the frame of the state
    /// before the update (weights, gradients, activations).
    ///
    /// A loss that is NaN or infinite is [`StepOutcome::Diverged`]; an error
    /// means that values could not be read back from the backend.
    pub fn step(&mut self, capture: bool) -> LabResult<StepOutcome> {
        self.pass(capture, true)
    }

    /// The frame the next step would capture, without applying its update or
    /// consuming its batch: what a paused view shows. `None` once diverged.
    pub fn peek(&mut self) -> LabResult<Option<Frame>> {
        let sampler = self.sampler.clone();
        let outcome = self.pass(true, false);
        self.sampler = sampler;
        Ok(match outcome? {
            StepOutcome::Stepped { frame, .. } => frame.map(|f| *f),
            StepOutcome::Diverged { .. } => None,
        })
    }

    fn pass(&mut self, capture: bool, apply: bool) -> LabResult<StepOutcome> {
        if self.diverged {
            return Ok(StepOutcome::Diverged {
                step: self.step,
                loss: f32::NAN,
            });
        }
        let batch_size = self.batch_size();
        let batch = self.sampler.next(batch_size).map(<[usize]>::to_vec);
        let (x, targets) = match &batch {
            None => (self.train.x.clone(), self.train.targets.clone()),
            // Gathered from the training set already on the device: only
            // the indices cross over each step.
            Some(idx) => {
                let rows: Vec<i64> = idx.iter().map(|&i| i as i64).collect();
                let rows = Tensor::<B::InnerBackend, 1, Int>::from_data(
                    TensorData::new(rows, [idx.len()]),
                    &self.device,
                );
                (
                    self.train.x.clone().select(0, rows.clone()),
                    self.train.targets.clone().select(0, rows),
                )
            }
        };
        let masks = self.dropout_masks(x.dims()[0]);
        let backprop = if self.by_hand() {
            let keep = if capture {
                Keep::Posts
            } else {
                Keep::Gradients
            };
            by_hand(&self.model, self.scene.loss(), x, targets, &masks, keep)
        } else {
            self.by_autodiff(x, targets, batch.as_deref(), &masks, capture)
        };
        let batch_loss = scalar(backprop.loss.clone(), "the mini-batch loss")?;
        if !batch_loss.is_finite() {
            self.diverged = true;
            return Ok(StepOutcome::Diverged {
                step: self.step,
                loss: batch_loss,
            });
        }
        let mut frame = if capture {
            Some(Box::new(self.capture(&backprop, batch_loss, batch_size)?))
        } else {
            None
        };
        if !apply {
            return Ok(StepOutcome::Stepped { batch_loss, frame });
        }
        let mut grads = backprop.grads;
        let factor = self.scene.train.lr_factor(self.step);
        let lr = match &self.scene.train.learning_rates {
            // Per-layer rates: each layer's gradient is scaled by its rate and
            // the step is taken with rate 1 (GD and momentum are linear in it).
            Some(rates) => {
                grads = grads
                    .into_iter()
                    .zip(rates)
                    .map(|((w, b), rate)| {
                        let rate = rate * factor;
                        (w.mul_scalar(rate), b.map(|b| b.mul_scalar(rate)))
                    })
                    .collect();
                1.0
            }
            None => self.scene.train.learning_rate * factor,
        };
        let updates = self
            .optim
            .step(lr, &mut self.model, grads, frame.is_some())?;
        if let Some(frame) = frame.as_mut() {
            for (stats, norm) in frame.stats.iter_mut().zip(updates) {
                stats.update_norm = norm;
            }
        }
        self.step += 1;
        Ok(StepOutcome::Stepped { batch_loss, frame })
    }

    /// This step's dropout mask of each hidden layer for a batch of `rows`
    /// samples (see [`crate::lab::dropout::mask`]); none without dropout.
    fn dropout_masks(&self, rows: usize) -> Vec<Tensor<B::InnerBackend, 2>> {
        let p = self.scene.model.dropout;
        if p <= 0.0 {
            return Vec::new();
        }
        let sizes = self.model.sizes();
        let hidden = &sizes[1..sizes.len() - 1];
        hidden
            .iter()
            .enumerate()
            .map(|(l, &width)| {
                let m = crate::lab::dropout::mask(self.scene.seed, self.step, l, rows, width, p);
                Tensor::from_data(TensorData::new(m, [rows, width]), &self.device)
            })
            .collect()
    }

    /// The parameters as one flat vector: per layer, the weights
    /// (`[inputs][outputs]`, row-major), then the biases.
    pub fn parameters(&self) -> LabResult<Vec<f32>> {
        let mut flat = Vec::with_capacity(self.model.parameter_count());
        for layer in &self.model.layers {
            flat.extend(values(layer.weight.val(), "weights")?);
            if let Some(b) = &layer.bias {
                flat.extend(values(b.val(), "biases")?);
            }
        }
        Ok(flat)
    }

    /// The gradient of the training objective (data loss and penalties) at the
    /// parameters `theta`, on the set sharpness is measured on: the whole
    /// training set, or its first `measure.sharpness_samples` samples. Never a
    /// mini-batch: the Hessian of a moving batch is not the loss's.
    pub fn gradient_at(&self, theta: &[f32]) -> LabResult<Vec<f32>> {
        let model = self.model_with(theta)?;
        let set = self.measure_set.as_ref().unwrap_or(&self.train);
        let x = Tensor::<B, 2>::from_inner(set.x.clone());
        let targets = Tensor::<B, 2>::from_inner(set.targets.clone());
        let data_loss = match &self.data.pde {
            Some(pde) => {
                let all: Vec<usize> = (0..set.len).collect();
                pde_objective(&model, pde, x, targets, &all)
            }
            None => {
                let z = model.forward(x);
                per_sample_loss(self.scene.loss(), model.output, z, targets).mean()
            }
        };
        let loss = data_loss + penalty(&model, self.scene.train.l1, self.scene.train.l2);
        let grads = loss.backward();
        let mut flat = Vec::with_capacity(theta.len());
        for layer in &model.layers {
            let [inputs, outputs] = layer.weight.dims();
            match layer.weight.grad(&grads) {
                Some(g) => flat.extend(values(g, "weight gradients")?),
                None => flat.extend(std::iter::repeat_n(0.0, inputs * outputs)),
            }
            if let Some(b) = &layer.bias {
                match b.grad(&grads) {
                    Some(g) => flat.extend(values(g, "bias gradients")?),
                    None => flat.extend(std::iter::repeat_n(0.0, outputs)),
                }
            }
        }
        Ok(flat)
    }

    /// A copy of the network with the parameters `theta` (laid out as
    /// [`Trainer::parameters`] gives them).
    fn model_with(&self, theta: &[f32]) -> LabResult<Mlp<B>> {
        let mut at = 0;
        let mut take = |n: usize| -> LabResult<Vec<f32>> {
            let part = theta.get(at..at + n).ok_or_else(|| {
                LabError::setting(
                    "parameters",
                    format!("{} values for a network of more", theta.len()),
                )
            })?;
            at += n;
            Ok(part.to_vec())
        };
        let mut layers = Vec::with_capacity(self.model.layers.len());
        for layer in &self.model.layers {
            let [inputs, outputs] = layer.weight.dims();
            let weights = take(inputs * outputs)?;
            let biases = match layer.bias {
                Some(_) => Some(take(outputs)?),
                None => None,
            };
            layers.push(crate::lab::model::linear_from(
                inputs,
                outputs,
                weights,
                biases,
                &self.device,
            ));
        }
        Ok(Mlp {
            layers,
            activations: self.model.activations.clone(),
            output: self.model.output,
            scales: self.model.scales.clone(),
        })
    }

    /// The top `k` eigenvalues of the training objective's Hessian at the
    /// current parameters (see [`crate::lab::sharpness`]), warm-started from
    /// `start` (the previous top eigenvector, if any).
    pub fn sharpness(&self, k: usize, start: Option<&[f64]>) -> LabResult<Spectrum> {
        let theta = self.parameters()?;
        let mut gradient = |t: &[f32]| self.gradient_at(t);
        let mut hvp = |v: &[f64]| hessian_vector_product(&theta, v, &mut gradient);
        lanczos(theta.len(), k, start, self.scene.seed ^ self.step, &mut hvp)
    }

    /// The largest sharpness at which the optimiser is stable on a quadratic:
    /// `2/η` for gradient descent, `(2 + 2β)/η` with heavy-ball momentum β.
    /// Adam has none (its stability depends on its preconditioner).
    pub fn stability_threshold(&self) -> Option<f32> {
        let t = &self.scene.train;
        if t.learning_rates.is_some() {
            // One threshold per layer is no threshold for the whole.
            return None;
        }
        // The rate of the coming step, where a schedule moves it.
        let lr = t.learning_rate * t.lr_factor(self.step);
        match t.optimizer {
            OptimizerKind::Gd | OptimizerKind::Sgd => Some(2.0 / lr),
            OptimizerKind::Momentum => Some((2.0 + 2.0 * t.momentum) / lr),
            OptimizerKind::Adam => None,
        }
    }

    /// A copy of the network on the autodiff backend, every parameter
    /// tracked: for objectives whose gradients are not derived by hand.
    fn tracked(&self) -> Mlp<B> {
        fn track<B: AutodiffBackend, const D: usize>(
            p: &Param<Tensor<B::InnerBackend, D>>,
        ) -> Param<Tensor<B, D>> {
            Param::initialized(p.id, Tensor::from_inner(p.val()).require_grad())
        }
        Mlp {
            layers: self
                .model
                .layers
                .iter()
                .map(|l| Linear {
                    weight: track::<B, 2>(&l.weight),
                    bias: l.bias.as_ref().map(track::<B, 1>),
                })
                .collect(),
            activations: self.model.activations.clone(),
            output: self.model.output,
            scales: self.model.scales.clone(),
        }
    }

    /// Whether this network's gradients are derived by hand ([`by_hand`]):
    /// plain data (no PDE), no weight penalty, and a loss whose derivative
    /// is written out. Anything else goes through autodiff.
    fn by_hand(&self) -> bool {
        let train = &self.scene.train;
        self.data.pde.is_none() && train.l1 == 0.0 && train.l2 == 0.0 && self.probe_by_hand()
    }

    /// Whether the probe's error signals are derived by hand: they are those
    /// of its data loss alone, whatever the training objective adds.
    fn probe_by_hand(&self) -> bool {
        match self.scene.loss() {
            LossKind::CrossEntropy => true,
            LossKind::Mse => self.model.output == OutputKind::Linear,
            LossKind::L1 | LossKind::Residual => false,
        }
    }

    /// The objective and its gradients through burn's autodiff: the PDE
    /// objective, weight penalties, and losses without a hand derivative.
    fn by_autodiff(
        &self,
        x: Tensor<B::InnerBackend, 2>,
        targets: Tensor<B::InnerBackend, 2>,
        batch: Option<&[usize]>,
        masks: &[Tensor<B::InnerBackend, 2>],
        capture: bool,
    ) -> Backprop<B::InnerBackend> {
        let model = self.tracked();
        let x = Tensor::<B, 2>::from_inner(x);
        let targets = Tensor::<B, 2>::from_inner(targets);
        let masks: Vec<Tensor<B, 2>> = masks.iter().cloned().map(Tensor::from_inner).collect();
        let trace = capture.then(|| model.forward_trace_masked(x.clone(), &masks));
        let data_loss = match &self.data.pde {
            Some(pde) => {
                let all: Vec<usize>;
                let idx = match batch {
                    Some(idx) => idx,
                    None => {
                        all = (0..self.data.train.len()).collect();
                        &all
                    }
                };
                pde_objective(&model, pde, x, targets, idx)
            }
            None => {
                let z = match &trace {
                    Some(t) => t[t.len() - 1].pre.clone(),
                    None => model.forward_masked(x, &masks),
                };
                per_sample_loss(self.scene.loss(), model.output, z, targets).mean()
            }
        };
        let loss = data_loss + penalty(&model, self.scene.train.l1, self.scene.train.l2);
        let value = loss.clone().inner();
        let grads = loss.backward();
        let device = &self.device;
        let grads = model
            .layers
            .iter()
            .map(|layer| {
                let [inputs, outputs] = layer.weight.dims();
                let weight = layer
                    .weight
                    .grad(&grads)
                    .unwrap_or_else(|| Tensor::zeros([inputs, outputs], device));
                let bias = layer.bias.as_ref().map(|b| {
                    b.grad(&grads)
                        .unwrap_or_else(|| Tensor::zeros([outputs], device))
                });
                (weight, bias)
            })
            .collect();
        Backprop {
            loss: value,
            grads,
            posts: trace
                .map(|t| t.into_iter().map(|l| l.post.inner()).collect())
                .unwrap_or_default(),
            signals: Vec::new(),
        }
    }

    fn capture(
        &self,
        backprop: &Backprop<B::InnerBackend>,
        batch_loss: f32,
        batch_size: usize,
    ) -> LabResult<Frame> {
        let probe = self.probe_pass()?;
        let mut grad_sq = 0.0f64;
        let mut layers = Vec::with_capacity(self.model.layers.len());
        let mut stats = Vec::with_capacity(self.model.layers.len());
        let hidden = self.model.layers.len().saturating_sub(1);
        for (l, (layer, (weight, bias_grad))) in
            self.model.layers.iter().zip(&backprop.grads).enumerate()
        {
            let [inputs, outputs] = layer.weight.dims();
            let weight_grads = values(weight.clone(), "weight gradients")?;
            let bias = layer.bias.as_ref();
            let bias_grads = match bias_grad {
                Some(g) => values(g.clone(), "bias gradients")?,
                None => vec![0.0; outputs],
            };
            grad_sq += weight_grads
                .iter()
                .chain(&bias_grads)
                .map(|g| f64::from(*g).powi(2))
                .sum::<f64>();
            let frame = LayerFrame {
                inputs,
                outputs,
                weights: values(layer.weight.val(), "weights")?,
                biases: match bias {
                    Some(b) => values(b.val(), "biases")?,
                    None => vec![0.0; outputs],
                },
                weight_grads,
                bias_grads,
                pre_activations: probe.pre[l].clone(),
                activations: probe.post[l].clone(),
                mean_activations: match backprop.posts.get(l) {
                    Some(post) => values(post.clone().mean_dim(0), "mean activations")?,
                    None => vec![0.0; outputs],
                },
                probe_grads: probe.dz[l].clone(),
                scale: self.model.scale(l),
            };
            let posts = match backprop.posts.get(l) {
                Some(post) => values(post.clone(), "activations")?,
                None => Vec::new(),
            };
            let relu = l < hidden && self.model.activation(l) == Activation::Relu;
            stats.push(LayerStats::measure(&frame, &posts, relu));
            layers.push(frame);
        }
        Ok(Frame {
            step: self.step,
            metrics: Metrics {
                batch_loss: Some(batch_loss),
                learning_rate: Some(self.scene.train.learning_rate),
                batch_size: Some(batch_size as f32),
                grad_norm: Some(grad_sq.sqrt() as f32),
                ..Metrics::at(self.step)
            },
            evaluation: None,
            probe: probe.probe,
            layers,
            stats,
        })
    }

    /// Follows the probe sample through the network, forward and backward.
    fn probe_pass(&self) -> LabResult<ProbePass> {
        let index = self
            .scene
            .view
            .probe
            .min(self.data.test.len().saturating_sub(1));
        let input = self.data.test_input(index).to_vec();
        let target = target_row(&self.data, &self.data.test, index);
        let probe = |output: Vec<f32>, loss: f32| Probe {
            index,
            input: input.clone(),
            target: target.clone(),
            label: self.data.test.label(index),
            output,
            loss,
        };
        if self.probe_by_hand() {
            let x = Tensor::<B::InnerBackend, 2>::from_data(
                TensorData::new(input.clone(), [1, input.len()]),
                &self.device,
            );
            let t = Tensor::<B::InnerBackend, 2>::from_data(
                TensorData::new(target.clone(), [1, target.len()]),
                &self.device,
            );
            let pass = by_hand(&self.model, self.scene.loss(), x, t, &[], Keep::Signals);
            let loss = scalar(pass.loss, "the probe's loss")?;
            let mut pre = Vec::with_capacity(pass.signals.len());
            let mut dz = Vec::with_capacity(pass.signals.len());
            for (z, error) in pass.signals {
                pre.push(values(z, "the probe's pre-activations")?);
                dz.push(values(error, "the probe's error signals")?);
            }
            let post = pass
                .posts
                .into_iter()
                .map(|p| values(p, "the probe's activations"))
                .collect::<LabResult<Vec<_>>>()?;
            let output = post.last().cloned().unwrap_or_default();
            return Ok(ProbePass {
                probe: probe(output, loss),
                pre,
                post,
                dz,
            });
        }
        let x = Tensor::<B, 2>::from_data(
            TensorData::new(input.clone(), [1, input.len()]),
            &self.device,
        );
        let t = Tensor::<B, 2>::from_data(
            TensorData::new(target.clone(), [1, target.len()]),
            &self.device,
        );
        // A copy whose every layer has a bias (zero where the network has
        // none): for one sample ∂L/∂b = s·∂L/∂z, so the bias gradients give
        // the error signals.
        let mut model = self.tracked();
        for layer in &mut model.layers {
            if layer.bias.is_none() {
                let [_, outputs] = layer.weight.dims();
                layer.bias = Some(burn::module::Param::from_tensor(Tensor::zeros(
                    [outputs],
                    &self.device,
                )));
            }
        }
        let trace = model.forward_trace(x);
        let z = trace[trace.len() - 1].pre.clone();
        let loss = per_sample_loss(self.scene.loss(), model.output, z, t).mean();
        let probe_loss = scalar(loss.clone(), "the probe's loss")?;
        let grads = loss.backward();
        let mut dz = Vec::with_capacity(model.layers.len());
        for (l, layer) in model.layers.iter().enumerate() {
            let s = model.scale(l);
            dz.push(match layer.bias.as_ref().and_then(|b| b.grad(&grads)) {
                Some(g) => values(g.div_scalar(s), "the probe's error signals")?,
                None => Vec::new(),
            });
        }
        let mut pre = Vec::with_capacity(trace.len());
        let mut post = Vec::with_capacity(trace.len());
        for t in &trace {
            pre.push(values(
                t.pre.clone().inner(),
                "the probe's pre-activations",
            )?);
            post.push(values(t.post.clone().inner(), "the probe's activations")?);
        }
        let output = post.last().cloned().unwrap_or_default();
        Ok(ProbePass {
            probe: probe(output, probe_loss),
            pre,
            post,
            dz,
        })
    }

    /// Loss and accuracy on the full training and test sets, with the
    /// learning rate and batch size in force.
    pub fn evaluate(&self) -> LabResult<Metrics> {
        let model = &self.model;
        let kind = self.scene.loss();
        let mut train = eval_split(model, kind, &self.train)?;
        let test = eval_split(model, kind, &self.test)?;
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
            m.status = crate::lab::metrics::RunStatus::Diverged;
        }
        Ok(m)
    }
}

struct ProbePass {
    probe: Probe,
    pre: Vec<Vec<f32>>,
    post: Vec<Vec<f32>>,
    dz: Vec<Vec<f32>>,
}

struct SplitEval {
    mean_loss: f32,
    accuracy: Option<f32>,
    losses: Vec<f64>,
}

fn eval_split<B: Backend>(
    model: &Mlp<B>,
    kind: LossKind,
    split: &SplitTensors<B>,
) -> LabResult<SplitEval> {
    let mut losses = Vec::with_capacity(split.len);
    let mut correct = 0usize;
    let mut start = 0;
    while start < split.len {
        let end = (start + EVAL_CHUNK).min(split.len);
        let x = split.x.clone().narrow(0, start, end - start);
        let t = split.targets.clone().narrow(0, start, end - start);
        let z = model.forward(x);
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
            correct += predicted
                .iter()
                .zip(&labels[start..end])
                .filter(|(p, l)| **p == i64::from(**l))
                .count();
        }
        let l = per_sample_loss(kind, model.output, z, t);
        losses.extend(values(l, "per-sample losses")?.into_iter().map(f64::from));
        start = end;
    }
    let mean_loss = (losses.iter().sum::<f64>() / losses.len().max(1) as f64) as f32;
    Ok(SplitEval {
        mean_loss,
        accuracy: split
            .labels
            .as_ref()
            .map(|_| correct as f32 / split.len.max(1) as f32),
        losses,
    })
}

/// The physics-informed objective of a batch of a PDE's training points (their
/// indices in `idx`): the mean squared residual `L[u] − f` over its
/// collocation points plus `boundary_weight` times the mean squared error
/// `u − g` over its boundary points (a batch without boundary points has no
/// boundary term). `L[u]` uses the network's exact input derivatives.
///
/// # Shapes
/// - `x`: `[batch, inputs]`
/// - `targets`: `[batch, 1]`: `f` at collocation points, `g` at boundary points
/// - output: `[1]`
fn pde_objective<B: Backend>(
    model: &Mlp<B>,
    pde: &crate::lab::data::PdeTask,
    x: Tensor<B, 2>,
    targets: Tensor<B, 2>,
    idx: &[usize],
) -> Tensor<B, 1> {
    use crate::lab::data::pde::Operator;
    let device = x.device();
    let d = model.forward_with_input_derivatives(x);
    let lhs = match pde.operator {
        Operator::Laplacian => d
            .d2u
            .iter()
            .cloned()
            .reduce(|a, b| a + b)
            .unwrap_or_else(|| d.u.zeros_like()),
        Operator::Decay { rate } => match d.du.first() {
            Some(du) => du.clone() + d.u.clone().mul_scalar(rate),
            None => d.u.zeros_like(),
        },
    };
    let boundary: Vec<f32> = idx
        .iter()
        .map(|&i| if i >= pde.boundary_start { 1.0 } else { 0.0 })
        .collect();
    let n_boundary = boundary.iter().filter(|b| **b > 0.0).count();
    let n_interior = idx.len() - n_boundary;
    let on_boundary = Tensor::<B, 2>::from_data(TensorData::new(boundary, [idx.len(), 1]), &device);
    let inside = on_boundary.clone().neg().add_scalar(1.0);
    let residual = (lhs - targets.clone()).powi_scalar(2).mul(inside).sum();
    let mut total = residual.div_scalar(n_interior.max(1) as f32);
    if n_boundary > 0 {
        let misfit = (d.u - targets).powi_scalar(2).mul(on_boundary).sum();
        total = total
            + misfit
                .div_scalar(n_boundary as f32)
                .mul_scalar(pde.boundary_weight);
    }
    total
}

/// The weight penalties of `model`: `l1 · Σ|w| + l2 · Σw²` (biases are free).
fn penalty<B: Backend>(model: &Mlp<B>, l1: f32, l2: f32) -> Tensor<B, 1> {
    let device = model.layers[0].weight.val().device();
    let mut total = Tensor::<B, 1>::zeros([1], &device);
    for layer in &model.layers {
        let w = layer.weight.val();
        if l2 > 0.0 {
            total = total + w.clone().powi_scalar(2).sum().mul_scalar(l2);
        }
        if l1 > 0.0 {
            total = total + w.abs().sum().mul_scalar(l1);
        }
    }
    total
}

/// A mini-batch's objective and its gradients, however they were derived.
struct Backprop<B: Backend> {
    /// The objective (data loss and penalties), `[1]`.
    loss: Tensor<B, 1>,
    /// Per layer: the gradients of its weights and of its biases.
    grads: Vec<(Tensor<B, 2>, Option<Tensor<B, 1>>)>,
    /// Per layer: its outputs over the batch, when a frame is captured.
    posts: Vec<Tensor<B, 2>>,
    /// Per layer, when asked for: its pre-activations and the loss's
    /// derivative with respect to them (the error signals).
    signals: Vec<(Tensor<B, 2>, Tensor<B, 2>)>,
}

/// What [`by_hand`] keeps besides the gradients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Keep {
    /// The gradients alone.
    Gradients,
    /// Each layer's outputs too (for a frame's mean activations).
    Posts,
    /// Each layer's outputs, pre-activations and error signals (for the probe).
    Signals,
}

/// The loss of a plain network and its gradients, derived by hand: one
/// forward pass keeping each layer's input, then the chain rule layer by
/// layer. It does what autodiff does for these networks without recording a
/// graph, which for small networks costs more than the arithmetic. The loss
/// must be cross-entropy, or the squared error of a linear output. Hidden
/// layer `l`'s outputs are multiplied by `masks[l]` where there is one
/// (dropout); the kept posts are before the mask.
///
/// # Shapes
/// - `x`: `[batch, inputs]`; `targets`: `[batch, outputs]`
/// - `masks[l]`: `[batch, sizes[l + 1]]`
fn by_hand<B: Backend>(
    model: &Mlp<B>,
    kind: LossKind,
    x: Tensor<B, 2>,
    targets: Tensor<B, 2>,
    masks: &[Tensor<B, 2>],
    keep: Keep,
) -> Backprop<B> {
    let keep_posts = keep != Keep::Gradients;
    let last = model.layers.len() - 1;
    let [batch, outputs] = targets.dims();
    let mut inputs = Vec::with_capacity(model.layers.len());
    let mut pres = Vec::with_capacity(model.layers.len());
    let mut posts = Vec::new();
    let mut h = x;
    for (i, layer) in model.layers.iter().enumerate() {
        let mut z = h.clone().matmul(layer.weight.val());
        if let Some(b) = &layer.bias {
            z = z + b.val().unsqueeze_dim(0);
        }
        let scale = model.scale(i);
        if scale != 1.0 {
            z = z.mul_scalar(scale);
        }
        inputs.push(h);
        h = if i == last {
            z.clone()
        } else {
            model.activation(i).apply(z.clone())
        };
        if keep_posts {
            posts.push(if i == last {
                model.output_activation(z.clone())
            } else {
                h.clone()
            });
        }
        if i < last {
            h = crate::lab::model::masked(h, masks.get(i));
        }
        pres.push(z);
    }
    // The loss and its derivative with respect to the last pre-activation.
    let z = h;
    let (loss, mut dz) = match kind {
        LossKind::CrossEntropy => {
            let log_p = activation::log_softmax(z, 1);
            let loss = (targets.clone() * log_p.clone()).sum_dim(1).neg().mean();
            // d/dz of −Σ t·log softmax(z) is softmax(z)·Σt − t.
            let dz = log_p.exp() * targets.clone().sum_dim(1) - targets;
            (loss, dz.div_scalar(batch as f32))
        }
        _ => {
            let diff = z - targets;
            let loss = diff.clone().powi_scalar(2).mean_dim(1).mean();
            (loss, diff.mul_scalar(2.0 / (batch * outputs) as f32))
        }
    };
    let mut grads = Vec::with_capacity(model.layers.len());
    let mut signals = Vec::new();
    for i in (0..=last).rev() {
        if keep == Keep::Signals {
            signals.push((pres[i].clone(), dz.clone()));
        }
        let scale = model.scale(i);
        if scale != 1.0 {
            dz = dz.mul_scalar(scale);
        }
        let layer = &model.layers[i];
        let input = inputs.pop().unwrap_or_else(|| dz.zeros_like());
        let weight = input.transpose().matmul(dz.clone());
        let bias = layer
            .bias
            .as_ref()
            .map(|_| dz.clone().sum_dim(0).squeeze_dim::<1>(0));
        grads.push((weight, bias));
        if i > 0 {
            let dh = crate::lab::model::masked(
                dz.matmul(layer.weight.val().transpose()),
                masks.get(i - 1),
            );
            let pre = pres[i - 1].clone();
            dz = match model.activation(i - 1) {
                Activation::Relu => dh.mask_fill(pre.lower_equal_elem(0.0), 0.0),
                Activation::Linear => dh,
                other => dh * other.derivatives(pre).0,
            };
        }
    }
    grads.reverse();
    signals.reverse();
    Backprop {
        loss,
        grads,
        posts,
        signals,
    }
}

/// Per-sample data loss.
///
/// # Shapes
/// - `z`: `[batch, outputs]`, the last layer's pre-activations
/// - `targets`: `[batch, outputs]`, one-hot for classification
/// - output: `[batch, 1]`
pub fn per_sample_loss<B: Backend>(
    kind: LossKind,
    output: OutputKind,
    z: Tensor<B, 2>,
    targets: Tensor<B, 2>,
) -> Tensor<B, 2> {
    let out = || match output {
        OutputKind::Softmax => activation::softmax(z.clone(), 1),
        OutputKind::Linear => z.clone(),
    };
    match kind {
        LossKind::CrossEntropy => (targets * activation::log_softmax(z.clone(), 1))
            .sum_dim(1)
            .neg(),
        // A PDE's test targets are its exact solution: per sample, the squared error.
        LossKind::Mse | LossKind::Residual => (out() - targets).powi_scalar(2).mean_dim(1),
        LossKind::L1 => (out() - targets).abs().mean_dim(1),
    }
}

fn split_tensors<B: Backend>(data: &Dataset, split: &Split, device: &B::Device) -> SplitTensors<B> {
    let n = split.len();
    let all: Vec<usize> = (0..n).collect();
    SplitTensors {
        x: Tensor::from_data(TensorData::new(split.x.clone(), [n, data.inputs]), device),
        targets: targets_tensor::<B>(data, split, &all, device),
        labels: match &split.targets {
            Targets::Labels(l) => Some(l.clone()),
            Targets::Values(_) => None,
        },
        len: n,
    }
}

fn rows_tensor<B: Backend>(
    x: &[f32],
    width: usize,
    idx: &[usize],
    device: &B::Device,
) -> Tensor<B, 2> {
    let mut rows = Vec::with_capacity(idx.len() * width);
    for &i in idx {
        rows.extend_from_slice(&x[i * width..(i + 1) * width]);
    }
    Tensor::from_data(TensorData::new(rows, [idx.len(), width]), device)
}

/// The target of sample `i`: one-hot for classification, values for regression.
fn target_row(data: &Dataset, split: &Split, i: usize) -> Vec<f32> {
    let outputs = data.outputs();
    match &split.targets {
        Targets::Labels(l) => {
            let mut row = vec![0.0; outputs];
            if let Some(slot) = row.get_mut(l[i] as usize) {
                *slot = 1.0;
            }
            row
        }
        Targets::Values(v) => v[i * outputs..(i + 1) * outputs].to_vec(),
    }
}

fn targets_tensor<B: Backend>(
    data: &Dataset,
    split: &Split,
    idx: &[usize],
    device: &B::Device,
) -> Tensor<B, 2> {
    let outputs = data.outputs();
    let rows: Vec<f32> = idx
        .iter()
        .flat_map(|&i| target_row(data, split, i))
        .collect();
    Tensor::from_data(TensorData::new(rows, [idx.len(), outputs]), device)
}

/// A tensor's values as `f32`, whatever the backend's float type; `what`
/// names them if they cannot be read back.
pub(crate) fn values<B: Backend, const D: usize>(
    t: Tensor<B, D>,
    what: &str,
) -> LabResult<Vec<f32>> {
    let expected = t.shape().num_elements();
    let v = t
        .into_data()
        .convert::<f32>()
        .to_vec::<f32>()
        .map_err(|e| LabError::tensor(what, format!("{e:?}")))?;
    if v.len() != expected {
        return Err(LabError::tensor(
            what,
            format!("{} values where {expected} were expected", v.len()),
        ));
    }
    Ok(v)
}

/// The one value of a one-element tensor (a loss).
pub(crate) fn scalar<B: Backend>(t: Tensor<B, 1>, what: &str) -> LabResult<f32> {
    match values(t, what)?.as_slice() {
        [v] => Ok(*v),
        other => Err(LabError::tensor(
            what,
            format!("{} values where one was expected", other.len()),
        )),
    }
}

#[cfg(test)]
mod tests;
