use super::*;
use crate::lab::data::InputLayout;
use crate::lab::frame::Metrics;
use crate::lab::frame::{LayerFrame, LayerStats, Probe};
use crate::lab::model::{Activation, MlpConfig, OutputKind};
use crate::lab::record::codec;

fn temp_dir(tag: &str) -> crate::scratch::Scratch {
    crate::scratch::Scratch::new(&format!("record-{tag}"))
}

fn topology() -> Topology {
    Topology {
        network: MlpConfig::new(vec![3, 2], Vec::new()).with_output(OutputKind::Softmax),
        layout: InputLayout::Plane {
            x: (-1.0, 1.0),
            y: (-1.0, 1.0),
        },
        output_names: vec!["a".into(), "b".into()],
    }
}

#[test]
fn a_topology_written_with_one_activation_reads_as_one_per_hidden_layer() {
    let old = "(sizes: [2, 5, 4, 3], activation: Relu, output: Softmax, \
               layout: Plane(x: (-1.0, 1.0), y: (-1.0, 1.0)), output_names: [\"a\", \"b\", \"c\"])";
    let t: Topology = ron::from_str(old).unwrap();
    assert_eq!(t.network.activations, vec![Activation::Relu; 2]);
    assert_eq!(t.network.sizes, vec![2, 5, 4, 3]);
    assert_eq!(t.network.output, OutputKind::Softmax);
    let mut mixed = t.clone();
    mixed.network.activations = vec![Activation::Tanh, Activation::Gelu];
    let back: Topology = ron::from_str(&ron::to_string(&mixed).unwrap()).unwrap();
    assert_eq!(back, mixed);
    // Written since: the whole network, seed and initialisation included.
    let seeded = Topology {
        network: mixed
            .network
            .clone()
            .with_seed(9)
            .with_init(crate::lab::model::InitScheme::Normal { std: 0.5 })
            .with_bias(false)
            .with_scales(vec![0.5, 1.0, 2.0]),
        ..mixed
    };
    let back: Topology = ron::from_str(&ron::to_string(&seeded).unwrap()).unwrap();
    assert_eq!(back, seeded);
}

fn frame(step: u64) -> Frame {
    let s = step as f32;
    Frame {
        step,
        metrics: Metrics {
            batch_loss: Some(1.0 / (1.0 + s)),
            learning_rate: Some(0.1),
            batch_size: Some(8.0),
            grad_norm: Some(2.5),
            ..Metrics::at(step)
        },
        evaluation: step.is_multiple_of(2).then_some(Metrics {
            train_loss: Some(0.5),
            train_accuracy: Some(f32::INFINITY),
            test_accuracy: Some(0.75),
            ..Metrics::at(step.saturating_sub(2))
        }),
        probe: Probe {
            index: 3,
            input: vec![0.1, 0.2, 0.3],
            target: vec![0.0, 1.0],
            label: Some(1),
            output: vec![0.4, 0.6],
            loss: 0.51,
        },
        layers: vec![LayerFrame {
            inputs: 3,
            outputs: 2,
            weights: (0..6).map(|i| i as f32 * 0.1 + s).collect(),
            biases: vec![s, -s],
            weight_grads: vec![0.01; 6],
            bias_grads: vec![0.02; 2],
            pre_activations: vec![0.3, -0.3],
            activations: vec![0.4, 0.6],
            mean_activations: vec![0.5, 0.5],
            probe_grads: vec![0.4, -0.4],
            scale: 0.5,
        }],
        stats: vec![LayerStats {
            weight_norm: 1.0 + s,
            grad_norm: 0.03,
            update_norm: 0.003 / (1.0 + s),
            activation_mean: 0.5,
            activation_std: 0.1,
            dead_fraction: 0.25,
        }],
    }
}

/// Frames compare with NaN fields equal when both are NaN.
fn same(a: &Frame, b: &Frame) -> bool {
    format!("{a:?}") == format!("{b:?}")
}

fn header(keyframe_every: u32) -> RecordingHeader {
    RecordingHeader {
        scene: "t".into(),
        topology: topology(),
        keyframe_every,
    }
}

