use std::path::Path;
use std::time::Duration;

use super::*;
use crate::lab::CpuBackend;
use crate::lab::data::DataSpec;
use crate::lab::frame::Frame;
use crate::lab::scene::{OptimizerKind, Scene};

fn scene(steps: u64) -> Scene {
    let mut s = Scene::parse(
        "Scene(name: \"r\", data: Xor(samples: 60), model: (hidden: [4]), train: (eval_every: 5))",
        Path::new("r.ron"),
    )
    .unwrap();
    s.train.steps = steps;
    s
}

fn spawn(scene: Scene, paused: bool) -> TrainerHandle {
    spawn_with(scene, paused, Speed::Max)
}

fn spawn_with(scene: Scene, paused: bool, speed: Speed) -> TrainerHandle {
    TrainerHandle::spawn::<CpuBackend>(
        scene,
        Default::default(),
        RunnerOptions {
            runs_root: None,
            start_paused: paused,
            frame_interval: Duration::ZERO,
            speed,
            ..Default::default()
        },
    )
    .unwrap()
}

/// Pauses the trainer and returns the step it stands at: the trainer answers a
/// pause with the exact frame of where it stopped, after everything it sent
/// before, so no sleeping is needed to know that nothing else moved.
fn pause_and_read_step(h: &TrainerHandle) -> u64 {
    h.send(TrainerCommand::Pause);
    let mut last = None;
    wait_for(h, |e| match e {
        TrainerEvent::Frame(f) => {
            last = Some(f.step);
            None
        }
        TrainerEvent::Running(false) => Some(()),
        _ => None,
    });
    last.expect("a paused trainer shows where it stopped")
}

/// Waits for the first event that `pick` accepts, failing after a few seconds.
fn wait_for<T>(h: &TrainerHandle, mut pick: impl FnMut(TrainerEvent) -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let event = h.next_event(left).expect("the trainer answers in time");
        if let Some(t) = pick(event) {
            return t;
        }
    }
}

fn frame_of(e: TrainerEvent) -> Option<Box<Frame>> {
    match e {
        TrainerEvent::Frame(f) => Some(f),
        _ => None,
    }
}

#[test]
fn starts_paused_and_steps_on_command() {
    let h = spawn(scene(100), true);
    let topology = wait_for(&h, |e| match e {
        TrainerEvent::Started(info) => Some(info.topology),
        _ => None,
    });
    assert_eq!(topology.network.sizes, vec![2, 4, 2]);
    // A paused trainer shows its untrained state first, without stepping.
    let shown = wait_for(&h, frame_of);
    assert_eq!(shown.step, 0);
    assert_eq!(shown.evaluation.map(|e| e.step), Some(0));
    h.send(TrainerCommand::Step(3));
    let steps: Vec<u64> = (0..3).map(|_| wait_for(&h, frame_of).step).collect();
    assert_eq!(steps, vec![0, 1, 2]);
    wait_for(&h, |e| {
        matches!(e, TrainerEvent::Running(false)).then_some(())
    });
    // Paused after three steps, it stands at step 3 and nothing moved since.
    assert_eq!(pause_and_read_step(&h), 3);
}

#[test]
fn settings_reach_the_trainer() {
    let h = spawn(scene(100), true);
    wait_for(&h, frame_of);
    h.send(TrainerCommand::SetLearningRate(0.25));
    h.send(TrainerCommand::SetBatchSize(7));
    h.send(TrainerCommand::Step(1));
    let f = wait_for(&h, frame_of);
    assert_eq!(f.metrics.learning_rate, Some(0.25));
    assert_eq!(f.metrics.batch_size, Some(7.0));
    // An invalid setting is refused with a message, and training goes on.
    h.send(TrainerCommand::SetBatchSize(0));
    let msg = wait_for(&h, |e| match e {
        TrainerEvent::Error(m) => Some(m),
        _ => None,
    });
    assert!(msg.contains("train.batch_size"), "{msg}");
    h.send(TrainerCommand::Step(1));
    assert_eq!(wait_for(&h, frame_of).metrics.batch_size, Some(7.0));
    // The app hears of each edit's settings (for its marks and Save as scene).
    h.send(TrainerCommand::SetDropout(0.2));
    let settings = wait_for(&h, |e| match e {
        TrainerEvent::Settings(s) => Some(s),
        _ => None,
    });
    assert_eq!(
        (settings.model.dropout, settings.train.learning_rate),
        (0.2, 0.25)
    );
}

