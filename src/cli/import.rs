//! `nnm import`: checkpoints written by other frameworks (safetensors or
//! `.npz`, one per step) or by this project (its runs' checkpoints, burn
//! records) into an ordinary run directory, evaluated and followed on real data.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, bail};

use nn_microscope::lab::model::Activation;
use nn_microscope::lab::runner::{CHECKPOINTS_DIR, Session, read_checkpoint};
use nn_microscope::lab::scene::{Presets, Scene};
use nn_microscope::lab::stream::{
    NetworkMessage, adopted_scene, check_fits, data_scene, read_logged_metrics, step_from_file_name,
};
use nn_microscope::lab::train::{MODEL_FILE, read_model_record};
use nn_microscope::lab::{CpuBackend, Metrics};

/// The backend records are read on (no gradients needed).
type Inner = <CpuBackend as burn::tensor::backend::AutodiffBackend>::InnerBackend;

/// The file a run directory keeps the imported checkpoints' names in.
const SOURCES_FILE: &str = "imported_from.txt";

/// Options of `nnm import`.
#[derive(Debug, clap::Args)]
pub(super) struct ImportArgs {
    /// Checkpoints, one per step (the step in their metadata or their name):
    /// `.safetensors`, numpy `.npz`, burn records of this project's network
    /// (`.mpk`), this project's checkpoint folders (`checkpoints/step_N`) or
    /// a run directory (its checkpoints); or folders of them.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// The data the network learnt: a scene file or preset name, whose data
    /// set evaluates each checkpoint and feeds the probe, a CSV file (its
    /// last column the target; inputs as they are, not normalised), or
    /// numpy arrays (`X.npy,Y.npy`, or an `.npz`). Needed unless the
    /// checkpoints are a run's own, which carry their scene.
    #[arg(long)]
    data: Option<String>,
    /// The hidden layers' non-linearity, where the checkpoints do not say
    /// (`relu`, `tanh`, `sigmoid`, `gelu`, `linear`).
    #[arg(long, default_value = "relu", value_parser = Activation::from_label)]
    activation: Activation,
    /// Metrics logged beside the checkpoints: CSV with a `step` column, or
    /// JSON lines (`.jsonl`) with a `step` key; their numbers go to
    /// `scalars.csv` at their steps, checkpoint or not.
    #[arg(long, value_name = "FILE")]
    metrics: Option<PathBuf>,
    /// Folder that receives the run directory.
    #[arg(long, default_value = "runs")]
    out: PathBuf,
}

/// Imports the checkpoints and prints the same `final:` line as `nnm train`.
pub(super) fn import(args: ImportArgs, presets: &Presets) -> Result<ExitCode> {
    let files = checkpoint_files(&args.paths)?;
    let mut series: Vec<(PathBuf, NetworkMessage)> = Vec::with_capacity(files.len());
    // The scene of this project's own checkpoints (the first one's).
    let mut own_scene: Option<Scene> = None;
    for file in files {
        let origin = file.display().to_string();
        // `ckpt_120.safetensors`, or `step_120/model.mpk`.
        let step = [file.file_name(), file.parent().and_then(Path::file_name)]
            .into_iter()
            .flatten()
            .find_map(|n| step_from_file_name(&n.to_string_lossy()));
        let message = if file.is_dir() {
            let (message, scene) = read_checkpoint::<Inner>(&file, &Default::default())?;
            own_scene.get_or_insert(scene);
            message
        } else if file.extension().is_some_and(|x| x == "mpk") {
            let layers = read_model_record::<Inner>(&file, &Default::default())?;
            NetworkMessage {
                step: step.with_context(|| {
                    format!("{origin}: no step in its name or its folder's (name burn records by their step, such as model_1200.mpk)")
                })?,
                layers,
                ..Default::default()
            }
        } else {
            let bytes = std::fs::read(&file).with_context(|| format!("{origin}: cannot read"))?;
            match file.extension().is_some_and(|x| x == "npz") {
                true => NetworkMessage::decode_npz(&bytes, &origin, step)?,
                false => NetworkMessage::decode(&bytes, &origin, step)?,
            }
        };
        series.push((file, message));
    }
    series.sort_by_key(|(_, m)| m.step);
    check_series(&series)?;
    if let Some(every) = own_scene.as_ref().and_then(|s| s.record.checkpoint_every) {
        check_every(&series, every)?;
    }
    let (first_file, first) = &series[0];
    let steps = series.last().map_or(0, |(_, m)| m.step);
    let outputs = first.sizes().last().copied().unwrap_or(0);
    let config = match (own_scene, &args.data) {
        // A run's own checkpoints keep its whole network (factors, output,
        // biases); `--data` only swaps what it is evaluated on.
        (Some(mut scene), data) => {
            if let Some(data) = data {
                scene.data = data_scene(data, presets, outputs)?.data;
            }
            scene.train.steps = steps;
            scene.record.frames = true;
            scene.name = format!("import-{}", scene.name);
            scene
        }
        (None, Some(data)) => adopted_scene(
            data_scene(data, presets, outputs)?,
            first,
            args.activation,
            steps,
        ),
        (None, None) => bail!(
            "--data is needed: {} does not say what data the network learnt (name a preset, a scene file, a CSV file or numpy arrays); only this project's own checkpoints (a run's checkpoints/step_N) carry their scene",
            first_file.display()
        ),
    };
    let data = Arc::new(config.load_data()?);
    let data_name = args.data.clone().unwrap_or_else(|| config.name.clone());
    check_fits(first, &data, &first_file.display().to_string(), &data_name)?;
    let mut session =
        Session::<CpuBackend>::with_data(&config, data, &Default::default(), Some(&args.out))?;
    let run_dir = session.run_dir().map(Path::to_path_buf).unwrap_or_default();
    let sources: String = series
        .iter()
        .map(|(f, m)| format!("{} {}\n", m.step, f.display()))
        .collect();
    std::fs::write(run_dir.join(SOURCES_FILE), sources)
        .with_context(|| format!("{}: cannot write", run_dir.join(SOURCES_FILE).display()))?;
    let mut logged = match &args.metrics {
        Some(path) => read_logged_metrics(path)?,
        None => Default::default(),
    };
    let bar = super::progress_bar(series.len() as u64, "checkpoints");
    let mut last = Metrics::default();
    for (file, message) in &mut series {
        // What was logged before this checkpoint, then with it (the
        // checkpoint's own numbers win a name both have).
        let later = logged.split_off(&message.step);
        for (step, scalars) in std::mem::replace(&mut logged, later) {
            session.record_scalars(step, &scalars)?;
        }
        if let Some(mut with) = logged.remove(&message.step) {
            with.append(&mut message.scalars);
            message.scalars = with;
        }
        last = session.import_state(message, &file.display().to_string())?;
        bar.inc(1);
    }
    for (step, scalars) in logged {
        session.record_scalars(step, &scalars)?;
    }
    bar.finish_and_clear();
    session.settle()?;
    println!(
        "{}",
        super::train::final_line(&session, steps, &last, &run_dir.display().to_string())
    );
    Ok(ExitCode::SUCCESS)
}

