//! Training: the `Trainer` owns the model and optimiser, steps it and captures frames.

mod backprop;
mod batch;
mod capture;
mod checkpoint;
mod eval;
mod optim;

use std::sync::Arc;

use burn::module::AutodiffModule;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Int, Tensor, TensorData, TensorPrimitive};

use crate::lab::analysis::{Spectrum, hessian_vector_product, lanczos};
use crate::lab::data::Dataset;
use crate::lab::error::{LabError, LabResult};
use crate::lab::frame::{Frame, Topology};
use crate::lab::model::Mlp;
use crate::lab::scene::{OptimizerKind, Scene};
use crate::lab::stream::NetworkMessage;

pub use backprop::per_sample_loss;
use backprop::{Keep, by_hand, pde_objective, penalty};
pub(crate) use batch::BatchSampler;
use batch::{SplitTensors, rows_tensor, split_tensors, targets_tensor};
pub use checkpoint::{MODEL_FILE, TrainerState, read_model_record};
pub use eval::EvaluationParts;
use optim::Optim;
pub(crate) use optim::adam_moments;
pub use optim::{ADAM_B1, ADAM_B2, ADAM_EPS, AdamStep};

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
        Topology::new(self.model.config.clone(), &self.data)
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
    /// samples (see [`crate::lab::model::mask`]); none without dropout.
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
                let m =
                    crate::lab::model::dropout_mask(self.scene.seed, self.step, l, rows, width, p);
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

    /// Takes the layers of `message` as the network's parameters at its step:
    /// a network trained elsewhere, seen from here on as this trainer's own
    /// (the optimiser's state is left as it is). Its widths must be the
    /// scene's network's.
    pub fn load_state(&mut self, message: &NetworkMessage, origin: &str) -> LabResult<()> {
        let config = &self.model.config;
        message.check_widths(&config.sizes, origin)?;
        let layers = message
            .layers
            .iter()
            .map(|l| {
                crate::lab::model::linear_from::<B::InnerBackend>(
                    l.inputs,
                    l.outputs,
                    l.weights.clone(),
                    config.bias.then(|| l.biases.clone()),
                    &self.device,
                )
            })
            .collect();
        self.model = Mlp {
            layers,
            config: config.clone(),
        };
        self.step = message.step;
        self.diverged = false;
        Ok(())
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
                per_sample_loss(self.scene.loss(), model.output(), z, targets).mean()
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
            config: self.model.config.clone(),
        })
    }

    /// The top `k` eigenvalues of the training objective's Hessian at the
    /// current parameters (see [`crate::lab::analysis::sharpness`]), warm-started from
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
}

/// A tensor's values as `f32`, whatever the backend's float type; `what`
/// names them if they cannot be read back.
pub(crate) fn values<B: Backend, const D: usize>(
    t: Tensor<B, D>,
    what: &str,
) -> LabResult<Vec<f32>> {
    let expected = t.shape().num_elements();
    let primitive = t.into_primitive().tensor();
    // burn's `into_data` copies a shared CPU tensor up to three times (out of
    // its `Arc`, again to realign the bytes, and out of `TensorData`): for
    // MNIST's frames that was most of the capture. A contiguous `f32` tensor of
    // the CPU backend is read in one copy.
    let host = (&primitive as &dyn std::any::Any)
        .downcast_ref::<burn::backend::flex::FlexTensor>()
        .and_then(|t| t.as_slice::<f32>())
        .map(<[f32]>::to_vec);
    let v = match host {
        Some(v) => v,
        None => Tensor::<B, D>::from_primitive(TensorPrimitive::Float(primitive))
            .into_data()
            .convert::<f32>()
            .into_vec::<f32>()
            .map_err(|e| LabError::tensor(what, format!("{e:?}")))?,
    };
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
