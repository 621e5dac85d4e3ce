//! `nnm sweep slurm` and `nnm sweep k8s`: write (and for Slurm, submit) the
//! jobs that train a sweep in shards on a cluster and merge them.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, Result, bail};

use nn_microscope::lab::record::RunDir;
use nn_microscope::lab::scene::Presets;
use nn_microscope::lab::sweep::Sweep;
use nn_microscope::lab::sweep::{ClusterJob, K8sOptions, SlurmOptions, to_yaml};
use nn_microscope::lab::sweep::{SWEEP_FILE, write_atomic};

/// What both engines need.
#[derive(Debug, clap::Args)]
pub(super) struct JobArgs {
    /// A sweep file, or the name of a sweep.
    spec: String,
    /// Shards: array tasks or Job completions, each a part of the chunks.
    #[arg(long)]
    shards: usize,
    /// The sweep directory the merge makes (default: `<runs>/<sweep>_NNN`).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Folder that receives sweep directories.
    #[arg(long, default_value = "runs")]
    runs: PathBuf,
}

/// Options of `nnm sweep slurm`.
#[derive(Debug, clap::Args)]
pub(super) struct SlurmArgs {
    #[command(flatten)]
    job: JobArgs,
    /// Submit the array and the merge with `sbatch`.
    #[arg(long)]
    submit: bool,
    /// The `nnm` the nodes run (default: this one, by its absolute path,
    /// which suits a shared file system; build it with --no-default-features).
    #[arg(long)]
    nnm: Option<String>,
    /// CPUs per array task.
    #[arg(long, default_value_t = 1)]
    cpus_per_task: usize,
    /// The Slurm partition (default: the cluster's default one).
    #[arg(long)]
    partition: Option<String>,
    /// Time limit per task, such as `2:00:00`.
    #[arg(long)]
    time: Option<String>,
}

/// Options of `nnm sweep k8s`.
#[derive(Debug, clap::Args)]
pub(super) struct K8sArgs {
    #[command(flatten)]
    job: JobArgs,
    /// The container image: one with the headless `nnm` on its PATH.
    #[arg(long, default_value = "nn-microscope:latest")]
    image: String,
    /// The PersistentVolumeClaim mounted at /runs that receives the sweep.
    #[arg(long, default_value = "nnm-runs")]
    claim: String,
    /// CPUs per shard.
    #[arg(long, default_value_t = 2)]
    cpus: usize,
    /// Shards running at once (default: all).
    #[arg(long)]
    parallelism: Option<usize>,
}

/// The job's directory and its resolved sweep file, written into `<dir>/<engine>/`.
fn prepare(
    args: &JobArgs,
    engine: &str,
    presets: &Presets,
) -> Result<(ClusterJob, PathBuf, String)> {
    if args.shards == 0 {
        bail!("--shards must be at least 1");
    }
    let file = presets.find_sweep(&args.spec)?;
    let sweep = Sweep::parse(&file.text, &file.path, presets)?;
    let dir = match &args.out {
        Some(d) => {
            if d.join(SWEEP_FILE).exists() {
                bail!("{}: already holds a sweep", d.display());
            }
            std::fs::create_dir_all(d)
                .with_context(|| format!("{}: cannot create", d.display()))?;
            d.clone()
        }
        None => RunDir::create(&args.runs, sweep.name())?.path,
    };
    let dir = std::path::absolute(&dir)
        .with_context(|| format!("{}: no absolute path", dir.display()))?;
    let jobs = dir.join(engine);
    std::fs::create_dir_all(&jobs).with_context(|| format!("{}: cannot create", jobs.display()))?;
    let ron = sweep.to_ron()?;
    let spec = jobs.join(SWEEP_FILE);
    write_atomic(&spec, ron.as_bytes())?;
    let job = ClusterJob {
        name: sweep.name().to_string(),
        shards: args.shards,
        dir,
        nnm: String::new(),
    };
    Ok((job, spec, ron))
}

