//! `nnm import`: checkpoints written by other frameworks (safetensors, one per
//! step) into an ordinary run directory, evaluated and followed on real data.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, bail};

use nn_microscope::lab::model::Activation;
use nn_microscope::lab::runner::Session;
use nn_microscope::lab::scene::Presets;
use nn_microscope::lab::stream::{
    NetworkMessage, adopted_scene, check_fits, data_scene, read_logged_metrics, step_from_file_name,
};
use nn_microscope::lab::{CpuBackend, Metrics};

/// The file a run directory keeps the imported checkpoints' names in.
const SOURCES_FILE: &str = "imported_from.txt";

/// Options of `nnm import`.
#[derive(Debug, clap::Args)]
pub(super) struct ImportArgs {
    /// Checkpoints (`.safetensors`, or numpy `.npz`; one per step, the step
    /// in their metadata or their name), or folders of them.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// The data the network learnt: a scene file or preset name, whose data
    /// set evaluates each checkpoint and feeds the probe, or a CSV file
    /// (its last column the target; inputs as they are, not normalised).
    #[arg(long)]
    data: String,
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
    for file in files {
        let bytes =
            std::fs::read(&file).with_context(|| format!("{}: cannot read", file.display()))?;
        let name = file.file_name().map(|n| n.to_string_lossy().into_owned());
        let origin = file.display().to_string();
        let step = name.as_deref().and_then(step_from_file_name);
        let message = match file.extension().is_some_and(|x| x == "npz") {
            true => NetworkMessage::decode_npz(&bytes, &origin, step)?,
            false => NetworkMessage::decode(&bytes, &origin, step)?,
        };
        series.push((file, message));
    }
    series.sort_by_key(|(_, m)| m.step);
    check_series(&series)?;
    let (first_file, first) = &series[0];
    let steps = series.last().map_or(0, |(_, m)| m.step);
    let outputs = first.sizes().last().copied().unwrap_or(0);
    let config = adopted_scene(
        data_scene(&args.data, presets, outputs)?,
        first,
        args.activation,
        steps,
    );
    let data = Arc::new(config.load_data()?);
    check_fits(first, &data, &first_file.display().to_string(), &args.data)?;
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

/// The checkpoint files of `paths`: files as given, folders' `.safetensors`
/// and `.npz` files in name order.
fn checkpoint_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut inside: Vec<PathBuf> = std::fs::read_dir(path)
                .with_context(|| format!("{}: cannot list", path.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.extension()
                        .is_some_and(|x| x == "safetensors" || x == "npz")
                })
                .collect();
            inside.sort();
            if inside.is_empty() {
                bail!(
                    "{}: no .safetensors or .npz checkpoints in this folder",
                    path.display()
                );
            }
            files.extend(inside);
        } else if path.is_file() {
            files.push(path.clone());
        } else {
            bail!("{}: no such file or folder", path.display());
        }
    }
    Ok(files)
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
