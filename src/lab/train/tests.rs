use std::path::Path;

use super::batch::target_row;
use super::*;
use crate::lab::CpuBackend;
use crate::lab::data::{DataSpec, Function1dSpec, Toy2dSpec};
use crate::lab::frame::{LayerFrame, LayerStats};
use crate::lab::model::OutputKind;
use crate::lab::model::{Activation, DenseRef, plain_forward};
use crate::lab::scene::LossKind;
use crate::lab::scene::LrSchedule;
use crate::lab::scene::{ModelSpec, TrainSpec};

/// A layer as plain data: inputs, outputs, weights, biases.
type Layer = (usize, usize, Vec<f32>, Vec<f32>);

fn scene(data: DataSpec, activation: Activation, loss: LossKind, output: OutputKind) -> Scene {
    Scene {
        name: "t".into(),
        title: String::new(),
        description: String::new(),
        seed: 5,
        data,
        model: ModelSpec {
            hidden: vec![5, 4],
            activation,
            output: Some(output),
            init: None,
            ..Default::default()
        },
        train: TrainSpec {
            optimizer: OptimizerKind::Gd,
            learning_rate: 0.1,
            loss: Some(loss),
            l1: 0.003,
            l2: 0.01,
            ..Default::default()
        },
        view: Default::default(),
        record: Default::default(),
        lesson: Default::default(),
        measure: Default::default(),
    }
}

fn xor(samples: usize) -> DataSpec {
    DataSpec::Xor(Toy2dSpec {
        samples,
        ..Default::default()
    })
}

fn sine(samples: usize) -> DataSpec {
    DataSpec::Function1d(Function1dSpec {
        samples,
        ..Default::default()
    })
}

/// Plain, unscaled layers as the f64 reference forward pass reads them.
fn dense_refs(layers: &[Layer]) -> Vec<DenseRef<'_>> {
    layers
        .iter()
        .map(|(i, o, w, b)| DenseRef {
            inputs: *i,
            outputs: *o,
            weights: w,
            biases: b,
            scale: 1.0,
        })
        .collect()
}

/// The full-batch objective (data loss + penalties) computed in f64 from plain weights.
fn plain_objective(s: &Scene, data: &Dataset, layers: &[Layer]) -> f64 {
    let refs = dense_refs(layers);
    let n = data.train.len();
    let mut total = 0.0;
    for k in 0..n {
        let x = &data.train.x[k * data.inputs..(k + 1) * data.inputs];
        let trace = plain_forward(&refs, &s.model.hidden_activations(), s.output(), x);
        total += plain_loss(s.loss(), &trace, &target_row(data, &data.train, k));
    }
    total / n as f64 + plain_penalty(s, layers)
}

/// The weight penalties `l2·Σw² + l1·Σ|w|` in f64.
fn plain_penalty(s: &Scene, layers: &[Layer]) -> f64 {
    let mut penalty = 0.0;
    for (_, _, w, _) in layers {
        for &v in w {
            let v = f64::from(v);
            penalty += f64::from(s.train.l2) * v * v + f64::from(s.train.l1) * v.abs();
        }
    }
    penalty
}

/// [`plain_objective`] in training mode: hidden layer `l`'s output `j` of
/// training sample `k` times `masks[l][k * width + j]`.
fn masked_objective(s: &Scene, data: &Dataset, layers: &[Layer], masks: &[Vec<f32>]) -> f64 {
    let activations = s.model.hidden_activations();
    let n = data.train.len();
    let mut total = 0.0;
    for k in 0..n {
        let mut h: Vec<f64> = data.train.x[k * data.inputs..(k + 1) * data.inputs]
            .iter()
            .map(|v| f64::from(*v))
            .collect();
        let mut trace = crate::lab::model::PlainTrace {
            pre: Vec::new(),
            post: Vec::new(),
        };
        for (l, (inputs, outputs, w, b)) in layers.iter().enumerate() {
            let mut z: Vec<f64> = b.iter().map(|v| f64::from(*v)).collect();
            for r in 0..*inputs {
                for (j, zj) in z.iter_mut().enumerate() {
                    *zj += h[r] * f64::from(w[r * outputs + j]);
                }
            }
            if l + 1 == layers.len() {
                let post = match s.output() {
                    OutputKind::Softmax => crate::lab::model::softmax(&z),
                    OutputKind::Linear => z.clone(),
                };
                trace.pre.push(z);
                trace.post.push(post);
            } else {
                let mask = &masks[l][k * outputs..(k + 1) * outputs];
                h = z
                    .iter()
                    .zip(mask)
                    .map(|(v, m)| activations[l].eval(*v) * f64::from(*m))
                    .collect();
            }
        }
        total += plain_loss(s.loss(), &trace, &target_row(data, &data.train, k));
    }
    total / n as f64 + plain_penalty(s, layers)
}

fn plain_loss(kind: LossKind, trace: &crate::lab::model::PlainTrace, target: &[f32]) -> f64 {
    let out = trace.post.last().unwrap();
    let z = trace.pre.last().unwrap();
    let n = out.len() as f64;
    match kind {
        LossKind::CrossEntropy => {
            let max = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let lse = max + z.iter().map(|v| (v - max).exp()).sum::<f64>().ln();
            -target
                .iter()
                .zip(z)
                .map(|(t, zi)| f64::from(*t) * (zi - lse))
                .sum::<f64>()
        }
        LossKind::Mse | LossKind::Residual => {
            out.iter()
                .zip(target)
                .map(|(o, t)| (o - f64::from(*t)).powi(2))
                .sum::<f64>()
                / n
        }
        LossKind::L1 => {
            out.iter()
                .zip(target)
                .map(|(o, t)| (o - f64::from(*t)).abs())
                .sum::<f64>()
                / n
        }
    }
}

fn layers_of(frame: &Frame) -> Vec<Layer> {
    frame
        .layers
        .iter()
        .map(|l| (l.inputs, l.outputs, l.weights.clone(), l.biases.clone()))
        .collect()
}

