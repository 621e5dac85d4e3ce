//! Command-line parsing and the headless commands (`train`, `scenes`).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};

mod runs;

use nn_microscope::app::ViewOptions;
use nn_microscope::lab::runner::{RunnerOptions, Session};
use nn_microscope::lab::{Scene, TrainerHandle};

/// The backend used for training: burn's CPU backend with autodiff.
type CpuBackend = burn::backend::Autodiff<burn::backend::Flex>;

/// NN Microscope: watch neural networks learn.
#[derive(Debug, Parser)]
#[command(name = "nnm", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Open the 3D instrument on a live training run (the default command).
    View(ViewArgs),
    /// Train a scene headless, recording a run directory.
    Train {
        /// A scene file, or the name of a preset in scenes/ (such as `xor`).
        scene: String,
        /// Train for this many steps instead of the scene's.
        #[arg(long)]
        steps: Option<u64>,
        /// Use this seed instead of the scene's.
        #[arg(long)]
        seed: Option<u64>,
        /// Folder that receives the run directory.
        #[arg(long, default_value = "runs")]
        out: PathBuf,
    },
    /// Film a scene (training it) or a recorded run, off-screen: PNG frames, MP4 or GIF.
    Capture(CaptureArgs),
    /// Open a recorded run in the instrument (no trainer); follows it if it is still training.
    Replay {
        /// The run directory, such as runs/xor_001.
        run: PathBuf,
        /// Start playing the history from its first step at this speed (0.25 to 16).
        #[arg(long)]
        play: Option<f32>,
        #[command(flatten)]
        window: WindowArgs,
    },
    /// List run directories, or inspect and export one.
    Runs {
        #[command(subcommand)]
        action: Option<runs::RunsCommand>,
        /// Folder of run directories.
        #[arg(long, default_value = "runs")]
        dir: PathBuf,
    },
    /// List the scene presets, or check them all.
    Scenes {
        /// Parse, validate and load the data of every preset.
        #[arg(long)]
        check: bool,
        /// Folder of presets.
        #[arg(long)]
        dir: Option<PathBuf>,
    },
}

/// Options of `nnm view`.
#[derive(Debug, Parser)]
struct ViewArgs {
    /// A scene file or preset name (default: `default`).
    scene: Option<String>,
    /// Use this seed instead of the scene's.
    #[arg(long)]
    seed: Option<u64>,
    /// Start paused, showing the untrained network.
    #[arg(long)]
    paused: bool,
    /// Folder that receives run directories.
    #[arg(long, default_value = "runs")]
    runs: PathBuf,
    /// Record nothing.
    #[arg(long)]
    no_record: bool,
    #[command(flatten)]
    window: WindowArgs,
}

/// Options of `nnm capture`.
#[derive(Debug, clap::Args)]
struct CaptureArgs {
    /// A scene file, a preset name, or a run directory to film its recording.
    source: String,
    /// The film: `NAME.mp4` (through ffmpeg), `NAME.gif`, or a folder name
    /// without an extension for numbered PNG frames.
    #[arg(long)]
    out: PathBuf,
    /// Frame size in pixels, up to 3840x2160.
    #[arg(long, value_parser = parse_size, default_value = "1920x1080")]
    size: (u32, u32),
    /// Frames per second (default: the scene's film settings).
    #[arg(long)]
    fps: Option<f32>,
    /// Length in seconds (default: the scene's film settings).
    #[arg(long, conflicts_with = "frames")]
    seconds: Option<f32>,
    /// Length in frames.
    #[arg(long)]
    frames: Option<u32>,
    /// Training steps between two frames (default: the scene's film settings).
    #[arg(long)]
    steps_per_frame: Option<u32>,
    /// Use this seed instead of the scene's.
    #[arg(long)]
    seed: Option<u64>,
    /// Draw the interactive panels into the film too.
    #[arg(long)]
    panels: bool,
    /// Leave out the title card.
    #[arg(long)]
    no_title: bool,
    /// Leave out the captions.
    #[arg(long)]
    no_captions: bool,
    /// Leave out the metrics strip.
    #[arg(long)]
    no_metrics: bool,
    /// Folder that receives the run directory of a filmed scene.
    #[arg(long, default_value = "runs")]
    runs: PathBuf,
    /// Record no run directory.
    #[arg(long)]
    no_record: bool,
}