#[test]
fn reseed_and_architecture_changes_restart_the_run() {
    let h = spawn(scene(100), true);
    wait_for(&h, |e| matches!(e, TrainerEvent::Started(_)).then_some(()));
    h.send(TrainerCommand::Step(2));
    let first = wait_for(&h, frame_of);
    h.send(TrainerCommand::Reseed(77));
    let seed = wait_for(&h, |e| match e {
        TrainerEvent::Started(info) => Some(info.scene.seed),
        _ => None,
    });
    assert_eq!(seed, 77);
    let after = wait_for(&h, frame_of);
    assert_eq!(after.step, 0, "a new seed starts from step 0");
    assert_ne!(after.layers[0].weights, first.layers[0].weights);
    use crate::lab::model::Activation;
    h.send(TrainerCommand::SetLayers {
        hidden: vec![3, 5],
        activations: vec![Activation::Relu, Activation::Sigmoid],
    });
    let (topology, model) = wait_for(&h, |e| match e {
        TrainerEvent::Started(info) => Some((info.topology, info.scene.model)),
        _ => None,
    });
    assert_eq!(topology.network.sizes, vec![2, 3, 5, 2]);
    assert_eq!(
        topology.network.activations,
        vec![Activation::Relu, Activation::Sigmoid]
    );
    assert_eq!(
        model.activations,
        Some(vec![Activation::Relu, Activation::Sigmoid])
    );
    // One activation for every layer is written as `activation`.
    h.send(TrainerCommand::SetActivation(Activation::Gelu));
    let model = wait_for(&h, |e| match e {
        TrainerEvent::Started(info) => Some(info.scene.model),
        _ => None,
    });
    assert_eq!(
        (model.activation, model.activations),
        (Activation::Gelu, None)
    );
    assert_eq!(model.hidden, vec![3, 5]);
}

#[test]
fn running_to_the_end_reports_finished() {
    let h = spawn(scene(12), false);
    let step = wait_for(&h, |e| match e {
        TrainerEvent::Finished { step } => Some(step),
        _ => None,
    });
    assert_eq!(step, 12);
}

#[test]
fn divergence_is_reported_not_a_crash() {
    let mut s = scene(500);
    s.data = DataSpec::Function1d(Default::default());
    s.model.output = None;
    s.train.loss = None;
    s.train.learning_rate = 1e6;
    s.train.optimizer = OptimizerKind::Sgd;
    let h = spawn(s, false);
    let (step, loss) = wait_for(&h, |e| match e {
        TrainerEvent::Diverged { step, loss } => Some((step, loss)),
        _ => None,
    });
    assert!(step < 500);
    assert!(!loss.is_finite());
}

#[test]
fn layers_csv_holds_every_recorded_frames_stats_and_a_replay_sends_them() {
    let root = crate::scratch::Scratch::new("layers");
    let mut sc = scene(6);
    sc.model.hidden = vec![6, 5];
    sc.model.activation = crate::lab::model::Activation::Relu;
    let mut s = Session::<CpuBackend>::start(&sc, &Default::default(), Some(root.path())).unwrap();
    for _ in 0..6 {
        s.advance(false).unwrap();
    }
    s.finish().unwrap();
    let dir = s.run_dir().unwrap().to_path_buf();
    let text = std::fs::read_to_string(dir.join("layers.csv")).unwrap();
    assert!(
        text.starts_with("step,layer,weight_norm,grad_norm,update_norm,update_ratio,activation_mean,activation_std,dead_fraction\n0,0,"),
        "{text}"
    );
    let rows = crate::lab::record::read_layers(&dir.join("layers.csv"), 3).unwrap();
    assert_eq!(
        rows.len(),
        7,
        "one group per recorded step, the final state's last"
    );
    let mut reader = crate::lab::record::FrameReader::open(&dir.join("frames.nnmr")).unwrap();
    for (i, (step, stats)) in rows.iter().enumerate() {
        let frame = reader.read(i).unwrap();
        assert_eq!(frame.step, *step);
        // The CSV's shortest exact text reads back as the recorded f32s.
        assert_eq!(
            format!("{:?}", frame.stats),
            format!("{stats:?}"),
            "step {step}"
        );
        // The final state has its gradient, but no update was applied from it.
        let trained = *step < 6;
        assert!(
            stats
                .iter()
                .all(|l| (l.update_norm > 0.0) == trained && l.grad_norm > 0.0),
            "step {step}"
        );
        assert!(stats[0].dead_fraction.is_finite() && stats[2].dead_fraction.is_nan());
    }
    // A replay sends them, in step order, as Layers events.
    let h = crate::lab::runner::replay::spawn_replay(&dir).unwrap();
    let mut steps = Vec::new();
    while steps.len() < 7 {
        match h.events().recv_timeout(Duration::from_secs(10)) {
            Ok(TrainerEvent::Layers(step, stats)) => {
                assert_eq!(stats.len(), 3);
                steps.push(step);
            }
            Ok(_) => {}
            Err(e) => panic!("replay sent {steps:?}, then: {e}"),
        }
    }
    assert_eq!(steps, vec![0, 1, 2, 3, 4, 5, 6]);
    drop(h);
}

