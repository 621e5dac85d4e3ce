//! Reading sweep directories (their finished chunks), run directories
//! (their scene, `metrics.csv` and `scalars.csv`) and TensorBoard log
//! directories (their event files) into one [`Table`].

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;

use super::tensorboard::{LogRun, find_log_runs, is_log_run};
use super::{Column, ColumnKind, Curve, CurveSet, Role, RowId, Source, Table};
use crate::lab::error::{LabError, LabResult};
use crate::lab::frame::{Metrics, RunStatus};
use crate::lab::record::read_metrics;
use crate::lab::record::{RunDir, SCALARS_FILE, SCENE_FILE, read_scalars};
use crate::lab::sweep::SWEEP_FILE;
use crate::lab::sweep::SweepDir;
use crate::lab::sweep::{display_value, scene_field};

/// The scene fields a run directory contributes as columns.
pub const RUN_FIELDS: &[&str] = &[
    "seed",
    "train.optimizer",
    "train.learning_rate",
    "train.batch_size",
    "model.hidden",
    "model.activation",
];

/// The curves a run directory keeps beside the training loss.
const RUN_CURVES: &[&str] = &["test_loss", "train_accuracy", "test_accuracy"];

/// The sweep directories, run directories and TensorBoard runs among
/// `paths`: each path is one, or a folder whose children (sorted by name)
/// are, or a TensorBoard log directory (every folder below it that holds
/// event files is a run).
pub fn find_sources(paths: &[PathBuf]) -> LabResult<Vec<PathBuf>> {
    let is_source =
        |p: &Path| p.join(SWEEP_FILE).is_file() || p.join(SCENE_FILE).is_file() || is_log_run(p);
    let mut out = Vec::new();
    for path in paths {
        if !path.exists() {
            return Err(LabError::run(path, "no such directory"));
        }
        if is_source(path) {
            out.push(path.clone());
            continue;
        }
        let listing = std::fs::read_dir(path).map_err(|e| LabError::io(path, "cannot list", e))?;
        let mut children: Vec<PathBuf> = listing
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| is_source(p))
            .collect();
        if children.is_empty() {
            children = find_log_runs(path)?;
        }
        if children.is_empty() {
            return Err(LabError::run(
                path,
                format!(
                    "neither a sweep directory ({SWEEP_FILE}), a run directory ({SCENE_FILE}), a TensorBoard log directory (events.out.tfevents.*) nor a folder of them"
                ),
            ));
        }
        children.sort();
        out.extend(children);
    }
    Ok(out)
}

/// One row before the columns are built.
struct RowData {
    id: RowId,
    params: HashMap<String, Value>,
    diverged_at: Option<u64>,
    metrics: Metrics,
    /// `train_loss`, then [`RUN_CURVES`].
    curves: Vec<Curve>,
    /// Named series besides the metrics (a run's `scalars.csv`, a
    /// TensorBoard run's tags), by name.
    scalars: BTreeMap<String, Curve>,
}

impl Table {
    /// Reads `paths` (sweep directories, run directories, or folders of them).
    pub fn load(paths: &[PathBuf]) -> LabResult<Table> {
        let mut sources = Vec::new();
        let mut rows = Vec::new();
        let mut fields: Vec<String> = Vec::new();
        let mut log_fields: Vec<String> = Vec::new();
        for path in find_sources(paths)? {
            let index = sources.len();
            if path.join(SWEEP_FILE).is_file() {
                let (dir, sweep, _) = SweepDir::open(&path)?;
                for (a, f) in sweep.fields().into_iter().enumerate() {
                    if !fields.iter().any(|g| g == f) {
                        fields.push(f.to_string());
                    }
                    if sweep.axis_is_log(a) {
                        log_fields.push(f.to_string());
                    }
                }
                read_sweep(&dir, &sweep, index, &mut rows)?;
                sources.push(Source::Sweep {
                    path,
                    sweep: Box::new(sweep),
                });
            } else if path.join(SCENE_FILE).is_file() {
                for f in RUN_FIELDS {
                    if !fields.iter().any(|g| g == f) {
                        fields.push(f.to_string());
                    }
                }
                rows.push(read_run(&path, index)?);
                sources.push(Source::Run { path });
            } else {
                let run = LogRun::read(&path)?;
                for f in run.hparams.keys() {
                    if !fields.iter().any(|g| g == f) {
                        fields.push(f.clone());
                    }
                }
                rows.push(log_row(run, index));
                sources.push(Source::Logs { path });
            }
        }
        // Sweep rows take the base scene's value for a field another sweep swept.
        for row in &mut rows {
            if let Source::Sweep { sweep, .. } = &sources[row.id.source] {
                for f in &fields {
                    if !row.params.contains_key(f)
                        && let Some(v) = sweep.base_field(f)
                    {
                        row.params.insert(f.clone(), v);
                    }
                }
            }
        }
        Ok(build(sources, rows, &fields, &log_fields))
    }
}

