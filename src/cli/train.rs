//! `nnm train`: train a scene headless, record its run directory, print one final line.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use burn::tensor::backend::AutodiffBackend;

use nn_microscope::lab::runner::Session;
use nn_microscope::lab::scene::Presets;
use nn_microscope::lab::{CpuBackend, Device, Metrics, Scene, format_value};

/// Options of `nnm train`.
#[derive(Debug, clap::Args)]
pub(super) struct TrainArgs {
    /// A scene file, the name of a preset (such as `xor`), or a run
    /// directory (its scene again, with the edits made while it ran).
    #[arg(required_unless_present = "resume")]
    scene: Option<String>,
    /// Continue the run in this directory from its latest checkpoint, in
    /// place (with `--steps N`, to N steps).
    #[arg(long, conflicts_with_all = ["scene", "seed", "out"])]
    resume: Option<PathBuf>,
    /// Train for this many steps instead of the scene's.
    #[arg(long)]
    steps: Option<u64>,
    /// Use this seed instead of the scene's.
    #[arg(long)]
    seed: Option<u64>,
    /// Folder that receives the run directory.
    #[arg(long, default_value = "runs")]
    out: PathBuf,
    /// Where the network trains: `cpu` (burn's flex backend) or `wgpu`
    /// (burn's wgpu backend: a GPU through Vulkan, Metal or DX12).
    #[arg(long, value_enum, default_value = "cpu")]
    device: Device,
}

/// Trains the scene and prints `final: step=... run=...`.
pub(super) fn train(args: TrainArgs, presets: &Presets) -> Result<ExitCode> {
    if let Some(dir) = &args.resume {
        return match args.device {
            Device::Cpu => {
                let session = Session::<CpuBackend>::resume(dir, &Default::default(), args.steps)?;
                run_session(session)
            }
            #[cfg(feature = "gpu")]
            Device::Wgpu => run_session(Session::<nn_microscope::lab::GpuBackend>::resume(
                dir,
                &Default::default(),
                args.steps,
            )?),
            #[cfg(not(feature = "gpu"))]
            Device::Wgpu => anyhow::bail!(
                "--device wgpu: this nnm was built without the `gpu` feature; build it with `--features gpu`"
            ),
        };
    }
    let Some(name) = &args.scene else {
        anyhow::bail!("give a scene to train, or --resume RUN_DIR");
    };
    let path = std::path::Path::new(name);
    if path.join("scene.ron").is_file() {
        // A run directory: its scene again, with the edits made while it ran.
        if args.seed.is_some() {
            anyhow::bail!(
                "--seed: a run directory re-runs with its own seed; train its scene.ron to change it"
            );
        }
        return match args.device {
            Device::Cpu => run_session(Session::<CpuBackend>::rerun(
                path,
                &Default::default(),
                Some(&args.out),
                args.steps,
            )?),
            #[cfg(feature = "gpu")]
            Device::Wgpu => run_session(Session::<nn_microscope::lab::GpuBackend>::rerun(
                path,
                &Default::default(),
                Some(&args.out),
                args.steps,
            )?),
            #[cfg(not(feature = "gpu"))]
            Device::Wgpu => anyhow::bail!(
                "--device wgpu: this nnm was built without the `gpu` feature; build it with `--features gpu`"
            ),
        };
    }
    let mut scene = presets.find(name)?.load()?;
    if let Some(s) = args.steps {
        scene.train.steps = s;
    }
    if let Some(s) = args.seed {
        scene.seed = s;
    }
    match args.device {
        Device::Cpu => train_on::<CpuBackend>(&args, &scene, &Default::default()),
        #[cfg(feature = "gpu")]
        Device::Wgpu => {
            train_on::<nn_microscope::lab::GpuBackend>(&args, &scene, &Default::default())
        }
        #[cfg(not(feature = "gpu"))]
        Device::Wgpu => anyhow::bail!(
            "--device wgpu: this nnm was built without the `gpu` feature; build it with `--features gpu`"
        ),
    }
}

/// Trains `scene` on backend `B` and prints the final line.
fn train_on<B: AutodiffBackend>(
    args: &TrainArgs,
    scene: &Scene,
    device: &B::Device,
) -> Result<ExitCode> {
    run_session(Session::<B>::start(scene, device, Some(&args.out))?)
}

/// Trains a session to its scene's steps and prints the final line.
fn run_session<B: AutodiffBackend>(mut session: Session<B>) -> Result<ExitCode> {
    let scene = session.trainer().scene().clone();
    let scene = &scene;
    let run_dir = session
        .run_dir()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let total = scene.train.steps;
    let bar = super::progress_bar(total, "steps");
    bar.set_position(session.trainer().step_count().min(total));
    let mut diverged = None;
    while session.trainer().step_count() < total {
        let advance = session.advance(false)?;
        if let Some(e) = advance.evaluation {
            bar.set_message(format!("loss {}", format_value(e.train_loss, Some(4))));
        }
        if let Some(d) = advance.diverged {
            diverged = Some(d);
            break;
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    let step = session.trainer().step_count();
    let last = match diverged {
        Some(_) => {
            session.settle()?;
            Default::default()
        }
        None => session.finish()?,
    };
    let mut line = final_line(&session, step, &last, &run_dir);
    let num = |v: Option<f32>| format_value(v, Some(6));
    if let Some((at, loss)) = diverged {
        line.push_str(" status=diverged");
        eprintln!(
            "diverged: the loss became {} at step {at} (learning rate {}); the run stopped there and is recorded as diverged",
            num(Some(loss)),
            scene.train.learning_rate
        );
    }
    println!("{line}");
    Ok(ExitCode::SUCCESS)
}

/// The `final:` line of a run at `step` whose last evaluation is `last`:
/// the losses, the error that suits its data, and its sharpness if measured.
pub(super) fn final_line<B: AutodiffBackend>(
    session: &Session<B>,
    step: u64,
    last: &Metrics,
    run_dir: &str,
) -> String {
    let num = |v: Option<f32>| format_value(v, Some(6));
    let mut line = format!(
        "final: step={step} train_loss={} test_loss={} test_accuracy={} run={run_dir}",
        num(last.train_loss),
        num(last.test_loss),
        num(last.test_accuracy),
    );
    let data = session.trainer().data();
    if data.pde.is_some() {
        line.push_str(&format!(" solution_error={}", num(last.solution_error)));
    } else if !data.is_classification() {
        line.push_str(&format!(
            " generalization_error={}",
            num(last.generalization_error)
        ));
    }
    if last.sharpness.is_some() {
        line.push_str(&format!(
            " sharpness={} sharpness_threshold={}",
            num(last.sharpness),
            num(last.sharpness_threshold)
        ));
    }
    line
}
