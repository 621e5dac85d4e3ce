//! `metrics.csv`: one row per evaluation, appended and flushed as training goes.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::lab::error::{LabError, LabResult};
use crate::lab::train::Evaluation;

/// The CSV header; readers rely on the column order.
pub const HEADER: &str = "step,train_loss,test_loss,train_accuracy,test_accuracy,generalization_error,batch_loss,learning_rate,status";

/// Whether the run was healthy at a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunStatus {
    /// Training normally.
    Ok,
    /// The loss became NaN or infinite; training stopped.
    Diverged,
}

impl RunStatus {
    fn as_str(self) -> &'static str {
        match self {
            RunStatus::Ok => "ok",
            RunStatus::Diverged => "diverged",
        }
    }
}

/// One row of `metrics.csv`. Missing values (accuracy of a regression) are NaN.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricsRow {
    /// Updates applied before the measurement.
    pub step: u64,
    /// Data loss on the training set.
    pub train_loss: f32,
    /// Data loss on the test set.
    pub test_loss: f32,
    /// Training accuracy, NaN for regression.
    pub train_accuracy: f32,
    /// Test accuracy, NaN for regression.
    pub test_accuracy: f32,
    /// Loss outside the training region, NaN for classification.
    pub generalization_error: f32,
    /// Loss of the latest mini-batch.
    pub batch_loss: f32,
    /// Learning rate in use.
    pub learning_rate: f32,
    /// Health of the run.
    pub status: RunStatus,
}

impl MetricsRow {
    /// A row from an evaluation.
    pub fn from_eval(eval: &Evaluation, batch_loss: f32, learning_rate: f32) -> Self {
        MetricsRow {
            step: eval.step,
            train_loss: eval.train_loss,
            test_loss: eval.test_loss,
            train_accuracy: eval.train_accuracy.unwrap_or(f32::NAN),
            test_accuracy: eval.test_accuracy.unwrap_or(f32::NAN),
            generalization_error: eval.generalization_error.unwrap_or(f32::NAN),
            batch_loss,
            learning_rate,
            status: if eval.is_diverged() {
                RunStatus::Diverged
            } else {
                RunStatus::Ok
            },
        }
    }

    /// The row marking divergence at `step`, with the loss that blew up.
    pub fn diverged(step: u64, batch_loss: f32, learning_rate: f32) -> Self {
        MetricsRow {
            step,
            train_loss: f32::NAN,
            test_loss: f32::NAN,
            train_accuracy: f32::NAN,
            test_accuracy: f32::NAN,
            generalization_error: f32::NAN,
            batch_loss,
            learning_rate,
            status: RunStatus::Diverged,
        }
    }

    /// The row as a line of `metrics.csv` (without the newline).
    pub fn to_csv(&self) -> String {
        format!(
            "{},{},{},{},{},{},{},{},{}",
            self.step,
            fmt(self.train_loss),
            fmt(self.test_loss),
            fmt(self.train_accuracy),
            fmt(self.test_accuracy),
            fmt(self.generalization_error),
            fmt(self.batch_loss),
            fmt(self.learning_rate),
            self.status.as_str()
        )
    }
}

/// Shortest exact text of a float; NaN and infinities spelled as Rust parses them.
fn fmt(v: f32) -> String {
    if v.is_nan() {
        "nan".into()
    } else {
        v.to_string()
    }
}

/// Appends rows to `metrics.csv`, flushing each one.
pub struct MetricsWriter {
    path: PathBuf,
    out: BufWriter<File>,
}

impl MetricsWriter {
    /// Creates the file and writes the header.
    pub fn create(path: &Path) -> LabResult<Self> {
        let file = File::options()
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(|e| LabError::run(path, format!("cannot create: {e}")))?;
        let mut w = MetricsWriter {
            path: path.to_path_buf(),
            out: BufWriter::new(file),
        };
        w.line(HEADER)?;
        Ok(w)
    }

    /// Appends one row.
    pub fn append(&mut self, row: &MetricsRow) -> LabResult<()> {
        self.line(&row.to_csv())
    }

    fn line(&mut self, text: &str) -> LabResult<()> {
        writeln!(self.out, "{text}")
            .and_then(|_| self.out.flush())
            .map_err(|e| LabError::run(&self.path, format!("cannot write: {e}")))
    }
}

/// Reads `metrics.csv`. A last line cut short by a kill is ignored; a bad line
/// elsewhere is an error naming its line and column.
pub fn read_metrics(path: &Path) -> LabResult<Vec<MetricsRow>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| LabError::run(path, format!("cannot read: {e}")))?;
    let mut lines = text.split('\n').enumerate().peekable();
    match lines.next() {
        Some((_, h)) if h.trim_end() == HEADER => {}
        _ => {
            return Err(LabError::run(
                path,
                format!("line 1: expected the header `{HEADER}`"),
            ));
        }
    }
    let complete = text.ends_with('\n');
    let mut rows = Vec::new();
    while let Some((n, line)) = lines.next() {
        let last = lines.peek().is_none();
        if line.is_empty() {
            continue;
        }
        match parse_row(line) {
            Ok(row) => rows.push(row),
            // The final line of a killed run may be cut anywhere.
            Err(_) if last && !complete => break,
            Err((col, msg)) => {
                return Err(LabError::run(
                    path,
                    format!("line {}, column `{col}`: {msg}", n + 1),
                ));
            }
        }
    }
    Ok(rows)
}

fn parse_row(line: &str) -> Result<MetricsRow, (&'static str, String)> {
    let cols: Vec<&str> = line.trim_end().split(',').collect();
    if cols.len() != 9 {
        return Err(("(row)", format!("expected 9 columns, found {}", cols.len())));
    }
    let f = |i: usize, name: &'static str| -> Result<f32, (&'static str, String)> {
        cols[i]
            .parse::<f32>()
            .map_err(|_| (name, format!("`{}` is not a number", cols[i])))
    };
    Ok(MetricsRow {
        step: cols[0]
            .parse()
            .map_err(|_| ("step", format!("`{}` is not a step number", cols[0])))?,
        train_loss: f(1, "train_loss")?,
        test_loss: f(2, "test_loss")?,
        train_accuracy: f(3, "train_accuracy")?,
        test_accuracy: f(4, "test_accuracy")?,
        generalization_error: f(5, "generalization_error")?,
        batch_loss: f(6, "batch_loss")?,
        learning_rate: f(7, "learning_rate")?,
        status: match cols[8] {
            "ok" => RunStatus::Ok,
            "diverged" => RunStatus::Diverged,
            other => return Err(("status", format!("`{other}` is not ok or diverged"))),
        },
    })
}
