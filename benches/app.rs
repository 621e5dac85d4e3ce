//! The app's per-frame cost of ingesting a frame and mapping it to what is drawn
//! (bridge, components, glow, lines, particles), without a renderer.
//!
//! `cargo bench --bench app`. Frames come from the real presets' trainers.
#![allow(
    missing_docs,
    reason = "criterion_group! defines an undocumented function"
)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test that cannot unwrap has failed, and says where"
)]

use bevy::prelude::*;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use nn_microscope::lab::runner::RunInfo;
use nn_microscope::lab::{Trainer, TrainerEvent, TrainerHandle};

use nn_microscope::lab::CpuBackend as Backend;
use nn_microscope::lab::scene::Presets;

fn bench_net(c: &mut Criterion, preset: &str, label: &str) {
    let scene = Presets::built_in()
        .find(preset)
        .and_then(|p| p.load())
        .expect("preset loads");
    let mut trainer = Trainer::<Backend>::new(&scene, &Default::default()).expect("trainer");
    let frames: Vec<_> = (0..2)
        .map(|_| {
            trainer.step(false).expect("a step");
            trainer.peek().expect("a frame").expect("not diverged")
        })
        .collect();
    let (handle, events, _commands) = TrainerHandle::detached(8);
    let mut app = nn_microscope::app::data_app(handle);
    events
        .send(TrainerEvent::Started(Box::new(RunInfo {
            topology: trainer.topology(),
            scene: trainer.scene().clone(),
            data: Some(trainer.data().clone()),
            run_dir: None,
            driver: Default::default(),
        })))
        .expect("channel open");
    app.update();
    app.update();
    let mut i = 0usize;
    c.bench_function(&format!("ingest_and_map/{label}"), |b| {
        b.iter_batched(
            || {
                i += 1;
                Box::new(frames[i % 2].clone())
            },
            |frame| {
                events
                    .send(TrainerEvent::Frame(frame))
                    .expect("channel open");
                app.update();
            },
            BatchSize::SmallInput,
        )
    });
}

fn benches(c: &mut Criterion) {
    bench_net(c, "circles-vs-squares", "64-16-2");
    bench_net(c, "mnist", "784-128-64-10");
}

criterion_group! {
    name = app;
    config = Criterion::default().sample_size(30);
    targets = benches
}
criterion_main!(app);