/// True when `read` matches `written` within the delta coding's bounds
/// (exactly, for keyframes and for everything but weights and gradients).
fn matches_within_bounds(read: &Frame, written: &Frame, key: &Frame) -> bool {
    let (mut r, mut w) = (read.clone(), written.clone());
    for ((rl, wl), kl) in r.layers.iter_mut().zip(&mut w.layers).zip(&key.layers) {
        let max_change = wl
            .weights
            .iter()
            .zip(&kl.weights)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        let bound = codec::weight_error_bound(max_change) + 1e-6;
        if rl
            .weights
            .iter()
            .zip(&wl.weights)
            .any(|(a, b)| (a - b).abs() > bound)
        {
            return false;
        }
        let max_g = wl.weight_grads.iter().fold(0.0f32, |m, g| m.max(g.abs()));
        let floor = max_g * (-codec::GRAD_OCTAVES).exp2();
        if rl.weight_grads.iter().zip(&wl.weight_grads).any(|(a, b)| {
            (a - b).abs() > codec::GRAD_RELATIVE_ERROR * b.abs()
                && (a.abs() > floor || b.abs() > floor)
        }) {
            return false;
        }
        rl.weights.clone_from(&wl.weights);
        rl.weight_grads.clone_from(&wl.weight_grads);
    }
    same(&r, &w)
}

#[test]
fn run_directories_count_up_and_never_overwrite() {
    let root = temp_dir("numbering");
    let a = RunDir::create(&root, "xor").unwrap();
    let b = RunDir::create(&root, "xor").unwrap();
    let c = RunDir::create(&root, "spiral").unwrap();
    assert_eq!(a.name(), "xor_001");
    assert_eq!(b.name(), "xor_002");
    assert_eq!(c.name(), "spiral_001");
    // A gap is not refilled: numbers only grow.
    std::fs::remove_dir(&a.path).unwrap();
    assert_eq!(RunDir::create(&root, "xor").unwrap().name(), "xor_003");
}

#[test]
fn recorded_frames_read_back_within_the_stated_error() {
    let root = temp_dir("roundtrip");
    let path = root.join(FRAMES_FILE);
    let mut w = FrameWriter::create(&path, &header(4)).unwrap();
    let frames: Vec<Frame> = (0..20).map(frame).collect();
    for f in &frames {
        w.append(f).unwrap();
    }
    let mut r = FrameReader::open(&path).unwrap();
    assert_eq!(r.header(), &header(4));
    assert_eq!(r.len(), 20);
    assert!(r.damage().is_none());
    for (i, f) in frames.iter().enumerate() {
        let back = r.read(i).unwrap();
        if i % 4 == 0 {
            assert!(r.index()[i].key);
            assert!(same(&back, f), "keyframe {i} must be exact");
        } else {
            assert!(!r.index()[i].key);
            assert!(
                matches_within_bounds(&back, f, &frames[i - i % 4]),
                "delta {i}"
            );
        }
        assert_eq!(Some(r.index()[i].batch_loss), f.metrics.batch_loss);
    }
    assert_eq!(r.read_step(13).unwrap().step, 13);
    // Past the last record is not the last record: the error names the range.
    let beyond = r.read_step(99_999).unwrap_err().to_string();
    assert!(
        beyond.contains("step 99999 is outside the recorded steps 0..=19"),
        "{beyond}"
    );
    assert!(
        FrameWriter::create(&path, &header(4)).is_err(),
        "an existing recording is never overwritten"
    );
}