#[test]
fn the_app_saves_a_checkpoint_on_command_and_training_goes_past_its_steps() {
    let root = crate::scratch::Scratch::new("save");
    let h = TrainerHandle::spawn::<CpuBackend>(
        scene(6),
        Default::default(),
        RunnerOptions {
            runs_root: Some(root.to_path_buf()),
            start_paused: true,
            frame_interval: Duration::ZERO,
            ..Default::default()
        },
    )
    .unwrap();
    h.send(TrainerCommand::Step(4));
    wait_for(&h, |e| frame_of(e).filter(|f| f.step == 3).map(|_| ()));
    wait_for(&h, |e| {
        matches!(e, TrainerEvent::Running(false)).then_some(())
    });
    h.send(TrainerCommand::SaveCheckpoint);
    let notice = wait_for(&h, |e| match e {
        TrainerEvent::Notice(n) => Some(n),
        TrainerEvent::Error(e) => panic!("{e}"),
        _ => None,
    });
    assert!(
        notice.starts_with("checkpoint of step 4 saved in "),
        "{notice}"
    );
    let dir = root.join("r_001/checkpoints/step_4");
    assert!(dir.join("model.mpk").is_file() && dir.join("state.ron").is_file());
    // Past the scene's 6 steps, Play goes on.
    h.send(TrainerCommand::Resume);
    wait_for(&h, |e| {
        matches!(e, TrainerEvent::Finished { step: 6 }).then_some(())
    });
    h.send(TrainerCommand::Resume);
    wait_for(&h, |e| frame_of(e).filter(|f| f.step >= 9).map(|_| ()));
    drop(h);
}

#[test]
fn live_edits_are_logged_and_rerunning_the_run_directory_repeats_its_metrics_byte_for_byte() {
    let root = crate::scratch::Scratch::new("edits-run");
    let mut sc = scene(30);
    sc.train.batch_size = 8;
    let h = TrainerHandle::spawn::<CpuBackend>(
        sc,
        Default::default(),
        RunnerOptions {
            runs_root: Some(root.join("app")),
            start_paused: true,
            frame_interval: Duration::ZERO,
            ..Default::default()
        },
    )
    .unwrap();
    // Steps the paused trainer `n` times and waits until it stands at `to`.
    let step_to = |n: u32, to: u64| {
        h.send(TrainerCommand::Step(n));
        wait_for(&h, |e| frame_of(e).filter(|f| f.step + 1 == to).map(|_| ()));
        wait_for(&h, |e| {
            matches!(e, TrainerEvent::Running(false)).then_some(())
        });
    };
    step_to(7, 7);
    h.send(TrainerCommand::SetLearningRate(0.03));
    step_to(6, 13);
    h.send(TrainerCommand::SetBatchSize(5));
    // A refused edit changes nothing and is not logged.
    h.send(TrainerCommand::SetLearningRate(-1.0));
    step_to(5, 18);
    h.send(TrainerCommand::SetOptimizer(OptimizerKind::Momentum));
    step_to(4, 22);
    h.send(TrainerCommand::SetDropout(0.3));
    h.send(TrainerCommand::Resume);
    wait_for(&h, |e| {
        matches!(e, TrainerEvent::Finished { step: 30 }).then_some(())
    });
    drop(h);
    let dir = root.join("app/r_001");
    let edits = crate::lab::record::read_edits(&dir.join("edits.csv")).unwrap();
    use crate::lab::record::Edit;
    assert_eq!(
        edits,
        vec![
            (7, Edit::LearningRate(0.03)),
            (13, Edit::BatchSize(5)),
            (18, Edit::Optimizer(OptimizerKind::Momentum)),
            (22, Edit::Dropout(0.3)),
        ]
    );
    let mut s =
        Session::<CpuBackend>::rerun(&dir, &Default::default(), Some(&root.join("again")), None)
            .unwrap();
    while s.trainer().step_count() < 30 {
        s.advance(false).unwrap();
    }
    s.finish().unwrap();
    let again = s.run_dir().unwrap().to_path_buf();
    drop(s);
    let read = |d: &std::path::Path, f: &str| std::fs::read_to_string(d.join(f)).unwrap();
    assert_eq!(read(&dir, "metrics.csv"), read(&again, "metrics.csv"));
    assert_eq!(read(&dir, "scene.ron"), read(&again, "scene.ron"));
    // Without its edits, the run would have gone otherwise.
    let (_plain_root, plain) =
        whole_run(&Scene::load(dir.join("scene.ron")).unwrap(), "edits-plain");
    assert_ne!(read(&dir, "metrics.csv"), read(&plain, "metrics.csv"));
    // Extended by resuming, the run's scene.ron keeps the settings it
    // started with (the edits stay in edits.csv) and takes the new end.
    let started = Scene::load(dir.join("scene.ron")).unwrap();
    let mut s = Session::<CpuBackend>::resume(&dir, &Default::default(), Some(34)).unwrap();
    assert_eq!(
        s.trainer().scene().train.learning_rate,
        0.03,
        "edits in force"
    );
    while s.trainer().step_count() < 34 {
        s.advance(false).unwrap();
    }
    s.finish().unwrap();
    drop(s);
    let extended = Scene::load(dir.join("scene.ron")).unwrap();
    assert_eq!(extended.train.steps, 34);
    assert_eq!(extended.train.learning_rate, started.train.learning_rate);
    assert_eq!(extended.train.batch_size, 8);
    assert_eq!(
        crate::lab::record::read_edits(&dir.join("edits.csv")).unwrap(),
        edits,
        "the edits are kept"
    );
}

