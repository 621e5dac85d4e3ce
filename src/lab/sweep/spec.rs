//! Sweep files (`scenes/sweeps/*.ron`): a base scene, axes over any of its
//! fields, a mode (the grid, or random samples), and what to keep per model.
//!
//! ```ron
//! Sweep(
//!     base: Path("../spiral.ron"),
//!     axes: [
//!         (field: "train.learning_rate", values: Log(0.001, 1.0, 16)),
//!         (field: "model.hidden", values: [[8], [16, 16]]),
//!         (field: "seed", values: Range(0, 3)),
//!     ],
//!     mode: Grid,
//!     keep: (curves_every: 10, frames: [0]),
//! )
//! ```
//!
//! A field is a dotted path through the scene as its RON reads
//! (`train.learning_rates[1]`, `data.noise`); an enum's variant is stepped
//! through (`data.noise` reaches the `noise` of `Spiral(...)`). Values are set
//! on the scene's JSON form and the scene is read back from it, so every field
//! of a scene can be swept and every value is checked as a scene file would be.

use std::path::{Path, PathBuf};

use ron::value::RawValue;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use super::ronvalue;
use crate::lab::error::{LabError, LabResult};
use crate::lab::rng::{self, Stream};
use crate::lab::scene::Presets;
use crate::lab::scene::{Scene, ron_extensions};

/// The most models one sweep may hold.
pub(super) const MAX_MODELS: usize = 1 << 24;

/// A sweep file as written.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename = "Sweep")]
pub struct SweepSpec {
    /// Short name; sweep directories are called `<name>_<NNN>`. Defaults to the file name.
    #[serde(default)]
    pub name: String,
    /// A title for people.
    #[serde(default)]
    pub title: String,
    /// What the sweep shows.
    #[serde(default)]
    pub description: String,
    /// The scene every model starts from.
    pub base: Base,
    /// The fields that vary, and their values.
    pub axes: Vec<Axis>,
    /// Every combination, or random samples.
    #[serde(default)]
    pub mode: Mode,
    /// What is kept of each model.
    #[serde(default)]
    pub keep: Keep,
    /// Models per chunk: the unit of progress, of resuming and of sharding
    /// (default: chosen from the models' size).
    #[serde(default)]
    pub chunk: Option<usize>,
}

/// The base scene.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Base {
    /// A scene file (relative to the sweep file) or a preset's name.
    Path(String),
    /// The scene itself.
    Inline(Box<Scene>),
}

/// One swept field.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Axis {
    /// The field's dotted path, such as `train.learning_rates[0]`.
    pub field: String,
    /// Its values.
    pub values: Values,
}

/// The values of an axis.
#[derive(Debug, Clone, Serialize)]
pub enum Values {
    /// These values, written as in a scene file (`[0.1, 0.3]` is short for `List([0.1, 0.3])`).
    List(Vec<Box<RawValue>>),
    /// `n` evenly spaced values from `lo` to `hi` (uniform samples in random mode).
    Linear(f64, f64, usize),
    /// `n` values evenly spaced in log scale from `lo` to `hi` (log-uniform samples in random mode).
    Log(f64, f64, usize),
    /// The integers from `lo` to `hi`, both included.
    Range(i64, i64),
}

/// `Values` as tagged in the file.
#[derive(Deserialize)]
enum TaggedValues {
    List(Vec<Box<RawValue>>),
    Linear(f64, f64, usize),
    Log(f64, f64, usize),
    Range(i64, i64),
}

impl<'de> Deserialize<'de> for Values {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let raw = Box::<RawValue>::deserialize(deserializer)?;
        let text = raw.get_ron().trim();
        let options = ron::Options::default().with_default_extension(ron_extensions());
        if text.starts_with('[') {
            let items: Vec<Box<RawValue>> = options
                .from_str(text)
                .map_err(|e| D::Error::custom(e.code))?;
            return Ok(Values::List(items));
        }
        let tagged: TaggedValues = options.from_str(text).map_err(|e| {
            D::Error::custom(format!(
                "{}; values are a list `[a, b]`, `List([a, b])`, `Linear(lo, hi, n)`, `Log(lo, hi, n)` or `Range(lo, hi)`",
                e.code
            ))
        })?;
        Ok(match tagged {
            TaggedValues::List(v) => Values::List(v),
            TaggedValues::Linear(a, b, n) => Values::Linear(a, b, n),
            TaggedValues::Log(a, b, n) => Values::Log(a, b, n),
            TaggedValues::Range(a, b) => Values::Range(a, b),
        })
    }
}

