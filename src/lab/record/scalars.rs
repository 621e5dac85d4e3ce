//! `scalars.csv`: named numbers a run was sent besides its metrics (a
//! reward, an episode length, a loss computed elsewhere), one row each.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::lab::error::{LabError, LabResult};

/// The header of `scalars.csv`.
const HEADER: [&str; 3] = ["step", "name", "value"];

/// Appends rows to a run's `scalars.csv`, flushed after each step's rows, so
/// that a killed run keeps every step it was sent.
#[derive(Debug)]
pub(super) struct ScalarWriter {
    path: PathBuf,
    csv: csv::Writer<std::fs::File>,
}

impl ScalarWriter {
    /// Creates the file with its header.
    pub(super) fn create(path: &Path) -> LabResult<ScalarWriter> {
        let file =
            std::fs::File::create(path).map_err(|e| LabError::io(path, "cannot create", e))?;
        let mut csv = csv::Writer::from_writer(file);
        csv.write_record(HEADER)
            .and_then(|()| csv.flush().map_err(csv::Error::from))
            .map_err(|e| LabError::run(path, format!("cannot write: {e}")))?;
        Ok(ScalarWriter {
            path: path.to_path_buf(),
            csv,
        })
    }

    /// Appends the scalars of `step`, in name order.
    pub(super) fn append(&mut self, step: u64, scalars: &BTreeMap<String, f64>) -> LabResult<()> {
        let step = step.to_string();
        for (name, value) in scalars {
            self.csv
                .write_record([step.as_str(), name.as_str(), &value.to_string()])
                .map_err(|e| LabError::run(&self.path, format!("cannot write: {e}")))?;
        }
        self.csv
            .flush()
            .map_err(|e| LabError::io(&self.path, "cannot write", e))
    }
}

/// Reads a run's `scalars.csv`: (step, name, value) in file order. A row
/// cut short by a killed run is left out; any other bad row is an error
/// naming its line.
pub fn read_scalars(path: &Path) -> LabResult<Vec<(u64, String, f64)>> {
    let text = std::fs::read_to_string(path).map_err(|e| LabError::io(path, "cannot read", e))?;
    let complete = text.ends_with('\n');
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(text.as_bytes());
    let mut rows = Vec::new();
    let mut records = reader.records().peekable();
    while let Some(record) = records.next() {
        let last = records.peek().is_none();
        let record = match record {
            Ok(r) => r,
            Err(_) if last && !complete => break,
            Err(e) => return Err(LabError::run(path, e.to_string())),
        };
        let line = record.position().map_or(0, |p| p.line());
        let field = |i: usize, what: &str| {
            record
                .get(i)
                .ok_or_else(|| LabError::run(path, format!("line {line}: no `{what}` field")))
        };
        let bad = |what: &str, text: &str| {
            LabError::run(
                path,
                format!("line {line}: `{what}` is `{text}`, not a number"),
            )
        };
        let step_text = field(0, "step")?;
        let value_text = field(2, "value")?;
        match (step_text.parse::<u64>(), value_text.parse::<f64>()) {
            (Ok(step), Ok(value)) => rows.push((step, field(1, "name")?.to_string(), value)),
            _ if last && !complete => break,
            (Err(_), _) => return Err(bad("step", step_text)),
            (_, Err(_)) => return Err(bad("value", value_text)),
        }
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    #[test]
    fn scalars_read_back_in_order_and_a_cut_row_is_left_out() {
        let dir = crate::scratch::Scratch::new("scalars");
        let path = dir.join("scalars.csv");
        let mut w = ScalarWriter::create(&path).unwrap();
        let step = |pairs: &[(&str, f64)]| -> BTreeMap<String, f64> {
            pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
        };
        w.append(0, &step(&[("reward", -1.5), ("loss", 0.25)]))
            .unwrap();
        w.append(10, &step(&[("a, b", 2.0)])).unwrap();
        let expected = vec![
            (0, "loss".to_string(), 0.25),
            (0, "reward".to_string(), -1.5),
            (10, "a, b".to_string(), 2.0),
        ];
        assert_eq!(read_scalars(&path).unwrap(), expected);
        // A killed writer's half row.
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"20,rew")
            .unwrap();
        assert_eq!(read_scalars(&path).unwrap(), expected);
        std::fs::write(&path, "step,name,value\n1,loss,high\n").unwrap();
        let e = read_scalars(&path).unwrap_err().to_string();
        assert!(
            e.contains("line 2") && e.contains("`value` is `high`"),
            "{e}"
        );
    }
}