/// The checkpoints of `paths`: files and this project's checkpoint folders
/// (`step_N`) as given; a run directory's `checkpoints/`; other folders'
/// `.safetensors`, `.npz` and `.mpk` files and checkpoint folders.
fn checkpoint_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for path in paths {
        if is_own_checkpoint(path) || path.is_file() {
            files.push(path.clone());
        } else if path.is_dir() {
            let folder = match path.join(CHECKPOINTS_DIR).is_dir() {
                true => path.join(CHECKPOINTS_DIR),
                false => path.clone(),
            };
            let mut inside: Vec<PathBuf> = std::fs::read_dir(&folder)
                .with_context(|| format!("{}: cannot list", folder.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    let hidden = p
                        .file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with('.'));
                    let file = p.is_file()
                        && p.extension()
                            .is_some_and(|x| x == "safetensors" || x == "npz" || x == "mpk");
                    !hidden && (file || is_own_checkpoint(p))
                })
                .collect();
            inside.sort();
            if inside.is_empty() {
                bail!(
                    "{}: no checkpoints in this folder (.safetensors, .npz or burn .mpk files, or a run's step_N checkpoint folders)",
                    folder.display()
                );
            }
            files.extend(inside);
        } else {
            bail!("{}: no such file or folder", path.display());
        }
    }
    Ok(files)
}

/// Checks that a run's own checkpoints, saved every `every` steps, have no
/// gap: each multiple of `every` between the first and the last is there.
fn check_every(series: &[(PathBuf, NetworkMessage)], every: u64) -> Result<()> {
    for pair in series.windows(2) {
        let ((a_file, a), (b_file, b)) = (&pair[0], &pair[1]);
        let expected = (a.step / every + 1) * every;
        if expected < b.step {
            bail!(
                "the checkpoint of step {expected} is missing: the run saved one every {every} steps, and the series goes from {} (step {}) to {} (step {})",
                a_file.display(),
                a.step,
                b_file.display(),
                b.step
            );
        }
    }
    Ok(())
}

/// Whether `path` is a checkpoint folder of this project's runs (it holds
/// the model's burn record).
fn is_own_checkpoint(path: &Path) -> bool {
    path.join(format!("{MODEL_FILE}.mpk")).is_file()
}

/// Checks that the checkpoints are one network's (same widths), one per
/// step, with no gap in a regular series: checkpoints every 10 steps with
/// step 30 missing is an error naming step 30.
fn check_series(series: &[(PathBuf, NetworkMessage)]) -> Result<()> {
    let Some((first_file, first)) = series.first() else {
        bail!("no checkpoints to import");
    };
    for pair in series.windows(2) {
        let ((a_file, a), (b_file, b)) = (&pair[0], &pair[1]);
        if a.step == b.step {
            bail!(
                "two checkpoints for step {}: {} and {}",
                a.step,
                a_file.display(),
                b_file.display()
            );
        }
        if b.sizes() != first.sizes() {
            bail!(
                "{}: layer widths {:?}, but {} has {:?}: the checkpoints are not one network's",
                b_file.display(),
                b.sizes(),
                first_file.display(),
                first.sizes()
            );
        }
    }
    let gaps: Vec<u64> = series
        .windows(2)
        .map(|p| p[1].1.step - p[0].1.step)
        .collect();
    let Some(&every) = gaps.iter().min() else {
        return Ok(());
    };
    let regular = gaps.iter().filter(|&&g| g == every).count();
    // A regular series (most gaps equal): a gap that is a multiple of its
    // stride is a checkpoint missing, not a change of pace.
    if regular * 2 > gaps.len() {
        for (pair, gap) in series.windows(2).zip(&gaps) {
            if *gap > every && gap.is_multiple_of(every) {
                let (before, after) = (&pair[0], &pair[1]);
                bail!(
                    "the checkpoint of step {} is missing: the series goes every {every} steps, from {} (step {}) to {} (step {})",
                    before.1.step + every,
                    before.0.display(),
                    before.1.step,
                    after.0.display(),
                    after.1.step
                );
            }
        }
    }
    Ok(())
}
