//! Training speed and frame-extraction cost for the circles-vs-squares and MNIST
//! nets, and the cost of measuring the sharpness.
//!
//! `cargo bench --bench lab`. A step with a frame minus a step without one is the
//! cost of extracting the frame. A sharpness measurement is timed cold (from a
//! random vector) and warm (from the previous top eigenvector, as training
//! measures it), and 100 steps of training with and without a measurement
//! every 10 steps give the slowdown.
#![allow(
    missing_docs,
    reason = "criterion_group! defines an undocumented function"
)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test that cannot unwrap has failed, and says where"
)]

use criterion::{Criterion, criterion_group, criterion_main};
use nn_microscope::lab::runner::Session;
use nn_microscope::lab::{Scene, Trainer};

use nn_microscope::lab::CpuBackend as Backend;
use nn_microscope::lab::scene::Presets;

fn preset(name: &str) -> Scene {
    Presets::built_in()
        .find(name)
        .and_then(|p| p.load())
        .expect("preset loads")
}

/// Steps of the preset's net with plain SGD, as `../shared/peers/jax_step.py`
/// trains it (cross-entropy, the preset's batch size): the figure to set beside
/// the peer's steps per second.
fn bench_net(c: &mut Criterion, name: &str, label: &str) {
    let mut scene = preset(name);
    scene.train.optimizer = nn_microscope::lab::scene::OptimizerKind::Sgd;
    scene.train.learning_rate = 0.01;
    let mut trainer = Trainer::<Backend>::new(&scene, &Default::default()).expect("trainer");
    let mut group = c.benchmark_group(format!("train_step/{label}"));
    group.bench_function("no_frame", |b| {
        b.iter(|| trainer.step(false).expect("a step"))
    });
    group.bench_function("with_frame", |b| {
        b.iter(|| trainer.step(true).expect("a step"))
    });
    group.finish();
}

fn bench_sharpness(c: &mut Criterion, scene: &Scene, label: &str) {
    let mut trainer = Trainer::<Backend>::new(scene, &Default::default()).expect("trainer");
    for _ in 0..50 {
        trainer.step(false).expect("a step");
    }
    let previous = trainer.sharpness(1, None).expect("sharpness");
    let mut group = c.benchmark_group(format!("sharpness/{label}"));
    group.sample_size(10);
    group.bench_function("cold", |b| {
        b.iter(|| trainer.sharpness(1, None).expect("sharpness"))
    });
    group.bench_function("warm", |b| {
        b.iter(|| {
            trainer
                .sharpness(1, Some(&previous.eigenvector))
                .expect("sharpness")
        })
    });
    group.finish();
}

fn bench_slowdown(c: &mut Criterion, scene: &Scene, label: &str) {
    let mut group = c.benchmark_group(format!("train_100_steps/{label}"));
    group.sample_size(10);
    for (name, every) in [("no_sharpness", None), ("sharpness_every_10", Some(10))] {
        let mut s = scene.clone();
        s.measure.sharpness_every = every;
        s.train.eval_every = 10;
        s.train.steps = u64::MAX / 2;
        let mut session =
            Session::<Backend>::start(&s, &Default::default(), None).expect("session");
        group.bench_function(name, |b| {
            b.iter(|| {
                for _ in 0..100 {
                    session.advance(false).expect("a step");
                }
            })
        });
    }
    group.finish();
}

fn benches(c: &mut Criterion) {
    bench_net(c, "circles-vs-squares", "64-16-2");
    bench_net(c, "mnist", "784-128-64-10");
    let eos = preset("edge-of-stability");
    bench_sharpness(c, &eos, "edge-of-stability");
    bench_slowdown(c, &eos, "edge-of-stability");
    let mut mnist = preset("mnist");
    mnist.measure.sharpness_samples = Some(1000);
    bench_sharpness(c, &mnist, "mnist-1000");
}

criterion_group!(lab, benches);
criterion_main!(lab);