#[test]
fn truncated_or_corrupt_tails_keep_every_complete_record() {
    let root = temp_dir("truncate");
    let path = root.join(FRAMES_FILE);
    let idx = frames::index_path(&path);
    let mut w = FrameWriter::create(&path, &header(3)).unwrap();
    let header_end = w.bytes();
    let mut ends = Vec::new();
    for s in 0..10 {
        w.append(&frame(s)).unwrap();
        ends.push(w.bytes());
    }
    let full = std::fs::read(&path).unwrap();
    let full_index = std::fs::read(&idx).unwrap();
    let check = |cut: u64, what: &str| {
        let mut r = FrameReader::open(&path).unwrap();
        let complete = ends.iter().filter(|&&e| e <= cut).count();
        assert_eq!(r.len(), complete, "{what}: cut at {cut}");
        let clean_cut = ends.contains(&cut) || cut == header_end;
        assert_eq!(r.damage().is_some(), !clean_cut, "{what}: cut at {cut}");
        if let Some(d) = r.damage() {
            let start = if complete == 0 {
                header_end
            } else {
                ends[complete - 1]
            };
            assert_eq!(
                d.offset, start,
                "{what}: damage starts at the first incomplete record"
            );
        }
        for i in 0..complete {
            assert_eq!(r.read(i).unwrap().step, i as u64, "{what}");
        }
    };
    // A kill can cut the recording anywhere; the index may list records it lost.
    for cut in header_end..full.len() as u64 {
        std::fs::write(&path, &full[..cut as usize]).unwrap();
        check(cut, "full index");
    }
    // Without its index (or with one cut short) the recording is scanned.
    std::fs::write(&path, &full).unwrap();
    std::fs::remove_file(&idx).unwrap();
    check(full.len() as u64, "no index");
    std::fs::write(&idx, &full_index[..full_index.len() - 40]).unwrap();
    check(full.len() as u64, "short index");
    // A damaged index entry is where the index stops; the rest is scanned.
    let mut bad_index = full_index.clone();
    bad_index[8 + 32 * 4 + 3] ^= 0xff;
    std::fs::write(&idx, &bad_index).unwrap();
    check(full.len() as u64, "corrupt index");
    // A flipped byte in record 6 is found by a full check.
    std::fs::write(&idx, &full_index).unwrap();
    let mut bad = full.clone();
    bad[ends[6] as usize - 3] ^= 0xff;
    std::fs::write(&path, &bad).unwrap();
    let mut r = FrameReader::open(&path).unwrap();
    let d = r.verify().expect("the flipped byte is found");
    assert_eq!(d.offset, ends[5]);
    assert!(d.reason.contains("checksum"), "{}", d.reason);
    assert!(r.read(6).is_err() && r.read(5).is_ok());
}

#[test]
fn a_growing_recording_is_followed() {
    let root = temp_dir("follow");
    let path = root.join(FRAMES_FILE);
    let mut w = FrameWriter::create(&path, &header(4)).unwrap();
    w.append(&frame(0)).unwrap();
    let mut r = FrameReader::open(&path).unwrap();
    assert_eq!(r.len(), 1);
    for s in 1..6 {
        w.append(&frame(s)).unwrap();
    }
    assert_eq!(r.refresh().unwrap(), 5);
    assert_eq!(r.read(5).unwrap().step, 5);
}

#[test]
fn thinning_keeps_the_file_under_twice_its_budget() {
    let mut t = Thinning::new(1, 1000);
    let mut bytes = 0u64;
    let mut recorded = 0u64;
    for step in 0..1_000_000u64 {
        if t.wants(step) {
            bytes += 10;
            recorded += 1;
            t.observe(bytes);
        }
    }
    assert!(bytes <= 2000 + 30, "{bytes}");
    assert!(recorded >= 100, "every step until the budget");
    assert!(t.stride > 1);
    let mut every = Thinning::new(1, u64::MAX / 4);
    every.observe(1 << 40);
    assert_eq!(every.stride, 1, "under budget, every step");
}

#[test]
fn metrics_rows_round_trip_and_a_cut_last_line_is_ignored() {
    let root = temp_dir("metrics");
    let path = root.join(METRICS_FILE);
    let mut w = MetricsWriter::create(&path).unwrap();
    let rows = vec![
        Metrics {
            train_loss: Some(0.69),
            test_loss: Some(0.7),
            train_accuracy: Some(0.5),
            test_accuracy: Some(0.45),
            learning_rate: Some(0.01),
            batch_size: Some(16.0),
            grad_norm: Some(1.25),
            ..Metrics::at(0)
        },
        Metrics::diverged(7, f32::INFINITY, 10.0),
    ];
    for r in &rows {
        w.append(r).unwrap();
    }
    let back = read_metrics(&path).unwrap();
    assert_eq!(back, rows);
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str("8,0.5,0.");
    std::fs::write(&path, &text).unwrap();
    assert_eq!(read_metrics(&path).unwrap().len(), 2);
    // A bad line in the middle is an error naming its line.
    let broken = text.replacen("0.69", "zero", 1);
    std::fs::write(&path, broken).unwrap();
    let err = read_metrics(&path).unwrap_err().to_string();
    assert!(
        err.contains("line 2") && err.contains("train_loss"),
        "{err}"
    );
}

