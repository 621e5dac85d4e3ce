//! Exports: metrics as CSV or JSON, a frame as JSON.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::metrics::{HEADER, MetricsRow, RunStatus};
use crate::lab::error::{LabError, LabResult};
use crate::lab::frame::Frame;

/// Metrics rows as CSV, with the header of `metrics.csv`.
pub fn metrics_csv(rows: &[MetricsRow]) -> String {
    let mut out = String::from(HEADER);
    out.push('\n');
    for r in rows {
        out.push_str(&r.to_csv());
        out.push('\n');
    }
    out
}

/// One metrics row as JSON sees it: missing values are `null`.
#[derive(Serialize)]
struct JsonRow {
    step: u64,
    train_loss: Option<f32>,
    test_loss: Option<f32>,
    train_accuracy: Option<f32>,
    test_accuracy: Option<f32>,
    generalization_error: Option<f32>,
    batch_loss: Option<f32>,
    learning_rate: f32,
    status: &'static str,
}

/// Metrics rows as a JSON array of objects (NaN and infinities as `null`).
pub fn metrics_json(rows: &[MetricsRow]) -> String {
    let finite = |v: f32| v.is_finite().then_some(v);
    let rows: Vec<JsonRow> = rows
        .iter()
        .map(|r| JsonRow {
            step: r.step,
            train_loss: finite(r.train_loss),
            test_loss: finite(r.test_loss),
            train_accuracy: finite(r.train_accuracy),
            test_accuracy: finite(r.test_accuracy),
            generalization_error: finite(r.generalization_error),
            batch_loss: finite(r.batch_loss),
            learning_rate: r.learning_rate,
            status: match r.status {
                RunStatus::Ok => "ok",
                RunStatus::Diverged => "diverged",
            },
        })
        .collect();
    serde_json::to_string_pretty(&rows).unwrap_or_else(|_| "[]".into())
}

/// A frame as JSON: metrics, the probe sample and, per layer, weights,
/// biases, gradients and activations (NaN as `null`).
pub fn frame_json(frame: &Frame) -> String {
    serde_json::to_string_pretty(frame).unwrap_or_else(|_| "{}".into())
}

/// Writes `text` to `dir/name`, creating `dir`; returns the path.
pub fn write_export(dir: &Path, name: &str, text: &str) -> LabResult<PathBuf> {
    std::fs::create_dir_all(dir).map_err(|e| LabError::run(dir, format!("cannot create: {e}")))?;
    let path = dir.join(name);
    std::fs::write(&path, text).map_err(|e| LabError::run(&path, format!("cannot write: {e}")))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_metrics_spell_missing_values_as_null() {
        let rows = vec![MetricsRow::diverged(4, f32::INFINITY, 0.5)];
        let v: serde_json::Value = serde_json::from_str(&metrics_json(&rows)).unwrap();
        assert_eq!(v[0]["step"], 4);
        assert!(v[0]["train_loss"].is_null() && v[0]["batch_loss"].is_null());
        assert_eq!(v[0]["status"], "diverged");
        assert!(metrics_csv(&rows).starts_with(HEADER));
    }

    #[test]
    fn frames_export_every_layer() {
        let frame = Frame {
            step: 9,
            layers: vec![crate::lab::LayerFrame {
                inputs: 2,
                outputs: 1,
                weights: vec![0.5, -0.25],
                ..Default::default()
            }],
            ..Default::default()
        };
        let v: serde_json::Value = serde_json::from_str(&frame_json(&frame)).unwrap();
        assert_eq!(v["step"], 9);
        assert_eq!(v["layers"][0]["weights"][1], -0.25);
    }
}
