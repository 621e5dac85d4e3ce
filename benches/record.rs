//! Recording costs: bytes per step, time to encode a frame, and seek time to a
//! random step of a 100,000-step MNIST recording.
//!
//! `cargo bench --bench record`. The long recording (about 16 GB) is built once
//! under `target/bench-recording` (or `NNM_BENCH_DIR`) and reused; set
//! `NNM_BENCH_STEPS` for a shorter one.
#![allow(
    missing_docs,
    reason = "criterion_group! defines an undocumented function"
)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test that cannot unwrap has failed, and says where"
)]

use std::path::{Path, PathBuf};

use criterion::{Criterion, criterion_group, criterion_main};
use nn_microscope::lab::record::codec::Chain;
use nn_microscope::lab::record::{
    FORMAT_VERSION, FrameReader, FrameWriter, RecordingHeader, index_path,
};
use nn_microscope::lab::runner::Session;
use nn_microscope::lab::{Frame, Scene, Trainer};
use rand::{RngExt, SeedableRng};

use nn_microscope::lab::CpuBackend as Backend;
use nn_microscope::lab::scene::Presets;

fn preset(name: &str) -> Scene {
    Presets::built_in()
        .find(name)
        .and_then(|p| p.load())
        .expect("preset")
}

/// Trains `steps` real steps of `name`, not recording and then recording every
/// step, and reports both rates and the bytes per step.
fn bytes_per_step(name: &str, steps: u64) {
    let root = tempfile::Builder::new()
        .prefix(&format!("nnm-bench-bytes-{name}-"))
        .tempdir()
        .expect("a scratch folder");
    let scene = preset(name);
    let time = |root: Option<&Path>| {
        let mut session =
            Session::<Backend>::start(&scene, &Default::default(), root).expect("session");
        let start = std::time::Instant::now();
        for _ in 0..steps {
            session.advance(false).expect("step");
        }
        // Every record written and flushed, as `nnm train` ends.
        session.settle().expect("recorded");
        let elapsed = start.elapsed().as_secs_f64();
        (elapsed, session.run_dir().map(Path::to_path_buf))
    };
    let (plain_s, _) = time(None);
    let (recording_s, dir) = time(Some(root.path()));
    let dir = dir.expect("recorded");
    let frames = std::fs::metadata(dir.join("frames.nnmr")).map_or(0, |m| m.len());
    let index = std::fs::metadata(dir.join("frames.idx")).map_or(0, |m| m.len());
    let parameters = scene_parameters(&scene);
    println!(
        "record/{name}: {steps} steps, {:.0} bytes per step ({:.0} recording + {:.0} index, {:.2} bytes per parameter); \
         {:.0} steps/s recording every step, {:.0} steps/s not recording ({:.2}x)",
        (frames + index) as f64 / steps as f64,
        frames as f64 / steps as f64,
        index as f64 / steps as f64,
        (frames + index) as f64 / steps as f64 / parameters as f64,
        steps as f64 / recording_s,
        steps as f64 / plain_s,
        plain_s / recording_s,
    );
}

/// Weights and biases of the scene's network.
fn scene_parameters(scene: &Scene) -> u64 {
    let trainer = Trainer::<Backend>::new(scene, &Default::default()).expect("trainer");
    trainer.topology().network.parameter_count() as u64
}

/// A long MNIST-shaped recording: a real frame, drifting a little each step.
fn long_recording(steps: u64) -> PathBuf {
    let dir = std::env::var_os("NNM_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-recording"));
    let path = dir.join(format!("mnist-{steps}-v{FORMAT_VERSION}.nnmr"));
    if let Ok(r) = FrameReader::open(&path)
        && r.len() as u64 == steps
    {
        return path;
    }
    std::fs::create_dir_all(&dir).expect("bench dir");
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_file(index_path(&path));
    let scene = preset("mnist");
    let mut trainer = Trainer::<Backend>::new(&scene, &Default::default()).expect("trainer");
    let mut frame: Frame = trainer.peek().expect("frame").expect("not diverged");
    let header = RecordingHeader {
        scene: "mnist".into(),
        topology: trainer.topology(),
        keyframe_every: scene.record.keyframe_every,
    };
    let mut w = FrameWriter::create(&path, &header).expect("writer");
    let mut r = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(1);
    eprintln!(
        "building a {steps}-step MNIST recording at {} (once)...",
        path.display()
    );
    for step in 0..steps {
        frame.step = step;
        for layer in &mut frame.layers {
            for (w, g) in layer.weights.iter_mut().zip(&mut layer.weight_grads) {
                *g = r.random_range(-1e-2f32..1e-2);
                *w -= 1e-3 * *g;
            }
        }
        frame.metrics.batch_loss = Some(1.0 / (1.0 + step as f32 * 1e-3));
        w.append(&frame).expect("append");
    }
    path
}

fn benches(c: &mut Criterion) {
    bytes_per_step("circles-vs-squares", 1500);
    bytes_per_step("mnist", 300);

    // Encoding cost of one MNIST frame, keyframe and delta.
    let scene = preset("mnist");
    let mut trainer = Trainer::<Backend>::new(&scene, &Default::default()).expect("trainer");
    let frame = trainer.peek().expect("frame").expect("not diverged");
    let next = match trainer.step(true).expect("step") {
        nn_microscope::lab::StepOutcome::Stepped { frame: Some(f), .. } => *f,
        _ => panic!("no frame"),
    };
    let next = match trainer.step(true).expect("step") {
        nn_microscope::lab::StepOutcome::Stepped { frame: Some(f), .. } => *f,
        _ => next,
    };
    let mut buf = Vec::new();
    c.bench_function("encode/784-128-64-10/keyframe", |b| {
        b.iter(|| {
            buf.clear();
            nn_microscope::lab::record::codec::encode(&frame, None, &mut buf);
        })
    });
    // A delta one update after its keyframe; copying the chain is not timed.
    let chain = Chain::start(&frame);
    c.bench_function("encode/784-128-64-10/delta", |b| {
        b.iter_batched(
            || chain.clone(),
            |mut chain| {
                buf.clear();
                nn_microscope::lab::record::codec::encode(&next, Some(&mut chain), &mut buf);
            },
            criterion::BatchSize::LargeInput,
        )
    });

    let steps: u64 = std::env::var("NNM_BENCH_STEPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    let path = long_recording(steps);
    let open = std::time::Instant::now();
    let mut reader = FrameReader::open(&path).expect("open");
    println!(
        "record/open: {} frames, {:.1} GB, opened in {:.1} ms",
        reader.len(),
        reader.bytes() as f64 / 1e9,
        open.elapsed().as_secs_f64() * 1e3
    );
    let mut r = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(7);
    c.bench_function(&format!("seek/784-128-64-10/random_step_of_{steps}"), |b| {
        b.iter(|| {
            let step = r.random_range(0..steps);
            reader.read_step(step).expect("frame")
        })
    });
    println!(
        "record/peak_rss: {:.0} MiB after seeking",
        nn_microscope::lab::peak_rss_mib()
    );
}

criterion_group! {
    name = record;
    config = Criterion::default().sample_size(30);
    targets = benches
}
criterion_main!(record);
