//! The batched trainer on burn tensors, for `--device wgpu`: a group's models
//! as one computation with a model axis (weights `[M, in, out]`, batched
//! matmuls, per-model learning rates as `[M, 1, 1]` tensors), generic over
//! the backend so that the CPU backend can check it against the kernel.
//!
//! It covers full-batch gradient descent without penalties, the trainability
//! fractal's case; other schedules train on the CPU kernel.

use std::sync::atomic::{AtomicU64, Ordering};

use burn::tensor::activation::{gelu, log_softmax, relu, sigmoid};
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{Tensor, TensorData};

use super::kernel::{ModelOutcome, ModelSetup, Schedule, Shape, evaluate_models};
use crate::lab::data::{Dataset, Targets};
use crate::lab::error::{LabError, LabResult};
use crate::lab::model::{Activation, OutputKind};
use crate::lab::scene::{LossKind, OptimizerKind};

/// Why the tensor trainer cannot train a group, if it cannot.
pub fn unsupported(shape: &Shape, schedule: &Schedule) -> Option<&'static str> {
    if schedule.optimizer != OptimizerKind::Gd {
        Some("only full-batch gradient descent (Gd) trains on wgpu so far")
    } else if schedule.l1 != 0.0 || schedule.l2 != 0.0 {
        Some("L1 and L2 penalties do not train on wgpu yet")
    } else if !matches!(
        (shape.loss, shape.output),
        (LossKind::Mse, OutputKind::Linear) | (LossKind::CrossEntropy, OutputKind::Softmax)
    ) {
        Some("only MSE on raw outputs and cross-entropy on softmax train on wgpu so far")
    } else {
        None
    }
}

/// One layer's parameters for every model.
struct Layer<B: AutodiffBackend> {
    /// `[M, in, out]`.
    w: Tensor<B, 3>,
    /// `[M, 1, out]`, when the layers have biases.
    b: Option<Tensor<B, 3>>,
    /// Each model's learning rate for this layer, `[M, 1, 1]`.
    rate: Tensor<B::InnerBackend, 3>,
    /// The layer's pre-activation factor.
    scale: f32,
}

/// `values` as a `[d0, d1, d2]` tensor on `device`.
fn tensor3<B: burn::tensor::backend::Backend>(
    values: Vec<f32>,
    shape: [usize; 3],
    device: &B::Device,
) -> Tensor<B, 3> {
    Tensor::from_data(TensorData::new(values, shape), device)
}

fn read(t: Tensor<impl burn::tensor::backend::Backend, 1>) -> LabResult<Vec<f32>> {
    t.into_data()
        .to_vec::<f32>()
        .map_err(|e| LabError::setting("device", format!("cannot read a tensor back: {e:?}")))
}

/// The data set as `[M, n, in]` inputs and `[M, n, out]` targets (one-hot
/// for labels), broadcast over the models.
fn batch<B: burn::tensor::backend::Backend>(
    x: &[f32],
    targets: &Targets,
    n: usize,
    inputs: usize,
    outputs: usize,
    models: usize,
    device: &B::Device,
) -> (Tensor<B, 3>, Tensor<B, 3>) {
    let t: Vec<f32> = match targets {
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
    };
    let x = tensor3::<B>(x.to_vec(), [1, n, inputs], device).expand([models, n, inputs]);
    let t = tensor3::<B>(t, [1, n, outputs], device).expand([models, n, outputs]);
    (x, t)
}

