//! Metrics a training loop logged elsewhere, beside its checkpoints: a CSV
//! file with a `step` column, or JSON lines with a `step` key.

use std::collections::BTreeMap;
use std::path::Path;

use crate::lab::error::{LabError, LabResult};

/// Named numbers by step.
pub type LoggedMetrics = BTreeMap<u64, BTreeMap<String, f64>>;

/// Reads `path`: JSON lines (`.jsonl`, `.ndjson`, `.json`), one object per
/// line, or else CSV with a header. Every field but `step` whose value is a
/// number is kept under its name; text fields (a phase, a tag) are left out.
/// A row without a whole-number step is an error naming its line.
pub fn read_logged_metrics(path: &Path) -> LabResult<LoggedMetrics> {
    let text = std::fs::read_to_string(path).map_err(|e| LabError::io(path, "cannot read", e))?;
    let json = path
        .extension()
        .and_then(|x| x.to_str())
        .is_some_and(|x| matches!(x, "jsonl" | "ndjson" | "json"));
    if json {
        json_lines(&text, path)
    } else {
        csv_rows(&text, path)
    }
}

/// A step's text as a whole number.
fn parse_step(text: &str) -> Option<u64> {
    let t = text.trim();
    t.parse::<u64>().ok().or_else(|| {
        // pandas writes whole floats as `10.0`.
        t.parse::<f64>()
            .ok()
            .filter(|v| v.fract() == 0.0 && *v >= 0.0 && *v < 2f64.powi(53))
            .map(|v| v as u64)
    })
}

fn json_lines(text: &str, path: &Path) -> LabResult<LoggedMetrics> {
    let mut out = LoggedMetrics::new();
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        let value: serde_json::Value = serde_json::from_str(line)
            .map_err(|e| LabError::data(path, format!("line {line_no}: not JSON ({e})")))?;
        let Some(object) = value.as_object() else {
            return Err(LabError::data(
                path,
                format!("line {line_no}: not a JSON object"),
            ));
        };
        let step = object
            .get("step")
            .and_then(|s| s.as_u64().or_else(|| s.as_str().and_then(parse_step)))
            .ok_or_else(|| {
                LabError::data(
                    path,
                    format!("line {line_no}: `step`: no whole-number step"),
                )
            })?;
        let row = out.entry(step).or_default();
        for (name, v) in object.iter().filter(|(k, _)| k.as_str() != "step") {
            if let Some(x) = v.as_f64() {
                row.insert(name.clone(), x);
            }
        }
    }
    Ok(out)
}

fn csv_rows(text: &str, path: &Path) -> LabResult<LoggedMetrics> {
    let mut reader = csv::ReaderBuilder::new().from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| LabError::data(path, format!("line 1: {e}")))?
        .clone();
    let Some(step_at) = headers.iter().position(|h| h.trim() == "step") else {
        let names: Vec<&str> = headers.iter().collect();
        return Err(LabError::data(
            path,
            format!(
                "line 1: no `step` column (the columns are {})",
                names.join(", ")
            ),
        ));
    };
    let mut out = LoggedMetrics::new();
    for record in reader.records() {
        let record = record.map_err(|e| LabError::data(path, e.to_string()))?;
        let line_no = record.position().map_or(0, |p| p.line());
        let step_text = record.get(step_at).unwrap_or("");
        let step = parse_step(step_text).ok_or_else(|| {
            LabError::data(
                path,
                format!("line {line_no}: `step` is `{step_text}`, not a whole number"),
            )
        })?;
        let row = out.entry(step).or_default();
        for (c, name) in headers.iter().enumerate().filter(|(c, _)| *c != step_at) {
            if let Some(v) = record.get(c).and_then(|t| t.trim().parse::<f64>().ok()) {
                row.insert(name.trim().to_string(), v);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_and_json_lines_give_the_numbers_of_each_step() {
        let dir = crate::scratch::Scratch::new("logged");
        let csv = dir.join("metrics.csv");
        std::fs::write(
            &csv,
            "step,loss,phase,reward\n0,1.5,train,-1\n10.0,0.5,eval,\n",
        )
        .unwrap();
        let got = read_logged_metrics(&csv).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[&0]["loss"], 1.5);
        assert_eq!(got[&0]["reward"], -1.0);
        assert!(!got[&0].contains_key("phase"), "text is not a scalar");
        assert_eq!(got[&10].len(), 1, "an empty field is left out");

        let jsonl = dir.join("log.jsonl");
        std::fs::write(
            &jsonl,
            "{\"step\": 5, \"loss\": 0.25, \"tag\": \"x\"}\n\n{\"step\": 6, \"reward\": 2}\n",
        )
        .unwrap();
        let got = read_logged_metrics(&jsonl).unwrap();
        assert_eq!(got[&5]["loss"], 0.25);
        assert_eq!(got[&6]["reward"], 2.0);

        std::fs::write(&csv, "epoch,loss\n1,2\n").unwrap();
        let e = read_logged_metrics(&csv).unwrap_err().to_string();
        assert!(
            e.contains("no `step` column") && e.contains("epoch, loss"),
            "{e}"
        );
        std::fs::write(&csv, "step,loss\n1,2\nlater,3\n").unwrap();
        let e = read_logged_metrics(&csv).unwrap_err().to_string();
        assert!(e.contains("line 3") && e.contains("`later`"), "{e}");
        std::fs::write(&jsonl, "{\"loss\": 1}\n").unwrap();
        let e = read_logged_metrics(&jsonl).unwrap_err().to_string();
        assert!(e.contains("line 1") && e.contains("`step`"), "{e}");
    }
}
