//! The presets reach their accuracy targets on the CPU backend.

use nn_microscope::lab::presets::Presets;
use nn_microscope::lab::runner::Session;
use nn_microscope::lab::{CpuBackend, Metrics};

fn train_preset(name: &str) -> Metrics {
    let preset = Presets::built_in().find(name).unwrap();
    let scene = preset.load().unwrap_or_else(|e| panic!("{e}"));
    let mut session = Session::<CpuBackend>::start(&scene, &Default::default(), None).unwrap();
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