/// The finished models of a sweep directory, in model order.
fn read_sweep(
    dir: &SweepDir,
    sweep: &crate::lab::sweep::Sweep,
    source: usize,
    rows: &mut Vec<RowData>,
) -> LabResult<()> {
    let mut models = Vec::new();
    for c in dir.done_chunks()? {
        models.extend(dir.read_chunk(c)?);
    }
    models.sort_by_key(|m| m.model);
    // The steps of the longest curve, shared by every curve that is a prefix of it.
    let longest: Arc<[u64]> = models
        .iter()
        .max_by_key(|m| m.curve.len())
        .map(|m| m.curve.iter().map(|(s, _)| *s).collect())
        .unwrap_or_else(|| Arc::from(Vec::new()));
    let fields = sweep.fields();
    for m in models {
        let own: Vec<u64> = m.curve.iter().map(|(s, _)| *s).collect();
        let steps = if longest.starts_with(&own) {
            longest.clone()
        } else {
            Arc::from(own)
        };
        let values = m.curve.iter().map(|(_, l)| *l).collect();
        let params = fields
            .iter()
            .zip(sweep.values(m.model))
            .map(|(f, v)| (f.to_string(), v))
            .collect();
        rows.push(RowData {
            id: RowId {
                source,
                model: m.model,
            },
            params,
            diverged_at: m.diverged_at,
            metrics: m.metrics,
            curves: vec![Curve { steps, values }],
            scalars: BTreeMap::new(),
        });
    }
    Ok(())
}

/// A run directory's scene fields, final metrics and curves.
fn read_run(path: &Path, source: usize) -> LabResult<RowData> {
    let dir = RunDir::open(path)?;
    let scene = dir.scene()?;
    let history = read_metrics(&dir.metrics_path())?;
    let params = RUN_FIELDS
        .iter()
        .filter_map(|f| scene_field(&scene, f).map(|v| (f.to_string(), v)))
        .collect();
    let curve = |get: fn(&Metrics) -> Option<f32>| {
        let (steps, values): (Vec<u64>, Vec<f32>) = history
            .iter()
            .filter_map(|m| get(m).map(|v| (m.step, v)))
            .unzip();
        Curve {
            steps: Arc::from(steps),
            values,
        }
    };
    let mut curves = vec![curve(|m| m.train_loss)];
    for name in RUN_CURVES {
        let Some(measure) = Metrics::MEASURES.iter().find(|m| m.name == *name) else {
            continue;
        };
        curves.push(curve(measure.get));
    }
    let diverged_at = history
        .iter()
        .find(|m| m.status == RunStatus::Diverged)
        .map(|m| m.step);
    // The last row has the final evaluation; a killed run's last record stands.
    let metrics = history.last().copied().unwrap_or_default();
    let mut scalars: BTreeMap<String, Vec<(u64, f32)>> = BTreeMap::new();
    let scalars_file = path.join(SCALARS_FILE);
    if scalars_file.is_file() {
        for (step, name, value) in read_scalars(&scalars_file)? {
            scalars.entry(name).or_default().push((step, value as f32));
        }
    }
    Ok(RowData {
        id: RowId { source, model: 0 },
        params,
        diverged_at,
        metrics,
        curves,
        scalars: scalars.into_iter().map(|(n, s)| (n, curve_of(s))).collect(),
    })
}

/// A TensorBoard run: its hparams, and a series per scalar tag.
fn log_row(run: LogRun, source: usize) -> RowData {
    RowData {
        id: RowId { source, model: 0 },
        params: run.hparams.into_iter().collect(),
        diverged_at: None,
        metrics: Metrics::default(),
        curves: Vec::new(),
        scalars: run
            .scalars
            .into_iter()
            .map(|(tag, by_step)| (tag, curve_of(by_step.into_iter().collect())))
            .collect(),
    }
}

fn curve_of(points: Vec<(u64, f32)>) -> Curve {
    let (steps, values): (Vec<u64>, Vec<f32>) = points.into_iter().unzip();
    Curve {
        steps: Arc::from(steps),
        values,
    }
}

