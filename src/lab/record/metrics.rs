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
use crate::lab::frame::{Frame, LayerStats};
use crate::lab::frame::{Metrics, RunStatus};

/// The CSV header this build writes.
pub(super) fn header() -> String {
    Metrics::columns().collect::<Vec<_>>().join(",")
}

/// A measurement as a line of `metrics.csv` (without the newline). Missing
/// values are `nan`.
pub(super) fn csv_row(m: &Metrics) -> String {
    let mut out = m.step.to_string();
    for measure in Metrics::MEASURES {
        out.push(',');
        out.push_str(&crate::lab::format_value((measure.get)(m), None));
    }
    out.push(',');
    out.push_str(m.status.as_str());
    out
}

/// The header of `layers.csv`: a row per weight layer and recorded step.
pub(super) fn layers_header() -> String {
    let mut out = String::from("step,layer");
    for name in LayerStats::NAMES {
        out.push(',');
        out.push_str(name);
    }
    out
}

/// The `layers.csv` rows of a frame's stats (one per layer, input side
/// first, newline-terminated); missing values are `nan`.
pub(super) fn layers_rows(frame: &Frame) -> String {
    let mut out = String::new();
    for (l, stats) in frame.stats.iter().enumerate() {
        out.push_str(&format!("{},{l}", frame.step));
        for v in stats.values() {
            out.push(',');
            out.push_str(&crate::lab::format_value(Some(v), None));
        }
        out.push('\n');
    }
    out
}

/// Cuts the rows of step `step` and after from a CSV file whose first
/// column is the step (`metrics.csv`, `layers.csv`, `spectrum.csv`), and a
/// last row cut short; the header and every earlier row keep their bytes.
/// A missing file is left missing. The file is replaced whole, by rename.
pub(super) fn cut_rows(path: &Path, step: u64) -> LabResult<()> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(LabError::io(path, "cannot read", e)),
    };
    let mut kept = String::with_capacity(text.len());
    for (n, line) in text.split_inclusive('\n').enumerate() {
        if !line.ends_with('\n') {
            break;
        }
        let before = line
            .split(',')
            .next()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .is_some_and(|s| s < step);
        if n == 0 || before {
            kept.push_str(line);
        }
    }
    if kept.len() == text.len() {
        return Ok(());
    }
    let aside = path.with_extension("csv.partial");
    std::fs::write(&aside, kept).map_err(|e| LabError::io(&aside, "cannot write", e))?;
    std::fs::rename(&aside, path).map_err(|e| LabError::io(path, "cannot replace", e))
}

/// Reads `layers.csv`: each recorded step's stats, one per layer, in step
/// order. A missing file (a run older than the file, or one without frames)
/// reads as none; a last line cut short by a running writer is left out, and
/// so is a step whose rows are not all written yet (fewer than `layers`).
pub fn read_layers(path: &Path, layers: usize) -> LabResult<Vec<(u64, Vec<LayerStats>)>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(LabError::io(path, "cannot read", e)),
    };
    let mut lines = text.split('\n').enumerate();
    let head = lines.next().map(|(_, h)| h.trim_end()).unwrap_or_default();
    if head != layers_header() {
        return Err(LabError::run(
            path,
            format!("line 1: expected the header `{}`", layers_header()),
        ));
    }
    let complete_lines = text.matches('\n').count();
    let mut out: Vec<(u64, Vec<LayerStats>)> = Vec::new();
    for (n, line) in lines {
        if n >= complete_lines || line.is_empty() {
            break;
        }
        let bad = |column: &str, what: &str| {
            LabError::run(path, format!("line {}, column `{column}`: {what}", n + 1))
        };
        let cells: Vec<&str> = line.trim_end().split(',').collect();
        if cells.len() != 2 + LayerStats::NAMES.len() {
            return Err(bad(
                "(row)",
                &format!(
                    "expected {} values, found {}",
                    2 + LayerStats::NAMES.len(),
                    cells.len()
                ),
            ));
        }
        let step: u64 = cells[0].parse().map_err(|_| bad("step", "not a step"))?;
        let layer: usize = cells[1].parse().map_err(|_| bad("layer", "not a layer"))?;
        let mut v = [0f32; 7];
        for (i, (cell, name)) in cells[2..].iter().zip(LayerStats::NAMES).enumerate() {
            v[i] = cell.parse().map_err(|_| bad(name, "not a number"))?;
        }
        let stats = LayerStats {
            weight_norm: v[0],
            grad_norm: v[1],
            update_norm: v[2],
            activation_mean: v[4],
            activation_std: v[5],
            dead_fraction: v[6],
        };
        match out.last_mut() {
            Some((s, group)) if *s == step && group.len() == layer => group.push(stats),
            _ if layer == 0 => out.push((step, vec![stats])),
            _ => return Err(bad("layer", "rows out of order")),
        }
    }
    if out.last().is_some_and(|(_, g)| g.len() < layers) {
        out.pop();
    }
    Ok(out)
}

/// Appends rows to `metrics.csv` (or `layers.csv`), flushing each one.
pub struct MetricsWriter {
    path: PathBuf,
    out: BufWriter<File>,
}

impl MetricsWriter {
    /// Creates the file and writes the header.
    pub fn create(path: &Path) -> LabResult<Self> {
        Self::create_with(path, &header())
    }

    /// Creates `layers.csv` and writes its header.
    pub fn create_layers(path: &Path) -> LabResult<Self> {
        Self::create_with(path, &layers_header())
    }

    /// Creates a new file (it must not exist) starting with `head`.
    fn create_with(path: &Path, head: &str) -> LabResult<Self> {
        let file = File::options()
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(|e| LabError::io(path, "cannot create", e))?;
        let mut w = MetricsWriter {
            path: path.to_path_buf(),
            out: BufWriter::new(file),
        };
        w.line(head)?;
        Ok(w)
    }

    /// Opens an existing file to append rows to it.
    pub fn append_to(path: &Path) -> LabResult<Self> {
        let file = File::options()
            .append(true)
            .open(path)
            .map_err(|e| LabError::io(path, "cannot open", e))?;
        Ok(MetricsWriter {
            path: path.to_path_buf(),
            out: BufWriter::new(file),
        })
    }

    /// Appends one row.
    pub fn append(&mut self, m: &Metrics) -> LabResult<()> {
        self.line(&csv_row(m))
    }

    /// Appends a frame's `layers.csv` rows and flushes them.
    pub fn append_layers(&mut self, frame: &Frame) -> LabResult<()> {
        if frame.stats.is_empty() {
            return Ok(());
        }
        self.out
            .write_all(layers_rows(frame).as_bytes())
            .and_then(|_| self.out.flush())
            .map_err(|e| LabError::io(&self.path, "cannot write", e))
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
    Measure(crate::lab::frame::Measure),
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
