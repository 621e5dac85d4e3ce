//! `nnm sweep`: train a sweep of many models, resume or merge sweep
//! directories, print one model's scene, list sweeps, and write cluster jobs.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Subcommand;

use nn_microscope::lab::Device;
use nn_microscope::lab::format_value;
use nn_microscope::lab::scene::Presets;
use nn_microscope::lab::sweep::{MODELS_FILE, SWEEP_FILE, write_atomic};
use nn_microscope::lab::sweep::{ModelRow, Plan, Report, Shard, Sweep, SweepDir};

mod cluster;

/// Options of `nnm sweep`.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub(super) struct SweepArgs {
    #[command(subcommand)]
    action: Option<SweepCommand>,
    /// A sweep file, or the name of a sweep (`nnm sweep list` shows them).
    #[arg(required = true)]
    spec: Option<String>,
    /// The sweep directory to write (default: `<runs>/<sweep>_NNN`).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Train only this shard of the sweep's chunks, `I/N` (I from 0).
    #[arg(long, value_parser = parse_shard)]
    shard: Option<Shard>,
    /// Folder that receives sweep directories.
    #[arg(long, default_value = "runs")]
    runs: PathBuf,
    #[command(flatten)]
    train: TrainOptions,
}

/// How models train, shared by `nnm sweep` and `nnm sweep resume`.
#[derive(Debug, Clone, clap::Args)]
pub(super) struct TrainOptions {
    /// Where the models train.
    #[arg(long, value_enum, default_value = "cpu")]
    device: Device,
    /// Threads for the CPU (default: every core).
    #[arg(long)]
    threads: Option<usize>,
}

/// What `nnm sweep` does besides training a sweep file.
#[derive(Debug, Subcommand)]
enum SweepCommand {
    /// Finish a sweep directory whose training was stopped: train the chunks
    /// it lacks (those of its shard, for a shard), then assemble it.
    Resume {
        /// The sweep directory.
        dir: PathBuf,
        #[command(flatten)]
        train: TrainOptions,
    },
    /// Join the directories of a sweep's shards into one sweep directory,
    /// identical to the sweep trained in one piece.
    Merge {
        /// The shard directories.
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        /// The merged directory (default: `<runs>/<sweep>_NNN`).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Folder that receives sweep directories.
        #[arg(long, default_value = "runs")]
        runs: PathBuf,
    },
    /// Print the scene of one model of a sweep: `nnm train` on it trains
    /// that model alone, and `nnm view` opens it in the microscope.
    Scene {
        /// The sweep directory, or a sweep file.
        dir: String,
        /// The model's index (the `model` column of models.csv).
        #[arg(long)]
        model: usize,
    },
    /// Open one model of a sweep directory in the microscope: its recording
    /// when the sweep kept its frames, else its scene trained again, live.
    Open {
        /// The sweep directory.
        dir: PathBuf,
        /// The model's index (the `model` column of models.csv).
        #[arg(long)]
        model: usize,
        /// Folder that receives the run directory of a model trained again.
        #[arg(long, default_value = "runs")]
        runs: PathBuf,
        /// Record nothing.
        #[arg(long)]
        no_record: bool,
        #[command(flatten)]
        window: super::WindowArgs,
    },
    /// Open a sweep directory in the compare view (`nnm compare DIR`).
    View {
        /// The sweep directory.
        dir: PathBuf,
        #[command(flatten)]
        browse: super::BrowseArgs,
        #[command(flatten)]
        window: super::WindowArgs,
    },
    /// List the sweep files, and the sweep directories with their progress.
    List {
        /// Folder of sweep directories.
        #[arg(long, default_value = "runs")]
        runs: PathBuf,
    },
    /// Write a Slurm job array that trains the sweep in shards, and the
    /// dependent job that merges them; `--submit` submits both.
    Slurm(cluster::SlurmArgs),
    /// Write a Kubernetes Indexed Job that trains the sweep in shards, and
    /// the Job that merges them.
    K8s(cluster::K8sArgs),
}

