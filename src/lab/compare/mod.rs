//! Comparisons of many runs: the models of sweep directories and the runs of
//! run directories as one table (a column per swept value and per final
//! metric), with their curves, queries (filters, brushes, sorting), groups
//! aggregated over the other fields, and a sweep's two-axis landscape.
//!
//! Plain data for the browser (`app::browser`) and for scripts; no Bevy.

mod group;
mod landscape;
mod load;
mod query;
mod tensorboard;

pub use group::{Band, group_curves};
pub use landscape::{GridAxis, Landscape};
pub use load::{RUN_FIELDS, find_sources};
pub use query::{Filter, Query, Sort};
pub use tensorboard::{LogRun, find_log_runs, is_log_run};

use std::path::PathBuf;
use std::sync::Arc;

use crate::lab::sweep::Sweep;
use crate::lab::sweep::csv_cell;

/// What a column holds.
#[derive(Debug, Clone, PartialEq)]
pub enum ColumnKind {
    /// Numbers; `log` when they are positive and span decades.
    Number {
        /// Drawn on a log axis.
        log: bool,
    },
    /// Named levels (an optimiser, a layer list, a status); the values are
    /// indices into them, in the order they were first met or swept.
    Category(Vec<String>),
}

/// Where a column comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Which source and model a row is.
    Id,
    /// A hyperparameter (a scene field).
    Param,
    /// A final measurement.
    Metric,
}

/// `v` in its shortest exact form: plain between 10⁻⁴ and 10⁶, scientific
/// beyond (Rust's plain form of 3.4e38 has 39 digits).
pub fn exact_number(v: f32) -> String {
    if v.is_finite() && v != 0.0 && !(1e-4..1e6).contains(&v.abs()) {
        format!("{v:e}")
    } else {
        format!("{v}")
    }
}

/// `v` for a narrow place (an axis tick): at most four significant digits,
/// scientific beyond 10⁵ and below 10⁻³.
pub fn compact_number(v: f32) -> String {
    if !v.is_finite() {
        return format!("{v}");
    }
    if v != 0.0 && !(1e-3..1e5).contains(&v.abs()) {
        return format!("{v:.1e}");
    }
    let magnitude = if v == 0.0 {
        0
    } else {
        v.abs().log10().floor() as i32
    };
    let decimals = (3 - magnitude).clamp(0, 4) as usize;
    let text = format!("{v:.decimals$}");
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.')
    } else {
        &text
    };
    match text {
        "-0" => "0".into(),
        t => t.into(),
    }
}

/// One column: a value per row, `NaN` where a row has none.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    /// The field or measure, such as `train.learning_rate` or `test_loss`.
    pub name: String,
    /// Its role.
    pub role: Role,
    /// Numbers or categories.
    pub kind: ColumnKind,
    /// The values (category indices for categories).
    pub values: Vec<f32>,
}

impl Column {
    /// Row `row`'s value as text: a number in its shortest exact form
    /// (scientific beyond 10⁶ and below 10⁻⁴, so that a diverged loss is
    /// `3.4e38`, not 39 digits), a level's name.
    pub fn text(&self, row: usize) -> String {
        let v = self.values.get(row).copied().unwrap_or(f32::NAN);
        if v.is_nan() {
            return String::new();
        }
        match &self.kind {
            ColumnKind::Number { .. } => exact_number(v),
            ColumnKind::Category(levels) => levels.get(v as usize).cloned().unwrap_or_default(),
        }
    }

    /// The smallest and largest finite value (positive only on a log axis), if any.
    pub fn range(&self) -> Option<(f32, f32)> {
        let log = matches!(self.kind, ColumnKind::Number { log: true });
        let mut out: Option<(f32, f32)> = None;
        for &v in &self.values {
            if v.is_finite() && (!log || v > 0.0) {
                out = Some(out.map_or((v, v), |(lo, hi)| (lo.min(v), hi.max(v))));
            }
        }
        out
    }