/// Central difference of `f` at parameter `(layer, is_bias, index)`.
fn central_difference(
    base: &[Layer],
    layer: usize,
    bias: bool,
    index: usize,
    f: &dyn Fn(&[Layer]) -> f64,
) -> f64 {
    const EPS: f32 = 1e-3;
    let perturbed = |delta: f32| {
        let mut l = base.to_vec();
        let p = if bias {
            &mut l[layer].3[index]
        } else {
            &mut l[layer].2[index]
        };
        *p += delta;
        let v = *p;
        (l, v)
    };
    let (plus, hi) = perturbed(EPS);
    let (minus, lo) = perturbed(-EPS);
    (f(&plus) - f(&minus)) / f64::from(hi - lo)
}

fn assert_close(autodiff: f32, fd: f64, what: &str) {
    let a = f64::from(autodiff);
    let tolerance = 1e-4 * (1.0 + fd.abs());
    assert!(
        (a - fd).abs() <= tolerance,
        "{what}: autodiff {a} vs finite difference {fd}"
    );
}

/// The frame's loss equals `objective` at its weights, and each of its
/// weight and bias gradients the central difference of `objective`.
fn assert_gradients(frame: &Frame, loss: f32, objective: &dyn Fn(&[Layer]) -> f64, what: &str) {
    let base = layers_of(frame);
    assert_close(loss, objective(&base), &format!("{what} loss value"));
    for (li, layer) in frame.layers.iter().enumerate() {
        for (i, g) in layer.weight_grads.iter().enumerate() {
            let fd = central_difference(&base, li, false, i, objective);
            assert_close(*g, fd, &format!("{what} dL/dW layer {li} #{i}"));
        }
        for (j, g) in layer.bias_grads.iter().enumerate() {
            let fd = central_difference(&base, li, true, j, objective);
            assert_close(*g, fd, &format!("{what} dL/db layer {li} #{j}"));
        }
    }
}

#[test]
fn gradients_match_finite_differences_for_every_activation_and_loss() {
    let cases = [
        (xor(24), LossKind::CrossEntropy, OutputKind::Softmax),
        (xor(24), LossKind::Mse, OutputKind::Softmax),
        (sine(16), LossKind::Mse, OutputKind::Linear),
        (sine(16), LossKind::L1, OutputKind::Linear),
    ];
    // With weight penalties every case goes through autodiff; without them,
    // cross-entropy and a linear output's squared error are derived by hand.
    for ((data, loss, output), penalised) in cases
        .iter()
        .flat_map(|case| [(case.clone(), true), (case.clone(), false)])
    {
        for activation in Activation::ALL {
            let mut s = scene(data.clone(), activation, loss, output);
            if !penalised {
                s.train.l1 = 0.0;
                s.train.l2 = 0.0;
            }
            let mut t = Trainer::<CpuBackend>::new(&s, &Default::default()).unwrap();
            let hand = !penalised
                && (loss == LossKind::CrossEntropy
                    || (loss == LossKind::Mse && output == OutputKind::Linear));
            assert_eq!(t.by_hand(), hand, "{activation:?}/{loss:?}/{output:?}");
            let StepOutcome::Stepped {
                frame: Some(frame),
                batch_loss,
            } = t.step(true).unwrap()
            else {
                panic!("no frame")
            };
            let what = format!("{activation:?}/{loss:?}/{output:?}, by hand: {hand}");
            let objective = |l: &[Layer]| plain_objective(&s, t.data(), l);
            assert_gradients(&frame, batch_loss, &objective, &what);
        }
    }
}

#[test]
fn dropout_gradients_match_finite_differences_of_the_masked_objective() {
    // Without penalties the gradients are derived by hand, with them by autodiff.
    for penalised in [false, true] {
        let mut s = scene(
            xor(24),
            Activation::Tanh,
            LossKind::CrossEntropy,
            OutputKind::Softmax,
        );
        s.model.activations = Some(vec![Activation::Gelu, Activation::Sigmoid]);
        s.model.dropout = 0.4;
        if !penalised {
            s.train.l1 = 0.0;
            s.train.l2 = 0.0;
        }
        let mut t = Trainer::<CpuBackend>::new(&s, &Default::default()).unwrap();
        assert_eq!(t.by_hand(), !penalised);
        let StepOutcome::Stepped {
            frame: Some(frame),
            batch_loss,
        } = t.step(true).unwrap()
        else {
            panic!("no frame")
        };
        let base = layers_of(&frame);
        let n = t.data().train.len();
        let masks: Vec<Vec<f32>> = [5usize, 4]
            .iter()
            .enumerate()
            .map(|(l, &width)| crate::lab::model::dropout_mask(s.seed, 0, l, n, width, 0.4))
            .collect();
        let objective = |l: &[Layer]| masked_objective(&s, t.data(), l, &masks);
        let what = format!("dropout, by hand: {}", !penalised);
        assert_gradients(&frame, batch_loss, &objective, &what);
        let whole = plain_objective(&s, t.data(), &base);
        assert!(
            (f64::from(batch_loss) - whole).abs() > 1e-3,
            "{what}: the masks change the loss ({batch_loss} vs {whole})"
        );
    }
}

