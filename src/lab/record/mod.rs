//! Run directories: `runs/<scene>_<NNN>/` with the resolved scene, metrics and frames.

pub mod codec;
mod diagnose;
mod edits;
mod entropy;
mod export;
mod frames;
mod metrics;
mod scalars;
mod sink;

use std::path::{Path, PathBuf};

pub use diagnose::diagnose;
pub use edits::{Edit, read_edits};
pub use export::{frame_json, metrics_csv, metrics_json, write_export};
pub use frames::{
    DEFAULT_KEYFRAME_EVERY, Damage, FORMAT_VERSION, FrameReader, FrameWriter, IndexEntry,
    RecordingHeader, index_path,
};
pub use metrics::{MetricsWriter, parse_metrics, read_layers, read_metrics};
pub use scalars::read_scalars;
pub use sink::FrameSink;

use crate::lab::error::{LabError, LabResult};
use crate::lab::frame::Metrics;
use crate::lab::frame::{Frame, Topology};
use crate::lab::scene::Scene;

/// File names inside a run directory.
pub const SCENE_FILE: &str = "scene.ron";
/// Metrics, one CSV row per evaluation.
pub const METRICS_FILE: &str = "metrics.csv";
/// Each weight layer's stats at every recorded frame's step.
pub const LAYERS_FILE: &str = "layers.csv";
/// The changes made to training while the run went on (see [`edits`]).
pub const EDITS_FILE: &str = "edits.csv";
/// The frame recording.
pub const FRAMES_FILE: &str = "frames.nnmr";
/// Screenshots and films taken in this run.
pub const CAPTURES_DIR: &str = "captures";
/// The Hessian's top eigenvalues at each sharpness measurement, when a scene
/// asks for more than one (`measure.top_k`).
pub const SPECTRUM_FILE: &str = "spectrum.csv";
/// Named numbers a run was sent besides its metrics (see [`read_scalars`]).
pub const SCALARS_FILE: &str = "scalars.csv";

/// A run directory on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunDir {
    /// Its path.
    pub path: PathBuf,
}

impl RunDir {
    /// Creates `root/<name>_<NNN>` with the next free number; never reuses one.
    pub fn create(root: &Path, name: &str) -> LabResult<RunDir> {
        std::fs::create_dir_all(root)
            .map_err(|e| LabError::io(root, "cannot create the runs folder", e))?;
        let prefix = format!("{name}_");
        let mut next = std::fs::read_dir(root)
            .map_err(|e| LabError::io(root, "cannot list", e))?
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let n = e.file_name().to_string_lossy().into_owned();
                n.strip_prefix(&prefix).and_then(|s| s.parse::<u64>().ok())
            })
            .max()
            .map_or(1, |n| n + 1);
        loop {
            let path = root.join(format!("{prefix}{next:03}"));
            match std::fs::create_dir(&path) {
                Ok(()) => return Ok(RunDir { path }),
                // Another process took this number: try the next one.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => next += 1,
                Err(e) => return Err(LabError::io(&path, "cannot create run directory", e)),
            }
        }
    }

    /// Opens an existing run directory.
    pub fn open(path: &Path) -> LabResult<RunDir> {
        if !path.join(SCENE_FILE).is_file() {
            return Err(LabError::run(
                path,
                format!("not a run directory: it has no {SCENE_FILE}"),
            ));
        }
        Ok(RunDir {
            path: path.to_path_buf(),
        })
    }

    /// The directory's own name, such as `xor_003`.
    pub fn name(&self) -> String {
        self.path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    /// Path of the resolved scene.
    pub fn scene_path(&self) -> PathBuf {
        self.path.join(SCENE_FILE)
    }

    /// Path of the metrics CSV.
    pub fn metrics_path(&self) -> PathBuf {
        self.path.join(METRICS_FILE)
    }

    /// Path of the frame recording.
    pub fn frames_path(&self) -> PathBuf {
        self.path.join(FRAMES_FILE)
    }

    /// Folder for screenshots and films.
    pub fn captures_dir(&self) -> PathBuf {
        self.path.join(CAPTURES_DIR)
    }

    /// Reads back the scene the run was made with.
    pub fn scene(&self) -> LabResult<Scene> {
        Scene::load(self.scene_path())
    }
}