/// How models are drawn from the axes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Mode {
    /// Every combination: the first axis varies slowest.
    #[default]
    Grid,
    /// `n` models, each axis drawn independently with `seed`: a random value
    /// of a list or range, uniform in a `Linear`, log-uniform in a `Log`.
    Random(usize, u64),
}

/// What a sweep keeps of each model.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Keep {
    /// Keep each model's training loss every this many steps (it becomes the
    /// models' `train.eval_every`; default: the base scene's).
    pub curves_every: Option<u64>,
    /// Models whose whole training is also recorded as a run directory
    /// (frames included) by training them alone after the sweep.
    pub frames: Vec<usize>,
}

/// An axis ready to give values.
#[derive(Debug, Clone)]
enum Draw {
    /// Fixed values (a grid axis, or a list or range).
    Discrete(Vec<Value>),
    /// Uniform in `[lo, hi]`.
    Uniform(f64, f64),
    /// Log-uniform in `[lo, hi]`.
    LogUniform(f64, f64),
}

/// A loaded sweep: the spec with its base resolved, ready to make any model's scene.
#[derive(Debug, Clone)]
pub struct Sweep {
    /// The spec, its base inlined and its name set: what `sweep.ron` holds.
    pub spec: SweepSpec,
    /// The file it came from (for messages).
    pub path: PathBuf,
    base: Value,
    draws: Vec<Draw>,
    /// Whether each axis's field holds an integer (values are rounded to it).
    integer: Vec<bool>,
    /// Number of models.
    pub count: usize,
}

/// A sweep file's text, for errors that point into it.
struct SweepText<'a> {
    text: &'a str,
    path: &'a Path,
}

impl SweepText<'_> {
    /// An error at `line`:`column` about `field`.
    fn at(&self, line: usize, column: usize, field: &str, message: String) -> LabError {
        LabError::Scene {
            path: self.path.to_path_buf(),
            line,
            column,
            field: field.to_string(),
            message,
        }
    }

    /// An error about `field`, at the first place `needle` is written.
    fn at_text(&self, needle: &str, field: &str, message: &str) -> LabError {
        let (line, column) = self.locate(needle);
        self.at(line, column, field, message.to_string())
    }

    /// The line and column of the first `needle` (1:1 when it is not there).
    fn locate(&self, needle: &str) -> (usize, usize) {
        let text = self.text;
        text.find(needle).map_or((1, 1), |i| {
            let line = text[..i].matches('\n').count() + 1;
            let column = i - text[..i].rfind('\n').map_or(0, |n| n + 1) + 1;
            (line, column)
        })
    }

    /// The sweep as written: RON, with errors at their line and field.
    fn read_spec(&self) -> LabResult<SweepSpec> {
        let options = ron::Options::default().with_default_extension(ron_extensions());
        let mut de =
            ron::Deserializer::from_str_with_options(self.text, &options).map_err(|e| {
                self.at(
                    e.span.start.line,
                    e.span.start.col,
                    "(file)",
                    e.code.to_string(),
                )
            })?;
        let spec: SweepSpec = match serde_path_to_error::deserialize(&mut de) {
            Ok(spec) => spec,
            Err(err) => {
                let field = err.path().to_string();
                let spanned = de.span_error(err.into_inner());
                return Err(self.at(
                    spanned.span.start.line,
                    spanned.span.start.col,
                    if field.is_empty() || field == "." {
                        "(sweep)"
                    } else {
                        &field
                    },
                    spanned.code.to_string(),
                ));
            }
        };
        if let Err(e) = de.end() {
            let spanned = de.span_error(e);
            return Err(self.at(
                spanned.span.start.line,
                spanned.span.start.col,
                "(file)",
                format!("{} after the sweep", spanned.code),
            ));
        }
        Ok(spec)
    }

    /// The base scene: written inline (and checked here), or a file beside
    /// the sweep or a preset of that name.
    fn base_scene(&self, spec: &SweepSpec, presets: &Presets) -> LabResult<Scene> {
        match &spec.base {
            Base::Inline(scene) => {
                let mut scene = (**scene).clone();
                if scene.name.is_empty() {
                    scene.name = spec.name.clone();
                }
                scene.validate().map_err(|e| match e {
                    LabError::Setting { field, message } => {
                        let (l, c) = self
                            .locate(&format!("{}:", field.rsplit('.').next().unwrap_or(&field)));
                        self.at(l, c, &format!("base.{field}"), message)
                    }
                    other => other,
                })?;
                Ok(scene)
            }
            Base::Path(p) => {
                let beside = self.path.parent().unwrap_or(Path::new(".")).join(p);
                if beside.is_file() {
                    Scene::load(&beside)
                } else {
                    presets
                        .find(p)
                        .and_then(|preset| preset.load())
                        .map_err(|e| {
                            self.at_text(
                                "base:",
                                "base",
                                &format!("{} (looked for {} too)", e, beside.display()),
                            )
                        })
                }
            }
        }
    }

    /// Each axis's draw and whether its field holds integers; every value
    /// (or a range's ends) must make a valid scene from `base`.
    fn axes(&self, spec: &SweepSpec, base: &Value) -> LabResult<(Vec<Draw>, Vec<bool>)> {
        let mut draws = Vec::new();
        let mut integer = Vec::new();
        for (i, axis) in spec.axes.iter().enumerate() {
            let (l, c) = self.locate(&format!("\"{}\"", axis.field));
            let here =
                |message: String| self.at(l, c, &format!("axes[{i}]: {}", axis.field), message);
            if spec.axes[..i].iter().any(|a| a.field == axis.field) {
                return Err(here("this field has an axis already".into()));
            }
            let current = field(base, &axis.field).map_err(&here)?;
            let is_integer = current.is_u64() || current.is_i64();
            let draw = axis.values.draw(spec.mode).map_err(&here)?;
            let check: Vec<Value> = match &draw {
                Draw::Discrete(v) => v.clone(),
                Draw::Uniform(lo, hi) | Draw::LogUniform(lo, hi) => {
                    vec![ronvalue::float(*lo), ronvalue::float(*hi)]
                }
            };
            for v in check {
                let mut json = base.clone();
                let v = if is_integer { round(&v) } else { v };
                set(&mut json, &axis.field, v.clone()).map_err(&here)?;
                scene_from(json, &axis.field, &v).map_err(&here)?;
            }
            draws.push(draw);
            integer.push(is_integer);
        }
        Ok((draws, integer))
    }
}