/// Window options shared by `nnm view` and `nnm replay`.
#[derive(Debug, clap::Args)]
struct WindowArgs {
    /// Window size in logical pixels, such as 1280x720.
    #[arg(long, value_parser = parse_size, default_value = "1600x900")]
    window: (u32, u32),
    /// Select a neuron at start, as LAYER:INDEX (layer 0 is the inputs).
    #[arg(long, value_parser = parse_neuron)]
    select: Option<(usize, usize)>,
    /// Draw this many frames, then exit (for tests and scripts).
    #[arg(long)]
    frames: Option<u32>,
    /// Save a PNG of the window, overlay included, after the last frame.
    #[arg(long, requires = "frames")]
    screenshot: Option<PathBuf>,
    /// Print frame-time and memory statistics at exit (with --frames).
    #[arg(long, requires = "frames")]
    bench: bool,
}

impl WindowArgs {
    fn options(self, title: String, play: Option<f32>) -> ViewOptions {
        ViewOptions {
            title,
            frames: self.frames,
            screenshot: self.screenshot,
            bench: self.bench,
            window: self.window,
            select: self.select,
            play,
            scene_file: None,
        }
    }
}

/// Parses the command line and runs the command.
pub fn run() -> Result<ExitCode> {
    let cli = Cli::parse();
    match cli.command {
        None => view(ViewArgs::parse_from(["view"])),
        Some(Command::View(args)) => view(args),
        Some(Command::Train {
            scene,
            steps,
            seed,
            out,
        }) => train(&scene, steps, seed, &out),
        Some(Command::Scenes { check, dir }) => scenes(check, dir),
        Some(Command::Replay { run, play, window }) => replay(&run, play, window),
        Some(Command::Capture(args)) => capture(args),
        Some(Command::Runs { action, dir }) => runs::run(action, &dir),
    }
}

/// The folder of presets: `./scenes`, else the one beside the sources.
fn scenes_dir() -> PathBuf {
    let local = PathBuf::from("scenes");
    if local.is_dir() {
        local
    } else {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("scenes")
    }
}

/// A scene path: as given if it exists, else a preset of that name.
pub fn find_scene(name: &str) -> Result<PathBuf> {
    let given = PathBuf::from(name);
    if given.is_file() {
        return Ok(given);
    }
    let preset = scenes_dir().join(format!("{name}.ron"));
    if preset.is_file() {
        return Ok(preset);
    }
    let presets = preset_paths(&scenes_dir())
        .unwrap_or_default()
        .iter()
        .filter_map(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .collect::<Vec<_>>()
        .join(", ");
    bail!("no scene file `{name}` and no preset of that name (presets: {presets})")
}

fn preset_paths(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "ron"))
        .collect();
    paths.sort();
    Ok(paths)
}

/// Parses `WxH`, such as `1920x1080`.
fn parse_size(s: &str) -> Result<(u32, u32), String> {
    let (w, h) = s
        .split_once(['x', 'X'])
        .ok_or_else(|| format!("`{s}` is not WIDTHxHEIGHT, such as 1280x720"))?;
    let dim = |v: &str| {
        v.trim()
            .parse::<u32>()
            .ok()
            .filter(|&n| (16..=7680).contains(&n))
            .ok_or_else(|| format!("`{v}` in `{s}` is not a size between 16 and 7680"))
    };
    Ok((dim(w)?, dim(h)?))
}

/// Parses `LAYER:INDEX`, such as `1:3`.
fn parse_neuron(s: &str) -> Result<(usize, usize), String> {
    let (l, i) = s
        .split_once(':')
        .ok_or_else(|| format!("`{s}` is not LAYER:INDEX, such as 1:3"))?;
    let num = |v: &str| {
        v.trim()
            .parse::<usize>()
            .map_err(|_| format!("`{v}` in `{s}` is not a number"))
    };
    Ok((num(l)?, num(i)?))
}

/// The headless commands, named in messages when no window can be opened.
const HEADLESS: &str =
    "headless commands work without one: `nnm train SCENE`, `nnm runs`, `nnm scenes`";

fn view(args: ViewArgs) -> Result<ExitCode> {
    let path = find_scene(args.scene.as_deref().unwrap_or("default"))?;
    let mut scene = Scene::load(&path)?;
    if let Some(s) = args.seed {
        scene.seed = s;
    }
    if let Err(why) = nn_microscope::app::check_can_open_window() {
        eprintln!("nnm view: {why}.\n{HEADLESS}.");
        return Ok(ExitCode::from(2));
    }
    let title = format!(
        "NN Microscope · {}",
        if scene.title.is_empty() {
            &scene.name
        } else {
            &scene.title
        }
    );
    let trainer = TrainerHandle::spawn::<CpuBackend>(
        scene,
        Default::default(),
        RunnerOptions {
            runs_root: (!args.no_record).then_some(args.runs),
            start_paused: args.paused,
            lesson_pauses: true,
            ..Default::default()
        },
    );
    let mut options = args.window.options(title, None);
    options.scene_file = Some((path, scenes_dir(), args.seed));
    let exit = nn_microscope::app::run_view(trainer, options);
    Ok(exit_code(exit))
}

