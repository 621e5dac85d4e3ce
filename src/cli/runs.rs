//! `nnm runs`: list run directories, summarise one, print a frame, export metrics.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Subcommand;

use nn_microscope::lab::record::{
    self, FrameReader, RunDir, frame_json, metrics_csv, metrics_json, read_metrics,
};
use nn_microscope::lab::{RunStatus, format_value};

/// What `nnm runs` does to one run.
#[derive(Debug, Subcommand)]
pub(super) enum RunsCommand {
    /// Summarise a run: steps recorded, bytes, keyframes, any damaged tail.
    Show {
        /// The run directory.
        run: PathBuf,
        /// Check every record's checksum (reads the whole recording).
        #[arg(long)]
        verify: bool,
        /// Full diagnostics: configuration, parameter counts, each layer's
        /// stats, timing, checkpoints, edits, and any divergence with its cause.
        #[arg(long)]
        full: bool,
        /// With `--full`, the layers' stats at this step (default: the last recorded update).
        #[arg(long, requires = "full")]
        step: Option<u64>,
    },
    /// Print one step's frame as JSON: metrics and, per layer, weights,
    /// biases, gradients and activations.
    Frame {
        /// The run directory.
        run: PathBuf,
        /// The step (the last recorded one at or before it is printed; a
        /// step outside the recorded range is an error).
        #[arg(long)]
        step: u64,
        /// Write to this file instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Export the metrics as CSV or JSON (by the file's extension).
    Export {
        /// The run directory.
        run: PathBuf,
        /// The file to write: `.csv` or `.json`.
        #[arg(long)]
        metrics: PathBuf,
    },
}

/// Runs `nnm runs [ACTION]`.
pub(super) fn run(action: Option<RunsCommand>, root: &Path) -> Result<ExitCode> {
    match action {
        None => list(root),
        Some(RunsCommand::Show {
            run,
            verify,
            full,
            step,
        }) => {
            let code = show(&run, verify)?;
            if full {
                print!("{}", record::diagnose(&run, step)?);
            }
            Ok(code)
        }
        Some(RunsCommand::Frame { run, step, out }) => frame(&run, step, out.as_deref()),
        Some(RunsCommand::Export { run, metrics }) => export_metrics(&run, &metrics),
    }
}

/// Bytes for people.
fn size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 => format!("{:.1} GB", b as f64 / (1u64 << 30) as f64),
        b if b >= 1 << 20 => format!("{:.1} MB", b as f64 / (1u64 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.1} kB", b as f64 / 1024.0),
        b => format!("{b} B"),
    }
}

fn num(v: Option<f32>) -> String {
    format_value(v, Some(4))
}

fn list(root: &Path) -> Result<ExitCode> {
    let runs = record::list_runs(root)?;
    if runs.is_empty() {
        println!("no runs in {}", root.display());
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<28} {:<20} {:>8} {:>10} {:>10} {:>9} {:>9}  status",
        "run", "scene", "steps", "train_loss", "test_loss", "test_acc", "size"
    );
    for r in runs {
        let (steps, train, test, acc, status) = match &r.last {
            Some(m) => (
                m.step.to_string(),
                num(m.train_loss),
                num(m.test_loss),
                num(m.test_accuracy),
                m.status.as_str(),
            ),
            None => ("-".into(), "-".into(), "-".into(), "-".into(), "empty"),
        };
        println!(
            "{:<28} {:<20} {:>8} {:>10} {:>10} {:>9} {:>9}  {status}",
            r.dir.name(),
            r.scene,
            steps,
            train,
            test,
            acc,
            size(r.bytes)
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn show(run: &Path, verify: bool) -> Result<ExitCode> {
    let dir = RunDir::open(run)?;
    let scene = dir.scene()?;
    let rows = read_metrics(&dir.metrics_path());
    println!("run        {}", dir.path.display());
    println!("scene      {} ({})", scene.name, scene.data.name());
    println!("seed       {}", scene.seed);
    let mut reader = FrameReader::open(&dir.frames_path())?;
    let index = reader.index();
    let keyframes = index.iter().filter(|e| e.key).count();
    match (index.first(), index.last()) {
        (Some(first), Some(last)) => {
            println!(
                "frames     {} recorded, steps {}..={} ({} keyframes)",
                index.len(),
                first.step,
                last.step,
                keyframes
            );
        }
        _ => println!("frames     none recorded"),
    }
    let bytes = reader.bytes();
    let per_step = bytes / (index.len().max(1) as u64);
    println!(
        "bytes      {} ({} per recorded step)",
        size(bytes),
        size(per_step)
    );
    let damage = if verify {
        reader.verify()
    } else {
        reader.damage().cloned()
    };
    match damage {
        Some(d) => println!(
            "damage     from byte {}: {} (every record before it is readable)",
            d.offset, d.reason
        ),
        None if verify => println!("damage     none (every checksum verified)"),
        None => println!("damage     none at the tail (--verify checks every record)"),
    }
    let rows = match rows {
        Ok(rows) => rows,
        Err(e) => {
            println!("metrics    unreadable: {e}");
            Vec::new()
        }
    };
    println!("metrics    {} rows", rows.len());
    if let Some(m) = rows.last() {
        println!(
            "final      step {} train_loss {} test_loss {} test_accuracy {}{}",
            m.step,
            num(m.train_loss),
            num(m.test_loss),
            num(m.test_accuracy),
            if m.status == RunStatus::Diverged {
                " (diverged)"
            } else {
                ""
            }
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn frame(run: &Path, step: u64, out: Option<&Path>) -> Result<ExitCode> {
    let dir = RunDir::open(run)?;
    let mut reader = FrameReader::open(&dir.frames_path())?;
    let frame = reader.read_step(step)?;
    let json = frame_json(&frame)?;
    match out {
        Some(path) => {
            std::fs::write(path, json)
                .with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!("step {} written to {}", frame.step, path.display());
        }
        None => println!("{json}"),
    }
    Ok(ExitCode::SUCCESS)
}

fn export_metrics(run: &Path, out: &Path) -> Result<ExitCode> {
    let dir = RunDir::open(run)?;
    let rows = read_metrics(&dir.metrics_path())?;
    let text = match out.extension().and_then(|e| e.to_str()) {
        Some("csv") => metrics_csv(&rows),
        Some("json") => metrics_json(&rows)?,
        _ => bail!(
            "--metrics {}: the file must end in .csv or .json",
            out.display()
        ),
    };
    std::fs::write(out, text).with_context(|| format!("cannot write {}", out.display()))?;
    eprintln!("{} metrics rows written to {}", rows.len(), out.display());
    Ok(ExitCode::SUCCESS)
}