#[test]
fn dropout_trains_otherwise_but_evaluates_the_whole_network() {
    let mut whole = scene(
        xor(80),
        Activation::Relu,
        LossKind::CrossEntropy,
        OutputKind::Softmax,
    );
    whole.train.l1 = 0.0;
    whole.train.l2 = 0.0;
    whole.train.optimizer = OptimizerKind::Sgd;
    whole.train.batch_size = 16;
    let mut dropped = whole.clone();
    dropped.model.dropout = 0.5;
    let device = Default::default();
    let mut a = Trainer::<CpuBackend>::new(&whole, &device).unwrap();
    let mut b = Trainer::<CpuBackend>::new(&dropped, &device).unwrap();
    // The same weights: the same evaluation and probe, other gradients.
    assert_eq!(a.evaluate().unwrap(), b.evaluate().unwrap());
    let (fa, fb) = (a.peek().unwrap().unwrap(), b.peek().unwrap().unwrap());
    assert_eq!(fa.probe, fb.probe);
    assert_eq!(fa.layers[0].activations, fb.layers[0].activations);
    assert_ne!(fa.layers[0].weight_grads, fb.layers[0].weight_grads);
    for _ in 0..30 {
        a.step(false).unwrap();
        b.step(false).unwrap();
    }
    assert_ne!(a.parameters().unwrap(), b.parameters().unwrap());
    // Dropout is seeded: the same scene trains to the same weights.
    let mut again = Trainer::<CpuBackend>::new(&dropped, &device).unwrap();
    for _ in 0..30 {
        again.step(false).unwrap();
    }
    assert_eq!(b.parameters().unwrap(), again.parameters().unwrap());
    // A peek draws the masks of the step it shows and changes nothing.
    let peeked = again.peek().unwrap().unwrap();
    let StepOutcome::Stepped {
        frame: Some(stepped),
        ..
    } = again.step(true).unwrap()
    else {
        panic!("no frame")
    };
    assert_eq!(
        peeked.layers[0].weight_grads,
        stepped.layers[0].weight_grads
    );
}

#[test]
fn probe_error_signals_match_finite_differences() {
    // Cross-entropy and a linear output's squared error derive the probe's
    // signals by hand; an L1 loss goes through autodiff.
    let cases = [
        (xor(24), LossKind::CrossEntropy, OutputKind::Softmax, true),
        (sine(16), LossKind::Mse, OutputKind::Linear, true),
        (sine(16), LossKind::L1, OutputKind::Linear, false),
    ];
    for (data, loss, output, hand) in cases {
        for activation in Activation::ALL {
            let s = scene(data.clone(), activation, loss, output);
            let mut t = Trainer::<CpuBackend>::new(&s, &Default::default()).unwrap();
            assert_eq!(t.probe_by_hand(), hand, "{activation:?}/{loss:?}");
            let StepOutcome::Stepped {
                frame: Some(frame), ..
            } = t.step(true).unwrap()
            else {
                panic!()
            };
            let base = layers_of(&frame);
            let probe = frame.probe.clone();
            // The probe's own loss, as a function of the weights.
            let probe_loss = |l: &[Layer]| {
                let trace = plain_forward(&dense_refs(l), &[activation; 2], output, &probe.input);
                plain_loss(loss, &trace, &probe.target)
            };
            let what = format!("{activation:?}/{loss:?}, by hand: {hand}");
            assert_close(probe.loss, probe_loss(&base), &format!("{what} probe loss"));
            for (li, layer) in frame.layers.iter().enumerate() {
                // ∂L/∂z_j equals ∂L/∂b_j for a single sample.
                for (j, g) in layer.probe_grads.iter().enumerate() {
                    let fd = central_difference(&base, li, true, j, &probe_loss);
                    assert_close(*g, fd, &format!("{what} probe dL/dz layer {li} #{j}"));
                }
            }
        }
    }
}

#[test]
fn frame_holds_the_state_before_the_update() {
    let s = scene(
        xor(40),
        Activation::Tanh,
        LossKind::CrossEntropy,
        OutputKind::Softmax,
    );
    let mut t = Trainer::<CpuBackend>::new(&s, &Default::default()).unwrap();
    let StepOutcome::Stepped {
        frame: Some(f0), ..
    } = t.step(true).unwrap()
    else {
        panic!()
    };
    let StepOutcome::Stepped {
        frame: Some(f1), ..
    } = t.step(true).unwrap()
    else {
        panic!()
    };
    assert_eq!((f0.step, f1.step), (0, 1));
    // Plain GD with penalties: W1 = W0 - η ∇W0, gradient already including the penalty.
    let lr = s.train.learning_rate;
    for (a, b) in f0.layers.iter().zip(&f1.layers) {
        for ((w0, g0), w1) in a.weights.iter().zip(&a.weight_grads).zip(&b.weights) {
            assert!((w0 - lr * g0 - w1).abs() < 1e-6);
        }
    }
    // Probe activations are those of the probe sample under the frame's weights.
    let trace = plain_forward(
        &f0.dense_layers(),
        &[Activation::Tanh; 2],
        OutputKind::Softmax,
        &f0.probe.input,
    );
    for (l, layer) in f0.layers.iter().enumerate() {
        for (a, b) in layer.activations.iter().zip(&trace.post[l]) {
            assert!((f64::from(*a) - b).abs() < 1e-5);
        }
    }
    assert!(f0.metrics.grad_norm.is_some_and(|g| g > 0.0));
}

#[test]
fn same_scene_and_seed_give_the_same_numbers() {
    let mut s = scene(
        xor(80),
        Activation::Relu,
        LossKind::CrossEntropy,
        OutputKind::Softmax,
    );
    s.train.optimizer = OptimizerKind::Adam;
    s.train.batch_size = 16;
    let run = |s: &Scene| {
        let mut t = Trainer::<CpuBackend>::new(s, &Default::default()).unwrap();
        let frames: Vec<Frame> = (0..30)
            .filter_map(|_| match t.step(true).unwrap() {
                StepOutcome::Stepped { frame, .. } => frame.map(|f| *f),
                StepOutcome::Diverged { .. } => None,
            })
            .collect();
        (frames, t.evaluate().unwrap())
    };
    let (fa, ea) = run(&s);
    let (fb, eb) = run(&s);
    assert_eq!(fa, fb);
    assert_eq!(ea, eb);
    s.seed += 1;
    let (fc, _) = run(&s);
    assert_ne!(fa[0].layers[0].weights, fc[0].layers[0].weights);
}