/// Trains `scene` to its end in a fresh root, returning the run directory.
fn whole_run(scene: &Scene, tag: &str) -> (crate::scratch::Scratch, std::path::PathBuf) {
    let root = crate::scratch::Scratch::new(tag);
    let mut s =
        Session::<CpuBackend>::start(scene, &Default::default(), Some(root.path())).unwrap();
    while s.trainer().step_count() < scene.train.steps {
        s.advance(false).unwrap();
    }
    s.finish().unwrap();
    let dir = s.run_dir().unwrap().to_path_buf();
    (root, dir)
}

#[test]
fn the_final_state_is_recorded_exactly_whatever_the_stride() {
    for frame_every in [1, 7] {
        let mut sc = scene(30);
        sc.record.frame_every = frame_every;
        let root = crate::scratch::Scratch::new(&format!("final-frame-{frame_every}"));
        let mut s =
            Session::<CpuBackend>::start(&sc, &Default::default(), Some(root.path())).unwrap();
        while s.trainer().step_count() < 30 {
            s.advance(false).unwrap();
        }
        let last = s.finish().unwrap();
        let weights = s.trainer().parameters().unwrap();
        // Finishing again (the app's view of a finished run) records nothing more.
        s.finish().unwrap();
        let dir = s.run_dir().unwrap().to_path_buf();
        drop(s);
        let mut r =
            crate::lab::record::FrameReader::open(&dir.join(crate::lab::record::FRAMES_FILE))
                .unwrap();
        let steps: Vec<u64> = r.index().iter().map(|e| e.step).collect();
        let expected: Vec<u64> = (0..30)
            .filter(|s| s % frame_every == 0)
            .chain([30])
            .collect();
        assert_eq!(steps, expected, "every {frame_every}");
        assert!(r.index().last().unwrap().key, "the final frame is exact");
        let frame = r.read_step(30).unwrap();
        let recorded: Vec<f32> = frame
            .layers
            .iter()
            .flat_map(|l| l.weights.iter().chain(&l.biases).copied())
            .collect();
        assert_eq!(recorded, weights, "the final weights, bit for bit");
        assert_eq!(frame.evaluation.map(|e| e.step), Some(30));
        assert_eq!(frame.evaluation, Some(last));
    }
}

