//! The batched trainer on burn tensors, for `--device wgpu`: a group's models
//! as one computation with a model axis (weights `[M, in, out]`, batched
//! matmuls, per-model learning rates as `[M, 1, 1]` tensors), generic over
//! the backend so that the CPU backend can check it against the kernel.
//!
//! It trains what the kernel trains (GD, SGD, momentum and Adam, L1 and L2
//! penalties, each model's own batch order) with the kernel's arithmetic. The
//! host reads losses back once every [`SYNC_STEPS`] steps: divergence is
//! marked on the device, step by step, so the GPU is not stalled every step.

use std::sync::atomic::{AtomicU64, Ordering};

use burn::tensor::activation::{gelu, log_softmax, relu, sigmoid, softmax};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Int, Tensor, TensorData};

use super::kernel::{ModelOutcome, ModelSetup, evaluate_models};
use crate::lab::data::{Dataset, Targets};
use crate::lab::error::{LabError, LabResult};
use crate::lab::model::{Activation, MlpConfig, OutputKind};
use crate::lab::scene::{LossKind, OptimizerKind, TrainSpec};
use crate::lab::train::{AdamStep, BatchSampler, adam_moments};

/// Steps between two reads of the losses back to the host.
pub const SYNC_STEPS: u64 = 32;

/// The divergence step of a model that has not diverged, on the device.
const NOT_YET: f32 = f32::MAX;

/// Why the tensor trainer cannot train a group, if it cannot.
pub fn unsupported(network: &MlpConfig, training: &TrainSpec) -> Option<&'static str> {
    (training.loss_for(network.output) == LossKind::Residual)
        .then_some("a PINN's residual loss trains on the CPU only")
}

/// One parameter tensor of every model, with its optimiser state.
struct Param<B: AutodiffBackend> {
    /// `[M, in, out]` for weights, `[M, 1, out]` for biases.
    value: Tensor<B, 3>,
    /// Each model's learning rate for this layer, `[M, 1, 1]`.
    rate: Tensor<B::InnerBackend, 3>,
    /// Weights carry the L1 and L2 penalties; biases do not.
    penalised: bool,
    /// Momentum's velocity or Adam's first moment.
    m1: Option<Tensor<B::InnerBackend, 3>>,
    /// Adam's second moment.
    m2: Option<Tensor<B::InnerBackend, 3>>,
}

impl<B: AutodiffBackend> Param<B> {
    fn new(value: Tensor<B, 3>, rate: Tensor<B::InnerBackend, 3>, penalised: bool) -> Self {
        Param {
            value: value.require_grad(),
            rate,
            penalised,
            m1: None,
            m2: None,
        }
    }

    /// `l1·Σ|w| + l2·Σw²` of each model, `[M]`.
    fn penalty(&self, s: &TrainSpec) -> Option<Tensor<B::InnerBackend, 1>> {
        if !self.penalised || (s.l1 == 0.0 && s.l2 == 0.0) {
            return None;
        }
        let w = self.value.clone().inner();
        let m = w.dims()[0];
        let per = (w.clone() * w.clone()).mul_scalar(s.l2) + w.abs().mul_scalar(s.l1);
        Some(per.sum_dim(2).sum_dim(1).reshape([m]))
    }