#[test]
fn every_optimizer_lowers_the_loss() {
    for kind in OptimizerKind::ALL {
        let mut s = scene(
            xor(200),
            Activation::Tanh,
            LossKind::CrossEntropy,
            OutputKind::Softmax,
        );
        s.train.optimizer = kind;
        s.train.learning_rate = if kind == OptimizerKind::Adam {
            0.02
        } else {
            0.3
        };
        s.train.l1 = 0.0;
        s.train.l2 = 0.0;
        let mut t = Trainer::<CpuBackend>::new(&s, &Default::default()).unwrap();
        let before = t.evaluate().unwrap().train_loss.unwrap();
        for _ in 0..150 {
            t.step(false).unwrap();
        }
        let after = t.evaluate().unwrap().train_loss.unwrap();
        assert!(after < 0.7 * before, "{kind:?}: {before} -> {after}");
    }
}

#[test]
fn a_huge_learning_rate_diverges_without_panicking() {
    let mut s = scene(
        sine(64),
        Activation::Relu,
        LossKind::Mse,
        OutputKind::Linear,
    );
    s.train.learning_rate = 1e6;
    let mut t = Trainer::<CpuBackend>::new(&s, &Default::default()).unwrap();
    let mut diverged_at = None;
    for _ in 0..100 {
        if let StepOutcome::Diverged { step, loss } = t.step(false).unwrap() {
            assert!(!loss.is_finite());
            diverged_at = Some(step);
            break;
        }
    }
    let at = diverged_at.expect("a learning rate of 1e6 must diverge");
    assert!(t.is_diverged());
    // Once diverged, stepping does nothing.
    assert!(matches!(
        t.step(false).unwrap(),
        StepOutcome::Diverged { .. }
    ));
    assert_eq!(t.step_count(), at);
}

#[test]
fn batches_cover_each_sample_once_per_epoch() {
    let mut b = BatchSampler::new(10, 1);
    let mut seen: Vec<usize> = (0..5).flat_map(|_| b.next(2).unwrap().to_vec()).collect();
    seen.sort();
    assert_eq!(seen, (0..10).collect::<Vec<_>>());
    assert!(
        b.next(10).is_none(),
        "a batch as large as the set is the full batch"
    );
}

#[test]
fn regression_reports_generalization_error() {
    let s = scene(
        sine(32),
        Activation::Tanh,
        LossKind::Mse,
        OutputKind::Linear,
    );
    let t = Trainer::<CpuBackend>::new(&s, &Default::default()).unwrap();
    let e = t.evaluate().unwrap();
    assert!(e.test_accuracy.is_none());
    let g = e
        .generalization_error
        .expect("regression has a generalization error");
    assert!(g.is_finite() && g > 0.0);
}

#[test]
fn peek_shows_the_next_step_without_taking_it() {
    let mut s = scene(
        xor(80),
        Activation::Relu,
        LossKind::CrossEntropy,
        OutputKind::Softmax,
    );
    s.train.optimizer = OptimizerKind::Sgd;
    s.train.batch_size = 8;
    let mut t = Trainer::<CpuBackend>::new(&s, &Default::default()).unwrap();
    t.step(false).unwrap();
    let peeked = t.peek().unwrap().unwrap();
    assert_eq!(t.step_count(), 1, "peek applies no update");
    let StepOutcome::Stepped {
        frame: Some(stepped),
        ..
    } = t.step(true).unwrap()
    else {
        panic!()
    };
    // Only the step knows the update it applied.
    assert!(peeked.stats.iter().all(|l| l.update_norm.is_nan()));
    assert!(stepped.stats.iter().all(|l| l.update_norm > 0.0));
    let mut stepped = *stepped;
    for l in &mut stepped.stats {
        l.update_norm = f32::NAN;
    }
    assert_eq!(
        peeked, stepped,
        "the peeked frame is the one the next step captures"
    );
}

#[test]
fn a_value_that_cannot_be_read_back_is_an_error_not_a_divergence() {
    use burn::tensor::Tensor;
    // An empty "loss": reading it back yields no value. It used to become NaN,
    // which reported a healthy run as diverged.
    let empty = Tensor::<CpuBackend, 1>::zeros([0], &Default::default());
    let err = super::scalar(empty, "the mini-batch loss").unwrap_err();
    assert!(matches!(err, crate::lab::LabError::Tensor { .. }), "{err}");
    assert!(err.to_string().contains("the mini-batch loss"), "{err}");
    let two = Tensor::<CpuBackend, 1>::ones([2], &Default::default());
    assert!(super::scalar(two, "a loss").is_err());
}

/// A network as plain f64 data: per layer (inputs, outputs), with the
/// parameters flat in [`Trainer::parameters`]'s order.
struct F64Net {
    shapes: Vec<(usize, usize)>,
    activation: Activation,
}