    /// Whether it is a category column.
    pub fn is_category(&self) -> bool {
        matches!(self.kind, ColumnKind::Category(_))
    }
}

/// A curve of one row: its loss (or accuracy) at kept steps.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Curve {
    /// The steps, shared by the rows of a sweep.
    pub steps: Arc<[u64]>,
    /// The values at the first `values.len()` steps (a diverged model's curve stops).
    pub values: Vec<f32>,
}

impl Curve {
    /// (step, value) points.
    pub fn points(&self) -> impl Iterator<Item = (u64, f32)> + '_ {
        self.steps.iter().copied().zip(self.values.iter().copied())
    }
}

/// One kind of curve for every row, such as `train_loss`.
#[derive(Debug, Clone, PartialEq)]
pub struct CurveSet {
    /// The measure, as `metrics.csv` names it.
    pub name: String,
    /// A curve per row (empty where a row kept none).
    pub rows: Vec<Curve>,
}

/// A directory the table was read from.
#[derive(Debug, Clone)]
pub enum Source {
    /// A sweep directory, with its sweep.
    Sweep {
        /// The directory.
        path: PathBuf,
        /// Its resolved sweep.
        sweep: Box<Sweep>,
    },
    /// A run directory.
    Run {
        /// The directory.
        path: PathBuf,
    },
    /// A TensorBoard run: a folder of event files.
    Logs {
        /// The folder.
        path: PathBuf,
    },
}

impl Source {
    /// The directory.
    pub fn path(&self) -> &std::path::Path {
        match self {
            Source::Sweep { path, .. } | Source::Run { path } | Source::Logs { path } => path,
        }
    }

    /// The directory's name.
    pub fn name(&self) -> String {
        self.path()
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| self.path().display().to_string())
    }
}

/// Which source and model a row is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowId {
    /// Index into [`Table::sources`].
    pub source: usize,
    /// The model's index in its sweep (0 for a run directory).
    pub model: usize,
}

/// Every model and run of the compared directories.
#[derive(Debug, Clone)]
pub struct Table {
    /// The directories, in the order given (folders expanded, sorted by path).
    pub sources: Vec<Source>,
    /// Which source and model each row is.
    pub ids: Vec<RowId>,
    /// The columns: ids, then parameters, then metrics.
    pub columns: Vec<Column>,
    /// The kept curves; `train_loss` first.
    pub curves: Vec<CurveSet>,
}

impl Table {
    /// Rows.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether it has no rows.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The column named `name`.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }

    /// The curves named `name`.
    pub fn curve_set(&self, name: &str) -> Option<&CurveSet> {
        self.curves.iter().find(|c| c.name == name)
    }

    /// A row's name: `<sweep dir>#<model>`, or the run directory's name.
    pub fn row_name(&self, row: usize) -> String {
        let Some(id) = self.ids.get(row) else {
            return String::new();
        };
        match &self.sources[id.source] {
            s @ Source::Sweep { .. } => format!("{}#{}", s.name(), id.model),
            s @ (Source::Run { .. } | Source::Logs { .. }) => s.name(),
        }
    }

    /// The row of model `model` of source `source`.
    pub fn row_of(&self, source: usize, model: usize) -> Option<usize> {
        self.ids
            .iter()
            .position(|id| id.source == source && id.model == model)
    }

    /// The table as CSV: a header, then `rows` (a row's name first).
    pub fn to_csv(&self, rows: &[u32]) -> String {
        let mut out = String::from("row");
        for c in &self.columns {
            out.push(',');
            out.push_str(&csv_cell(&c.name));
        }
        out.push('\n');
        for &r in rows {
            out.push_str(&csv_cell(&self.row_name(r as usize)));
            for c in &self.columns {
                out.push(',');
                out.push_str(&csv_cell(&c.text(r as usize)));
            }
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
pub(crate) mod tests;