#[test]
fn metrics_files_are_read_by_their_header() {
    let path = Path::new("runs/old_001/metrics.csv");
    // Written before batch_size and grad_norm existed, with a column from the future.
    let old = "step,train_loss,test_loss,train_accuracy,test_accuracy,generalization_error,batch_loss,learning_rate,status,sharpness_2050\n\
               10,0.5,0.6,0.75,0.7,nan,0.55,0.01,ok,3.5\n";
    let rows = crate::lab::record::metrics::parse_metrics(old, path).unwrap();
    assert_eq!(rows.len(), 1);
    let m = rows[0];
    assert_eq!(
        (m.step, m.train_loss, m.test_accuracy),
        (10, Some(0.5), Some(0.7))
    );
    assert_eq!((m.generalization_error, m.batch_size), (None, None));
    assert_eq!(m.learning_rate, Some(0.01));
    let err = crate::lab::record::metrics::parse_metrics("loss,acc\n1,2\n", path)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("runs/old_001/metrics.csv") && err.contains("line 1"),
        "{err}"
    );
}

#[test]
fn every_presets_scene_ron_reads_back_as_the_scene_it_ran() {
    let root = temp_dir("scene-ron");
    for preset in crate::lab::scene::Presets::built_in().list().unwrap() {
        let scene = preset.load().unwrap();
        let recorder = RunRecorder::start(&root, &scene, &topology()).unwrap();
        let written = std::fs::read_to_string(recorder.dir().scene_path()).unwrap();
        assert!(!written.is_empty(), "{}: an empty scene.ron", preset.name);
        let back = Scene::parse(&written, &recorder.dir().scene_path()).unwrap();
        assert_eq!(back, scene.resolved(), "{}", preset.name);
    }
}

/// A frame of one 40x30 layer whose weights drift steadily, with noise, and
/// whose gradients have zero rows: large enough that its deltas are predicted
/// rather than stored exactly.
fn drifting_frame(step: u64) -> Frame {
    let mut f = frame(step);
    let t = step as f32;
    let (inputs, outputs) = (40, 30);
    let layer = &mut f.layers[0];
    layer.inputs = inputs;
    layer.outputs = outputs;
    layer.weights = (0..inputs * outputs)
        .map(|i| {
            let k = i as f32;
            let noise = ((k * 12.9898 + t * 78.233).sin() * 43758.547).fract();
            (k * 0.37).sin() + t * 1e-3 * (k * 0.11).cos() + noise * 1e-5
        })
        .collect();
    layer.weight_grads = (0..inputs * outputs)
        .map(|i| {
            let (row, col) = (i / outputs, i % outputs);
            let x = if row % 3 == 0 {
                0.0
            } else {
                (row as f32 * 0.3).cos()
            };
            x * (col as f32 * 0.7 + t).sin()
        })
        .collect();
    f
}