    /// One optimiser step (`step` counts from 0), each model at its own rate;
    /// the kernel's `update`, as tensors.
    fn update(&mut self, grads: &B::Gradients, s: &TrainSpec, step: u64) {
        let Some(mut g) = self.value.grad(grads) else {
            return;
        };
        let p = self.value.clone().inner();
        if self.penalised && (s.l1 != 0.0 || s.l2 != 0.0) {
            g = g + p.clone().mul_scalar(2.0 * s.l2) + p.clone().sign().mul_scalar(s.l1);
        }
        let direction = match s.optimizer {
            OptimizerKind::Gd | OptimizerKind::Sgd => g,
            OptimizerKind::Momentum => {
                let v = match self.m1.take() {
                    Some(v) => g + v.mul_scalar(s.momentum),
                    None => g,
                };
                self.m1 = Some(v.clone());
                v
            }
            OptimizerKind::Adam => {
                let AdamStep { factor, eps } = AdamStep::at(step);
                let (m1, m2) = match (self.m1.take(), self.m2.take()) {
                    (Some(m1), Some(m2)) => (Some(m1), Some(m2)),
                    _ => (None, None),
                };
                let (m1, m2, direction) = adam_moments(g, m1, m2, factor, eps);
                self.m1 = Some(m1);
                self.m2 = Some(m2);
                direction
            }
        };
        let rate = self.rate.clone().expand(p.dims());
        self.value = Tensor::from_inner(p - direction * rate).require_grad();
    }
}

/// One layer of every model.
struct Layer<B: AutodiffBackend> {
    /// The weights.
    w: Param<B>,
    /// The biases, when the layers have them.
    b: Option<Param<B>>,
    /// The layer's pre-activation factor.
    scale: f32,
}

/// A layer's weights, biases and factor on backend `X`, for [`losses`].
type Weights<X> = (Tensor<X, 3>, Option<Tensor<X, 3>>, f32);

/// `values` as a `[d0, d1, d2]` tensor on `device`.
fn tensor3<X: Backend>(values: Vec<f32>, shape: [usize; 3], device: &X::Device) -> Tensor<X, 3> {
    Tensor::from_data(TensorData::new(values, shape), device)
}

fn read(t: Tensor<impl Backend, 1>) -> LabResult<Vec<f32>> {
    t.into_data()
        .to_vec::<f32>()
        .map_err(|e| LabError::setting("device", format!("cannot read a tensor back: {e:?}")))
}

/// The targets as rows of `outputs` values (one-hot for labels).
fn target_rows(targets: &Targets, n: usize, outputs: usize) -> Vec<f32> {
    match targets {
        Targets::Values(v) => v.clone(),
        Targets::Labels(labels) => {
            let mut t = vec![0.0; n * outputs];
            for (s, &c) in labels.iter().enumerate() {
                if let Some(v) = t.get_mut(s * outputs + c as usize) {
                    *v = 1.0;
                }
            }
            t
        }
    }
}

/// Each model's mean data loss over `x` (`[M, n, in]`, targets `t`), `[M]`:
/// the kernel's loss, on any backend.
fn losses<X: Backend>(
    network: &MlpConfig,
    loss: LossKind,
    layers: &[Weights<X>],
    x: Tensor<X, 3>,
    t: Tensor<X, 3>,
) -> Tensor<X, 1> {
    let mut h = x;
    for (l, (w, b, scale)) in layers.iter().enumerate() {
        let mut z = h.matmul(w.clone());
        if let Some(b) = b {
            z = z + b.clone();
        }
        z = z.mul_scalar(*scale);
        h = if l + 1 < layers.len() {
            match network.activation(l) {
                // tanh(±20) is ±1 in f32; clamped, a shader's
                // (e^2z − 1)/(e^2z + 1) cannot become inf/inf = NaN.
                Activation::Tanh => z.clamp(-20.0, 20.0).tanh(),
                Activation::Relu => relu(z),
                Activation::Sigmoid => sigmoid(z),
                Activation::Gelu => gelu(z),
                Activation::Linear => z,
            }
        } else {
            z
        };
    }
    let [m, n, o] = h.dims();
    // Each term is divided before the sums, as the kernel sums in f64: a
    // huge but finite loss stays finite, and a model diverges at the same step.
    let per_model = match loss {
        LossKind::CrossEntropy => (t * log_softmax(h, 2))
            .mul_scalar(-1.0 / n as f32)
            .sum_dim(2)
            .sum_dim(1),
        _ => {
            let y = match network.output {
                OutputKind::Softmax => softmax(h, 2),
                OutputKind::Linear => h,
            };
            let e = y - t;
            // e·e, not powf: a GPU's pow goes through exp and log.
            let per = if loss == LossKind::L1 {
                e.abs()
            } else {
                e.clone() * e
            };
            per.mul_scalar(1.0 / (n * o) as f32).sum_dim(2).sum_dim(1)
        }
    };
    per_model.reshape([m])
}

