//! Exports: metrics as CSV or JSON, a frame as JSON.

use std::path::{Path, PathBuf};

use super::metrics::{csv_row, header};
use crate::lab::error::{LabError, LabResult};
use crate::lab::frame::Frame;
use crate::lab::frame::Metrics;

/// Metrics rows as CSV, with the header of `metrics.csv`.
pub fn metrics_csv(rows: &[Metrics]) -> String {
    let mut out = header();
    out.push('\n');
    for r in rows {
        out.push_str(&csv_row(r));
        out.push('\n');
    }
    out
}

/// Metrics rows as a JSON array of objects, one key per column (missing
/// values, NaN and infinities as `null`).
pub fn metrics_json(rows: &[Metrics]) -> LabResult<String> {
    let objects: Vec<serde_json::Map<String, serde_json::Value>> = rows
        .iter()
        .map(|m| {
            let mut o = serde_json::Map::new();
            o.insert("step".into(), m.step.into());
            for measure in Metrics::MEASURES {
                let v = (measure.get)(m).filter(|v| v.is_finite());
                o.insert(
                    measure.name.into(),
                    v.map_or(serde_json::Value::Null, Into::into),
                );
            }
            o.insert("status".into(), m.status.as_str().into());
            o
        })
        .collect();
    serde_json::to_string_pretty(&objects)
        .map_err(|e| LabError::setting("metrics", format!("cannot write JSON: {e}")))
}

/// A frame as JSON: metrics, the probe sample and, per layer, weights,
/// biases, gradients and activations (NaN as `null`).
pub fn frame_json(frame: &Frame) -> LabResult<String> {
    serde_json::to_string_pretty(frame).map_err(|e| {
        LabError::setting(
            "frame",
            format!("cannot write step {} as JSON: {e}", frame.step),
        )
    })
}

/// Writes `text` to `dir/name`, creating `dir`; returns the path.
pub fn write_export(dir: &Path, name: &str, contents: &[u8]) -> LabResult<PathBuf> {
    std::fs::create_dir_all(dir).map_err(|e| LabError::io(dir, "cannot create", e))?;
    let path = dir.join(name);
    std::fs::write(&path, contents).map_err(|e| LabError::io(&path, "cannot write", e))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_metrics_spell_missing_values_as_null() {
        let rows = vec![Metrics::diverged(4, f32::INFINITY, 0.5)];
        let v: serde_json::Value = serde_json::from_str(&metrics_json(&rows).unwrap()).unwrap();
        assert_eq!(v[0]["step"], 4);
        assert!(v[0]["train_loss"].is_null() && v[0]["batch_loss"].is_null());
        assert_eq!(v[0]["learning_rate"], 0.5);
        assert_eq!(v[0]["status"], "diverged");
        assert!(metrics_csv(&rows).starts_with(&header()));
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
        let v: serde_json::Value = serde_json::from_str(&frame_json(&frame).unwrap()).unwrap();
        assert_eq!(v["step"], 9);
        assert_eq!(v["layers"][0]["weights"][1], -0.25);
    }
}