#[test]
fn resumed_runs_write_the_metrics_of_uninterrupted_ones_byte_for_byte() {
    let mut adam = scene(40);
    adam.train.batch_size = 8;
    adam.record.checkpoint_every = Some(10);
    let mut sharp = adam.clone();
    sharp.train.optimizer = OptimizerKind::Momentum;
    sharp.train.learning_rate = 0.05;
    sharp.measure.sharpness_every = Some(10);
    // Dropout's masks follow the step, so a resumed run draws the same ones.
    let mut dropout = adam.clone();
    dropout.model.hidden = vec![6, 5];
    dropout.model.dropout = 0.3;
    for (tag, sc) in [("adam", adam), ("sharp", sharp), ("dropout", dropout)] {
        let (_whole_root, whole) = whole_run(&sc, &format!("resume-whole-{tag}"));
        let read =
            |dir: &std::path::Path, file: &str| std::fs::read_to_string(dir.join(file)).unwrap();
        // Killed after 27 steps (nothing more than what is on disk survives),
        // resumed from the checkpoint of step 20.
        let root = crate::scratch::Scratch::new(&format!("resume-{tag}"));
        let mut s =
            Session::<CpuBackend>::start(&sc, &Default::default(), Some(root.path())).unwrap();
        for _ in 0..27 {
            s.advance(false).unwrap();
        }
        s.settle().unwrap();
        let dir = s.run_dir().unwrap().to_path_buf();
        drop(s);
        assert!(
            read(&dir, "metrics.csv").contains("\n25,"),
            "rows past the checkpoint"
        );
        let mut s = Session::<CpuBackend>::resume(&dir, &Default::default(), None).unwrap();
        assert_eq!(s.trainer().step_count(), 20);
        while s.trainer().step_count() < 40 {
            s.advance(false).unwrap();
        }
        s.finish().unwrap();
        drop(s);
        for file in ["metrics.csv", "layers.csv"] {
            assert_eq!(read(&whole, file), read(&dir, file), "{tag}: {file}");
        }
        let mut reader = crate::lab::record::FrameReader::open(&dir.join("frames.nnmr")).unwrap();
        let steps: Vec<u64> = reader.index().iter().map(|e| e.step).collect();
        assert_eq!(
            steps,
            (0..=40).collect::<Vec<_>>(),
            "{tag}: and the final state"
        );
        assert!(reader.verify().is_none());
        // A finished run of 20 steps extended to 40 is the 40-step run too.
        let mut short = sc.clone();
        short.train.steps = 20;
        let (_short_root, dir) = whole_run(&short, &format!("resume-short-{tag}"));
        let mut s = Session::<CpuBackend>::resume(&dir, &Default::default(), Some(40)).unwrap();
        while s.trainer().step_count() < 40 {
            s.advance(false).unwrap();
        }
        s.finish().unwrap();
        drop(s);
        // The short run's final frame gives way to step 20's own.
        for file in ["metrics.csv", "layers.csv", "scene.ron"] {
            assert_eq!(
                read(&whole, file),
                read(&dir, file),
                "{tag} extended: {file}"
            );
        }
        let err = Session::<CpuBackend>::resume(&dir, &Default::default(), Some(5))
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("before the checkpoint"), "{err}");
    }
}

#[test]
fn a_session_records_its_run_directory() {
    let root = crate::scratch::Scratch::new("session");
    let mut s =
        Session::<CpuBackend>::start(&scene(10), &Default::default(), Some(root.path())).unwrap();
    for _ in 0..10 {
        s.advance(false).unwrap();
    }
    s.finish().unwrap();
    let dir = s.run_dir().unwrap().to_path_buf();
    assert_eq!(dir, root.join("r_001"));
    let rows = crate::lab::record::read_metrics(&dir.join("metrics.csv")).unwrap();
    assert_eq!(
        rows.iter().map(|r| r.step).collect::<Vec<_>>(),
        vec![0, 5, 10]
    );
    // Each row carries the measures of the step before it.
    assert!(rows[1].batch_loss.is_some() && rows[1].learning_rate.is_some());
    assert_eq!(
        rows[1].batch_size,
        Some(32.0),
        "Adam on 42 samples, batches of 32"
    );
    let reader = crate::lab::record::FrameReader::open(&dir.join("frames.nnmr")).unwrap();
    assert_eq!(
        reader.len(),
        11,
        "a small net records every step by default, and its final state"
    );
}

#[test]
fn steps_per_frame_follow_the_apps_frame_ticks() {
    let h = spawn_with(scene(1000), true, Speed::StepsPerFrame(5));
    assert_eq!(
        wait_for(&h, frame_of).step,
        0,
        "the untrained network first"
    );
    h.send(TrainerCommand::Resume);
    wait_for(&h, |e| {
        matches!(e, TrainerEvent::Running(true)).then_some(())
    });
    // Running, but without a tick nothing moves.
    assert_eq!(pause_and_read_step(&h), 0);
    h.send(TrainerCommand::Resume);
    h.send(TrainerCommand::FrameTick);
    assert_eq!(
        wait_for(&h, frame_of).step,
        4,
        "one tick, five steps, one frame of the last"
    );
    assert_eq!(pause_and_read_step(&h), 5, "and no more than five");
    h.send(TrainerCommand::Resume);
    h.send(TrainerCommand::FrameTick);
    assert_eq!(wait_for(&h, frame_of).step, 9);
}

