//! `edits.csv`: the changes made to training while a run went on (in the
//! app), so that `nnm train RUN_DIR` re-runs the run as it really went.
//!
//! One row per change, `step,seconds,setting,value`: the step it took effect
//! at (before that step's update), the seconds since the run started (for
//! people), the setting and its new value: the learning rate, batch size,
//! optimizer or dropout rate. Changes that restart training (seed,
//! architecture, activation) start a new run directory instead, whose
//! `scene.ron` describes them.

use crate::lab::clock::Instant;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::lab::error::{LabError, LabResult};
use crate::lab::scene::OptimizerKind;

/// The header of `edits.csv`.
pub(super) const EDITS_HEADER: &str = "step,seconds,setting,value";

/// A change to training that keeps the run going.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Edit {
    /// A new learning rate.
    LearningRate(f32),
    /// A new mini-batch size.
    BatchSize(usize),
    /// Another optimiser (its state starts afresh).
    Optimizer(OptimizerKind),
    /// A new dropout rate of the hidden layers.
    Dropout(f32),
}

impl Edit {
    /// The setting's name in `edits.csv`.
    pub fn setting(&self) -> &'static str {
        match self {
            Edit::LearningRate(_) => "learning_rate",
            Edit::BatchSize(_) => "batch_size",
            Edit::Optimizer(_) => "optimizer",
            Edit::Dropout(_) => "dropout",
        }
    }

    /// The value as `edits.csv` holds it (shortest exact text for numbers).
    pub fn value(&self) -> String {
        match self {
            Edit::LearningRate(lr) => lr.to_string(),
            Edit::BatchSize(b) => b.to_string(),
            Edit::Optimizer(kind) => format!("{kind:?}"),
            Edit::Dropout(p) => p.to_string(),
        }
    }

    /// Reads a setting and value back; the error says what was expected.
    pub fn parse(setting: &str, value: &str) -> Result<Edit, String> {
        match setting {
            "learning_rate" => value
                .parse()
                .map(Edit::LearningRate)
                .map_err(|_| format!("`{value}` is not a learning rate")),
            "batch_size" => value
                .parse()
                .map(Edit::BatchSize)
                .map_err(|_| format!("`{value}` is not a batch size")),
            "optimizer" => OptimizerKind::ALL
                .into_iter()
                .find(|k| format!("{k:?}") == value)
                .map(Edit::Optimizer)
                .ok_or_else(|| format!("`{value}` is not an optimizer: Gd, Sgd, Momentum or Adam")),
            "dropout" => value
                .parse()
                .map(Edit::Dropout)
                .map_err(|_| format!("`{value}` is not a dropout rate")),
            other => Err(format!(
                "unknown setting `{other}`: learning_rate, batch_size, optimizer or dropout"
            )),
        }
    }
}

/// Appends edits to a run's `edits.csv`, creating it at the first one.
pub(super) struct EditLog {
    path: PathBuf,
    out: Option<BufWriter<File>>,
    started: Instant,
}

impl EditLog {
    /// The log at `path`, appended to if it exists.
    pub(super) fn new(path: PathBuf) -> Self {
        EditLog {
            path,
            out: None,
            started: Instant::now(),
        }
    }

    /// Appends `edit`, taking effect at `step`, and flushes it.
    pub(super) fn append(&mut self, step: u64, edit: &Edit) -> LabResult<()> {
        if self.out.is_none() {
            let exists = self.path.exists();
            let file = File::options()
                .create(true)
                .append(true)
                .open(&self.path)
                .map_err(|e| LabError::io(&self.path, "cannot open", e))?;
            let mut out = BufWriter::new(file);
            if !exists {
                writeln!(out, "{EDITS_HEADER}")
                    .map_err(|e| LabError::io(&self.path, "cannot write", e))?;
            }
            self.out = Some(out);
        }
        let Some(out) = self.out.as_mut() else {
            return Ok(());
        };
        let seconds = self.started.elapsed().as_secs_f64();
        writeln!(
            out,
            "{step},{seconds:.3},{},{}",
            edit.setting(),
            edit.value()
        )
        .and_then(|_| out.flush())
        .map_err(|e| LabError::io(&self.path, "cannot write", e))
    }
}

/// Reads `edits.csv`: each edit and the step it took effect at, in order.
/// A missing file is a run without edits; a last line cut short by a killed
/// run is left out; anything else wrong names the line and column.
pub fn read_edits(path: &Path) -> LabResult<Vec<(u64, Edit)>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(LabError::io(path, "cannot read", e)),
    };
    let mut lines = text.split_inclusive('\n').enumerate();
    match lines.next() {
        Some((_, head)) if head.trim_end() == EDITS_HEADER => {}
        _ => {
            return Err(LabError::run(
                path,
                format!("line 1: expected the header `{EDITS_HEADER}`"),
            ));
        }
    }
    let mut edits: Vec<(u64, Edit)> = Vec::new();
    for (n, line) in lines {
        if !line.ends_with('\n') {
            break;
        }
        let bad = |column: &str, what: String| {
            LabError::run(path, format!("line {}, column `{column}`: {what}", n + 1))
        };
        let cells: Vec<&str> = line.trim_end().split(',').collect();
        let [step, _seconds, setting, value] = cells[..] else {
            return Err(bad(
                "(row)",
                format!("expected 4 values, found {}", cells.len()),
            ));
        };
        let step: u64 = step
            .parse()
            .map_err(|_| bad("step", format!("`{step}` is not a step")))?;
        if edits.last().is_some_and(|(s, _)| *s > step) {
            return Err(bad("step", format!("{step} comes after a later step")));
        }
        let edit = Edit::parse(setting, value).map_err(|m| bad("value", m))?;
        edits.push((step, edit));
    }
    Ok(edits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_round_trip_and_bad_rows_name_line_and_column() {
        let dir = crate::scratch::Scratch::new("edits");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("edits.csv");
        let mut log = EditLog::new(path.clone());
        let edits = [
            (3, Edit::LearningRate(0.0317)),
            (3, Edit::BatchSize(12)),
            (9, Edit::Optimizer(OptimizerKind::Momentum)),
            (11, Edit::Dropout(0.35)),
        ];
        for (step, e) in &edits {
            log.append(*step, e).unwrap();
        }
        assert_eq!(read_edits(&path).unwrap(), edits.to_vec());
        // A row cut short by a kill is left out.
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str("12,4.5,learn");
        std::fs::write(&path, &text).unwrap();
        assert_eq!(read_edits(&path).unwrap().len(), 4);
        let text = text.replace("12,4.5,learn", "12,4.5,optimizer,Adamw\n");
        std::fs::write(&path, &text).unwrap();
        let err = read_edits(&path).unwrap_err().to_string();
        assert!(
            err.contains("line 6, column `value`") && err.contains("Adamw"),
            "{err}"
        );
        assert!(read_edits(&dir.join("none.csv")).unwrap().is_empty());
    }
}
