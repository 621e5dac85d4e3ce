use std::path::PathBuf;

use super::*;
use crate::lab::frame::{LayerFrame, LayoutKind, Metrics, Probe};
use crate::lab::model::{Activation, OutputKind};

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("nnm-record-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn topology() -> Topology {
    Topology {
        sizes: vec![3, 2],
        activation: Activation::Tanh,
        output: OutputKind::Softmax,
        layout: LayoutKind::Plane {
            x: (-1.0, 1.0),
            y: (-1.0, 1.0),
        },
        output_names: vec!["a".into(), "b".into()],
    }
}

fn frame(step: u64) -> Frame {
    let s = step as f32;
    Frame {
        step,
        metrics: Metrics {
            batch_loss: 1.0 / (1.0 + s),
            eval_step: step.is_multiple_of(2).then_some(step),
            train_loss: Some(0.5),
            test_loss: None,
            train_accuracy: Some(f32::NAN),
            test_accuracy: Some(0.75),
            generalization_error: None,
            learning_rate: 0.1,
            batch_size: 8,
            grad_norm: 2.5,
        },
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
        }],
    }
}

/// Frames compare with NaN fields equal when both are NaN.
fn same(a: &Frame, b: &Frame) -> bool {
    format!("{a:?}") == format!("{b:?}")
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
    std::fs::remove_dir_all(root).ok();
}

#[test]
fn recorded_frames_read_back_exactly() {
    let root = temp_dir("roundtrip");
    let path = root.join(FRAMES_FILE);
    let header = RecordingHeader {
        scene: "t".into(),
        topology: topology(),
    };
    let mut w = FrameWriter::create(&path, &header).unwrap();
    let frames: Vec<Frame> = (0..20).map(frame).collect();
    for f in &frames {
        w.append(f).unwrap();
    }
    let mut r = FrameReader::open(&path).unwrap();
    assert_eq!(r.header(), &header);
    assert_eq!(r.len(), 20);
    assert!(r.damage().is_none());
    for (i, f) in frames.iter().enumerate() {
        assert!(same(&r.read(i).unwrap(), f), "frame {i}");
    }
    assert_eq!(r.read_step(13).unwrap().step, 13);
    assert!(
        FrameWriter::create(&path, &header).is_err(),
        "an existing recording is never overwritten"
    );
    std::fs::remove_dir_all(root).ok();
}

#[test]
fn truncated_or_corrupt_tails_keep_every_complete_record() {
    let root = temp_dir("truncate");
    let path = root.join(FRAMES_FILE);
    let header = RecordingHeader {
        scene: "t".into(),
        topology: topology(),
    };
    let mut w = FrameWriter::create(&path, &header).unwrap();
    let header_end = w.bytes();
    let mut ends = Vec::new();
    for s in 0..10 {
        w.append(&frame(s)).unwrap();
        ends.push(w.bytes());
    }
    let full = std::fs::read(&path).unwrap();
    // Cut at every offset past the header: the reader keeps exactly the records that fit.
    for cut in header_end..full.len() as u64 {
        std::fs::write(&path, &full[..cut as usize]).unwrap();
        let mut r = FrameReader::open(&path).unwrap();
        let complete = ends.iter().filter(|&&e| e <= cut).count();
        assert_eq!(r.len(), complete, "cut at {cut}");
        let clean_cut = ends.contains(&cut) || cut == header_end;
        assert_eq!(r.damage().is_some(), !clean_cut, "cut at {cut}");
        if let Some(d) = r.damage() {
            let start = if complete == 0 {
                header_end
            } else {
                ends[complete - 1]
            };
            assert_eq!(
                d.offset, start,
                "damage should start at the first incomplete record"
            );
        }
        for i in 0..complete {
            assert!(same(&r.read(i).unwrap(), &frame(i as u64)));
        }
    }
    // A flipped byte in record 6 keeps records 0..6 and reports a checksum mismatch.
    let mut bad = full.clone();
    bad[ends[6] as usize - 3] ^= 0xff;
    std::fs::write(&path, &bad).unwrap();
    let r = FrameReader::open(&path).unwrap();
    assert_eq!(r.len(), 6);
    let d = r.damage().unwrap();
    assert_eq!(d.offset, ends[5]);
    assert!(d.reason.contains("checksum"), "{}", d.reason);
    std::fs::remove_dir_all(root).ok();
}

#[test]
fn metrics_rows_round_trip_and_a_cut_last_line_is_ignored() {
    let root = temp_dir("metrics");
    let path = root.join(METRICS_FILE);
    let mut w = MetricsWriter::create(&path).unwrap();
    let rows = vec![
        MetricsRow {
            step: 0,
            train_loss: 0.69,
            test_loss: 0.7,
            train_accuracy: 0.5,
            test_accuracy: 0.45,
            generalization_error: f32::NAN,
            batch_loss: f32::NAN,
            learning_rate: 0.01,
            status: RunStatus::Ok,
        },
        MetricsRow::diverged(7, f32::INFINITY, 10.0),
    ];
    for r in &rows {
        w.append(r).unwrap();
    }
    let back = read_metrics(&path).unwrap();
    assert_eq!(format!("{back:?}"), format!("{rows:?}"));
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
    std::fs::remove_dir_all(root).ok();
}