impl F64Net {
    /// The objective (mean data loss + l2 penalty) and its exact gradient, by
    /// hand-written backpropagation in f64.
    fn gradient(&self, s: &Scene, data: &Dataset, theta: &[f64]) -> Vec<f64> {
        let mut grad = vec![0.0; theta.len()];
        let mut offsets = Vec::new();
        let mut at = 0;
        for &(i, o) in &self.shapes {
            offsets.push(at);
            at += i * o + o;
        }
        let n = data.train.len();
        for k in 0..n {
            let x: Vec<f64> = data.train.x[k * data.inputs..(k + 1) * data.inputs]
                .iter()
                .map(|v| f64::from(*v))
                .collect();
            let target: Vec<f64> = target_row(data, &data.train, k)
                .iter()
                .map(|v| f64::from(*v))
                .collect();
            let (mut hs, mut zs) = (vec![x], Vec::new());
            for (l, &(i, o)) in self.shapes.iter().enumerate() {
                let (w, b) = (&theta[offsets[l]..], &theta[offsets[l] + i * o..]);
                let h = hs.last().unwrap();
                let z: Vec<f64> = (0..o)
                    .map(|j| b[j] + (0..i).map(|r| h[r] * w[r * o + j]).sum::<f64>())
                    .collect();
                let last = l + 1 == self.shapes.len();
                hs.push(if last {
                    z.clone()
                } else {
                    z.iter().map(|v| self.activation.eval(*v)).collect()
                });
                zs.push(z);
            }
            // dL/dz of the last layer.
            let z = zs.last().unwrap();
            let outs = z.len() as f64;
            let mut delta: Vec<f64> = match (s.loss(), s.output()) {
                (LossKind::CrossEntropy, _) => {
                    let p = crate::lab::model::softmax(z);
                    p.iter().zip(&target).map(|(p, t)| p - t).collect()
                }
                (LossKind::Mse, OutputKind::Linear) => z
                    .iter()
                    .zip(&target)
                    .map(|(z, t)| 2.0 * (z - t) / outs)
                    .collect(),
                other => panic!("no f64 backprop for {other:?}"),
            };
            for l in (0..self.shapes.len()).rev() {
                let (i, o) = self.shapes[l];
                let h = &hs[l];
                for r in 0..i {
                    for j in 0..o {
                        grad[offsets[l] + r * o + j] += h[r] * delta[j] / n as f64;
                    }
                }
                for j in 0..o {
                    grad[offsets[l] + i * o + j] += delta[j] / n as f64;
                }
                if l > 0 {
                    let w = &theta[offsets[l]..];
                    delta = (0..i)
                        .map(|r| {
                            let back: f64 = (0..o).map(|j| w[r * o + j] * delta[j]).sum();
                            back * self.activation.derivative(zs[l - 1][r])
                        })
                        .collect();
                }
            }
        }
        let l2 = f64::from(s.train.l2);
        for (l, &(i, o)) in self.shapes.iter().enumerate() {
            for idx in offsets[l]..offsets[l] + i * o {
                grad[idx] += 2.0 * l2 * theta[idx];
            }
        }
        grad
    }

    /// The exact Hessian, column by column: central differences of the exact
    /// gradient in f64 (error about h² ≈ 1e-10).
    fn hessian(&self, s: &Scene, data: &Dataset, theta: &[f64]) -> Vec<f64> {
        const H: f64 = 1e-5;
        let p = theta.len();
        let mut hess = vec![0.0; p * p];
        for j in 0..p {
            let mut plus = theta.to_vec();
            plus[j] += H;
            let mut minus = theta.to_vec();
            minus[j] -= H;
            let (gp, gm) = (
                self.gradient(s, data, &plus),
                self.gradient(s, data, &minus),
            );
            for i in 0..p {
                hess[i * p + j] = (gp[i] - gm[i]) / (2.0 * H);
            }
        }
        // Symmetric up to rounding.
        for i in 0..p {
            for j in 0..i {
                let m = 0.5 * (hess[i * p + j] + hess[j * p + i]);
                hess[i * p + j] = m;
                hess[j * p + i] = m;
            }
        }
        hess
    }
}

#[test]
fn sharpness_matches_the_exact_hessian_for_tanh_and_gelu_with_mse_and_cross_entropy() {
    use crate::lab::analysis::symmetric_eigen;
    let cases = [
        (sine(32), LossKind::Mse, OutputKind::Linear, vec![12, 10]),
        (
            xor(40),
            LossKind::CrossEntropy,
            OutputKind::Softmax,
            vec![10, 10],
        ),
    ];
    for (data, loss, output, hidden) in cases {
        for activation in [Activation::Tanh, Activation::Gelu] {
            let mut s = scene(data.clone(), activation, loss, output);
            s.model.hidden = hidden.clone();
            s.train.l1 = 0.0;
            let what = format!("{activation:?}/{loss:?}");
            let mut t = Trainer::<CpuBackend>::new(&s, &Default::default()).unwrap();
            // Away from the initialisation, where the Hessian has structure.
            for _ in 0..150 {
                t.step(false).unwrap();
            }
            let theta: Vec<f64> = t
                .parameters()
                .unwrap()
                .iter()
                .map(|v| f64::from(*v))
                .collect();
            let p = theta.len();
            assert!((150..=300).contains(&p), "{what}: {p} parameters");
            let net = F64Net {
                shapes: t.model().sizes().windows(2).map(|w| (w[0], w[1])).collect(),
                activation,
            };
            // The exact gradient agrees with burn's: the f64 reference is right.
            let exact_grad = net.gradient(t.scene(), t.data(), &theta);
            let burn_grad = t.gradient_at(&t.parameters().unwrap()).unwrap();
            for (e, b) in exact_grad.iter().zip(&burn_grad) {
                assert!((e - f64::from(*b)).abs() < 1e-4 * (1.0 + e.abs()), "{what}");
            }
            let hessian = net.hessian(t.scene(), t.data(), &theta);
            let (values, vectors) = symmetric_eigen(&hessian, p);
            let top = (0..p)
                .max_by(|a, b| values[*a].total_cmp(&values[*b]))
                .unwrap();
            let exact = values[top];
            let exact_v = &vectors[top * p..(top + 1) * p];

            let spectrum = t.sharpness(1, None).unwrap();
            let lambda = spectrum.top();
            assert!(
                (lambda - exact).abs() <= 0.01 * exact.abs(),
                "{what}: Lanczos {lambda} vs exact {exact}"
            );
            let cos: f64 = spectrum
                .eigenvector
                .iter()
                .zip(exact_v)
                .map(|(a, b)| a * b)
                .sum::<f64>()
                .abs();
            assert!(cos >= 0.99, "{what}: |cos| {cos}");
            eprintln!(
                "{what}: {p} parameters, λ_max {lambda:.6} vs exact {exact:.6} ({:.2e} relative), |cos| {cos:.6}, {} iterations",
                ((lambda - exact) / exact).abs(),
                spectrum.iterations
            );
        }
    }
}