/// 1 where `v` is finite, 0 where it is NaN or ±inf: `|v| ≤ MAX` is false for
/// NaN on every device, where a shader may fold `v != v` away.
fn finite<X: Backend>(v: Tensor<X, 1>) -> Tensor<X, 1, burn::tensor::Bool> {
    v.abs().lower_equal_elem(f32::MAX)
}

/// The training set on the device, gathered into each step's batch.
struct DeviceData<X: Backend> {
    /// `[n, in]`.
    x: Tensor<X, 2>,
    /// `[n, out]`.
    t: Tensor<X, 2>,
}

impl<X: Backend> DeviceData<X> {
    /// The whole set, broadcast over `m` models.
    fn full(&self, m: usize) -> (Tensor<X, 3>, Tensor<X, 3>) {
        let ([n, i], [_, o]) = (self.x.dims(), self.t.dims());
        (
            self.x.clone().reshape([1, n, i]).expand([m, n, i]),
            self.t.clone().reshape([1, n, o]).expand([m, n, o]),
        )
    }

    /// The rows `index` (`rows` models × `len` samples), broadcast over `m` models.
    fn gather(
        &self,
        index: Vec<i64>,
        rows: usize,
        len: usize,
        m: usize,
    ) -> (Tensor<X, 3>, Tensor<X, 3>) {
        let device = self.x.device();
        let index = Tensor::<X, 1, Int>::from_data(TensorData::new(index, [rows * len]), &device);
        let ([_, i], [_, o]) = (self.x.dims(), self.t.dims());
        let x = self
            .x
            .clone()
            .select(0, index.clone())
            .reshape([rows, len, i]);
        let t = self.t.clone().select(0, index).reshape([rows, len, o]);
        (x.expand([m, len, i]), t.expand([m, len, o]))
    }
}

/// Trains `models` (one group) on backend `B` at `device` as one
/// computation; `done` counts finished models. Each model's outcome is
/// what [`super::kernel::train_models`] gives, within float tolerance.
pub fn train_models<B: AutodiffBackend>(
    device: &B::Device,
    network: &MlpConfig,
    training: &TrainSpec,
    data: &Dataset,
    models: &[ModelSetup],
    done: &AtomicU64,
) -> LabResult<Vec<ModelOutcome>> {
    if let Some(why) = unsupported(network, training) {
        return Err(LabError::setting("device", why));
    }
    let m = models.len();
    if m == 0 {
        return Ok(Vec::new());
    }
    let mut group = Stack::<B>::new(device, network, training, data, models);
    let (mut curves, mut diverged_at) = group.train(models)?;
    let (finals, last) = group.finals(models)?;
    let steps = training.steps;
    for k in 0..m {
        if diverged_at[k].is_none() {
            if curves[k].last().is_none_or(|(at, _)| *at != steps) {
                curves[k].push((steps, last[k]));
            }
            if !last[k].is_finite() {
                diverged_at[k] = Some(steps);
            }
        }
    }
    let metrics = evaluate_models(network, training, data, &finals, &curves, &diverged_at);
    done.fetch_add(m as u64, Ordering::Relaxed);
    Ok(ModelOutcome::all(curves, diverged_at, metrics))
}

/// A model's kept training losses: `(step, loss)`.
type Curve = Vec<(u64, f32)>;

