//! Training speed and frame-extraction cost for the circles-vs-squares and MNIST nets.
//!
//! `cargo bench --bench lab`. A step with a frame minus a step without one is the
//! cost of extracting the frame.

use criterion::{Criterion, criterion_group, criterion_main};
use nn_microscope::lab::{Scene, Trainer};

use nn_microscope::lab::CpuBackend as Backend;
use nn_microscope::lab::presets::Presets;

fn preset(name: &str) -> Scene {
    Presets::built_in()
        .find(name)
        .and_then(|p| p.load())
        .expect("preset loads")
}

fn bench_net(c: &mut Criterion, name: &str, label: &str) {
    let scene = preset(name);
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

fn benches(c: &mut Criterion) {
    bench_net(c, "circles-vs-squares", "64-16-2");
    bench_net(c, "mnist", "784-128-64-10");
}

criterion_group!(lab, benches);
criterion_main!(lab);