/// Writes one run: the scene once, then metrics rows and frames as training goes.
pub struct RunRecorder {
    dir: RunDir,
    metrics: MetricsWriter,
    layers: Option<MetricsWriter>,
    frames: Option<FrameSink>,
    thinning: Thinning,
    spectrum: Option<std::io::BufWriter<std::fs::File>>,
    edits: edits::EditLog,
    /// The step of the last frame handed to the recording: a step is
    /// recorded once, whether by training or as the final state.
    last_frame: Option<u64>,
    /// `scalars.csv`, once a scalar arrives.
    scalars: Option<scalars::ScalarWriter>,
}

/// Which steps are recorded: every `frame_every`-th, and, once the recording
/// passes its byte budget, every other one of those, then every fourth...,
/// so that the file never grows past twice the budget.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Thinning {
    /// Record every this many steps now.
    pub stride: u64,
    /// When the recording reaches this many bytes, the stride doubles.
    pub next_limit: u64,
    /// The budget.
    pub max_bytes: u64,
}

impl Thinning {
    /// Starts at `frame_every` with a budget of `max_bytes`.
    pub fn new(frame_every: u64, max_bytes: u64) -> Self {
        Thinning {
            stride: frame_every.max(1),
            next_limit: max_bytes,
            max_bytes,
        }
    }

    /// Notes the recording's size; doubles the stride past each limit.
    pub fn observe(&mut self, bytes: u64) {
        while bytes >= self.next_limit && self.stride < u64::MAX {
            self.stride = self.stride.saturating_mul(2);
            // Each halving of the rate gets half the remaining room (past the
            // room, every record halves it again: the file stops growing).
            let room = (2 * self.max_bytes).saturating_sub(self.next_limit);
            self.next_limit += (room / 2).max(1);
        }
    }

    /// True when `step` is recorded.
    pub fn wants(&self, step: u64) -> bool {
        step.is_multiple_of(self.stride)
    }
}

impl RunRecorder {
    /// Creates the run directory under `root` and writes the resolved scene.
    pub fn start(root: &Path, scene: &Scene, topology: &Topology) -> LabResult<RunRecorder> {
        let scene = scene.resolved();
        let text = scene.to_ron()?;
        // The run repeats only if its scene.ron reads back as this very scene:
        // read back and written again, it must give the same text.
        let again = Scene::parse(&text, Path::new(SCENE_FILE)).and_then(|back| back.to_ron());
        match again {
            Ok(again) if again == text => {}
            Ok(_) => {
                return Err(LabError::run(
                    root,
                    format!(
                        "scene `{}` cannot be written so that it repeats the run: it reads back as another scene",
                        scene.name
                    ),
                ));
            }
            Err(e) => {
                return Err(LabError::run(
                    root,
                    format!(
                        "scene `{}` cannot be written so that it repeats the run: {e}",
                        scene.name
                    ),
                ));
            }
        }
        let dir = RunDir::create(root, &scene.name)?;
        std::fs::write(dir.scene_path(), text)
            .map_err(|e| LabError::io(dir.scene_path(), "cannot write", e))?;
        let metrics = MetricsWriter::create(&dir.metrics_path())?;
        let layers = if scene.record.frames {
            Some(MetricsWriter::create_layers(&dir.path.join(LAYERS_FILE))?)
        } else {
            None
        };
        let frames = if scene.record.frames {
            let header = RecordingHeader {
                scene: scene.name.clone(),
                topology: topology.clone(),
                keyframe_every: scene.record.keyframe_every,
            };
            Some(FrameSink::spawn(FrameWriter::create(
                &dir.frames_path(),
                &header,
            )?)?)
        } else {
            None
        };
        let edits = edits::EditLog::new(dir.path.join(EDITS_FILE));
        Ok(RunRecorder {
            dir,
            metrics,
            layers,
            frames,
            thinning: Thinning::new(scene.record.frame_every, scene.record.max_bytes),
            spectrum: None,
            edits,
            last_frame: None,
            scalars: None,
        })
    }