/// A group's `m` models stacked on the device: each layer one `[M, in, out]`
/// parameter, the training set, and the settings they share.
struct Stack<'a, B: AutodiffBackend> {
    network: &'a MlpConfig,
    training: &'a TrainSpec,
    loss: LossKind,
    layers: Vec<Layer<B>>,
    train: DeviceData<B::InnerBackend>,
    /// The whole training set, broadcast over the models.
    full: (Tensor<B::InnerBackend, 3>, Tensor<B::InnerBackend, 3>),
    m: usize,
    device: B::Device,
}

impl<'a, B: AutodiffBackend> Stack<'a, B> {
    /// Every model's initial parameters and rates in tensors, and the data on `device`.
    fn new(
        device: &B::Device,
        network: &'a MlpConfig,
        training: &'a TrainSpec,
        data: &Dataset,
        models: &[ModelSetup],
    ) -> Self {
        let m = models.len();
        let sizes = &network.sizes;
        let (inputs, outputs) = (network.inputs(), network.outputs());
        let mut layers: Vec<Layer<B>> = Vec::new();
        let mut at = 0;
        for (l, w) in sizes.windows(2).enumerate() {
            let (fan_in, fan_out) = (w[0], w[1]);
            let mut weights = Vec::with_capacity(m * fan_in * fan_out);
            let mut biases = Vec::with_capacity(m * fan_out);
            for setup in models {
                weights.extend_from_slice(&setup.params[at..at + fan_in * fan_out]);
                if network.bias {
                    let b0 = at + fan_in * fan_out;
                    biases.extend_from_slice(&setup.params[b0..b0 + fan_out]);
                }
            }
            at += fan_in * fan_out + if network.bias { fan_out } else { 0 };
            let rates: Vec<f32> = models
                .iter()
                .map(|s| s.rates.get(l).copied().unwrap_or(0.0))
                .collect();
            let rate = tensor3::<B::InnerBackend>(rates, [m, 1, 1], device);
            layers.push(Layer {
                w: Param::new(
                    tensor3::<B>(weights, [m, fan_in, fan_out], device),
                    rate.clone(),
                    true,
                ),
                b: network.bias.then(|| {
                    Param::new(tensor3::<B>(biases, [m, 1, fan_out], device), rate, false)
                }),
                scale: network.scale(l),
            });
        }
        let n = data.train.len();
        let train = DeviceData::<B::InnerBackend> {
            x: Tensor::from_data(TensorData::new(data.train.x.clone(), [n, inputs]), device),
            t: Tensor::from_data(
                TensorData::new(target_rows(&data.train.targets, n, outputs), [n, outputs]),
                device,
            ),
        };
        let full = train.full(m);
        Stack {
            network,
            training,
            loss: training.loss_for(network.output),
            layers,
            train,
            full,
            m,
            device: device.clone(),
        }
    }

    /// Every step: each model's kept training losses, and the step it
    /// diverged at (read back every [`SYNC_STEPS`] steps; the run ends
    /// early once every model has).
    fn train(&mut self, models: &[ModelSetup]) -> LabResult<(Vec<Curve>, Vec<Option<u64>>)> {
        let (m, s) = (self.m, self.training);
        let n = self.train.x.dims()[0];
        let batch = match s.optimizer {
            OptimizerKind::Gd => n,
            _ => s.batch_size.min(n),
        };
        let shared_order = models.iter().all(|k| k.seed == models[0].seed);
        let mut samplers: Vec<BatchSampler> = if shared_order {
            vec![BatchSampler::new(n, models[0].seed)]
        } else {
            models
                .iter()
                .map(|k| BatchSampler::new(n, k.seed))
                .collect()
        };
        let mut first_bad = Tensor::<B::InnerBackend, 1>::full([m], NOT_YET, &self.device);
        let mut due_losses: Vec<(u64, Tensor<B::InnerBackend, 1>)> = Vec::new();
        let mut curves: Vec<Curve> = vec![Vec::new(); m];
        let mut diverged_at: Vec<Option<u64>> = vec![None; m];
        for step in 0..s.steps {
            let (x, t, full) = match next_batch(&mut samplers, batch) {
                None => (self.full.0.clone(), self.full.1.clone(), true),
                Some(index) => {
                    let (x, t) = self.train.gather(index, samplers.len(), batch, m);
                    (x, t, false)
                }
            };
            let ok = self.step(step, (x, t, full), &mut due_losses);
            let now = Tensor::<B::InnerBackend, 1>::full([m], NOT_YET, &self.device)
                .mask_fill(ok.bool_not(), step as f32);
            first_bad = first_bad.min_pair(now);
            if (step + 1).is_multiple_of(SYNC_STEPS) || step + 1 == s.steps {
                sync(
                    first_bad.clone(),
                    std::mem::take(&mut due_losses),
                    &mut curves,
                    &mut diverged_at,
                )?;
                if diverged_at.iter().all(Option::is_some) {
                    break;
                }
            }
        }
        Ok((curves, diverged_at))
    }