/// Runs `nnm sweep ...`.
pub(super) fn sweep(args: SweepArgs, presets: &Presets) -> Result<ExitCode> {
    match args.action {
        Some(SweepCommand::Resume { dir, train }) => resume(&dir, &train),
        Some(SweepCommand::Merge { dirs, out, runs }) => merge(&dirs, out.as_deref(), &runs),
        Some(SweepCommand::Scene { dir, model }) => scene(&dir, model, presets),
        Some(SweepCommand::List { runs }) => list(&runs, presets),
        Some(SweepCommand::Open {
            dir,
            model,
            runs,
            no_record,
            window,
        }) => super::open_model(&dir, model, (!no_record).then_some(runs), window),
        Some(SweepCommand::View {
            dir,
            browse,
            window,
        }) => {
            SweepDir::open(&dir)?;
            super::compare(super::CompareArgs {
                paths: vec![dir],
                csv: None,
                browse,
                window,
            })
        }
        Some(SweepCommand::Slurm(a)) => cluster::slurm(a, presets),
        Some(SweepCommand::K8s(a)) => cluster::k8s(a, presets),
        None => {
            let spec = args
                .spec
                .context("name a sweep file (`nnm sweep list` shows them)")?;
            let sweep = load(&spec, presets)?;
            let dir = SweepDir::create(args.out.as_deref(), &args.runs, &sweep, args.shard)?;
            train(&dir, &sweep, args.shard, &args.train)
        }
    }
}

/// A sweep by file or name.
fn load(spec: &str, presets: &Presets) -> Result<Sweep> {
    let file = presets.find_sweep(spec)?;
    Ok(Sweep::parse(&file.text, &file.path, presets)?)
}

fn parse_shard(text: &str) -> Result<Shard, String> {
    Shard::parse(text)
}

fn resume(dir: &Path, options: &TrainOptions) -> Result<ExitCode> {
    let (dir, sweep, shard) = SweepDir::open(dir)?;
    train(&dir, &sweep, shard, options)
}