    /// Reopens the run in `run` to go on from `step`: rows and frames of
    /// `step` and after are cut from its files (a killed run may have written
    /// past its last checkpoint), the recording goes on with a keyframe, and
    /// `scene.ron` takes `scene`'s step count if it changed. It keeps the
    /// settings the run started with: later changes are in `edits.csv`.
    pub fn resume(
        run: &RunDir,
        scene: &Scene,
        topology: &Topology,
        step: u64,
        thinning: Option<Thinning>,
    ) -> LabResult<RunRecorder> {
        let scene = scene.resolved();
        let mut started = run.scene()?;
        if started.train.steps != scene.train.steps {
            started.train.steps = scene.train.steps;
            std::fs::write(run.scene_path(), started.to_ron()?)
                .map_err(|e| LabError::io(run.scene_path(), "cannot write", e))?;
        }
        let layers_path = run.path.join(LAYERS_FILE);
        let spectrum_path = run.path.join(SPECTRUM_FILE);
        for path in [&run.metrics_path(), &layers_path, &spectrum_path] {
            metrics::cut_rows(path, step)?;
        }
        // Edits at the checkpoint's step were made before it was saved.
        let edits_path = run.path.join(EDITS_FILE);
        metrics::cut_rows(&edits_path, step.saturating_add(1))?;
        let metrics = MetricsWriter::append_to(&run.metrics_path())?;
        let layers = match (scene.record.frames, layers_path.exists()) {
            (false, _) => None,
            (true, true) => Some(MetricsWriter::append_to(&layers_path)?),
            (true, false) => Some(MetricsWriter::create_layers(&layers_path)?),
        };
        let frames = if scene.record.frames {
            let path = run.frames_path();
            let writer = if path.exists() {
                FrameWriter::reopen(&path, step)?
            } else {
                let header = RecordingHeader {
                    scene: scene.name.clone(),
                    topology: topology.clone(),
                    keyframe_every: scene.record.keyframe_every,
                };
                FrameWriter::create(&path, &header)?
            };
            Some(FrameSink::spawn(writer)?)
        } else {
            None
        };
        let spectrum = if spectrum_path.exists() {
            let file = std::fs::File::options()
                .append(true)
                .open(&spectrum_path)
                .map_err(|e| LabError::io(&spectrum_path, "cannot open", e))?;
            Some(std::io::BufWriter::new(file))
        } else {
            None
        };
        Ok(RunRecorder {
            dir: run.clone(),
            metrics,
            layers,
            frames,
            thinning: thinning
                .unwrap_or_else(|| Thinning::new(scene.record.frame_every, scene.record.max_bytes)),
            spectrum,
            edits: edits::EditLog::new(edits_path),
            last_frame: None,
            scalars: None,
        })
    }

    /// Appends a change to training, taking effect at `step`, to `edits.csv`.
    pub fn record_edit(&mut self, step: u64, edit: &edits::Edit) -> LabResult<()> {
        self.edits.append(step, edit)
    }

    /// Appends the top eigenvalues measured at `step` to `spectrum.csv`
    /// (`step,lambda_1,...,lambda_k`), creating it at the first call; flushed.
    pub fn record_spectrum(&mut self, step: u64, eigenvalues: &[f64]) -> LabResult<()> {
        use std::io::Write;
        let path = self.dir.path.join(SPECTRUM_FILE);
        if self.spectrum.is_none() {
            let file = std::fs::File::create(&path)
                .map_err(|e| LabError::io(&path, "cannot create", e))?;
            let mut out = std::io::BufWriter::new(file);
            let names: Vec<String> = (1..=eigenvalues.len())
                .map(|i| format!("lambda_{i}"))
                .collect();
            writeln!(out, "step,{}", names.join(","))
                .map_err(|e| LabError::io(&path, "cannot write", e))?;
            self.spectrum = Some(out);
        }
        let Some(out) = self.spectrum.as_mut() else {
            return Ok(());
        };
        let values: Vec<String> = eigenvalues.iter().map(|v| v.to_string()).collect();
        writeln!(out, "{step},{}", values.join(","))
            .and_then(|_| out.flush())
            .map_err(|e| LabError::io(&path, "cannot write", e))
    }

    /// The run directory.
    pub fn dir(&self) -> &RunDir {
        &self.dir
    }

    /// True when the frame of `step` should be recorded: its step is due
    /// and was not recorded yet.
    pub fn wants_frame(&self, step: u64) -> bool {
        self.wants_final_frame(step) && self.thinning.wants(step)
    }

    /// True when the final state at `step` still needs its frame: the last
    /// metrics row then has weights to replay, whatever the stride.
    pub fn wants_final_frame(&self, step: u64) -> bool {
        self.frames.is_some() && self.last_frame.is_none_or(|last| step > last)
    }