/// The columns and curve sets of `rows`.
fn build(sources: Vec<Source>, rows: Vec<RowData>, fields: &[String], log: &[String]) -> Table {
    let n = rows.len();
    let mut columns = Vec::new();
    if sources.len() > 1 {
        let levels: Vec<String> = sources.iter().map(Source::name).collect();
        columns.push(Column {
            name: "source".into(),
            role: Role::Id,
            kind: ColumnKind::Category(levels),
            values: rows.iter().map(|r| r.id.source as f32).collect(),
        });
    }
    columns.push(Column {
        name: "model".into(),
        role: Role::Id,
        kind: ColumnKind::Number { log: false },
        values: rows.iter().map(|r| r.id.model as f32).collect(),
    });
    for f in fields {
        let cells: Vec<Option<&Value>> = rows.iter().map(|r| r.params.get(f)).collect();
        columns.push(param_column(f, &cells, log.contains(f)));
    }
    columns.push(Column {
        name: "status".into(),
        role: Role::Metric,
        kind: ColumnKind::Category(vec!["ok".into(), "diverged".into()]),
        values: rows
            .iter()
            .map(|r| {
                let diverged = r.diverged_at.is_some() || r.metrics.status == RunStatus::Diverged;
                f32::from(u8::from(diverged))
            })
            .collect(),
    });
    columns.push(Column {
        name: "diverged_at".into(),
        role: Role::Metric,
        kind: ColumnKind::Number { log: false },
        values: rows
            .iter()
            .map(|r| r.diverged_at.map_or(f32::NAN, |s| s as f32))
            .collect(),
    });
    for measure in Metrics::MEASURES {
        let values: Vec<f32> = rows
            .iter()
            .map(|r| (measure.get)(&r.metrics).unwrap_or(f32::NAN))
            .collect();
        if values.iter().any(|v| !v.is_nan()) {
            let log = measure.name.ends_with("_loss") && spans_decades(&values);
            columns.push(Column {
                name: measure.name.into(),
                role: Role::Metric,
                kind: ColumnKind::Number { log },
                values,
            });
        }
    }
    // Every named series: its last value as a column, its curve as a set.
    let names: std::collections::BTreeSet<&String> =
        rows.iter().flat_map(|r| r.scalars.keys()).collect();
    let mut scalar_sets = Vec::new();
    for name in names {
        let column = match columns.iter().any(|c| c.name == *name) {
            true => format!("scalar.{name}"),
            false => name.clone(),
        };
        let set: Vec<Curve> = rows
            .iter()
            .map(|r| r.scalars.get(name).cloned().unwrap_or_default())
            .collect();
        let values: Vec<f32> = set
            .iter()
            .map(|c| c.values.last().copied().unwrap_or(f32::NAN))
            .collect();
        let log = spans_decades(&values) && name.contains("loss");
        columns.push(Column {
            name: column.clone(),
            role: Role::Metric,
            kind: ColumnKind::Number { log },
            values,
        });
        scalar_sets.push(CurveSet {
            name: column,
            rows: set,
        });
    }
    let mut curves = Vec::new();
    for (i, name) in std::iter::once("train_loss")
        .chain(RUN_CURVES.iter().copied())
        .enumerate()
    {
        let set: Vec<Curve> = rows
            .iter()
            .map(|r| r.curves.get(i).cloned().unwrap_or_default())
            .collect();
        if i == 0 || set.iter().any(|c| !c.values.is_empty()) {
            curves.push(CurveSet {
                name: name.into(),
                rows: set,
            });
        }
    }
    curves.extend(scalar_sets);
    debug_assert!(columns.iter().all(|c| c.values.len() == n));
    Table {
        sources,
        ids: rows.iter().map(|r| r.id).collect(),
        columns,
        curves,
    }
}

/// A column of a scene field: numbers when every value is one, else categories.
fn param_column(name: &str, cells: &[Option<&Value>], swept_log: bool) -> Column {
    let numeric = cells.iter().flatten().all(|v| v.is_number());
    if numeric {
        let values: Vec<f32> = cells
            .iter()
            .map(|v| v.and_then(Value::as_f64).map_or(f32::NAN, |f| f as f32))
            .collect();
        let log = swept_log || spans_decades(&values);
        return Column {
            name: name.into(),
            role: Role::Param,
            kind: ColumnKind::Number { log },
            values,
        };
    }
    let mut levels: Vec<String> = Vec::new();
    let values = cells
        .iter()
        .map(|v| match v {
            None => f32::NAN,
            Some(v) => {
                let text = display_value(v);
                let i = levels.iter().position(|l| *l == text).unwrap_or_else(|| {
                    levels.push(text);
                    levels.len() - 1
                });
                i as f32
            }
        })
        .collect();
    Column {
        name: name.into(),
        role: Role::Param,
        kind: ColumnKind::Category(levels),
        values,
    }
}

/// Whether the finite values are all positive and span two decades or more.
fn spans_decades(values: &[f32]) -> bool {
    let (mut lo, mut hi) = (f32::INFINITY, 0f32);
    for &v in values.iter().filter(|v| v.is_finite()) {
        if v <= 0.0 {
            return false;
        }
        lo = lo.min(v);
        hi = hi.max(v);
    }
    hi >= 100.0 * lo
}