impl Sweep {
    /// Reads a sweep file; a base given as a path is looked up next to it,
    /// then among `presets`.
    pub fn load(path: impl AsRef<Path>, presets: &Presets) -> LabResult<Sweep> {
        let path = path.as_ref();
        let text =
            std::fs::read_to_string(path).map_err(|e| LabError::io(path, "cannot read", e))?;
        Sweep::parse(&text, path, presets)
    }

    /// Parses and checks sweep text; `path` names it in errors and gives the default name.
    pub fn parse(text: &str, path: &Path, presets: &Presets) -> LabResult<Sweep> {
        let src = SweepText { text, path };
        let mut spec = src.read_spec()?;
        if spec.name.is_empty() {
            spec.name = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "sweep".into());
        }
        if !spec
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(src.at_text("name:", "name", "use letters, digits, `-` and `_` only"));
        }
        let mut base = src.base_scene(&spec, presets)?;
        if let Some(every) = spec.keep.curves_every {
            if every == 0 {
                return Err(src.at_text("curves_every", "keep.curves_every", "must be at least 1"));
            }
            base.train.eval_every = every;
        }
        let base_json = serde_json::to_value(&base).map_err(|e| {
            LabError::setting("base", format!("cannot read the base scene's fields: {e}"))
        })?;
        spec.base = Base::Inline(Box::new(base));
        let (draws, integer) = src.axes(&spec, &base_json)?;
        let count = match spec.mode {
            Mode::Grid => draws.iter().try_fold(1usize, |n, d| match d {
                Draw::Discrete(v) => n.checked_mul(v.len()),
                _ => Some(n),
            }),
            Mode::Random(n, _) => Some(n),
        };
        let count = count
            .filter(|&n| (1..=MAX_MODELS).contains(&n))
            .ok_or_else(|| {
                src.at_text(
                    "axes:",
                    "axes",
                    &format!("a sweep holds 1 to {MAX_MODELS} models"),
                )
            })?;
        if let Some(&k) = spec.keep.frames.iter().find(|&&k| k >= count) {
            return Err(src.at_text(
                "frames",
                "keep.frames",
                &format!("model {k} does not exist (the sweep has {count} models)"),
            ));
        }
        if spec.chunk == Some(0) {
            return Err(src.at_text("chunk:", "chunk", "must be at least 1"));
        }
        let sweep = Sweep {
            spec,
            path: path.to_path_buf(),
            base: base_json,
            draws,
            integer,
            count,
        };
        // Model 0 has every axis set at once: combinations must hold too.
        sweep.scene(0)?;
        Ok(sweep)
    }

    /// The sweep's name.
    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// The base scene (with `keep.curves_every` applied).
    pub fn base(&self) -> &Scene {
        match &self.spec.base {
            Base::Inline(scene) => scene,
            // `parse` always inlines the base.
            Base::Path(_) => unreachable!("a loaded sweep has its base inlined"),
        }
    }

    /// The swept fields, in axis order.
    pub fn fields(&self) -> Vec<&str> {
        self.spec.axes.iter().map(|a| a.field.as_str()).collect()
    }

    /// The axes of a two-dimensional grid map: the two axes with more than
    /// one value, when all others have one (grid mode only).
    pub fn map_axes(&self) -> Option<(usize, usize)> {
        if self.spec.mode != Mode::Grid {
            return None;
        }
        let wide: Vec<usize> = self
            .draws
            .iter()
            .enumerate()
            .filter(|(_, d)| matches!(d, Draw::Discrete(v) if v.len() > 1))
            .map(|(i, _)| i)
            .collect();
        match wide[..] {
            [x, y] => Some((x, y)),
            _ => None,
        }
    }

    /// The values of grid axis `axis` (empty in random mode for continuous axes).
    pub fn axis_values(&self, axis: usize) -> Vec<Value> {
        match self.draws.get(axis) {
            Some(Draw::Discrete(v)) => v.iter().map(|v| self.rounded(axis, v)).collect(),
            _ => Vec::new(),
        }
    }

    /// The base scene's value at the field path `path`, if it has one.
    pub fn base_field(&self, path: &str) -> Option<Value> {
        field(&self.base, path).ok().filter(|v| !v.is_null())
    }

    /// Whether axis `axis`'s field holds whole numbers (its values are rounded).
    pub fn axis_is_integer(&self, axis: usize) -> bool {
        self.integer.get(axis).copied().unwrap_or(false)
    }

    /// Whether axis `axis` was written as `Log(...)`.
    pub fn axis_is_log(&self, axis: usize) -> bool {
        self.spec
            .axes
            .get(axis)
            .is_some_and(|a| matches!(a.values, Values::Log(..)))
    }

    fn rounded(&self, axis: usize, v: &Value) -> Value {
        if self.axis_is_integer(axis) {
            round(v)
        } else {
            v.clone()
        }
    }

    /// Model `k`'s value of every axis.
    pub fn values(&self, k: usize) -> Vec<Value> {
        match self.spec.mode {
            Mode::Grid => {
                let mut rest = k;
                let mut out = vec![Value::Null; self.draws.len()];
                for (i, d) in self.draws.iter().enumerate().rev() {
                    if let Draw::Discrete(v) = d {
                        let n = v.len().max(1);
                        out[i] = self.rounded(i, &v[rest % n]);
                        rest /= n;
                    }
                }
                out
            }
            Mode::Random(_, seed) => {
                use rand::RngExt;
                let mut r = rng::rng(
                    seed ^ (k as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
                    Stream::Sweep,
                );
                self.draws
                    .iter()
                    .enumerate()
                    .map(|(i, d)| {
                        let v = match d {
                            Draw::Discrete(v) => {
                                v[r.random_range(0..v.len().max(1)).min(v.len() - 1)].clone()
                            }
                            Draw::Uniform(lo, hi) => single(lo + (hi - lo) * r.random::<f64>()),
                            Draw::LogUniform(lo, hi) => {
                                single(lo * (hi / lo).powf(r.random::<f64>()))
                            }
                        };
                        self.rounded(i, &v)
                    })
                    .collect()
            }
        }
    }

    /// Model `k`'s scene: the base with its values set, named `<sweep>_m<k>`.
    pub fn scene(&self, k: usize) -> LabResult<Scene> {
        let values = self.values(k);
        let mut json = self.base.clone();
        for (axis, v) in self.spec.axes.iter().zip(&values) {
            set(&mut json, &axis.field, v.clone())
                .map_err(|m| LabError::setting(axis.field.clone(), m))?;
        }
        let mut scene: Scene = serde_json::from_value(json).map_err(|e| {
            LabError::setting(
                "axes",
                format!("model {k} ({}): {e}", describe(&self.fields(), &values)),
            )
        })?;
        scene.name = format!("{}_m{k}", self.spec.name);
        scene.validate().map_err(|e| {
            LabError::setting(
                "axes",
                format!("model {k} ({}): {e}", describe(&self.fields(), &values)),
            )
        })?;
        Ok(scene)
    }

    /// The resolved spec as RON (what `sweep.ron` holds; it loads as a sweep file).
    pub fn to_ron(&self) -> LabResult<String> {
        let pretty = ron::ser::PrettyConfig::new()
            .extensions(ron_extensions())
            .struct_names(true);
        ron::ser::to_string_pretty(&self.spec, pretty).map_err(|e| {
            LabError::setting(
                "sweep",
                format!("cannot write `{}` as RON: {e}", self.spec.name),
            )
        })
    }
}

