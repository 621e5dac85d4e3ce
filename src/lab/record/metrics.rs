//! `metrics.csv`: one [`Metrics`] row per evaluation, appended and flushed as training goes.
//!
//! The columns are `step`, every measure of [`Metrics::MEASURES`], then
//! `status`. Readers go by the header's names, so files written before a
//! measure existed still read (that measure is missing), and so do columns
//! they do not know.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::lab::error::{LabError, LabResult};
use crate::lab::metrics::{Metrics, RunStatus};

/// The CSV header this build writes.
pub fn header() -> String {
    Metrics::columns().collect::<Vec<_>>().join(",")
}

/// A measurement as a line of `metrics.csv` (without the newline). Missing
/// values are `nan`.
pub fn csv_row(m: &Metrics) -> String {
    let mut out = m.step.to_string();
    for measure in Metrics::MEASURES {
        out.push(',');
        out.push_str(&crate::lab::format_value((measure.get)(m), None));
    }
    out.push(',');
    out.push_str(m.status.as_str());
    out
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
            .map_err(|e| LabError::io(path, "cannot create", e))?;
        let mut w = MetricsWriter {
            path: path.to_path_buf(),
            out: BufWriter::new(file),
        };
        w.line(&header())?;
        Ok(w)
    }

    /// Appends one row.
    pub fn append(&mut self, m: &Metrics) -> LabResult<()> {
        self.line(&csv_row(m))
    }

    fn line(&mut self, text: &str) -> LabResult<()> {
        writeln!(self.out, "{text}")
            .and_then(|_| self.out.flush())
            .map_err(|e| LabError::io(&self.path, "cannot write", e))
    }
}

/// What each column of a file's header is.
enum Column {
    Step,
    Status,
    Measure(crate::lab::metrics::Measure),
    Unknown,
}

/// Reads `metrics.csv`. A last line cut short by a kill is ignored; a bad line
/// elsewhere is an error naming its line and column.
pub fn read_metrics(path: &Path) -> LabResult<Vec<Metrics>> {
    let text = std::fs::read_to_string(path).map_err(|e| LabError::io(path, "cannot read", e))?;
    parse_metrics(&text, path)
}

/// Parses the text of a `metrics.csv`; `path` names it in errors.
pub fn parse_metrics(text: &str, path: &Path) -> LabResult<Vec<Metrics>> {
    let mut lines = text.split('\n').enumerate().peekable();
    let head = lines.next().map(|(_, h)| h.trim_end()).unwrap_or_default();
    let columns: Vec<(&str, Column)> = head
        .split(',')
        .map(|name| {
            let column = match name {
                "step" => Column::Step,
                "status" => Column::Status,
                _ => Metrics::measure(name).map_or(Column::Unknown, Column::Measure),
            };
            (name, column)
        })
        .collect();
    if !columns.iter().any(|(_, c)| matches!(c, Column::Step)) {
        return Err(LabError::run(
            path,
            format!(
                "line 1: expected a header naming the columns, such as `{}`",
                header()
            ),
        ));
    }
    let complete = text.ends_with('\n');
    let mut rows = Vec::new();
    while let Some((n, line)) = lines.next() {
        let last = lines.peek().is_none();
        if line.is_empty() {
            continue;
        }
        match parse_row(line, &columns) {
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

fn parse_row(line: &str, columns: &[(&str, Column)]) -> Result<Metrics, (String, String)> {
    let cells: Vec<&str> = line.trim_end().split(',').collect();
    if cells.len() != columns.len() {
        return Err((
            "(row)".into(),
            format!("expected {} columns, found {}", columns.len(), cells.len()),
        ));
    }
    let mut m = Metrics::default();
    for ((name, column), cell) in columns.iter().zip(cells) {
        let bad = |what: &str| ((*name).to_string(), format!("`{cell}` is not {what}"));
        match column {
            Column::Step => m.step = cell.parse().map_err(|_| bad("a step number"))?,
            Column::Status => {
                m.status = RunStatus::parse(cell).ok_or_else(|| bad("ok or diverged"))?;
            }
            Column::Measure(measure) => {
                let v: f32 = cell.parse().map_err(|_| bad("a number"))?;
                (measure.set)(&mut m, (!v.is_nan()).then_some(v));
            }
            Column::Unknown => {}
        }
    }
    Ok(m)
}