#[test]
fn every_step_of_a_real_run_reads_back_within_the_stated_error() {
    use crate::lab::record::{FrameReader, codec};
    let root = crate::scratch::Scratch::new("fidelity");
    let mut s = Scene::parse(
        "Scene(name: \"f\", data: CirclesVsSquares(train: 240), model: (hidden: [16], activation: Relu),
               train: (optimizer: Adam, learning_rate: 0.01, batch_size: 16, steps: 120, eval_every: 20),
               record: (keyframe_every: 16))",
        Path::new("f.ron"),
    )
    .unwrap();
    s.seed = 3;
    let mut session =
        Session::<CpuBackend>::start(&s, &Default::default(), Some(root.path())).unwrap();
    let frames: Vec<Frame> = (0..120)
        .map(|_| *session.advance(true).unwrap().frame.unwrap())
        .collect();
    session.settle().unwrap();
    let dir = session.run_dir().unwrap().to_path_buf();
    let mut r = FrameReader::open(&dir.join("frames.nnmr")).unwrap();
    assert_eq!(r.len(), 120, "every step is recorded");
    for (i, written) in frames.iter().enumerate() {
        let read = r.read(i).unwrap();
        assert_eq!(read.step, written.step);
        if r.index()[i].key {
            assert_eq!(&read, written, "keyframe {i} is exact");
            continue;
        }
        let key = &frames[i - i % 16];
        for ((rl, wl), kl) in read.layers.iter().zip(&written.layers).zip(&key.layers) {
            let moved = wl
                .weights
                .iter()
                .zip(&kl.weights)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            let bound = codec::weight_error_bound(moved) + 1e-6;
            for (a, b) in rl.weights.iter().zip(&wl.weights) {
                assert!(
                    (a - b).abs() <= bound,
                    "step {i}: weight {a} vs {b} (bound {bound})"
                );
            }
            let max_g = wl.weight_grads.iter().fold(0.0f32, |m, g| m.max(g.abs()));
            let floor = max_g * (-codec::GRAD_OCTAVES).exp2();
            for (a, b) in rl.weight_grads.iter().zip(&wl.weight_grads) {
                let ok = (a - b).abs() <= codec::GRAD_RELATIVE_ERROR * b.abs()
                    || (a.abs() <= floor && b.abs() <= floor);
                assert!(ok, "step {i}: gradient {a} vs {b}");
            }
            // Everything at neuron level is exact.
            assert_eq!(rl.biases, wl.biases);
            assert_eq!(rl.activations, wl.activations);
            assert_eq!(rl.probe_grads, wl.probe_grads);
        }
        assert_eq!(read.metrics, written.metrics);
        assert_eq!(read.evaluation, written.evaluation);
    }
}

#[test]
fn a_scene_asking_for_the_top_k_eigenvalues_gets_spectrum_csv() {
    let root = crate::scratch::Scratch::new("spectrum");
    let mut s = scene(20);
    s.train.optimizer = OptimizerKind::Gd;
    s.measure.sharpness_every = Some(10);
    s.measure.top_k = 3;
    let mut session =
        Session::<CpuBackend>::start(&s, &Default::default(), Some(root.path())).unwrap();
    for _ in 0..20 {
        session.advance(false).unwrap();
    }
    let last = session.finish().unwrap();
    let text = std::fs::read_to_string(session.run_dir().unwrap().join("spectrum.csv")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "step,lambda_1,lambda_2,lambda_3");
    assert_eq!(lines.len(), 1 + 3, "steps 0, 10 and 20");
    let row: Vec<f64> = lines[3].split(',').map(|v| v.parse().unwrap()).collect();
    assert_eq!(row[0], 20.0);
    assert!(
        row[1] >= row[2] && row[2] >= row[3],
        "largest first: {row:?}"
    );
    assert!((row[1] as f32 - last.sharpness.unwrap()).abs() < 1e-4);
}