impl Values {
    fn draw(&self, mode: Mode) -> Result<Draw, String> {
        let random = matches!(mode, Mode::Random(..));
        Ok(match self {
            Values::List(items) => {
                if items.is_empty() {
                    return Err("the list of values is empty".into());
                }
                Draw::Discrete(
                    items
                        .iter()
                        .map(|raw| ronvalue::to_json(raw.get_ron()))
                        .collect::<Result<_, _>>()?,
                )
            }
            Values::Linear(lo, hi, n) => {
                if !(lo.is_finite() && hi.is_finite()) || *n == 0 {
                    return Err("Linear(lo, hi, n) needs finite ends and n ≥ 1".into());
                }
                if random {
                    Draw::Uniform(*lo, *hi)
                } else {
                    Draw::Discrete(spaced(*lo, *hi, *n).into_iter().map(single).collect())
                }
            }
            Values::Log(lo, hi, n) => {
                if !(*lo > 0.0 && *hi > 0.0 && lo.is_finite() && hi.is_finite()) || *n == 0 {
                    return Err("Log(lo, hi, n) needs positive finite ends and n ≥ 1".into());
                }
                if random {
                    Draw::LogUniform(*lo, *hi)
                } else {
                    let ratio = hi / lo;
                    Draw::Discrete(
                        spaced(0.0, 1.0, *n)
                            .into_iter()
                            .map(|t| single(if t == 1.0 { *hi } else { lo * ratio.powf(t) }))
                            .collect(),
                    )
                }
            }
            Values::Range(lo, hi) => {
                if lo > hi {
                    return Err(format!(
                        "Range({lo}, {hi}) is empty: the first must not exceed the second"
                    ));
                }
                if hi - lo >= MAX_MODELS as i64 {
                    return Err(format!(
                        "Range({lo}, {hi}) holds more than {MAX_MODELS} values"
                    ));
                }
                Draw::Discrete((*lo..=*hi).map(|v| Value::Number(v.into())).collect())
            }
        })
    }
}