fn exit_code(exit: bevy::app::AppExit) -> ExitCode {
    match exit {
        bevy::app::AppExit::Success => ExitCode::SUCCESS,
        bevy::app::AppExit::Error(code) => ExitCode::from(code.get()),
    }
}

/// Largest film frame: 4K UHD.
const MAX_FILM_SIZE: (u32, u32) = (3840, 2160);

fn capture(args: CaptureArgs) -> Result<ExitCode> {
    use nn_microscope::app::film::{CaptureOptions, run_capture};
    use nn_microscope::app::film_sink::{FrameSink, OutputKind, ffmpeg_available};

    if args.size.0 > MAX_FILM_SIZE.0 || args.size.1 > MAX_FILM_SIZE.1 {
        bail!(
            "--size {}x{}: films go up to 3840x2160",
            args.size.0,
            args.size.1
        );
    }
    let run_dir = Path::new(&args.source);
    let from_recording = run_dir
        .join(nn_microscope::lab::record::SCENE_FILE)
        .is_file();
    let mut scene = if from_recording {
        nn_microscope::lab::record::RunDir::open(run_dir)?.scene()?
    } else {
        Scene::load(find_scene(&args.source)?)?
    };
    if let Some(s) = args.seed {
        if from_recording {
            bail!("--seed: a recorded run keeps the seed it was trained with");
        }
        scene.seed = s;
    }
    let film = scene.view.film.clone();
    let fps = args.fps.unwrap_or(film.fps);
    if !(fps.is_finite() && fps > 0.0 && fps <= 240.0) {
        bail!("--fps {fps}: must be between 0 and 240");
    }
    let frames = match (args.frames, args.seconds) {
        (Some(n), _) => n,
        (None, Some(s)) => (s * fps).round() as u32,
        (None, None) => (film.seconds * fps).round() as u32,
    };
    if frames == 0 {
        bail!("the film would have no frames (check --frames or --seconds)");
    }
    let steps_per_frame = args.steps_per_frame.unwrap_or(film.steps_per_frame);
    if steps_per_frame == 0 {
        bail!("--steps-per-frame must be at least 1");
    }
    let mut kind = OutputKind::from_path(&args.out).map_err(anyhow::Error::msg)?;
    if let OutputKind::Mp4(path) = &kind
        && !ffmpeg_available()
    {
        let gif = path.with_extension("gif");
        eprintln!(
            "ffmpeg was not found, so no MP4 can be written: writing a GIF beside it instead, {}",
            gif.display()
        );
        kind = OutputKind::Gif(gif);
    }
    if let Err(why) = nn_microscope::app::check_gpu() {
        eprintln!(
            "nnm capture: {why}.\n`nnm capture` renders off-screen and needs no display, but it needs a GPU adapter."
        );
        return Ok(ExitCode::from(2));
    }
    let source = if from_recording {
        nn_microscope::lab::replay::spawn_replay(run_dir)?
    } else {
        // The film is the point: train for as long as it lasts.
        let needed = u64::from(frames) * u64::from(steps_per_frame) + 1;
        scene.train.steps = scene.train.steps.max(needed);
        TrainerHandle::spawn::<CpuBackend>(
            scene.clone(),
            Default::default(),
            RunnerOptions {
                runs_root: (!args.no_record).then_some(args.runs),
                speed: nn_microscope::lab::runner::Speed::StepsPerFrame(steps_per_frame),
                ..Default::default()
            },
        )
    };
    let encoder = match &kind {
        OutputKind::Pngs(_) => "PNG frames",
        OutputKind::Mp4(_) => "ffmpeg (H.264 MP4)",
        OutputKind::Gif(_) => "GIF",
    };
    let bar = progress_bar(u64::from(frames), "frames");
    let sink = FrameSink::new(&kind, args.size, fps)
        .map_err(anyhow::Error::msg)?
        .with_progress(bar.clone());
    let report = run_capture(
        source,
        CaptureOptions {
            scene,
            size: args.size,
            fps,
            frames,
            steps_per_frame,
            from_recording,
            panels: args.panels,
            title: !args.no_title,
            captions: !args.no_captions,
            metrics: !args.no_metrics,
        },
        sink,
    )
    .map_err(anyhow::Error::msg)?;
    bar.finish_and_clear();
    let out = match &kind {
        OutputKind::Pngs(p) | OutputKind::Mp4(p) | OutputKind::Gif(p) => p.clone(),
    };
    println!(
        "captured {} frames ({}x{}, {fps} fps) to {} with {encoder}, {:.3} s per frame",
        report.frames,
        args.size.0,
        args.size.1,
        out.display(),
        report.seconds_per_frame
    );
    Ok(ExitCode::SUCCESS)
}