/// Each model's mean data loss over `x`, `[M]`.
fn losses<B: AutodiffBackend>(
    shape: &Shape,
    layers: &[Layer<B>],
    x: Tensor<B, 3>,
    t: Tensor<B, 3>,
) -> Tensor<B, 1> {
    let mut h = x;
    for (l, layer) in layers.iter().enumerate() {
        let mut z = h.matmul(layer.w.clone());
        if let Some(b) = &layer.b {
            z = z + b.clone();
        }
        z = z.mul_scalar(layer.scale);
        h = if l + 1 < layers.len() {
            match shape.activation {
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
    let per_model = match shape.loss {
        LossKind::CrossEntropy => (t * log_softmax(h, 2))
            .mul_scalar(-1.0 / n as f32)
            .sum_dim(2)
            .sum_dim(1),
        _ => {
            let e = h - t;
            // e·e, not powf: a GPU's pow goes through exp and log.
            (e.clone() * e)
                .mul_scalar(1.0 / (n * o) as f32)
                .sum_dim(2)
                .sum_dim(1)
        }
    };
    per_model.reshape([m])
}

/// One gradient-descent step of `p`, each model at its own `rate` (`[M, 1, 1]`).
fn descend<B: AutodiffBackend>(
    p: Tensor<B, 3>,
    rate: &Tensor<B::InnerBackend, 3>,
    grads: &B::Gradients,
) -> Tensor<B, 3> {
    match p.grad(grads) {
        Some(g) => {
            let inner = p.inner();
            let rate = rate.clone().expand(inner.dims());
            Tensor::from_inner(inner - g * rate).require_grad()
        }
        None => p,
    }
}

/// Trains `models` (one group) on backend `B` at `device` as one
/// computation; `done` counts finished models. Each model's outcome is
/// what [`super::kernel::train_models`] gives, within float tolerance.
pub fn train_models<B: AutodiffBackend>(
    device: &B::Device,
    shape: &Shape,
    schedule: &Schedule,
    data: &Dataset,
    models: &[ModelSetup],
    done: &AtomicU64,
) -> LabResult<Vec<ModelOutcome>> {
    if let Some(why) = unsupported(shape, schedule) {
        return Err(LabError::setting("device", why));
    }
    let m = models.len();
    if m == 0 {
        return Ok(Vec::new());
    }
    let sizes = &shape.sizes;
    let (inputs, outputs) = (sizes[0], sizes[sizes.len() - 1]);
    let mut layers: Vec<Layer<B>> = Vec::new();
    let mut at = 0;
    for (l, w) in sizes.windows(2).enumerate() {
        let (fan_in, fan_out) = (w[0], w[1]);
        let mut weights = Vec::with_capacity(m * fan_in * fan_out);
        let mut biases = Vec::with_capacity(m * fan_out);
        for setup in models {
            weights.extend_from_slice(&setup.params[at..at + fan_in * fan_out]);
            if shape.bias {
                let b0 = at + fan_in * fan_out;
                biases.extend_from_slice(&setup.params[b0..b0 + fan_out]);
            }
        }
        at += fan_in * fan_out + if shape.bias { fan_out } else { 0 };
        let rates: Vec<f32> = models
            .iter()
            .map(|s| s.rates.get(l).copied().unwrap_or(0.0))
            .collect();
        layers.push(Layer {
            w: tensor3::<B>(weights, [m, fan_in, fan_out], device).require_grad(),
            b: shape
                .bias
                .then(|| tensor3::<B>(biases, [m, 1, fan_out], device).require_grad()),
            rate: tensor3::<B::InnerBackend>(rates, [m, 1, 1], device),
            scale: shape.scales.get(l).copied().unwrap_or(1.0),
        });
    }
    let n = data.train.len();
    let (x, t) = batch::<B>(
        &data.train.x,
        &data.train.targets,
        n,
        inputs,
        outputs,
        m,
        device,
    );
    let mut curves: Vec<Vec<(u64, f32)>> = vec![Vec::new(); m];
    let mut diverged_at: Vec<Option<u64>> = vec![None; m];
    for step in 0..schedule.steps {
        if diverged_at.iter().all(Option::is_some) {
            break;
        }
        let loss = losses(shape, &layers, x.clone(), t.clone());
        let values = read(loss.clone().inner())?;
        let due = step.is_multiple_of(schedule.eval_every);
        for k in 0..m {
            if diverged_at[k].is_some() {
                continue;
            }
            if due {
                curves[k].push((step, values[k]));
            }
            if !values[k].is_finite() {
                diverged_at[k] = Some(step);
            }
        }
        let grads = loss.sum().backward();
        for layer in &mut layers {
            layer.w = descend(layer.w.clone(), &layer.rate, &grads);
            layer.b = layer.b.take().map(|b| descend(b, &layer.rate, &grads));
        }
    }
    let last = read(losses(shape, &layers, x, t).inner())?;
    for k in 0..m {
        if diverged_at[k].is_none() {
            if curves[k].last().is_none_or(|(at, _)| *at != schedule.steps) {
                curves[k].push((schedule.steps, last[k]));
            }
            if !last[k].is_finite() {
                diverged_at[k] = Some(schedule.steps);
            }
        }
    }
    // The final parameters, back in each model's `Trainer::parameters` order,
    // evaluated by the kernel: one definition of every metric.
    let mut finals: Vec<ModelSetup> = models.to_vec();
    for setup in &mut finals {
        setup.params.clear();
    }
    for (l, layer) in layers.into_iter().enumerate() {
        let (fan_in, fan_out) = (sizes[l], sizes[l + 1]);
        let w = read(layer.w.inner().reshape([m * fan_in * fan_out]))?;
        let b = match layer.b {
            Some(b) => Some(read(b.inner().reshape([m * fan_out]))?),
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
    let metrics = evaluate_models(shape, schedule, data, &finals, &curves, &diverged_at);
    done.fetch_add(m as u64, Ordering::Relaxed);
    Ok(ModelOutcome::all(curves, diverged_at, metrics))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::CpuBackend;
    use crate::lab::Scene;
    use crate::lab::sweep::kernel;
    use std::path::Path;

    /// The tensor trainer on burn's CPU backend against the kernel, model by model.
    fn agree(scene: &str, rates: &[&[f32]], some_diverge: bool) {
        let base = Scene::parse(scene, Path::new("t.ron")).unwrap().resolved();
        let data = base.load_data().unwrap();
        let shape = Shape::of(&base, &data);
        let schedule = Schedule::of(&base);
        assert_eq!(unsupported(&shape, &schedule), None);
        let setups: Vec<ModelSetup> = rates
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let mut s = base.clone();
                s.seed = i as u64 + 1;
                s.train.learning_rates = Some(r.to_vec());
                ModelSetup::of(&s, &data)
            })
            .collect();
        let done = AtomicU64::new(0);
        let want = kernel::train_models(&shape, &schedule, &data, &setups, 1, &done);
        let got = train_models::<CpuBackend>(
            &Default::default(),
            &shape,
            &schedule,
            &data,
            &setups,
            &done,
        )
        .unwrap();
        assert_eq!(done.load(Ordering::Relaxed), 2 * setups.len() as u64);
        let mut diverged = 0;
        for (k, (w, g)) in want.iter().zip(&got).enumerate() {
            assert_eq!(w.diverged_at, g.diverged_at, "model {k}");
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
        );
        agree(
            "Scene(data: Spiral(samples: 120, noise: 0.05), model: (hidden: [8, 8], activation: Relu), train: (optimizer: Gd, learning_rate: 0.1, learning_rates: [0.1, 0.1, 0.1], steps: 40, eval_every: 10))",
            &[&[0.05, 0.3, 0.1], &[0.5, 0.1, 0.2], &[0.2, 0.2, 0.2]],
            false,
        );
    }
}
