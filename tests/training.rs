//! The presets reach their accuracy targets on the CPU backend.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test that cannot unwrap has failed, and says where"
)]

use nn_microscope::lab::runner::Session;
use nn_microscope::lab::scene::Presets;
use nn_microscope::lab::{CpuBackend, Metrics};

fn train_preset(name: &str) -> Metrics {
    let preset = Presets::built_in().find(name).unwrap();
    let scene = preset.load().unwrap_or_else(|e| panic!("{e}"));
    train(&scene, name)
}

fn train(scene: &nn_microscope::lab::Scene, name: &str) -> Metrics {
    let mut session = Session::<CpuBackend>::start(scene, &Default::default(), None).unwrap();
    for _ in 0..scene.train.steps {
        let advance = session.advance(false).unwrap();
        assert!(advance.diverged.is_none(), "{name} diverged");
    }
    session.finish().unwrap()
}

fn accuracy(e: &Metrics) -> f32 {
    e.test_accuracy.expect("a classification preset")
}

#[test]
fn xor_reaches_95_percent() {
    let e = train_preset("xor");
    assert!(accuracy(&e) >= 0.95, "{e:?}");
}

#[test]
fn spiral_reaches_95_percent() {
    let e = train_preset("spiral");
    assert!(accuracy(&e) >= 0.95, "{e:?}");
}

#[test]
fn three_spiral_arms_reach_90_percent_under_a_cosine_schedule() {
    let e = train_preset("spiral-3-arms");
    assert!(accuracy(&e) >= 0.90, "{e:?}");
}

#[test]
fn dropout_closes_most_of_lesson_5s_overfitting_gap() {
    let overfit = Presets::built_in()
        .find("lesson-5-overfitting")
        .unwrap()
        .load()
        .unwrap();
    let with_dropout = Presets::built_in().find("dropout").unwrap().load().unwrap();
    assert_eq!(
        with_dropout.data, overfit.data,
        "the same forty noisy points"
    );
    for seed in [8, 9] {
        let mut plain = overfit.clone();
        plain.seed = seed;
        plain.lesson = Default::default();
        let mut dropped = plain.clone();
        dropped.model.dropout = 0.5;
        let (a, b) = (train(&plain, "plain"), train(&dropped, "dropout"));
        let (a_test, b_test) = (a.test_loss.unwrap(), b.test_loss.unwrap());
        // Without dropout the forty points are memorised; with it, not.
        assert!(a.train_loss.unwrap() < 0.01, "seed {seed}: {a:?}");
        assert!(b.train_loss.unwrap() > 0.02, "seed {seed}: {b:?}");
        assert!(
            b_test < 0.75 * a_test,
            "seed {seed}: test loss {b_test} with dropout, {a_test} without"
        );
    }
    let e = train(&with_dropout, "dropout");
    assert!(e.test_loss.unwrap() < 1.0, "{e:?}");
}

#[test]
fn circles_vs_squares_reaches_95_percent() {
    let e = train_preset("circles-vs-squares");
    assert!(accuracy(&e) >= 0.95, "{e:?}");
}

#[test]
fn digits8x8_reaches_93_percent() {
    let e = train_preset("digits8x8");
    assert!(accuracy(&e) >= 0.93, "{e:?}");
}

#[test]
fn mnist_subset_reaches_92_percent() {
    let e = train_preset("mnist");
    assert!(accuracy(&e) >= 0.92, "{e:?}");
}

#[test]
fn sine_fits_below_1e3_on_the_training_range() {
    let e = train_preset("sine-1d");
    let train_loss = e.train_loss.expect("evaluated");
    assert!(train_loss < 1e-3, "{e:?}");
    // Outside the training range the fit is much worse: extrapolation is measured.
    let g = e.generalization_error.expect("regression");
    assert!(g > 10.0 * train_loss, "{e:?}");
}