#[test]
fn a_recording_over_budget_thins_the_same_steps_every_run_and_stays_near_its_budget() {
    let root = crate::scratch::Scratch::new("thinning");
    let mut s = scene(600);
    s.record.max_bytes = 40_000;
    let recorded = |s: &Scene| {
        let mut session =
            Session::<CpuBackend>::start(s, &Default::default(), Some(root.path())).unwrap();
        for _ in 0..s.train.steps {
            session.advance(false).unwrap();
        }
        session.finish().unwrap();
        let dir = session.run_dir().unwrap().to_path_buf();
        let reader = crate::lab::record::FrameReader::open(&dir.join("frames.nnmr")).unwrap();
        let mut index = reader.index().to_vec();
        // The final state is kept whatever the stride, as an exact keyframe.
        let last = index.pop().unwrap();
        assert!(last.step == 600 && last.key, "{last:?}");
        let steps: Vec<u64> = index.iter().map(|e| e.step).collect();
        let largest = index.iter().map(|e| u64::from(e.len) + 8).max();
        let strided = reader.bytes() - (u64::from(last.len) + 8);
        (steps, strided, largest.unwrap_or(0))
    };
    let (steps, bytes, largest) = recorded(&s);
    let (again, _, _) = recorded(&s);
    assert_eq!(
        steps, again,
        "the recording thread's timing decides nothing"
    );
    let gaps: Vec<u64> = steps.windows(2).map(|w| w[1] - w[0]).collect();
    assert_eq!(gaps.first(), Some(&1), "every step at first");
    assert!(
        gaps.last().is_some_and(|g| *g >= 4),
        "the stride grew past the budget: {gaps:?}"
    );
    assert!(
        bytes <= 2 * s.record.max_bytes + 2 * largest,
        "{bytes} bytes for a budget of {}",
        s.record.max_bytes
    );
}

#[test]
fn a_listening_inbox_records_every_message_it_answered_and_refuses_what_cannot_follow() {
    use crate::lab::net::{Client, Inbox, bind};
    use crate::lab::record::{FrameReader, RunDir};
    use crate::lab::stream::{LayerTensors, NetworkMessage};
    let message = |step: u64, hidden: usize| {
        NetworkMessage {
            step,
            layers: [(2, hidden), (hidden, 2)]
                .iter()
                .enumerate()
                .map(|(i, &(inputs, outputs))| LayerTensors {
                    inputs,
                    outputs,
                    weights: (0..inputs * outputs)
                        .map(|k| ((k + step as usize) % 7) as f32 * 0.1 - 0.3)
                        .collect(),
                    biases: vec![0.01; outputs],
                    weight_grads: None,
                    bias_grads: None,
                    name: format!("layers.{i}.weight"),
                })
                .collect(),
            scalars: [("reward".to_string(), step as f64)].into_iter().collect(),
            ..Default::default()
        }
        .encode()
        .unwrap()
    };
    let root = crate::scratch::Scratch::new("listen");
    let (listener, addr) = bind("127.0.0.1:0", None).unwrap();
    let handle = TrainerHandle::spawn_listen::<CpuBackend>(
        Inbox::new(listener, None).unwrap(),
        ListenOptions {
            data: "spiral".into(),
            presets: crate::lab::scene::Presets::built_in(),
            activation: crate::lab::model::Activation::Tanh,
            runs_root: Some(root.path().to_path_buf()),
        },
    )
    .unwrap();
    // Drained as the app would: a full event channel holds the taking thread.
    let events = handle.events().clone();
    let drained = std::thread::spawn(move || {
        let mut run_dir = None;
        while let Ok(event) = events.recv_timeout(Duration::from_secs(5)) {
            if let TrainerEvent::Started(info) = event {
                run_dir = info.run_dir.clone();
            }
        }
        run_dir
    });
    let client = Client::new(&addr.to_string());
    let post = |bytes: &[u8]| {
        client
            .post("/log", bytes, "application/octet-stream")
            .unwrap()
    };
    // As fast as the client can: each is answered once queued, the next
    // travelling while the one before it is taken.
    for step in 0..40 {
        let answer = post(&message(step, 3));
        assert_eq!(answer.status, 200, "step {step}: {}", answer.text());
    }
    let back = post(&message(39, 3));
    assert_eq!(back.status, 400);
    assert!(
        back.text().contains("comes after step 39"),
        "{}",
        back.text()
    );
    let wider = post(&message(40, 5));
    assert_eq!(wider.status, 400);
    assert!(
        wider.text().contains("widths [2, 5, 2]"),
        "{}",
        wider.text()
    );
    assert_eq!(post(&message(40, 3)).status, 200);
    // Closing takes the message still queued and writes every record.
    drop(handle);
    let run_dir = drained.join().unwrap().expect("the run started");
    let run = RunDir::open(&run_dir).unwrap();
    let steps: Vec<u64> = FrameReader::open(&run.frames_path())
        .unwrap()
        .index()
        .iter()
        .map(|e| e.step)
        .collect();
    assert_eq!(steps, (0..=40).collect::<Vec<u64>>());
}