    /// One update of every model on its batch `x`, `t` (the whole set when
    /// `full`); keeps the training loss when it is due, and says which
    /// models' losses were finite.
    fn step(
        &mut self,
        step: u64,
        (x, t, full): (Tensor<B::InnerBackend, 3>, Tensor<B::InnerBackend, 3>, bool),
        due_losses: &mut Vec<(u64, Tensor<B::InnerBackend, 1>)>,
    ) -> Tensor<B::InnerBackend, 1, burn::tensor::Bool> {
        let s = self.training;
        let weights: Vec<Weights<B>> = self
            .layers
            .iter()
            .map(|l| {
                let b = l.b.as_ref().map(|b| b.value.clone());
                (l.w.value.clone(), b, l.scale)
            })
            .collect();
        let loss = losses(
            self.network,
            self.loss,
            &weights,
            Tensor::from_inner(x),
            Tensor::from_inner(t),
        );
        let mut total = loss.clone().inner();
        for p in self.layers.iter().map(|l| &l.w) {
            if let Some(penalty) = p.penalty(s) {
                total = total + penalty;
            }
        }
        let mut ok = finite(total);
        if step.is_multiple_of(s.eval_every) {
            // Full-batch steps compute the evaluation's training loss anyway.
            let data_loss = if full {
                loss.clone().inner()
            } else {
                let inner: Vec<Weights<B::InnerBackend>> = weights
                    .iter()
                    .map(|(w, b, scale)| (w.clone().inner(), b.clone().map(|b| b.inner()), *scale))
                    .collect();
                let (fx, ft) = self.full.clone();
                let eval = losses(self.network, self.loss, &inner, fx, ft);
                ok = ok.bool_and(finite(eval.clone()));
                eval
            };
            due_losses.push((step, data_loss));
        }
        let grads = loss.sum().backward();
        for layer in &mut self.layers {
            layer.w.update(&grads, s, step);
            if let Some(b) = &mut layer.b {
                b.update(&grads, s, step);
            }
        }
        ok
    }

    /// The final parameters, back in each model's `Trainer::parameters`
    /// order (for the kernel to evaluate: one definition of every metric),
    /// and each model's final training loss.
    fn finals(&self, models: &[ModelSetup]) -> LabResult<(Vec<ModelSetup>, Vec<f32>)> {
        let m = self.m;
        let sizes = &self.network.sizes;
        let inner: Vec<Weights<B::InnerBackend>> = self
            .layers
            .iter()
            .map(|l| {
                let b = l.b.as_ref().map(|b| b.value.clone().inner());
                (l.w.value.clone().inner(), b, l.scale)
            })
            .collect();
        let (fx, ft) = self.full.clone();
        let last = read(losses(self.network, self.loss, &inner, fx, ft))?;
        let mut finals: Vec<ModelSetup> = models.to_vec();
        for setup in &mut finals {
            setup.params.clear();
        }
        for (l, (w, b, _)) in inner.into_iter().enumerate() {
            let (fan_in, fan_out) = (sizes[l], sizes[l + 1]);
            let w = read(w.reshape([m * fan_in * fan_out]))?;
            let b = match b {
                Some(b) => Some(read(b.reshape([m * fan_out]))?),
                None => None,
            };
            for (k, setup) in finals.iter_mut().enumerate() {
                setup
                    .params
                    .extend_from_slice(&w[k * fan_in * fan_out..(k + 1) * fan_in * fan_out]);
                if let Some(b) = &b {
                    setup
                        .params
                        .extend_from_slice(&b[k * fan_out..(k + 1) * fan_out]);
                }
            }
        }
        Ok((finals, last))
    }
}