/// Every `sharpness_ratio` of a run (λ_max over 2/η), in step order, and its
/// training losses.
fn sharpness_run(name: &str) -> (Vec<f32>, Vec<f32>) {
    let scene = Presets::built_in().find(name).unwrap().load().unwrap();
    let mut session = Session::<CpuBackend>::start(&scene, &Default::default(), None).unwrap();
    let (mut ratios, mut losses) = (Vec::new(), Vec::new());
    for _ in 0..scene.train.steps {
        let advance = session.advance(false).unwrap();
        assert!(advance.diverged.is_none(), "{name} diverged");
        if let Some(e) = advance.evaluation {
            ratios.push(e.sharpness_ratio.expect("sharpness measured"));
            losses.push(e.train_loss.unwrap());
            assert!(e.update_projection.is_some(), "every update is projected");
        }
    }
    (ratios, losses)
}

fn median(v: &[f32]) -> f32 {
    let mut s = v.to_vec();
    s.sort_by(f32::total_cmp);
    s[s.len() / 2]
}

#[test]
fn edge_of_stability_rises_to_two_over_eta_and_hovers_there() {
    let (ratios, losses) = sharpness_run("edge-of-stability");
    assert!(
        ratios[0] < 0.5,
        "it starts well below the edge: {}",
        ratios[0]
    );
    let second_half = &ratios[ratios.len() / 2..];
    let m = median(second_half);
    eprintln!("edge-of-stability: median λ_max/(2/η) over the second half {m:.4}");
    assert!((0.95..=1.05).contains(&m), "median ratio {m}");
    assert!(
        second_half.iter().all(|r| (0.9..=1.15).contains(r)),
        "it hovers at the edge: {second_half:?}"
    );
    // The loss keeps falling overall, but not monotonically.
    let rises = losses.windows(2).filter(|w| w[1] > w[0]).count();
    assert!(rises > 10, "{rises} rises of the loss");
    assert!(losses[losses.len() - 1] < 0.5 * losses[losses.len() / 2]);
}

#[test]
fn below_the_edge_stays_below_and_the_loss_falls_every_time() {
    let (ratios, losses) = sharpness_run("below-the-edge");
    let m = median(&ratios[ratios.len() / 2..]);
    eprintln!("below-the-edge: median λ_max/(2/η) over the second half {m:.4}");
    assert!(ratios.iter().all(|r| *r < 1.0), "{ratios:?}");
    assert!(
        ratios[ratios.len() - 1] > 2.0 * ratios[0],
        "it sharpens too"
    );
    assert!(
        losses.windows(2).all(|w| w[1] <= w[0]),
        "the loss falls monotonically"
    );
}

/// The largest error against the exact solution at the end of a PINN run.
fn pinn_error(scene: &nn_microscope::lab::Scene) -> f32 {
    let mut session = Session::<CpuBackend>::start(scene, &Default::default(), None).unwrap();
    for _ in 0..scene.train.steps {
        session.advance(false).unwrap();
    }
    session.finish().unwrap().solution_error.expect("a PDE")
}

#[test]
fn pinn_presets_solve_their_equations_within_a_hundredth() {
    for name in ["pinn-poisson-1d", "pinn-laplace-2d"] {
        let scene = Presets::built_in().find(name).unwrap().load().unwrap();
        let error = pinn_error(&scene);
        eprintln!("{name}: largest error against the exact solution {error:.5}");
        assert!(error <= 1e-2, "{name}: {error}");
    }
}

#[test]
fn a_pinn_solves_an_initial_value_problem() {
    let scene = nn_microscope::lab::Scene::parse(
        "Scene(name: \"decay\", seed: 1,
               data: Pde1d(equation: Decay(rate: 1.5, initial: 2.0), collocation: 64, domain: (0.0, 2.0), boundary_weight: 10.0),
               model: (hidden: [16, 16], activation: Tanh),
               train: (optimizer: Adam, learning_rate: 0.005, batch_size: 128, steps: 3000, eval_every: 100))",
        std::path::Path::new("decay.ron"),
    )
    .unwrap();
    let error = pinn_error(&scene);
    eprintln!("decay u' = -1.5 u, u(0) = 2: largest error {error:.5}");
    assert!(error <= 1e-2, "{error}");
}
