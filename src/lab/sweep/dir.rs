//! Sweep directories: `runs/<sweep>_<NNN>/`, written chunk by chunk so that
//! a killed sweep loses at most the chunks in flight, then assembled.
//!
//! - `sweep.ron`: the resolved spec (base inlined); it loads as a sweep file.
//! - `shard.ron`: which shard of the sweep this directory holds, if one.
//! - `chunks/NNNNNN.csv`: each finished chunk's models, written whole (a
//!   temporary file renamed into place), so a chunk is either there or not.
//! - `models.csv`: a row per model: its index, group, every swept value, its
//!   status, divergence step, convergence score, final metrics and the row of
//!   its initial weights in its group's `init.npy`.
//! - `curves.csv.gz`: a row per model, a column per kept step, the training
//!   loss (empty after divergence): `pandas.read_csv("curves.csv.gz", index_col="model")`.
//! - `groups.csv` and `groups/<g>/`: each group's network and training settings, its data
//!   set (`x_train.npy`, `y_train.npy`, `x_test.npy`, `y_test.npy`) and its
//!   distinct initial weights (`init.npy`, `[n, parameters]`, each layer's
//!   weights `[in][out]` row-major, then its biases, layer by layer).
//! - `map.png`: for a grid over two numeric axes, the convergence score as a heat map.
//! - `models/`: run directories of the models listed in `keep.frames`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::map::{HeatMap, MapAxis, render_png};
use super::plan::{ModelRow, Plan, Shard};
use super::spec::{Sweep, display_value};
use crate::lab::data::Targets;
use crate::lab::data::npy;
use crate::lab::error::{LabError, LabResult};
use crate::lab::frame::{Metrics, RunStatus};
use crate::lab::record::RunDir;
use crate::lab::runner::Session;
use crate::lab::scene::OptimizerKind;
use crate::lab::scene::Presets;
use crate::lab::{CpuBackend, Scene};

/// The resolved spec.
pub const SWEEP_FILE: &str = "sweep.ron";
/// Which shard a directory holds.
pub(super) const SHARD_FILE: &str = "shard.ron";
/// One row per model.
pub const MODELS_FILE: &str = "models.csv";
/// The kept training curves.
pub(super) const CURVES_FILE: &str = "curves.csv.gz";
/// One row per group.
pub(super) const GROUPS_FILE: &str = "groups.csv";
/// The heat map of a two-axis grid.
pub(super) const MAP_FILE: &str = "map.png";
/// Finished chunks.
pub(super) const CHUNKS_DIR: &str = "chunks";
/// Each group's data and initial weights.
pub(super) const GROUPS_DIR: &str = "groups";
/// Run directories of the models kept with their frames.
pub(super) const MODELS_DIR: &str = "models";

/// The measures `models.csv` may hold, after the fixed columns (those no
/// model has are left out).
const MEASURES: &[&str] = &[
    "train_loss",
    "test_loss",
    "train_accuracy",
    "test_accuracy",
    "generalization_error",
    "sharpness",
    "sharpness_threshold",
    "sharpness_ratio",
    "solution_error",
];

/// Where one model of a sweep can be opened from.
#[derive(Debug, Clone)]
pub enum ModelSource {
    /// Its run directory, frames included: replay it.
    Recording(PathBuf),
    /// Its scene: train it again (the sweep's models are deterministic).
    Scene(Box<Scene>),
}

/// A sweep directory on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SweepDir {
    /// Its path.
    pub path: PathBuf,
}

/// What a finished sweep found, for the closing lines.
#[derive(Debug, Clone)]
pub struct Report {
    /// Models in the sweep.
    pub models: usize,
    /// Models whose loss fell without diverging.
    pub converged: usize,
    /// Models that diverged.
    pub diverged: usize,
    /// The best models (lowest final test loss), best first.
    pub best: Vec<(ModelRow, Vec<String>)>,
    /// Whether `map.png` was drawn.
    pub map: bool,
}