    /// Records a frame if its step is due. It is encoded and written on the
    /// recording's own thread; the stride follows the bytes of every record
    /// before this one (see [`FrameSink`]).
    pub fn record_frame(&mut self, frame: Box<Frame>) -> LabResult<()> {
        if !self.wants_frame(frame.step) {
            return Ok(());
        }
        self.append_frame(frame, false)
    }

    /// Records the frame of the run's final state, outside the stride and
    /// as an exact keyframe: the weights the final metrics row reports.
    pub fn record_final_frame(&mut self, frame: Box<Frame>) -> LabResult<()> {
        if !self.wants_final_frame(frame.step) {
            return Ok(());
        }
        self.append_frame(frame, true)
    }

    /// Records a frame outside the stride as an exact keyframe: a state
    /// that came from elsewhere (an imported checkpoint), kept bit for bit.
    pub fn record_keyframe(&mut self, frame: Box<Frame>) -> LabResult<()> {
        if !self.wants_final_frame(frame.step) {
            return Ok(());
        }
        self.append_frame(frame, true)
    }

    /// Appends the named numbers of `step` to `scalars.csv` (made on the
    /// first call).
    pub fn record_scalars(
        &mut self,
        step: u64,
        scalars: &std::collections::BTreeMap<String, f64>,
    ) -> LabResult<()> {
        if scalars.is_empty() {
            return Ok(());
        }
        if self.scalars.is_none() {
            let path = self.dir.path.join(SCALARS_FILE);
            self.scalars = Some(scalars::ScalarWriter::create(&path)?);
        }
        match &mut self.scalars {
            Some(writer) => writer.append(step, scalars),
            None => Ok(()),
        }
    }

    fn append_frame(&mut self, frame: Box<Frame>, key: bool) -> LabResult<()> {
        self.last_frame = Some(frame.step);
        if let Some(layers) = &mut self.layers {
            layers.append_layers(&frame)?;
        }
        let Some(sink) = &mut self.frames else {
            return Ok(());
        };
        sink.send(frame, key)?;
        self.thinning.observe(sink.bytes());
        Ok(())
    }

    /// Waits until every frame handed over is written and flushed.
    pub fn settle(&mut self) -> LabResult<()> {
        match &mut self.frames {
            Some(sink) => sink.settle(),
            None => Ok(()),
        }
    }

    /// Appends a metrics row and flushes it.
    pub fn record_metrics(&mut self, row: &Metrics) -> LabResult<()> {
        self.metrics.append(row)
    }

    /// Bytes of frames written so far (as of the last record known to be written).
    pub fn frame_bytes(&self) -> u64 {
        self.frames.as_ref().map_or(0, FrameSink::bytes)
    }

    /// Which steps are being recorded.
    pub fn thinning(&self) -> Thinning {
        self.thinning
    }
}

/// A summary of a run directory, for `nnm runs`.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSummary {
    /// The directory.
    pub dir: RunDir,
    /// The scene's name.
    pub scene: String,
    /// Last metrics row, if any.
    pub last: Option<Metrics>,
    /// Size of everything in the directory.
    pub bytes: u64,
}

/// Summarises every run directory under `root`, sorted by name.
pub fn list_runs(root: &Path) -> LabResult<Vec<RunSummary>> {
    if !root.exists() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for entry in std::fs::read_dir(root).map_err(|e| LabError::io(root, "cannot list", e))? {
        let Ok(entry) = entry else { continue };
        let Ok(dir) = RunDir::open(&entry.path()) else {
            continue;
        };
        let scene = dir
            .scene()
            .map(|s| s.name)
            .unwrap_or_else(|e| format!("(bad scene: {e})"));
        let last = read_metrics(&dir.metrics_path())
            .ok()
            .and_then(|rows| rows.last().cloned());
        let bytes = dir_size(&dir.path);
        out.push(RunSummary {
            dir,
            scene,
            last,
            bytes,
        });
    }
    out.sort_by(|a, b| a.dir.path.cmp(&b.dir.path));
    Ok(out)
}

fn dir_size(path: &Path) -> u64 {
    std::fs::read_dir(path)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => dir_size(&e.path()),
                    Ok(m) => m.len(),
                    Err(_) => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests;