/// `n` values from `lo` to `hi`, ends exact.
fn spaced(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    if n == 1 {
        return vec![lo];
    }
    (0..n)
        .map(|i| {
            if i + 1 == n {
                hi
            } else {
                lo + (hi - lo) * i as f64 / (n - 1) as f64
            }
        })
        .collect()
}

/// A generated number as the `f32` every scene field holds, so that the
/// value written in `models.csv` is the one the model trained with.
fn single(v: f64) -> Value {
    ronvalue::float(f64::from(v as f32))
}

/// A number rounded to an integer (other values unchanged).
fn round(v: &Value) -> Value {
    match v.as_f64() {
        Some(f) if !(v.is_u64() || v.is_i64()) && f.is_finite() => {
            let r = f.round();
            if r >= 0.0 {
                Value::Number((r as u64).into())
            } else {
                Value::Number((r as i64).into())
            }
        }
        _ => v.clone(),
    }
}

/// `field = value` pairs, for messages.
fn describe(fields: &[&str], values: &[Value]) -> String {
    fields
        .iter()
        .zip(values)
        .map(|(f, v)| format!("{f} = {}", display_value(v)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A value as people read it (and `models.csv` holds it): numbers that are
/// exactly an `f32` in that type's shortest form, lists compact.
pub fn display_value(v: &Value) -> String {
    match v {
        Value::Number(n) if n.is_f64() => {
            let f = n.as_f64().unwrap_or(f64::NAN);
            let single = f as f32;
            if f64::from(single) == f {
                format!("{single}")
            } else {
                format!("{f}")
            }
        }
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        Value::Null => "None".into(),
        Value::Bool(b) => b.to_string(),
        Value::Array(items) => format!(
            "[{}]",
            items
                .iter()
                .map(display_value)
                .collect::<Vec<_>>()
                .join(",")
        ),
        Value::Object(map) => {
            let inner: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{k}:{}", display_value(v)))
                .collect();
            format!("({})", inner.join(","))
        }
    }
}

/// `scene`'s value at the field path `path` (such as `train.learning_rate`), if it has one.
pub fn scene_field(scene: &crate::lab::Scene, path: &str) -> Option<Value> {
    let root = serde_json::to_value(scene).ok()?;
    field(&root, path).ok().filter(|v| !v.is_null())
}

/// One step of a field path.
#[derive(Debug, Clone, PartialEq)]
enum Step {
    Key(String),
    Index(usize),
}

/// `train.learning_rates[1]` → `train`, `learning_rates`, `[1]`.
fn steps(path: &str) -> Result<Vec<Step>, String> {
    let mut out = Vec::new();
    for part in path.split('.') {
        let (key, mut rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if key.is_empty() && out.is_empty() {
            return Err(format!(
                "`{path}` is not a field path such as `train.learning_rate`"
            ));
        }
        if !key.is_empty() {
            out.push(Step::Key(key.to_string()));
        }
        while let Some(inner) = rest.strip_prefix('[') {
            let end = inner
                .find(']')
                .ok_or_else(|| format!("`{path}`: a `[` without its `]`"))?;
            let index = inner[..end]
                .trim()
                .parse::<usize>()
                .map_err(|_| format!("`{path}`: `[{}]` is not an index", &inner[..end]))?;
            out.push(Step::Index(index));
            rest = &inner[end + 1..];
        }
        if !rest.is_empty() {
            return Err(format!("`{path}`: unexpected `{rest}`"));
        }
    }
    Ok(out)
}

/// The concrete steps to the place `path` names in `root`, stepping
/// through enum variants; the error lists the fields that exist where the
/// path went wrong.
fn resolve(root: &Value, path: &str) -> Result<Vec<Step>, String> {
    let mut here = root;
    let mut seen = String::new();
    let mut out = Vec::new();
    for step in steps(path)? {
        match step {
            Step::Key(key) => {
                // An enum's variant (`{"Spiral": {...}}`) is stepped through.
                if let Value::Object(map) = here
                    && !map.contains_key(&key)
                    && map.len() == 1
                    && let Some((variant, inner)) = map.iter().next()
                    && variant.starts_with(|c: char| c.is_ascii_uppercase())
                {
                    out.push(Step::Key(variant.clone()));
                    here = inner;
                }
                match here {
                    Value::Object(map) => {
                        if let Some(next) = map.get(&key) {
                            seen = if seen.is_empty() {
                                key.clone()
                            } else {
                                format!("{seen}.{key}")
                            };
                            out.push(Step::Key(key));
                            here = next;
                        } else {
                            let mut names: Vec<String> = map
                                .keys()
                                .map(|k| {
                                    if seen.is_empty() {
                                        k.clone()
                                    } else {
                                        format!("{seen}.{k}")
                                    }
                                })
                                .collect();
                            names.sort();
                            let place = if seen.is_empty() {
                                " in a scene".to_string()
                            } else {
                                format!(" in `{seen}`")
                            };
                            return Err(format!(
                                "no field `{key}`{place}; the fields there are: {}",
                                names.join(", ")
                            ));
                        }
                    }
                    _ => {
                        return Err(format!(
                            "`{seen}` is a value, not a group of fields, so it has no `{key}`"
                        ));
                    }
                }
            }
            Step::Index(i) => match here {
                Value::Array(items) => {
                    seen = format!("{seen}[{i}]");
                    here = items.get(i).ok_or_else(|| {
                        format!("`{seen}` is past the end of a list of {}", items.len())
                    })?;
                    out.push(Step::Index(i));
                }
                Value::Null => {
                    return Err(format!(
                        "`{seen}` is not set in the base scene; give it a list there to sweep one of its items"
                    ));
                }
                _ => return Err(format!("`{seen}` is not a list, so it has no `[{i}]`")),
            },
        }
    }
    Ok(out)
}

/// The value at `path` (see [`resolve`]).
fn field(root: &Value, path: &str) -> Result<Value, String> {
    let mut here = root;
    for step in resolve(root, path)? {
        here = match step {
            Step::Key(k) => &here[k.as_str()],
            Step::Index(i) => &here[i],
        };
    }
    Ok(here.clone())
}

/// Sets `path` to `value`. A named struct's name (`ModelSpec(...)`) given
/// where the field is a plain struct is dropped.
fn set(root: &mut Value, path: &str, value: Value) -> Result<(), String> {
    let mut slot = root;
    for step in resolve(slot, path)? {
        slot = match step {
            Step::Key(k) => &mut slot[k.as_str()],
            Step::Index(i) => &mut slot[i],
        };
    }
    let is_variant = |v: &Value| {
        matches!(v, Value::String(_))
            || matches!(v, Value::Object(m) if m.len() == 1 && m.keys().all(|k| k.starts_with(|c: char| c.is_ascii_uppercase())))
    };
    let value = match value {
        Value::Object(map) if slot.is_object() && !is_variant(slot) && map.len() == 1 => {
            let inner = map.values().next().cloned().unwrap_or(Value::Null);
            if inner.is_object() {
                inner
            } else {
                Value::Object(map)
            }
        }
        other => other,
    };
    *slot = value;
    Ok(())
}

/// A scene from its JSON form, the error naming `field` and the value.
fn scene_from(json: Value, field: &str, value: &Value) -> Result<Scene, String> {
    let mut scene: Scene = serde_json::from_value(json)
        .map_err(|e| format!("the value `{}` does not fit: {e}", display_value(value)))?;
    if scene.name.is_empty() {
        scene.name = "sweep".into();
    }
    scene
        .validate()
        .map_err(|e| format!("with `{field}` = `{}`: {e}", display_value(value)))?;
    Ok(scene)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#"Sweep(
    name: "t",
    base: Inline(
        seed: 1,
        data: Spiral(samples: 100, noise: 0.1),
        model: (hidden: [4], activation: Tanh),
        train: (optimizer: Gd, learning_rate: 0.1, learning_rates: [0.1, 0.2], steps: 10),
    ),
    axes: [
        (field: "train.learning_rate", values: Log(0.01, 1.0, 3)),
        (field: "data.noise", values: [0.0, 0.2]),
        (field: "model.hidden", values: [[2], [3]]),
        (field: "train.optimizer", values: [Gd, Momentum]),
        (field: "train.learning_rates[1]", values: Linear(0.5, 1.0, 2)),
        (field: "seed", values: Range(3, 4)),
        (field: "train.batch_size", values: Log(8, 32, 3)),
    ],
)"#;

    fn parse(text: &str) -> LabResult<Sweep> {
        Sweep::parse(text, Path::new("sweeps/t.ron"), &Presets::built_in())
    }

    #[test]
    fn a_grid_sets_every_kind_of_field() {
        let s = parse(BASE).unwrap();
        assert_eq!(s.count, 3 * 2 * 2 * 2 * 2 * 2 * 3);
        let last = s.scene(s.count - 1).unwrap();
        assert!((last.train.learning_rate - 1.0).abs() < 1e-6);
        assert_eq!(last.model.hidden, vec![3]);
        assert_eq!(
            last.train.optimizer,
            crate::lab::scene::OptimizerKind::Momentum
        );
        assert_eq!(last.train.learning_rates, Some(vec![0.1, 1.0]));
        assert_eq!(last.seed, 4);
        assert_eq!(last.train.batch_size, 32);
        assert_eq!(last.name, format!("t_m{}", s.count - 1));
        match &last.data {
            crate::lab::data::DataSpec::Spiral(d) => assert!((d.noise - 0.2).abs() < 1e-6),
            other => panic!("{other:?}"),
        }
        let first = s.scene(0).unwrap();
        assert!((first.train.learning_rate - 0.01).abs() < 1e-6);
        assert_eq!(first.train.batch_size, 8);
        // The middle of Log(8, 32, 3) is 16, rounded for an integer field.
        assert_eq!(s.scene(1).unwrap().train.batch_size, 16);
        // The last axis varies fastest.
        assert_eq!(s.values(1)[6], serde_json::json!(16));
        assert_eq!(display_value(&s.values(0)[2]), "[2]");
        assert_eq!(display_value(&s.values(0)[0]), "0.01");
    }

    #[test]
    fn dropout_and_per_layer_activations_are_axes_like_any_field() {
        use crate::lab::model::Activation;
        let text = BASE
            .replace(
                "        (field: \"data.noise\", values: [0.0, 0.2]),\n",
                "        (field: \"model.dropout\", values: [0.0, 0.3]),\n",
            )
            .replace(
                "        (field: \"model.hidden\", values: [[2], [3]]),\n",
                "        (field: \"model.activations\", values: [[Relu], [Gelu]]),\n",
            );
        let s = parse(&text).unwrap_or_else(|e| panic!("{e}"));
        let last = s.scene(s.count - 1).unwrap();
        assert_eq!(last.model.dropout, 0.3);
        assert_eq!(last.model.hidden_activations(), vec![Activation::Gelu]);
        // The batched kernel leaves dropout to the single-model trainer.
        assert!(crate::lab::sweep::kernel::unsupported(&last).is_some());
        assert!(crate::lab::sweep::kernel::unsupported(&s.scene(0).unwrap()).is_none());
        let err = parse(&text.replace("[[Relu], [Gelu]]", "[[Relu, Tanh]]"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("one activation per hidden layer"), "{err}");
    }

    #[test]
    fn sweep_ron_loads_back_as_the_same_sweep() {
        let s = parse(BASE).unwrap();
        let text = s.to_ron().unwrap();
        let again = parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(again.count, s.count);
        for k in [0, 17, s.count - 1] {
            assert_eq!(again.scene(k).unwrap(), s.scene(k).unwrap());
        }
        assert_eq!(again.to_ron().unwrap(), text);
    }

    #[test]
    fn random_mode_draws_reproducibly_inside_the_ranges() {
        let text = BASE.replace("    ],\n)", "    ],\n    mode: Random(50, 7),\n)");
        let s = parse(&text).unwrap();
        assert_eq!(s.count, 50);
        let again = parse(&text).unwrap();
        let mut rates = Vec::new();
        for k in 0..50 {
            let scene = s.scene(k).unwrap();
            assert_eq!(scene, again.scene(k).unwrap());
            assert!((0.01..=1.0).contains(&scene.train.learning_rate));
            assert!((8..=32).contains(&scene.train.batch_size));
            rates.push(scene.train.learning_rate);
        }
        rates.sort_by(f32::total_cmp);
        rates.dedup();
        assert!(rates.len() > 40, "continuous draws differ");
        let other = parse(&text.replace("Random(50, 7)", "Random(50, 8)")).unwrap();
        assert_ne!(other.scene(0).unwrap(), s.scene(0).unwrap());
    }

    #[test]
    fn errors_name_the_file_line_and_field() {
        let bad = BASE.replace("\"data.noise\"", "\"data.noize\"");
        let e = parse(&bad).unwrap_err().to_string();
        assert!(e.starts_with("sweeps/t.ron:11:"), "{e}");
        assert!(
            e.contains("data.noize") && e.contains("data.noise") && e.contains("data.samples"),
            "{e}"
        );
        let e = parse(&BASE.replace("\"train.learning_rate\"", "\"train.learning_rat\""))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("train.learning_rate,") && e.contains("train.optimizer"),
            "{e}"
        );
        let e = parse(&BASE.replace("[Gd, Momentum]", "[Gd, Adamm]"))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("sweeps/t.ron:13:")
                && e.contains("Adamm")
                && e.contains("train.optimizer"),
            "{e}"
        );
        let e = parse(&BASE.replace("Range(3, 4)", "Range(4, 3)"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("sweeps/t.ron:15:") && e.contains("empty"), "{e}");
        let e = parse(&BASE.replace("Log(0.01, 1.0, 3)", "Log(0.0, 1.0, 3)"))
            .unwrap_err()
            .to_string();
        assert!(e.contains(":10:") && e.contains("positive"), "{e}");
        let e = parse(&BASE.replace("Linear(0.5, 1.0, 2)", "Linear(-0.5, 1.0, 2)"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("learning_rates") && e.contains("-0.5"), "{e}");
        let e = parse(&BASE.replace("learning_rates: [0.1, 0.2], ", ""))
            .unwrap_err()
            .to_string();
        assert!(e.contains("not set in the base scene"), "{e}");
        let e = parse(&BASE.replace("values: [0.0, 0.2]", "values: Grid(1)"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("Linear(lo, hi, n)") && e.contains(":11:"), "{e}");
        let e = parse(&BASE.replace("name: \"t\",", "name: \"t\", colour: 3,"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("colour") && e.starts_with("sweeps/t.ron:2:"),
            "{e}"
        );
        let e = parse(&BASE.replace("base: Inline(", "base: Path(\"nowhere.ron\"), x: ("))
            .unwrap_err()
            .to_string();
        assert!(e.contains("sweeps/t.ron"), "{e}");
        let e = parse(&BASE.replace(
            "Inline(\n        seed: 1,",
            "Inline(\n        seed: 1, model: (hidden: [0]),",
        ))
        .unwrap_err()
        .to_string();
        assert!(e.contains("sweeps/t.ron"), "{e}");
    }

    #[test]
    fn a_base_path_is_read_beside_the_file_or_as_a_preset() {
        let text = "Sweep(base: Path(\"xor\"), axes: [(field: \"seed\", values: Range(0, 2))])";
        let s = parse(text).unwrap();
        assert_eq!(s.count, 3);
        assert_eq!(s.base().data.name(), "xor");
        assert_eq!(s.name(), "t");
        let e = parse(&text.replace("\"xor\"", "\"nothing-called-this\""))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("sweeps/t.ron:1:") && e.contains("presets:"),
            "{e}"
        );
    }
}
