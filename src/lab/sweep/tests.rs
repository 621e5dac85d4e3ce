use std::path::Path;
use std::sync::atomic::AtomicU64;

use super::kernel::{Isa, ModelOutcome, ModelSetup, train_models, train_models_on};
use crate::lab::model::MlpConfig;
use crate::lab::runner::Session;
use crate::lab::scene::TrainSpec;
use crate::lab::{CpuBackend, Metrics, Scene};

/// Trains `scene` alone (the single-model trainer) and in the batched kernel;
/// returns both curves and final metrics.
fn both(text: &str) -> ((Vec<f32>, Metrics), (Vec<f32>, Metrics)) {
    let scene = Scene::parse(text, Path::new("t.ron")).unwrap().resolved();
    let mut session = Session::<CpuBackend>::start(&scene, &Default::default(), None).unwrap();
    let mut curve = Vec::new();
    let mut last = None;
    for _ in 0..scene.train.steps {
        let a = session.advance(false).unwrap();
        if let Some(e) = a.evaluation {
            curve.push(e.train_loss.unwrap());
        }
        if a.diverged.is_some() {
            break;
        }
    }
    let alone = session.finish().unwrap();
    if curve.len() as u64 <= scene.train.steps / scene.train.eval_every {
        curve.push(alone.train_loss.unwrap());
    }
    last.get_or_insert(alone);
    let data = scene.load_data().unwrap();
    let outcome = train_models(
        &scene.mlp_config(data.inputs, data.outputs()),
        &scene.train,
        &data,
        &[ModelSetup::of(&scene, &data)],
        1,
        &AtomicU64::new(0),
    )
    .remove(0);
    let batched: Vec<f32> = outcome.curve.iter().map(|(_, l)| *l).collect();
    ((curve, last.unwrap()), (batched, outcome.metrics))
}

fn assert_close(a: f32, b: f32, tolerance: f32, what: &str) {
    assert!(
        (a - b).abs() <= tolerance * a.abs().max(b.abs()).max(1e-3),
        "{what}: {a} vs {b}"
    );
}

#[test]
fn each_model_of_the_kernel_trains_as_the_trainer_trains_it_alone() {
    let cases = [
        (
            "xor gd tanh ce",
            "Scene(seed: 1, data: Xor(samples: 200), model: (hidden: [8, 8], activation: Tanh), train: (optimizer: Gd, learning_rate: 0.3, steps: 200, eval_every: 20))",
        ),
        (
            "xor sgd relu ce l2",
            "Scene(seed: 2, data: Xor(samples: 200), model: (hidden: [8], activation: Relu), train: (optimizer: Sgd, learning_rate: 0.1, batch_size: 16, l2: 0.001, steps: 200, eval_every: 25))",
        ),
        (
            "circle momentum sigmoid",
            "Scene(seed: 3, data: Circle(samples: 200), model: (hidden: [6], activation: Sigmoid), train: (optimizer: Momentum, momentum: 0.8, learning_rate: 0.2, batch_size: 32, steps: 150, eval_every: 30))",
        ),
        (
            "spiral adam gelu",
            "Scene(seed: 4, data: Spiral(samples: 200), model: (hidden: [10, 10], activation: Gelu), train: (optimizer: Adam, learning_rate: 0.01, batch_size: 64, steps: 150, eval_every: 50))",
        ),
        (
            "spiral sgd per-layer activations",
            "Scene(seed: 9, data: Spiral(samples: 200, classes: 3), model: (hidden: [10, 8, 6], activations: [Relu, Tanh, Sigmoid]), train: (optimizer: Sgd, learning_rate: 0.2, batch_size: 32, steps: 150, eval_every: 25))",
        ),
        (
            "sine gd mse",
            "Scene(seed: 5, data: Function1d(samples: 64), model: (hidden: [16], activation: Tanh), train: (optimizer: Gd, learning_rate: 0.05, loss: Mse, steps: 300, eval_every: 30))",
        ),
        (
            "sine l1 linear",
            "Scene(seed: 6, data: Function1d(samples: 64), model: (hidden: [12], activation: Tanh), train: (optimizer: Gd, learning_rate: 0.02, loss: L1, steps: 100, eval_every: 10))",
        ),
        (
            "xor mse softmax",
            "Scene(seed: 7, data: Xor(samples: 100), model: (hidden: [5], activation: Tanh), train: (optimizer: Gd, learning_rate: 0.5, loss: Mse, steps: 100, eval_every: 10))",
        ),
        (
            "fractal cell",
            "Scene(seed: 8, data: RandomRegression(inputs: 16, samples: Auto), model: (hidden: [16], activation: Tanh, bias: false, parameterization: MeanField, gain: 1.41421356, init: Normal(std: 1.0)), train: (optimizer: Gd, learning_rate: 1.0, learning_rates: [0.5, 2.0], steps: 300, eval_every: 10))",
        ),
    ];
    for (what, text) in cases {
        let ((alone, a), (batched, b)) = both(text);
        assert_eq!(alone.len(), batched.len(), "{what}: curve lengths");
        for (k, (x, y)) in alone.iter().zip(&batched).enumerate() {
            assert_close(*x, *y, 1e-3, &format!("{what}: loss at evaluation {k}"));
        }
        assert_close(
            a.test_loss.unwrap(),
            b.test_loss.unwrap(),
            1e-3,
            &format!("{what}: test loss"),
        );
        if let (Some(x), Some(y)) = (a.test_accuracy, b.test_accuracy) {
            assert!((x - y).abs() <= 0.02, "{what}: accuracy {x} vs {y}");
        }
        assert_eq!(
            a.generalization_error.is_some(),
            b.generalization_error.is_some(),
            "{what}"
        );
        if let (Some(x), Some(y)) = (a.generalization_error, b.generalization_error) {
            assert_close(x, y, 1e-3, &format!("{what}: generalization error"));
        }
        let (x, y) = (a.convergence_score.unwrap(), b.convergence_score.unwrap());
        assert!((x - y).abs() < 1e-3, "{what}: score {x} vs {y}");
    }
}