/// The trainability fractal's network: mean-field, no biases, tanh of √2·z,
/// normal weights, on random regression with as many samples as parameters.
fn fractal_scene(rates: [f32; 2]) -> Scene {
    Scene::parse(
        &format!(
            "Scene(name: \"f\", seed: 3,
                   data: RandomRegression(inputs: 16, samples: Auto),
                   model: (hidden: [16], activation: Tanh, bias: false, parameterization: MeanField,
                           gain: {}, init: Normal(std: 1.0)),
                   train: (optimizer: Gd, learning_rate: 0.1, learning_rates: [{}, {}], steps: 10))",
            std::f32::consts::SQRT_2,
            rates[0],
            rates[1]
        ),
        std::path::Path::new("f.ron"),
    )
    .unwrap()
}

#[test]
fn random_regression_has_as_many_samples_as_parameters() {
    let s = fractal_scene([1.0, 1.0]);
    let t = Trainer::<CpuBackend>::new(&s, &Default::default()).unwrap();
    // 16·16 + 16·1 weights, no biases.
    assert_eq!(t.data().train.len(), 272);
    assert_eq!(t.parameters().unwrap().len(), 272);
    let gain = std::f32::consts::SQRT_2;
    assert_eq!(t.model().config.scales, vec![gain / 4.0, 1.0 / 16.0]);
    let resolved = t.scene().to_ron().unwrap();
    assert!(resolved.contains("Count(272)"), "{resolved}");
}

#[test]
fn per_layer_rates_step_each_layer_by_its_own_rate() {
    let s = fractal_scene([0.5, 3.0]);
    let mut t = Trainer::<CpuBackend>::new(&s, &Default::default()).unwrap();
    let StepOutcome::Stepped {
        frame: Some(f0), ..
    } = t.step(true).unwrap()
    else {
        panic!()
    };
    let StepOutcome::Stepped {
        frame: Some(f1), ..
    } = t.step(true).unwrap()
    else {
        panic!()
    };
    for ((a, b), rate) in f0.layers.iter().zip(&f1.layers).zip([0.5f32, 3.0]) {
        for ((w0, g0), w1) in a.weights.iter().zip(&a.weight_grads).zip(&b.weights) {
            assert!(
                (w0 - rate * g0 - w1).abs() < 1e-5,
                "{w0} - {rate}·{g0} vs {w1}"
            );
        }
        assert!(a.biases.iter().all(|b| *b == 0.0), "no biases");
    }
    assert_eq!(
        t.stability_threshold(),
        None,
        "no single 2/η with per-layer rates"
    );
}

#[test]
fn mean_field_gradients_match_finite_differences() {
    let s = fractal_scene([1.0, 1.0]);
    let mut t = Trainer::<CpuBackend>::new(&s, &Default::default()).unwrap();
    assert!(
        t.by_hand(),
        "the fractal's scaled layers are derived by hand"
    );
    let StepOutcome::Stepped {
        frame: Some(frame),
        batch_loss,
    } = t.step(true).unwrap()
    else {
        panic!()
    };
    let resolved = t.scene().clone();
    let base = layers_of(&frame);
    let scales = [frame.layers[0].scale, frame.layers[1].scale];
    let objective = |l: &[Layer]| {
        let refs: Vec<DenseRef> = l
            .iter()
            .zip(scales)
            .map(|((i, o, w, b), scale)| DenseRef {
                inputs: *i,
                outputs: *o,
                weights: w,
                biases: b,
                scale,
            })
            .collect();
        let data = t.data();
        let n = data.train.len();
        (0..n)
            .map(|k| {
                let x = &data.train.x[k * data.inputs..(k + 1) * data.inputs];
                let trace = plain_forward(
                    &refs,
                    &resolved.model.hidden_activations(),
                    resolved.output(),
                    x,
                );
                plain_loss(resolved.loss(), &trace, &target_row(data, &data.train, k))
            })
            .sum::<f64>()
            / n as f64
    };
    assert_close(batch_loss, objective(&base), "mean-field loss");
    for (li, layer) in frame.layers.iter().enumerate() {
        for (i, g) in layer.weight_grads.iter().enumerate().step_by(7) {
            let fd = central_difference(&base, li, false, i, &objective);
            assert_close(*g, fd, &format!("dL/dW layer {li} #{i}"));
        }
    }
}

/// Each layer's parameters, weights then biases, as one flat slice per layer.
fn per_layer(flat: &[f32], sizes: &[usize]) -> Vec<Vec<f32>> {
    let mut at = 0;
    sizes
        .windows(2)
        .map(|w| {
            let n = w[0] * w[1] + w[1];
            at += n;
            flat[at - n..at].to_vec()
        })
        .collect()
}

#[test]
fn layer_stats_measure_the_update_the_step_applied() {
    for optimizer in [
        OptimizerKind::Sgd,
        OptimizerKind::Momentum,
        OptimizerKind::Adam,
    ] {
        let mut s = scene(
            xor(80),
            Activation::Relu,
            LossKind::CrossEntropy,
            OutputKind::Softmax,
        );
        s.train.optimizer = optimizer;
        s.train.l1 = 0.0;
        s.train.l2 = 0.0;
        s.train.learning_rate = 0.05;
        let mut t = Trainer::<CpuBackend>::new(&s, &Default::default()).unwrap();
        let sizes = t.topology().network.sizes;
        for _ in 0..3 {
            let before = per_layer(&t.parameters().unwrap(), &sizes);
            let StepOutcome::Stepped {
                frame: Some(frame), ..
            } = t.step(true).unwrap()
            else {
                panic!("no frame")
            };
            let after = per_layer(&t.parameters().unwrap(), &sizes);
            assert_eq!(frame.stats.len(), 3);
            for (l, stats) in frame.stats.iter().enumerate() {
                let moved = before[l]
                    .iter()
                    .zip(&after[l])
                    .map(|(a, b)| f64::from(b - a).powi(2))
                    .sum::<f64>()
                    .sqrt() as f32;
                let norm = before[l]
                    .iter()
                    .map(|v| f64::from(*v).powi(2))
                    .sum::<f64>()
                    .sqrt() as f32;
                assert!(
                    (stats.update_norm - moved).abs() <= 1e-3 * moved + 1e-7,
                    "{optimizer:?} layer {l}: update {} but the parameters moved {moved}",
                    stats.update_norm
                );
                assert!((stats.weight_norm - norm).abs() <= 1e-5 * norm);
                assert!((stats.update_ratio() - moved / norm).abs() <= 1e-3 * moved / norm);
                if optimizer == OptimizerKind::Sgd {
                    // Plain SGD moves each layer by exactly η times its gradient.
                    assert!((stats.update_norm - 0.05 * stats.grad_norm).abs() <= 1e-5);
                }
            }
        }
    }
}