impl SweepDir {
    /// Creates the directory of a new sweep: `dir` itself when given (it must
    /// not hold a sweep yet), else `root/<name>_<NNN>`; writes `sweep.ron`
    /// and, for a shard, `shard.ron`.
    pub fn create(
        dir: Option<&Path>,
        root: &Path,
        sweep: &Sweep,
        shard: Option<Shard>,
    ) -> LabResult<SweepDir> {
        let path = match dir {
            Some(d) => {
                if d.join(SWEEP_FILE).exists() {
                    return Err(LabError::run(
                        d,
                        format!(
                            "already holds a sweep; `nnm sweep resume {}` finishes it",
                            d.display()
                        ),
                    ));
                }
                std::fs::create_dir_all(d)
                    .map_err(|e| LabError::io(d, "cannot create the sweep directory", e))?;
                d.to_path_buf()
            }
            None => RunDir::create(root, sweep.name())?.path,
        };
        let out = SweepDir { path };
        write_atomic(&out.path.join(SWEEP_FILE), sweep.to_ron()?.as_bytes())?;
        if let Some(s) = shard {
            let text = ron::ser::to_string(&s)
                .map_err(|e| LabError::run(&out.path, format!("cannot write the shard: {e}")))?;
            write_atomic(&out.path.join(SHARD_FILE), format!("{text}\n").as_bytes())?;
        }
        Ok(out)
    }

    /// Opens a sweep directory: its sweep and its shard, if it holds one.
    pub fn open(path: &Path) -> LabResult<(SweepDir, Sweep, Option<Shard>)> {
        let file = path.join(SWEEP_FILE);
        if !file.is_file() {
            return Err(LabError::run(
                path,
                format!("not a sweep directory: it has no {SWEEP_FILE}"),
            ));
        }
        let sweep = Sweep::load(&file, &Presets::built_in())?;
        let shard_file = path.join(SHARD_FILE);
        let shard = if shard_file.is_file() {
            let text = std::fs::read_to_string(&shard_file)
                .map_err(|e| LabError::io(&shard_file, "cannot read", e))?;
            Some(ron::from_str::<Shard>(&text).map_err(|e| {
                LabError::run(
                    &shard_file,
                    format!("line {}: {}", e.span.start.line, e.code),
                )
            })?)
        } else {
            None
        };
        Ok((
            SweepDir {
                path: path.to_path_buf(),
            },
            sweep,
            shard,
        ))
    }

    fn chunk_path(&self, c: usize) -> PathBuf {
        self.path.join(CHUNKS_DIR).join(format!("{c:06}.csv"))
    }