/// The next mini-batch's row indices, model after model (one model's when
/// the order is shared), or `None` for the whole set.
fn next_batch(samplers: &mut [BatchSampler], batch: usize) -> Option<Vec<i64>> {
    let mut index = Vec::with_capacity(samplers.len() * batch);
    for sampler in samplers {
        index.extend(sampler.next(batch)?.iter().map(|&i| i as i64));
    }
    Some(index)
}

/// Reads the divergence steps and the losses kept since the last sync in one
/// transfer, and files them: a model's curve ends at the step it diverged.
fn sync<X: Backend>(
    first_bad: Tensor<X, 1>,
    due: Vec<(u64, Tensor<X, 1>)>,
    curves: &mut [Vec<(u64, f32)>],
    diverged_at: &mut [Option<u64>],
) -> LabResult<()> {
    let m = curves.len();
    let steps: Vec<u64> = due.iter().map(|(step, _)| *step).collect();
    let mut parts = vec![first_bad];
    parts.extend(due.into_iter().map(|(_, t)| t));
    let values = read(Tensor::cat(parts, 0))?;
    let (bad, rows) = values.split_at(m);
    for k in 0..m {
        if diverged_at[k].is_some() {
            continue;
        }
        let at = (bad[k] != NOT_YET).then_some(bad[k] as u64);
        for (&step, row) in steps.iter().zip(rows.chunks_exact(m)) {
            if at.is_none_or(|d| step <= d) {
                curves[k].push((step, row[k]));
            }
        }
        diverged_at[k] = at;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::CpuBackend;
    use crate::lab::Scene;
    use crate::lab::sweep::kernel;
    use std::path::Path;

    /// The tensor trainer on burn's CPU backend against the kernel, model by model.
    fn agree(
        scene: &str,
        rates: &[&[f32]],
        some_diverge: bool,
        shared_order: bool,
        step_slack: u64,
    ) {
        let base = Scene::parse(scene, Path::new("t.ron")).unwrap().resolved();
        let data = base.load_data().unwrap();
        let network = base.mlp_config(data.inputs, data.outputs());
        let training = base.train.without_rates();
        assert_eq!(unsupported(&network, &training), None);
        let setups: Vec<ModelSetup> = rates
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let mut s = base.clone();
                s.seed = if shared_order { 7 } else { i as u64 + 1 };
                s.train.learning_rates = Some(r.to_vec());
                ModelSetup::of(&s, &data)
            })
            .collect();
        let done = AtomicU64::new(0);
        let want = kernel::train_models(&network, &training, &data, &setups, 1, &done);
        let got = train_models::<CpuBackend>(
            &Default::default(),
            &network,
            &training,
            &data,
            &setups,
            &done,
        )
        .unwrap();
        assert_eq!(done.load(Ordering::Relaxed), 2 * setups.len() as u64);
        let mut diverged = 0;
        for (k, (w, g)) in want.iter().zip(&got).enumerate() {
            // A blow-up (10²³ within five steps) amplifies the last bit of a
            // sum's order: the step at which f32 overflows may differ by one.
            match (w.diverged_at, g.diverged_at) {
                (Some(a), Some(b)) => {
                    assert!(a.abs_diff(b) <= step_slack, "model {k}: {a} vs {b}")
                }
                (a, b) => assert_eq!(a, b, "model {k}"),
            }
            diverged += usize::from(w.diverged_at.is_some());
            assert_eq!(w.curve.len(), g.curve.len(), "model {k}");
            for (i, ((s, a), (s2, b))) in w.curve.iter().zip(&g.curve).enumerate() {
                assert_eq!(s, s2);
                // A blow-up amplifies float differences: compare a diverging
                // model until its loss first rises.
                if w.diverged_at.is_some() && i > 0 && *a > w.curve[i - 1].1 {
                    break;
                }
                if a.is_finite() {
                    assert!(
                        (a - b).abs() <= 1e-3 * a.abs().max(1e-3),
                        "model {k} at {s}: {a} vs {b}"
                    );
                }
            }
            if w.diverged_at.is_none() {
                let (a, b) = (w.metrics.test_loss.unwrap(), g.metrics.test_loss.unwrap());
                assert!(
                    (a - b).abs() <= 1e-3 * a.abs(),
                    "model {k}: test loss {a} vs {b}"
                );
                assert_eq!(
                    w.metrics.train_accuracy, g.metrics.train_accuracy,
                    "model {k}"
                );
            }
        }
        assert!(diverged < setups.len(), "all diverged");
        assert!(!some_diverge || diverged >= 1, "none diverged");
    }

    #[test]
    fn the_tensor_trainer_trains_as_the_kernel_does() {
        agree(
            "Scene(data: RandomRegression(inputs: 16, samples: Auto), model: (hidden: [16], activation: Tanh, bias: false, parameterization: MeanField, gain: 1.4142135, init: Normal(std: 1.0)), train: (optimizer: Gd, learning_rate: 1.0, learning_rates: [1.0, 1.0], steps: 60, eval_every: 5))",
            &[&[0.5, 2.0], &[20.0, 40.0], &[5.0, 900.0], &[10.0, 20.0]],
            true,
            false,
            0,
        );
        agree(
            "Scene(data: Spiral(samples: 120, noise: 0.05), model: (hidden: [8, 8], activation: Relu), train: (optimizer: Gd, learning_rate: 0.1, learning_rates: [0.1, 0.1, 0.1], steps: 40, eval_every: 10))",
            &[&[0.05, 0.3, 0.1], &[0.5, 0.1, 0.2], &[0.2, 0.2, 0.2]],
            false,
            false,
            0,
        );
    }

    #[test]
    fn mini_batches_momentum_adam_and_penalties_train_as_the_kernel_does() {
        // SGD, each model in its own batch order, cross-entropy, L2.
        agree(
            "Scene(data: Spiral(samples: 100, noise: 0.1), model: (hidden: [8], activation: Tanh), train: (optimizer: Sgd, learning_rate: 0.1, batch_size: 16, l2: 0.001, steps: 50, eval_every: 7))",
            &[&[0.05, 0.1], &[0.3, 0.2], &[1.0, 0.5]],
            false,
            false,
            0,
        );
        // Momentum in one shared order, MSE on a regression, L1; one diverges.
        agree(
            "Scene(data: Function1d(function: Sin(frequency: 1.0, amplitude: 1.0), samples: 64), model: (hidden: [8], activation: Tanh), train: (optimizer: Momentum, momentum: 0.9, learning_rate: 0.05, batch_size: 8, l1: 0.0005, steps: 60, eval_every: 5))",
            &[&[0.01, 0.02], &[0.05, 0.05], &[40.0, 40.0]],
            true,
            true,
            1,
        );
        // Adam, full batch, relu.
        agree(
            "Scene(data: Xor(samples: 64), model: (hidden: [6, 6], activation: Relu), train: (optimizer: Adam, learning_rate: 0.01, batch_size: 64, steps: 40, eval_every: 4))",
            &[&[0.01, 0.01, 0.01], &[0.05, 0.02, 0.01]],
            false,
            false,
            0,
        );
    }
}