#[test]
fn deep_sigmoid_gradients_vanish_towards_the_input_and_shallow_tanh_ones_do_not() {
    let first_over_last = |activation: Activation, hidden: Vec<usize>| {
        let mut s = scene(
            xor(80),
            activation,
            LossKind::CrossEntropy,
            OutputKind::Softmax,
        );
        s.model.hidden = hidden;
        s.model.init = Some(crate::lab::model::InitScheme::Xavier);
        s.train.l1 = 0.0;
        s.train.l2 = 0.0;
        let mut t = Trainer::<CpuBackend>::new(&s, &Default::default()).unwrap();
        let frame = t.peek().unwrap().unwrap();
        let stats = &frame.stats;
        assert!(
            stats.iter().all(|l| l.update_norm.is_nan()),
            "a peek applies no update"
        );
        stats[0].grad_norm / stats[stats.len() - 1].grad_norm
    };
    let deep = first_over_last(Activation::Sigmoid, vec![16; 8]);
    let shallow = first_over_last(Activation::Tanh, vec![16]);
    assert!(
        deep < 0.01,
        "8 sigmoid layers: first/last gradient norm {deep}"
    );
    assert!(
        shallow > 0.05,
        "1 tanh layer: first/last gradient norm {shallow}"
    );
}

#[test]
fn layer_stats_of_known_activations() {
    let layer = LayerFrame {
        inputs: 1,
        outputs: 3,
        weights: vec![3.0, 0.0, 4.0],
        biases: vec![0.0; 3],
        weight_grads: vec![1.0, 1.0, 1.0],
        bias_grads: vec![1.0, 0.0, 0.0],
        ..Default::default()
    };
    // Two samples; the first and third units are never active.
    let posts = [0.0, 1.0, 0.0, 0.0, 5.0, 0.0];
    let s = LayerStats::measure(&layer, &posts, true);
    assert_eq!(s.weight_norm, 5.0);
    assert_eq!(s.grad_norm, 2.0);
    assert_eq!(s.activation_mean, 1.0);
    // Deviations -1, 0, -1, -1, 4, -1: variance 20/6.
    assert!((s.activation_std - (10.0f32 / 3.0).sqrt()).abs() < 1e-6);
    assert!((s.dead_fraction - 2.0 / 3.0).abs() < 1e-6);
    assert!(s.update_norm.is_nan());
    assert!(
        LayerStats::measure(&layer, &posts, false)
            .dead_fraction
            .is_nan()
    );
}

/// A step-decay schedule trains exactly as halving the rate by hand at the
/// decay does, and a warm-up's first steps move the weights less.
#[test]
fn schedules_scale_the_rate_of_each_step() {
    let mut s = scene(
        xor(40),
        Activation::Tanh,
        LossKind::CrossEntropy,
        OutputKind::Softmax,
    );
    s.train.steps = 10;
    let run = |s: &Scene, halve_at: Option<u64>| {
        let mut t = Trainer::<CpuBackend>::new(s, &Default::default()).unwrap();
        for step in 0..10 {
            if Some(step) == halve_at {
                t.set_learning_rate(s.train.learning_rate * 0.5).unwrap();
            }
            t.step(false).unwrap();
        }
        t.parameters().unwrap()
    };
    let by_hand = run(&s, Some(5));
    let mut decayed = s.clone();
    decayed.train.schedule = LrSchedule::Step {
        every: 5,
        gamma: 0.5,
    };
    assert_eq!(run(&decayed, None), by_hand);
    assert_ne!(run(&s, None), by_hand);

    let start = Trainer::<CpuBackend>::new(&s, &Default::default())
        .unwrap()
        .parameters()
        .unwrap();
    let moved = |s: &Scene| {
        let mut t = Trainer::<CpuBackend>::new(s, &Default::default()).unwrap();
        t.step(false).unwrap();
        let p = t.parameters().unwrap();
        p.iter()
            .zip(&start)
            .map(|(a, b)| (a - b).abs())
            .sum::<f32>()
    };
    let mut warm = s.clone();
    warm.train.warmup_steps = 10;
    // Full-batch GD: the first step's gradient is the same, a tenth of the rate.
    let (full, tenth) = (moved(&s), moved(&warm));
    assert!(
        (tenth / full - 0.1).abs() < 1e-3,
        "warm-up's first step moved {tenth} against {full}"
    );
}