    /// The chunks written so far.
    pub fn done_chunks(&self) -> LabResult<BTreeSet<usize>> {
        let dir = self.path.join(CHUNKS_DIR);
        if !dir.is_dir() {
            return Ok(BTreeSet::new());
        }
        let entries = std::fs::read_dir(&dir).map_err(|e| LabError::io(&dir, "cannot list", e))?;
        Ok(entries
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                name.strip_suffix(".csv")
                    .and_then(|n| n.parse::<usize>().ok())
            })
            .collect())
    }

    /// Writes chunk `c`'s rows, whole or not at all.
    pub fn write_chunk(&self, c: usize, rows: &[ModelRow]) -> LabResult<()> {
        let mut text = String::new();
        for r in rows {
            let m = &r.metrics;
            text.push_str(&format!(
                "m,{},{},{}",
                r.model,
                m.status.as_str(),
                opt_u64(r.diverged_at)
            ));
            for measure in Metrics::MEASURES {
                text.push(',');
                text.push_str(&opt_f32((measure.get)(m)));
            }
            text.push('\n');
            text.push_str(&format!("c,{}", r.model));
            for (step, loss) in &r.curve {
                text.push_str(&format!(",{step}:{loss}"));
            }
            text.push('\n');
        }
        let dir = self.path.join(CHUNKS_DIR);
        std::fs::create_dir_all(&dir).map_err(|e| LabError::io(&dir, "cannot create", e))?;
        write_atomic(&self.chunk_path(c), text.as_bytes())
    }

    /// Reads chunk `c`'s rows back; a damaged file is named with its line.
    pub fn read_chunk(&self, c: usize) -> LabResult<Vec<ModelRow>> {
        let path = self.chunk_path(c);
        let text =
            std::fs::read_to_string(&path).map_err(|e| LabError::io(&path, "cannot read", e))?;
        let bad = |line: usize, what: &str| LabError::run(&path, format!("line {line}: {what}"));
        let mut rows: Vec<ModelRow> = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let n = i + 1;
            let mut cells = line.split(',');
            let kind = cells.next().unwrap_or_default();
            let model: usize = cells
                .next()
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| bad(n, "no model index"))?;
            match kind {
                "m" => {
                    let status = cells
                        .next()
                        .and_then(RunStatus::parse)
                        .ok_or_else(|| bad(n, "no status"))?;
                    let diverged_at = parse_opt(cells.next().unwrap_or_default())
                        .map_err(|_| bad(n, "bad diverged_at"))?;
                    let mut metrics = Metrics {
                        status,
                        step: 0,
                        ..Default::default()
                    };
                    for measure in Metrics::MEASURES {
                        let v = parse_opt::<f32>(cells.next().unwrap_or_default())
                            .map_err(|_| bad(n, &format!("bad {}", measure.name)))?;
                        (measure.set)(&mut metrics, v);
                    }
                    rows.push(ModelRow {
                        model,
                        curve: Vec::new(),
                        diverged_at,
                        metrics,
                    });
                }
                "c" => {
                    let row = rows
                        .last_mut()
                        .filter(|r| r.model == model)
                        .ok_or_else(|| bad(n, "a curve without its model's row"))?;
                    for cell in cells {
                        let (s, l) = cell
                            .split_once(':')
                            .ok_or_else(|| bad(n, "a curve point is not STEP:LOSS"))?;
                        let step = s.parse().map_err(|_| bad(n, "bad step"))?;
                        let loss = l.parse().map_err(|_| bad(n, "bad loss"))?;
                        row.curve.push((step, loss));
                    }
                }
                _ => return Err(bad(n, "a line that is neither `m` nor `c`")),
            }
        }
        Ok(rows)
    }

    /// Copies the chunk files of `other` (a shard of the same sweep) here.
    pub fn take_chunks(&self, other: &SweepDir) -> LabResult<usize> {
        let dir = self.path.join(CHUNKS_DIR);
        std::fs::create_dir_all(&dir).map_err(|e| LabError::io(&dir, "cannot create", e))?;
        let mut n = 0;
        for c in other.done_chunks()? {
            let from = other.chunk_path(c);
            let bytes = std::fs::read(&from).map_err(|e| LabError::io(&from, "cannot read", e))?;
            write_atomic(&self.chunk_path(c), &bytes)?;
            n += 1;
        }
        Ok(n)
    }

    /// Assembles the finished sweep: `models.csv`, `curves.csv.gz`,
    /// `groups.csv` with the groups' data and initial weights, `map.png`,
    /// and the run directories of `keep.frames`.
    pub fn finish(&self, sweep: &Sweep, plan: &Plan) -> LabResult<Report> {
        let done = self.done_chunks()?;
        let missing: Vec<usize> = (0..plan.chunks.len())
            .filter(|c| !done.contains(c))
            .collect();
        if !missing.is_empty() {
            let shown: Vec<String> = missing.iter().take(12).map(usize::to_string).collect();
            return Err(LabError::run(
                &self.path,
                format!(
                    "{} of {} chunks are missing (chunks {}{}); `nnm sweep resume {}` trains them",
                    missing.len(),
                    plan.chunks.len(),
                    shown.join(", "),
                    if missing.len() > 12 { ", ..." } else { "" },
                    self.path.display()
                ),
            ));
        }
        let mut rows: Vec<Option<ModelRow>> = vec![None; sweep.count];
        for c in 0..plan.chunks.len() {
            let expected = plan.chunk_models(c);
            let got = self.read_chunk(c)?;
            let ids: Vec<usize> = got.iter().map(|r| r.model).collect();
            if ids != expected {
                return Err(LabError::run(
                    self.chunk_path(c),
                    "holds other models than the sweep's plan: was it written by another sweep?",
                ));
            }
            for r in got {
                let k = r.model;
                rows[k] = Some(r);
            }
        }
        let rows: Vec<ModelRow> = rows.into_iter().flatten().collect();
        let group_of = {
            let mut g = vec![0; sweep.count];
            for (i, group) in plan.groups.iter().enumerate() {
                for &k in &group.models {
                    g[k] = i;
                }
            }
            g
        };
        let init_rows = self.write_groups(sweep, plan)?;
        self.write_models(sweep, &rows, &group_of, &init_rows)?;
        self.write_curves(&rows)?;
        let map = self.write_map(sweep, &rows)?;
        self.write_frames(sweep)?;
        let mut best: Vec<&ModelRow> = rows
            .iter()
            .filter(|r| r.diverged_at.is_none() && r.metrics.test_loss.is_some_and(f32::is_finite))
            .collect();
        best.sort_by(|a, b| {
            let (x, y) = (
                a.metrics.test_loss.unwrap_or(f32::INFINITY),
                b.metrics.test_loss.unwrap_or(f32::INFINITY),
            );
            x.total_cmp(&y).then(a.model.cmp(&b.model))
        });
        Ok(Report {
            models: rows.len(),
            converged: rows.iter().filter(|r| r.converged()).count(),
            diverged: rows.iter().filter(|r| r.diverged_at.is_some()).count(),
            best: best
                .into_iter()
                .take(5)
                .map(|r| {
                    (
                        r.clone(),
                        sweep.values(r.model).iter().map(display_value).collect(),
                    )
                })
                .collect(),
            map,
        })
    }

    /// `groups.csv` and each group's data and distinct initial weights;
    /// returns each model's row in its group's `init.npy`.
    fn write_groups(&self, sweep: &Sweep, plan: &Plan) -> LabResult<Vec<usize>> {
        let mut init_row = vec![0; sweep.count];
        let mut table = String::from(
            "group,models,sizes,activation,bias,parameters,optimizer,steps,batch_size,train_samples,test_samples,trainer\n",
        );
        for (g, group) in plan.groups.iter().enumerate() {
            let data = &plan.data[g];
            let dir = self.path.join(GROUPS_DIR).join(g.to_string());
            std::fs::create_dir_all(&dir).map_err(|e| LabError::io(&dir, "cannot create", e))?;
            let (inputs, outputs) = (data.inputs, data.outputs());
            for (name, split) in [("train", &data.train), ("test", &data.test)] {
                let n = split.len();
                write_atomic(
                    &dir.join(format!("x_{name}.npy")),
                    &npy::f32s(&[n, inputs], &split.x),
                )?;
                let y = match &split.targets {
                    Targets::Labels(l) => {
                        npy::i64s(&[n], &l.iter().map(|&c| i64::from(c)).collect::<Vec<_>>())
                    }
                    Targets::Values(v) => npy::f32s(&[n, outputs], v),
                };
                write_atomic(&dir.join(format!("y_{name}.npy")), &y)?;
            }
            let p = group.network.parameter_count();
            let mut distinct: Vec<Vec<f32>> = Vec::new();
            let mut seen: HashMap<Vec<u32>, usize> = HashMap::new();
            for &k in &group.models {
                let setup = super::kernel::ModelSetup::of(&sweep.scene(k)?.resolved(), data);
                let key: Vec<u32> = setup.params.iter().map(|v| v.to_bits()).collect();
                let next = distinct.len();
                let row = *seen.entry(key).or_insert(next);
                if row == next {
                    distinct.push(setup.params);
                }
                init_row[k] = row;
            }
            let flat: Vec<f32> = distinct.iter().flatten().copied().collect();
            write_atomic(
                &dir.join("init.npy"),
                &npy::f32s(&[distinct.len(), p], &flat),
            )?;
            let sizes: Vec<String> = group.network.sizes.iter().map(usize::to_string).collect();
            table.push_str(&format!(
                "{g},{},{},{},{},{p},{:?},{},{},{},{},{}\n",
                group.models.len(),
                sizes.join("-"),
                activations_cell(&group.network.activations),
                group.network.bias,
                group.training.optimizer,
                group.training.steps,
                // Gradient descent takes the whole training set at every step.
                match group.training.optimizer {
                    OptimizerKind::Gd => data.train.len(),
                    _ => group.training.batch_size.min(data.train.len()),
                },
                data.train.len(),
                data.test.len(),
                csv_cell(&match group.alone {
                    Some(why) => format!("alone: {why}"),
                    None => "batched".to_string(),
                }),
            ));
        }
        write_atomic(&self.path.join(GROUPS_FILE), table.as_bytes())?;
        Ok(init_row)
    }

    fn write_models(
        &self,
        sweep: &Sweep,
        rows: &[ModelRow],
        group_of: &[usize],
        init_row: &[usize],
    ) -> LabResult<()> {
        let measures: Vec<_> = MEASURES
            .iter()
            .filter_map(|name| Metrics::measure(name))
            .filter(|m| rows.iter().any(|r| (m.get)(&r.metrics).is_some()))
            .collect();
        let mut out = String::from("model,group");
        for f in sweep.fields() {
            out.push(',');
            out.push_str(&csv_cell(f));
        }
        out.push_str(",status,diverged_at,convergence_score");
        for m in &measures {
            out.push(',');
            out.push_str(m.name);
        }
        out.push_str(",init\n");
        for r in rows {
            out.push_str(&format!("{},{}", r.model, group_of[r.model]));
            for v in sweep.values(r.model) {
                out.push(',');
                out.push_str(&csv_cell(&display_value(&v)));
            }
            out.push_str(&format!(
                ",{},{},{}",
                r.metrics.status.as_str(),
                opt_u64(r.diverged_at),
                opt_f32(r.metrics.convergence_score)
            ));
            for m in &measures {
                out.push(',');
                out.push_str(&opt_f32((m.get)(&r.metrics)));
            }
            out.push_str(&format!(",{}\n", init_row[r.model]));
        }
        write_atomic(&self.path.join(MODELS_FILE), out.as_bytes())
    }

    fn write_curves(&self, rows: &[ModelRow]) -> LabResult<()> {
        let steps: BTreeSet<u64> = rows
            .iter()
            .flat_map(|r| r.curve.iter().map(|(s, _)| *s))
            .collect();
        let column: BTreeMap<u64, usize> = steps.iter().enumerate().map(|(i, s)| (*s, i)).collect();
        let mut text = String::from("model");
        for s in &steps {
            text.push_str(&format!(",{s}"));
        }
        text.push('\n');
        let mut cells = vec![String::new(); steps.len()];
        for r in rows {
            cells.iter_mut().for_each(String::clear);
            for (s, l) in &r.curve {
                if let Some(&i) = column.get(s) {
                    cells[i] = format!("{l}");
                }
            }
            text.push_str(&r.model.to_string());
            for c in &cells {
                text.push(',');
                text.push_str(c);
            }
            text.push('\n');
        }
        let mut gz = flate2::GzBuilder::new()
            .mtime(0)
            .write(Vec::new(), flate2::Compression::default());
        let path = self.path.join(CURVES_FILE);
        gz.write_all(text.as_bytes())
            .map_err(|e| LabError::io(&path, "cannot compress", e))?;
        let bytes = gz
            .finish()
            .map_err(|e| LabError::io(&path, "cannot compress", e))?;
        write_atomic(&path, &bytes)
    }

    /// `map.png` for a grid over two numeric axes; whether one was drawn.
    fn write_map(&self, sweep: &Sweep, rows: &[ModelRow]) -> LabResult<bool> {
        let Some((ax, ay)) = sweep.map_axes() else {
            return Ok(false);
        };
        let numbers = |axis: usize| -> Option<Vec<f64>> {
            sweep
                .axis_values(axis)
                .iter()
                .map(serde_json::Value::as_f64)
                .collect()
        };
        let (Some(xs), Some(ys)) = (numbers(ax), numbers(ay)) else {
            return Ok(false);
        };
        let ny = ys.len();
        let mut cells = vec![None; xs.len() * ny];
        // Only the two axes vary, the first slower: model k is cell (k / ny, k % ny).
        for r in rows {
            if let Some(cell) = cells.get_mut(r.model) {
                *cell = r.metrics.convergence_score;
            }
        }
        let fields = sweep.fields();
        let title = if sweep.spec.title.is_empty() {
            sweep.name().to_string()
        } else {
            sweep.spec.title.clone()
        };
        let map = HeatMap {
            title: format!(
                "{title}: {} models, blue converged, red diverged",
                rows.len()
            ),
            x: MapAxis {
                label: fields[ax].to_string(),
                values: xs,
                log: sweep.axis_is_log(ax),
            },
            y: MapAxis {
                label: fields[ay].to_string(),
                values: ys,
                log: sweep.axis_is_log(ay),
            },
            cells,
            legend: "convergence score".into(),
            range: (-1.0, 1.0),
        };
        write_atomic(&self.path.join(MAP_FILE), &render_png(&map))?;
        Ok(true)
    }

    /// How to open model `k` in the microscope: the run directory that
    /// recorded it with its frames (`keep.frames`), else its scene to train.
    pub fn model_source(&self, sweep: &Sweep, k: usize) -> LabResult<ModelSource> {
        if k >= sweep.count {
            return Err(LabError::setting(
                "model",
                format!(
                    "{}: the sweep has models 0 to {}, not {k}",
                    self.path.display(),
                    sweep.count.saturating_sub(1)
                ),
            ));
        }
        let scene = sweep.scene(k)?;
        let root = self.path.join(MODELS_DIR);
        let prefix = format!("{}_", scene.name);
        let mut recorded: Vec<PathBuf> = match std::fs::read_dir(&root) {
            Ok(listing) => listing
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with(&prefix))
                        && p.join(crate::lab::record::SCENE_FILE).is_file()
                })
                .collect(),
            Err(_) => Vec::new(),
        };
        recorded.sort();
        Ok(match recorded.pop() {
            Some(run) => ModelSource::Recording(run),
            None => ModelSource::Scene(Box::new(scene)),
        })
    }

    /// Trains each model of `keep.frames` alone with a full recording, into
    /// `models/` (a model already recorded there is left as it is).
    fn write_frames(&self, sweep: &Sweep) -> LabResult<()> {
        let root = self.path.join(MODELS_DIR);
        for &k in &sweep.spec.keep.frames {
            let scene: Scene = sweep.scene(k)?;
            let prefix = format!("{}_", scene.name);
            let already = root.is_dir()
                && std::fs::read_dir(&root)
                    .map_err(|e| LabError::io(&root, "cannot list", e))?
                    .filter_map(|e| e.ok())
                    .any(|e| e.file_name().to_string_lossy().starts_with(&prefix));
            if already {
                continue;
            }
            let mut session =
                Session::<CpuBackend>::start(&scene, &Default::default(), Some(&root))?;
            for _ in 0..scene.train.steps {
                if session.advance(false)?.diverged.is_some() {
                    break;
                }
            }
            if !session.trainer().is_diverged() {
                session.finish()?;
            }
        }
        Ok(())
    }
}