/// Trains the chunks of `dir` still to do (of `shard`, for a shard), then
/// assembles the sweep (not for a shard: its merge does) and reports.
fn train(
    dir: &SweepDir,
    sweep: &Sweep,
    shard: Option<Shard>,
    options: &TrainOptions,
) -> Result<ExitCode> {
    let device = options.device;
    let threads = options
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    let plan = Plan::new(sweep)?;
    let owned: Vec<usize> = (0..plan.chunks.len())
        .filter(|&c| shard.is_none_or(|s| s.owns(c)))
        .collect();
    let done_before = dir.done_chunks()?;
    let todo: Vec<usize> = owned
        .iter()
        .copied()
        .filter(|c| !done_before.contains(c))
        .collect();
    let steps = sweep.base().train.steps;
    let todo_models: u64 = todo
        .iter()
        .map(|&c| plan.chunk_models(c).len() as u64)
        .sum();
    let owned_models: u64 = owned
        .iter()
        .map(|&c| plan.chunk_models(c).len() as u64)
        .sum();
    eprintln!(
        "sweep {}: {} models in {} groups and {} chunks{}; {} chunks ({} models) to train on {} into {}",
        sweep.name(),
        sweep.count,
        plan.groups.len(),
        plan.chunks.len(),
        shard
            .map(|s| format!(", shard {s} has {}", owned.len()))
            .unwrap_or_default(),
        todo.len(),
        todo_models,
        match device {
            Device::Cpu => format!("the CPU ({threads} threads)"),
            Device::Wgpu => "wgpu".to_string(),
        },
        dir.path.display()
    );
    let done = AtomicU64::new(0);
    let started = Instant::now();
    let finished = AtomicBool::new(false);
    let terminal = std::io::stderr().is_terminal();
    let result: Result<()> = std::thread::scope(|scope| {
        let progress = scope.spawn(|| {
            if terminal {
                show_progress(&done, &finished, todo_models, steps, started);
            }
        });
        let trained = || -> Result<()> {
            for (i, &c) in todo.iter().enumerate() {
                let rows = plan.train_chunk(sweep, c, device, threads, &done)?;
                dir.write_chunk(c, &rows)?;
                if !terminal {
                    let seconds = started.elapsed().as_secs_f64();
                    let n = done.load(Ordering::Relaxed);
                    eprintln!(
                        "chunk {c} done ({}/{} chunks, {n}/{todo_models} models, {} model-steps/s, {:.0} s)",
                        i + 1,
                        todo.len(),
                        rate(n * steps, seconds),
                        seconds
                    );
                }
            }
            Ok(())
        };
        let out = trained();
        finished.store(true, Ordering::Relaxed);
        let _ = progress.join();
        out
    });
    result?;
    let seconds = started.elapsed().as_secs_f64();
    let model_steps_per_s = rate(todo_models * steps, seconds);
    if let Some(s) = shard {
        let rows = owned
            .iter()
            .map(|&c| dir.read_chunk(c))
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .flatten()
            .collect::<Vec<ModelRow>>();
        println!(
            "sweep: shard={s} models={} converged={} diverged={} model_steps_per_s={model_steps_per_s} dir={}",
            owned_models,
            rows.iter().filter(|r| r.converged()).count(),
            rows.iter().filter(|r| r.diverged_at.is_some()).count(),
            dir.path.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let report = dir.finish(sweep, &plan)?;
    print_report(sweep, &report);
    print_final_line(&report, Some(model_steps_per_s), &dir.path);
    Ok(ExitCode::SUCCESS)
}

/// Whole model-steps per second, or 0 when nothing was trained.
fn rate(model_steps: u64, seconds: f64) -> u64 {
    if model_steps == 0 || seconds <= 0.0 {
        0
    } else {
        (model_steps as f64 / seconds).round() as u64
    }
}

/// Redraws the progress bar from `done` until `finished`.
fn show_progress(
    done: &AtomicU64,
    finished: &AtomicBool,
    total: u64,
    steps: u64,
    started: Instant,
) {
    let bar = super::progress_bar(total, "models");
    while !finished.load(Ordering::Relaxed) {
        let n = done.load(Ordering::Relaxed);
        bar.set_position(n);
        let seconds = started.elapsed().as_secs_f64();
        bar.set_message(format!("{} model-steps/s", rate(n * steps, seconds)));
        std::thread::sleep(Duration::from_millis(200));
    }
    bar.finish_and_clear();
}

/// The closing `sweep: ...` line (the rate only where this process trained).
fn print_final_line(report: &Report, model_steps_per_s: Option<u64>, dir: &Path) {
    let rate = model_steps_per_s
        .map(|r| format!(" model_steps_per_s={r}"))
        .unwrap_or_default();
    println!(
        "sweep: models={} converged={} diverged={}{rate} dir={}",
        report.models,
        report.converged,
        report.diverged,
        dir.display()
    );
}

/// The best models' table.
fn print_report(sweep: &Sweep, report: &Report) {
    if report.best.is_empty() {
        println!("no model finished without diverging");
        return;
    }
    let fields = sweep.fields();
    let mut header = format!("{:>8}", "model");
    for f in &fields {
        header.push_str(&format!("  {f:>24}"));
    }
    header.push_str(&format!(
        "  {:>11}  {:>11}  {:>6}",
        "train_loss", "test_loss", "score"
    ));
    println!("best models (lowest test loss):");
    println!("{header}");
    for (row, values) in &report.best {
        let mut line = format!("{:>8}", row.model);
        for v in values {
            line.push_str(&format!("  {v:>24}"));
        }
        let m = &row.metrics;
        line.push_str(&format!(
            "  {:>11}  {:>11}  {:>6}",
            format_value(m.train_loss, Some(4)),
            format_value(m.test_loss, Some(4)),
            format_value(m.convergence_score, Some(3)),
        ));
        println!("{line}");
    }
    if report.map {
        println!("map.png: the convergence score over the two axes");
    }
}

fn merge(dirs: &[PathBuf], out: Option<&Path>, runs: &Path) -> Result<ExitCode> {
    let mut shards = Vec::new();
    for d in dirs {
        let (dir, sweep, _) = SweepDir::open(d)?;
        let text = std::fs::read(d.join(SWEEP_FILE))
            .with_context(|| format!("{}: cannot read {SWEEP_FILE}", d.display()))?;
        shards.push((dir, sweep, text));
    }
    let Some((_, sweep, text)) = shards.first() else {
        bail!("name the shard directories to merge");
    };
    for (dir, _, other) in &shards[1..] {
        if other != text {
            bail!(
                "{}: its {SWEEP_FILE} differs from that of {}: the directories are not shards of one sweep",
                dir.path.display(),
                dirs[0].display()
            );
        }
    }
    let merged = SweepDir::create(out, runs, sweep, None)?;
    write_atomic(&merged.path.join(SWEEP_FILE), text)?;
    let mut chunks = 0;
    for (dir, _, _) in &shards {
        chunks += merged.take_chunks(dir)?;
    }
    eprintln!(
        "merged {chunks} chunks from {} directories into {}",
        shards.len(),
        merged.path.display()
    );
    let plan = Plan::new(sweep)?;
    let report = merged.finish(sweep, &plan)?;
    print_report(sweep, &report);
    print_final_line(&report, None, &merged.path);
    Ok(ExitCode::SUCCESS)
}

fn scene(dir: &str, model: usize, presets: &Presets) -> Result<ExitCode> {
    let path = Path::new(dir);
    let sweep = if path.is_dir() {
        SweepDir::open(path)?.1
    } else {
        load(dir, presets)?
    };
    if model >= sweep.count {
        bail!(
            "--model {model}: the sweep has models 0 to {}",
            sweep.count.saturating_sub(1)
        );
    }
    print!("{}", sweep.scene(model)?.to_ron()?);
    Ok(ExitCode::SUCCESS)
}

fn list(runs: &Path, presets: &Presets) -> Result<ExitCode> {
    println!("sweep files:");
    for file in presets.sweeps()? {
        let origin = if file.built_in {
            "built in".to_string()
        } else {
            file.path.display().to_string()
        };
        match Sweep::parse(&file.text, &file.path, presets) {
            Ok(s) => println!(
                "  {:<32} {:>8} models  {} [{origin}]",
                file.name, s.count, s.spec.title
            ),
            Err(e) => println!("  {:<32} (invalid: {e})", file.name),
        }
    }
    let mut dirs: Vec<PathBuf> = match std::fs::read_dir(runs) {
        Ok(rd) => rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.join(SWEEP_FILE).is_file())
            .collect(),
        Err(_) => Vec::new(),
    };
    dirs.sort();
    println!("sweep directories in {}:", runs.display());
    if dirs.is_empty() {
        println!("  none");
    }
    for d in dirs {
        match describe(&d) {
            Ok(line) => println!("  {line}"),
            Err(e) => println!("  {:<32} (unreadable: {e})", d.display()),
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// One line about a sweep directory: its size and progress.
fn describe(path: &Path) -> Result<String> {
    let (dir, sweep, shard) = SweepDir::open(path)?;
    let done = dir.done_chunks()?.len();
    let state = if path.join(MODELS_FILE).is_file() {
        "finished".to_string()
    } else {
        format!("{done} chunks done, `nnm sweep resume` finishes it")
    };
    Ok(format!(
        "{:<32} {:>8} models  {}{}",
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        sweep.count,
        shard.map(|s| format!("shard {s}, ")).unwrap_or_default(),
        state
    ))
}