#[test]
fn the_cooperative_trainer_answers_the_same_commands_with_the_threaded_ones_run_byte_for_byte() {
    let root = crate::scratch::Scratch::new("cooperative");
    let mut sc = scene(40);
    sc.train.batch_size = 8;
    let options = |name: &str| RunnerOptions {
        runs_root: Some(root.join(name)),
        start_paused: true,
        frame_interval: Duration::ZERO,
        ..Default::default()
    };
    // The same script for both: steps, an edit, more steps, then run to the end.
    let drive = |h: &TrainerHandle| {
        let step_to = |n: u32, to: u64| {
            h.send(TrainerCommand::Step(n));
            wait_for(h, |e| frame_of(e).filter(|f| f.step + 1 == to).map(|_| ()));
            wait_for(h, |e| {
                matches!(e, TrainerEvent::Running(false)).then_some(())
            });
        };
        step_to(7, 7);
        h.send(TrainerCommand::SetLearningRate(0.03));
        step_to(6, 13);
        h.send(TrainerCommand::Resume);
        wait_for(h, |e| {
            matches!(e, TrainerEvent::Finished { step: 40 }).then_some(())
        });
    };
    let threaded =
        TrainerHandle::spawn::<CpuBackend>(sc.clone(), Default::default(), options("thread"))
            .unwrap();
    drive(&threaded);
    drop(threaded);
    let cooperative =
        TrainerHandle::cooperative::<CpuBackend>(sc, Default::default(), options("frames"));
    // Nothing happens between pumps: no thread trains behind the app's back.
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        cooperative.events().is_empty(),
        "no event before the first pump"
    );
    drive(&cooperative);
    drop(cooperative);
    let read = |run: &str, file: &str| {
        std::fs::read(root.join(run).join("r_001").join(file))
            .unwrap_or_else(|e| panic!("{run}/{file}: {e}"))
    };
    for file in ["metrics.csv", "layers.csv", crate::lab::record::FRAMES_FILE] {
        let a = read("thread", file);
        assert!(!a.is_empty(), "{file}");
        assert!(a == read("frames", file), "{file} differs");
    }
    // edits.csv also says when, in seconds, for people: the steps and edits match.
    let edits = |run: &str| {
        crate::lab::record::read_edits(&root.join(run).join("r_001").join("edits.csv")).unwrap()
    };
    assert_eq!(
        edits("thread"),
        vec![(7, crate::lab::record::Edit::LearningRate(0.03))]
    );
    assert_eq!(edits("thread"), edits("frames"));
}

#[test]
fn an_evaluation_taken_ahead_in_parts_is_the_same_bit_for_bit() {
    // 6,000 samples: the evaluation has several chunks.
    let mut sc = Scene::parse(
        "Scene(name: \"r\", data: Xor(samples: 6000), model: (hidden: [4]), train: (eval_every: 5))",
        Path::new("r.ron"),
    )
    .unwrap();
    sc.train.steps = 12;
    let device = Default::default();
    let mut whole = Session::<CpuBackend>::start(&sc, &device, None).unwrap();
    let mut parts = Session::<CpuBackend>::start(&sc, &device, None).unwrap();
    let mut calls_per_evaluation = Vec::new();
    for step in 0..12u64 {
        // A deadline already past: one chunk a call.
        let mut calls = 0;
        while !parts
            .evaluate_ahead(crate::lab::clock::Instant::now())
            .unwrap()
        {
            calls += 1;
        }
        let (a, b) = (whole.advance(false).unwrap(), parts.advance(false).unwrap());
        assert_eq!(
            format!("{:?}", a.evaluation),
            format!("{:?}", b.evaluation),
            "step {step}"
        );
        if a.evaluation.is_some() {
            calls_per_evaluation.push(calls);
        }
    }
    // Steps 0, 5 and 10 evaluate; each took more than one call.
    assert_eq!(calls_per_evaluation.len(), 3);
    assert!(
        calls_per_evaluation.iter().all(|&c| c >= 2),
        "{calls_per_evaluation:?}"
    );
}