/// Writes `array.sbatch` and `merge.sbatch`; with `--submit`, submits them.
pub(super) fn slurm(args: SlurmArgs, presets: &Presets) -> Result<ExitCode> {
    let (mut job, spec, _) = prepare(&args.job, "slurm", presets)?;
    job.nnm = match args.nnm {
        Some(n) => n,
        None => std::env::current_exe()
            .context("cannot find this nnm's path; give --nnm")?
            .display()
            .to_string(),
    };
    let options = SlurmOptions {
        cpus_per_task: args.cpus_per_task,
        partition: args.partition,
        time: args.time,
    };
    let folder = job.dir.join("slurm");
    let array = folder.join("array.sbatch");
    let merge = folder.join("merge.sbatch");
    write_atomic(&array, job.slurm_array(&spec, &options).as_bytes())?;
    write_atomic(&merge, job.slurm_merge(&options).as_bytes())?;
    println!("wrote {} and {}", array.display(), merge.display());
    if !args.submit {
        println!(
            "submit: id=$(sbatch --parsable {}) && sbatch --dependency=afterok:$id {}",
            array.display(),
            merge.display()
        );
        println!(
            "sweep: slurm shards={} dir={}",
            job.shards,
            job.dir.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let array_id = sbatch(&[array.as_path()], None)?;
    let merge_id = sbatch(&[merge.as_path()], Some(&array_id))?;
    println!(
        "submitted the array as job {array_id} and the merge as job {merge_id}; `squeue -j {array_id},{merge_id}` follows them"
    );
    println!(
        "sweep: slurm shards={} array_job={array_id} merge_job={merge_id} dir={}",
        job.shards,
        job.dir.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Runs `sbatch --parsable [--dependency=afterok:after] script`; the job id.
fn sbatch(script: &[&Path], after: Option<&str>) -> Result<String> {
    let mut command = Command::new("sbatch");
    command.arg("--parsable");
    if let Some(id) = after {
        command.arg(format!("--dependency=afterok:{id}"));
    }
    command.args(script);
    let output = command
        .output()
        .context("cannot run `sbatch`: is this a Slurm submit host with sbatch on the PATH?")?;
    if !output.status.success() {
        bail!(
            "sbatch failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let text = String::from_utf8_lossy(&output.stdout);
    // `--parsable` prints `id` or `id;cluster`.
    let id = text
        .trim()
        .split(';')
        .next()
        .unwrap_or_default()
        .to_string();
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_digit()) {
        bail!("sbatch printed `{}`, not a job id", text.trim());
    }
    Ok(id)
}

/// Writes `job.yaml` (the ConfigMap and the Indexed Job) and `merge.yaml`.
pub(super) fn k8s(args: K8sArgs, presets: &Presets) -> Result<ExitCode> {
    let (job, _, ron) = prepare(&args.job, "k8s", presets)?;
    let options = K8sOptions {
        image: args.image,
        claim: args.claim,
        cpus: args.cpus,
        parallelism: args.parallelism.unwrap_or(job.shards),
    };
    let folder = job.dir.join("k8s");
    let indexed = folder.join("job.yaml");
    let merge = folder.join("merge.yaml");
    write_atomic(&indexed, to_yaml(&job.k8s_job(&ron, &options)).as_bytes())?;
    write_atomic(&merge, to_yaml(&[job.k8s_merge(&options)]).as_bytes())?;
    let name = job.k8s_name();
    println!("wrote {} and {}", indexed.display(), merge.display());
    println!(
        "run: kubectl apply -f {} && kubectl wait --for=condition=complete --timeout=-1s job/{name} && kubectl apply -f {}",
        indexed.display(),
        merge.display()
    );
    println!(
        "the claim `{}` receives /runs/{}; copy it back with kubectl cp, or read it where the volume lives",
        options.claim,
        job.dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    );
    println!("sweep: k8s shards={} dir={}", job.shards, job.dir.display());
    Ok(ExitCode::SUCCESS)
}