#[test]
fn seeking_in_any_order_reads_what_reading_in_order_reads() {
    let dir = temp_dir("seek-order");
    let path = dir.join("frames.nnmr");
    let written: Vec<Frame> = (0..150).map(drifting_frame).collect();
    let mut w = FrameWriter::create(&path, &header(64)).unwrap();
    for f in &written {
        w.append(f).unwrap();
    }
    drop(w);
    let mut r = FrameReader::open(&path).unwrap();
    let in_order: Vec<Frame> = (0..r.len()).map(|i| r.read(i).unwrap()).collect();
    assert_eq!(in_order.len(), 150);
    for (i, (read, f)) in in_order.iter().zip(&written).enumerate() {
        assert!(
            matches_within_bounds(read, f, &written[i / 64 * 64]),
            "frame {i}"
        );
    }
    // Each delta is predicted from the records before it: backwards, strided
    // and around anchors and keyframes, a fresh reader and a used one read
    // exactly what reading in order did.
    let orders: Vec<Vec<usize>> = vec![
        (0..150).rev().collect(),
        (0..150).step_by(7).collect(),
        vec![
            149, 17, 16, 15, 64, 63, 65, 80, 79, 100, 0, 128, 129, 33, 33, 31, 32, 96, 95, 47,
        ],
    ];
    for order in orders {
        let mut fresh = FrameReader::open(&path).unwrap();
        for i in order {
            assert!(same(&fresh.read(i).unwrap(), &in_order[i]), "frame {i}");
            assert!(same(&r.read(i).unwrap(), &in_order[i]), "frame {i}");
        }
    }
    // Predicted deltas: far less than a byte per value (exact: 8 per weight).
    let bytes = std::fs::metadata(&path).unwrap().len();
    assert!(bytes < 150 * 1200 * 8 / 4, "{bytes} bytes");
}

#[test]
fn a_version_3_recording_still_reads_in_any_order() {
    let dir = temp_dir("v3");
    let path = dir.join("frames.nnmr");
    // Version 3 kept no layer stats.
    let written: Vec<Frame> = (0..8)
        .map(|s| Frame {
            stats: Vec::new(),
            ..drifting_frame(s)
        })
        .collect();
    // The file as version 3 wrote it, without its index (readers rebuild it):
    // a keyframe, then deltas against it alone.
    let text = ron::to_string(&header(64)).unwrap();
    let mut file = b"NNMREC".to_vec();
    file.extend_from_slice(&3u16.to_le_bytes());
    file.extend_from_slice(&(text.len() as u32).to_le_bytes());
    file.extend_from_slice(&crc32fast::hash(text.as_bytes()).to_le_bytes());
    file.extend_from_slice(text.as_bytes());
    for (i, f) in written.iter().enumerate() {
        let mut payload = vec![if i == 0 { 1 } else { 2 }];
        payload.extend_from_slice(&f.step.to_le_bytes());
        codec::encode_v3(f, (i > 0).then(|| &written[0]), &mut payload);
        file.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        file.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
        file.extend_from_slice(&payload);
    }
    std::fs::write(&path, file).unwrap();
    let mut r = FrameReader::open(&path).unwrap();
    assert_eq!(r.len(), 8);
    for i in [5, 2, 7, 7, 1, 0, 6, 3, 4] {
        let read = r.read(i).unwrap();
        assert!(
            matches_within_bounds(&read, &written[i], &written[0]),
            "frame {i}"
        );
    }
}

#[test]
fn a_format_5_recording_is_continued_as_format_6() {
    let dir = temp_dir("v5");
    let path = dir.join("frames.nnmr");
    let written: Vec<Frame> = (0..10).map(drifting_frame).collect();
    let mut w = FrameWriter::create(&path, &header(4)).unwrap();
    for f in &written[..6] {
        w.append(f).unwrap();
    }
    drop(w);
    // The header as format 5 wrote it: the version follows the magic.
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[6..8].copy_from_slice(&5u16.to_le_bytes());
    std::fs::write(&path, bytes).unwrap();
    assert_eq!(FrameReader::open(&path).unwrap().version(), 5);
    // Continued from step 4: records from there on are replaced.
    let mut w = FrameWriter::reopen(&path, 4).unwrap();
    for f in &written[4..] {
        w.append(f).unwrap();
    }
    drop(w);
    let mut r = FrameReader::open(&path).unwrap();
    assert_eq!(r.version(), FORMAT_VERSION);
    assert_eq!(r.len(), 10);
    for (i, f) in written.iter().enumerate() {
        let back = r.read(i).unwrap();
        assert_eq!(back.step, f.step);
        assert!(
            matches_within_bounds(&back, f, &written[i / 4 * 4]),
            "frame {i}"
        );
    }
    // A format this build does not continue is refused by name.
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[6..8].copy_from_slice(&4u16.to_le_bytes());
    std::fs::write(&path, bytes).unwrap();
    let e = FrameWriter::reopen(&path, 4).err().unwrap().to_string();
    assert!(e.contains("format 4 recording"), "{e}");
}
