//! Training speed and frame-extraction cost for the circles-vs-squares and MNIST nets.
//!
//! `cargo bench --bench lab`. A step with a frame minus a step without one is the
//! cost of extracting the frame.

use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use nn_microscope::lab::{Scene, Trainer};

type Backend = burn::backend::Autodiff<burn::backend::Flex>;

fn preset(name: &str) -> Scene {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("scenes/{name}.ron"));
    Scene::load(path).expect("preset loads")
}

fn bench_net(c: &mut Criterion, name: &str, label: &str) {
    let scene = preset(name);
    let mut trainer = Trainer::<Backend>::new(&scene, &Default::default()).expect("trainer");
    let mut group = c.benchmark_group(format!("train_step/{label}"));
    group.bench_function("no_frame", |b| b.iter(|| trainer.step(false)));
    group.bench_function("with_frame", |b| b.iter(|| trainer.step(true)));
    group.finish();
}

fn benches(c: &mut Criterion) {
    bench_net(c, "circles-vs-squares", "64-16-2");
    bench_net(c, "mnist", "784-128-64-10");
}

criterion_group!(lab, benches);
criterion_main!(lab);