fn replay(run: &Path, play: Option<f32>, window: WindowArgs) -> Result<ExitCode> {
    if let Some(speed) = play
        && !(0.25..=16.0).contains(&speed)
    {
        bail!("--play {speed}: the speed must be between 0.25 and 16");
    }
    let source = nn_microscope::lab::replay::spawn_replay(run)?;
    if let Err(why) = nn_microscope::app::check_can_open_window() {
        eprintln!("nnm replay: {why}.\n{HEADLESS}.");
        return Ok(ExitCode::from(2));
    }
    let title = format!("NN Microscope · replay of {}", run.display());
    let exit = nn_microscope::app::run_view(source, window.options(title, play));
    Ok(exit_code(exit))
}

fn train(scene: &str, steps: Option<u64>, seed: Option<u64>, out: &Path) -> Result<ExitCode> {
    let path = find_scene(scene)?;
    let mut scene = Scene::load(&path)?;
    if let Some(s) = steps {
        scene.train.steps = s;
    }
    if let Some(s) = seed {
        scene.seed = s;
    }
    let device = Default::default();
    let mut session = Session::<CpuBackend>::start(&scene, &device, Some(out))?;
    let run_dir = session
        .run_dir()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let total = scene.train.steps;
    let bar = progress_bar(total, "steps");
    let mut diverged = None;
    for _ in 0..total {
        let advance = session.advance(false)?;
        if let Some(e) = advance.evaluation {
            bar.set_message(format!("loss {:.4}", e.train_loss));
        }
        if let Some(d) = advance.diverged {
            diverged = Some(d);
            break;
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    let step = session.trainer().step_count();
    let (train_loss, test_loss, accuracy, gen_error) = match diverged {
        Some(_) => (f32::NAN, f32::NAN, None, None),
        None => {
            let e = session.finish()?;
            (
                e.train_loss,
                e.test_loss,
                e.test_accuracy,
                e.generalization_error,
            )
        }
    };
    let mut line = format!(
        "final: step={step} train_loss={} test_loss={} test_accuracy={} run={run_dir}",
        num(train_loss),
        num(test_loss),
        num(accuracy.unwrap_or(f32::NAN)),
    );
    if !session.trainer().data().is_classification() {
        line.push_str(&format!(
            " generalization_error={}",
            num(gen_error.unwrap_or(f32::NAN))
        ));
    }
    if let Some((at, loss)) = diverged {
        line.push_str(" status=diverged");
        eprintln!(
            "diverged: the loss became {} at step {at} (learning rate {}); the run stopped there and is recorded as diverged",
            num(loss),
            scene.train.learning_rate
        );
    }
    println!("{line}");
    Ok(ExitCode::SUCCESS)
}

/// A number as the final line prints it: `nan` and `inf` spelled out.
fn num(v: f32) -> String {
    if v.is_nan() {
        "nan".into()
    } else if v.is_infinite() {
        if v > 0.0 { "inf".into() } else { "-inf".into() }
    } else {
        format!("{v:.6}")
    }
}

/// A progress bar on standard error counting `unit`s, hidden when it is not a terminal.
fn progress_bar(total: u64, unit: &str) -> indicatif::ProgressBar {
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(total);
    if let Ok(style) = indicatif::ProgressStyle::with_template(&format!(
        "{{spinner}} [{{elapsed_precise}}] {{bar:40}} {{pos}}/{{len}} {unit} ({{per_sec}}, eta {{eta}}) {{msg}}"
    )) {
        bar.set_style(style);
    }
    bar
}

fn scenes(check: bool, dir: Option<PathBuf>) -> Result<ExitCode> {
    let dir = dir.unwrap_or_else(scenes_dir);
    let mut failures = 0;
    for path in preset_paths(&dir)? {
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        match Scene::load(&path) {
            Ok(scene) => {
                let data = if check {
                    scene
                        .data
                        .load()
                        .map(|d| format!("{} train / {} test", d.train.len(), d.test.len()))
                } else {
                    Ok(String::new())
                };
                match data {
                    Ok(counts) if check => {
                        println!("ok    {name:<24} {} ({counts})", scene.data.name())
                    }
                    Ok(_) => println!("{name:<24} {:<20} {}", scene.data.name(), scene.title),
                    Err(e) => {
                        failures += 1;
                        println!("FAIL  {name:<24} {e}");
                    }
                }
            }
            Err(e) => {
                failures += 1;
                if check {
                    println!("FAIL  {name:<24} {e}");
                } else {
                    println!("{name:<24} (invalid: {e})");
                }
            }
        }
    }
    if check && failures > 0 {
        eprintln!("{failures} scene(s) failed");
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}