/// Blame, measured on plain weights, is the rise of burn's own test loss
/// when a neuron's outgoing weights are zeroed; silencing the top-blamed
/// neuron costs more than silencing the bottom one.
#[test]
fn blame_ranks_neurons_by_what_silencing_them_costs_the_test_loss() {
    use crate::lab::analysis::{Readout, blame};
    let scene = Scene::parse(
        "Scene(seed: 1, data: Spiral(samples: 600, noise: 0.02, classes: 3), \
         model: (hidden: [12, 12], activations: [Relu, Tanh]), \
         train: (optimizer: Adam, learning_rate: 0.02, batch_size: 32))",
        Path::new("blame.ron"),
    )
    .unwrap();
    let mut t = Trainer::<CpuBackend>::new(&scene, &Default::default()).unwrap();
    for _ in 0..600 {
        t.step(false).unwrap();
    }
    let frame = t.peek().unwrap().unwrap();
    let readout = Readout {
        activations: vec![Activation::Relu, Activation::Tanh],
        output: OutputKind::Softmax,
        loss: LossKind::CrossEntropy,
    };
    let theta = t.parameters().unwrap();
    let burn_loss = |theta: &[f32]| {
        let model = t.model_with(theta).unwrap();
        let x = Tensor::<CpuBackend, 2>::from_inner(t.test.x.clone());
        let targets = Tensor::<CpuBackend, 2>::from_inner(t.test.targets.clone());
        let loss =
            per_sample_loss(t.scene.loss(), model.output(), model.forward(x), targets).mean();
        f64::from(scalar(loss, "test loss").unwrap())
    };
    let base = burn_loss(&theta);
    // Where each layer's outgoing weights start in the flat parameters.
    let sizes = [2usize, 12, 12, 3];
    let mut start = 0;
    let mut starts = Vec::new();
    for w in sizes.windows(2) {
        starts.push(start);
        start += w[0] * w[1] + w[1];
    }
    for layer in [1, 2] {
        let b = blame(&frame, &readout, t.data(), layer, usize::MAX).unwrap();
        assert_eq!(b.rises.len(), 12);
        assert_eq!(b.samples, t.data().test.len());
        assert!(
            (b.base_loss - base).abs() < 1e-4,
            "{} vs {base}",
            b.base_loss
        );
        let outputs = sizes[layer + 1];
        let silenced = |j: usize| {
            let mut th = theta.clone();
            let row = starts[layer] + j * outputs;
            th[row..row + outputs].iter_mut().for_each(|w| *w = 0.0);
            burn_loss(&th) - base
        };
        for j in 0..12 {
            assert!(
                (silenced(j) - b.rises[j]).abs() < 1e-4,
                "layer {layer} neuron {j}: burn {} vs blame {}",
                silenced(j),
                b.rises[j]
            );
        }
        let ranked = b.ranked();
        let (top, bottom) = (ranked[0].0, ranked[11].0);
        assert!(ranked.windows(2).all(|w| w[0].1 >= w[1].1));
        assert!(
            silenced(top) > silenced(bottom) + 0.01,
            "layer {layer}: silencing {top} costs {}, {bottom} {}",
            silenced(top),
            silenced(bottom)
        );
    }
    // Not a hidden layer: no blame.
    assert!(blame(&frame, &readout, t.data(), 0, 100).is_none());
    assert!(blame(&frame, &readout, t.data(), 3, 100).is_none());
}

#[test]
fn a_burn_loops_own_record_of_the_network_reads_back_in_the_streams_layout() {
    use burn::module::Module;
    type Inner = <CpuBackend as AutodiffBackend>::InnerBackend;
    let dir = tempfile::tempdir().unwrap();
    let device = Default::default();
    // As a user's burn loop saves the lab's network.
    let config =
        crate::lab::model::MlpConfig::new(vec![3, 5, 2], vec![Activation::Tanh]).with_seed(9);
    let model = config.init::<Inner>(&device);
    let recorder = burn::record::NamedMpkFileRecorder::<burn::record::FullPrecisionSettings>::new();
    let path = dir.path().join("model_40");
    model.save_file(&path, &recorder).unwrap();
    let layers = read_model_record::<Inner>(&path.with_extension("mpk"), &device).unwrap();
    assert_eq!(layers.len(), 2);
    // The record holds what the network was built from.
    for (got, (weights, biases)) in layers.iter().zip(config.initial_parameters()) {
        assert_eq!(
            (&got.weights, Some(&got.biases)),
            (&weights, biases.as_ref())
        );
    }
    assert_eq!(
        (layers[0].inputs, layers[0].outputs, layers[1].outputs),
        (3, 5, 2)
    );
    // Anything else is an error naming the file.
    let other = dir.path().join("other.mpk");
    std::fs::write(&other, b"\x93not a record").unwrap();
    let e = read_model_record::<Inner>(&other, &device)
        .unwrap_err()
        .to_string();
    assert!(e.contains("other.mpk") && e.contains("record"), "{e}");
}

#[test]
fn evaluation_is_the_same_bit_for_bit_on_any_number_of_threads() {
    // Enough samples for several chunks in each split, classes and a regression.
    let cases = [
        (xor(12_000), LossKind::CrossEntropy, OutputKind::Softmax),
        (sine(9_000), LossKind::Mse, OutputKind::Linear),
    ];
    for (data, loss, output) in cases {
        let s = scene(data, Activation::Tanh, loss, output);
        let mut t = Trainer::<CpuBackend>::new(&s, &Default::default()).unwrap();
        for _ in 0..3 {
            t.step(false).unwrap();
        }
        let kind = t.scene.loss();
        let splits = [&t.train, &t.test];
        assert!(
            t.train.len > 2 * super::eval::EVAL_CHUNK,
            "{loss:?}: several chunks"
        );
        let one = super::eval::eval_splits(&t.model, kind, splits, 1, Vec::new()).unwrap();
        for threads in [2, 3, 8] {
            let many =
                super::eval::eval_splits(&t.model, kind, splits, threads, Vec::new()).unwrap();
            for (a, b) in one.iter().zip(&many) {
                assert_eq!(a.mean_loss.to_bits(), b.mean_loss.to_bits(), "{threads}");
                assert_eq!(a.accuracy.map(f32::to_bits), b.accuracy.map(f32::to_bits));
                assert_eq!(a.losses, b.losses, "{loss:?} on {threads} threads");
                assert!(a.mean_loss.is_finite() && a.mean_loss > 0.0);
            }
        }
    }
}