/// Models of one SGD scene with their own seeds and learning rates, the
/// last ones with rates that blow up.
fn mixed_models(
    scene: &Scene,
    count: usize,
) -> (
    MlpConfig,
    TrainSpec,
    crate::lab::data::Dataset,
    Vec<ModelSetup>,
) {
    let data = scene.load_data().unwrap();
    let models = (0..count)
        .map(|k| {
            let mut one = scene.clone();
            one.seed = 100 + (k % 7) as u64;
            one.train.learning_rate = if k + 3 >= count {
                50.0
            } else {
                0.005 * (1.0 + k as f32)
            };
            ModelSetup::of(&one, &data)
        })
        .collect();
    let network = scene.mlp_config(data.inputs, data.outputs());
    (network, scene.train.without_rates(), data, models)
}

#[test]
fn a_model_trains_the_same_whatever_shares_its_tile_and_on_every_vector_width() {
    let text = "Scene(seed: 1, data: Function1d(samples: 150), model: (hidden: [6, 5], activation: Tanh), train: (optimizer: Momentum, learning_rate: 0.1, batch_size: 20, steps: 60, eval_every: 7))";
    let scene = Scene::parse(text, Path::new("t.ron")).unwrap().resolved();
    let (network, training, data, models) = mixed_models(&scene, 21);
    let all = train_models(&network, &training, &data, &models, 2, &AtomicU64::new(0));
    assert_eq!(all.len(), 21);
    // Alone, in another company, on one thread.
    for k in [0, 9, 20] {
        let alone = train_models(
            &network,
            &training,
            &data,
            &models[k..=k],
            1,
            &AtomicU64::new(0),
        );
        assert_eq!(alone[0], all[k], "model {k} alone");
    }
    let reversed: Vec<ModelSetup> = models.iter().rev().cloned().collect();
    let back = train_models(&network, &training, &data, &reversed, 1, &AtomicU64::new(0));
    let back: Vec<ModelOutcome> = back.into_iter().rev().collect();
    assert_eq!(back, all, "the same models in the opposite order");
    // The blown-up models are marked and the others are not poisoned.
    for (k, o) in all.iter().enumerate() {
        if k + 3 >= 21 {
            assert!(o.diverged_at.is_some(), "model {k} should diverge");
            assert!(o.metrics.is_diverged());
            assert!(o.metrics.convergence_score.unwrap() < 0.0);
        } else {
            assert_eq!(o.diverged_at, None, "model {k}");
            assert!(o.metrics.train_loss.unwrap().is_finite());
        }
    }
    // Every instruction set this CPU has gives the same bits (the portable
    // path has no FMA on x86-64, so it is only close).
    let best = Isa::detect();
    for isa in Isa::available() {
        let other = train_models_on(
            isa,
            &network,
            &training,
            &data,
            &models,
            2,
            &AtomicU64::new(0),
        );
        if isa.is_portable() && !best.is_portable() {
            for (a, b) in other.iter().zip(&all) {
                assert_eq!(a.diverged_at.is_some(), b.diverged_at.is_some());
                if let (Some(x), Some(y)) = (a.metrics.train_loss, b.metrics.train_loss) {
                    assert_close(x, y, 1e-4, "portable against vector");
                }
            }
        } else {
            assert_eq!(other, all, "{isa:?}");
        }
    }
}