/// Writes `bytes` to `path` through a temporary file renamed into place, so
/// a reader (or a crash) never sees half a file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> LabResult<()> {
    let tmp = path.with_extension(format!(
        "{}.tmp",
        path.extension()
            .map(|e| e.to_string_lossy().into_owned())
            .unwrap_or_default()
    ));
    let mut file =
        std::fs::File::create(&tmp).map_err(|e| LabError::io(&tmp, "cannot create", e))?;
    file.write_all(bytes)
        .map_err(|e| LabError::io(&tmp, "cannot write", e))?;
    file.sync_all()
        .map_err(|e| LabError::io(&tmp, "cannot sync", e))?;
    std::fs::rename(&tmp, path).map_err(|e| LabError::io(path, "cannot move into place", e))
}

/// The hidden activations as `groups.csv` holds them: one name when every
/// hidden layer has it (`Tanh`), else one per layer (`Relu/Tanh`).
fn activations_cell(activations: &[crate::lab::model::Activation]) -> String {
    match activations {
        [] => String::new(),
        [first, rest @ ..] if rest.iter().all(|a| a == first) => format!("{first:?}"),
        all => all
            .iter()
            .map(|a| format!("{a:?}"))
            .collect::<Vec<_>>()
            .join("/"),
    }
}

fn opt_u64(v: Option<u64>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

fn opt_f32(v: Option<f32>) -> String {
    v.map(|v| format!("{v}")).unwrap_or_default()
}

fn parse_opt<T: std::str::FromStr>(cell: &str) -> Result<Option<T>, T::Err> {
    if cell.is_empty() {
        Ok(None)
    } else {
        cell.parse().map(Some)
    }
}

/// A CSV cell, quoted when it holds a comma, a quote or a line break.
pub fn csv_cell(text: &str) -> String {
    if text.contains([',', '"', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}
