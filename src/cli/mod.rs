//! The command line: parsing, and the commands, one module each (`train`,
//! `sweep`, `scenes`, `runs`, and with the `app` feature `view`, `replay`, `capture`).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};

mod import;
mod runs;
mod scenes;
mod serve;
mod sweep;
mod train;
#[cfg(feature = "app")]
mod view;

use nn_microscope::lab::scene::Presets;

/// NN Microscope: watch neural networks learn.
#[derive(Debug, Parser)]
#[command(name = "nnm", version, about, long_about = None)]
struct Cli {
    /// A folder of scene files that adds presets and overrides built-in ones
    /// by name (default: `./scenes` when it exists).
    #[arg(long, global = true, value_name = "DIR")]
    scenes: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Open the 3D instrument on a live training run (the default command).
    View(WindowedScene),
    /// Train a scene headless, recording a run directory.
    Train(train::TrainArgs),
    /// Import checkpoints as a run directory, evaluated on real data: trained
    /// elsewhere (safetensors or .npz, one per step, PyTorch or Flax names;
    /// burn records) or a run's own checkpoints.
    Import(import::ImportArgs),
    /// Serve the trainer over HTTP and WebSocket: start, stop, change and
    /// watch one run at a time (`nnm view --connect` watches it).
    Serve(serve::ServeArgs),
    /// Film a scene (training it) or a recorded run, off-screen: PNG frames, MP4 or GIF.
    Capture(CaptureArgs),
    /// Open a recorded run in the instrument (no trainer); follows it if it is still training.
    Replay(ReplayArgs),
    /// List run directories, or inspect and export one.
    Runs {
        #[command(subcommand)]
        action: Option<runs::RunsCommand>,
        /// Folder of run directories.
        #[arg(long, default_value = "runs")]
        dir: PathBuf,
    },
    /// Train a sweep: many models over a grid of hyperparameters, batched.
    Sweep(sweep::SweepArgs),
    /// Compare runs: sweep directories, run directories, or folders of them,
    /// in the compare view (or as one CSV table with --csv).
    Compare(CompareArgs),
    /// List the scene presets (built in, and those of the scenes folder), or check them all.
    Scenes {
        /// Parse, validate and load the data of every preset.
        #[arg(long)]
        check: bool,
    },
}

/// Options of `nnm view`.
#[derive(Debug, Parser)]
struct WindowedScene {
    /// A scene file or preset name (default: `default`); with --listen, the
    /// scene whose data evaluates the streamed network.
    scene: Option<String>,
    /// Use this seed instead of the scene's.
    #[arg(long, conflicts_with = "listen")]
    seed: Option<u64>,
    /// Start paused, showing the untrained network.
    #[arg(long, conflicts_with = "listen")]
    paused: bool,
    /// Wait for a training loop elsewhere to stream its network here
    /// (HTTP `POST /log`, one safetensors message per step; see the README's
    /// "Your own network"), at ADDR (default 127.0.0.1:7470; port 0 picks
    /// a free one, printed at start).
    #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = nn_microscope::lab::net::DEFAULT_LISTEN)]
    listen: Option<String>,
    /// Watch a run served by `nnm serve` (ws://HOST:PORT/stream), with
    /// full controls.
    #[arg(long, value_name = "URL", conflicts_with_all = ["listen", "seed", "paused"])]
    connect: Option<String>,
    /// The token every request must carry (needed to listen beyond
    /// loopback), or the one a served run needs (with --connect).
    #[arg(long)]
    token: Option<String>,
    /// With --listen: the hidden layers' non-linearity, where the messages do
    /// not say (`relu`, `tanh`, `sigmoid`, `gelu`, `linear`).
    #[arg(long, requires = "listen", default_value = "relu", value_parser = nn_microscope::lab::model::Activation::from_label)]
    activation: nn_microscope::lab::model::Activation,
    /// Folder that receives run directories.
    #[arg(long, default_value = "runs")]
    runs: PathBuf,
    /// Record nothing.
    #[arg(long)]
    no_record: bool,
    /// Train inside the app's frames (two fifths of each, 8 to 40 ms) instead of on a thread
    /// of its own, as the web build does; the same run, byte for byte.
    #[arg(long, conflicts_with_all = ["listen", "connect"])]
    cooperative: bool,
    /// Train at RATE steps per second instead of the scene's pace (0: as
    /// fast as it goes).
    #[arg(long, value_name = "RATE", allow_negative_numbers = true, conflicts_with_all = ["listen", "connect"])]
    steps_per_second: Option<f32>,
    #[command(flatten)]
    window: WindowArgs,
}

/// Options of `nnm replay`.
#[derive(Debug, clap::Args)]
struct ReplayArgs {
    /// The run directory, such as runs/xor_001.
    run: PathBuf,
    /// Start playing the history from its first step at this speed (0.25 to 16).
    #[arg(long)]
    play: Option<f32>,
    #[command(flatten)]
    window: WindowArgs,
}

/// Options of `nnm compare`.
#[derive(Debug, clap::Args)]
struct CompareArgs {
    /// Sweep directories, run directories, or folders of them (such as runs/).
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Write the table (a row per model or run) to this CSV file and exit,
    /// without a window.
    #[arg(long)]
    csv: Option<PathBuf>,
    #[command(flatten)]
    browse: BrowseArgs,
    #[command(flatten)]
    window: WindowArgs,
}

/// What the browser opens on, beyond the window: shared by `nnm compare` and `nnm sweep view`.
#[derive(Debug, Clone, clap::Args)]
struct BrowseArgs {
    /// The view to open on (terrain, also called height-field, is the landscape in 3D).
    #[cfg(feature = "app")]
    #[arg(long, value_enum)]
    tab: Option<nn_microscope::app::CompareTab>,
    /// Zoom into this window of the landscape at start, X0:X1,Y0:Y1 in the
    /// axes' own units (as a rectangle dragged on it would).
    #[arg(long, value_parser = parse_window)]
    zoom: Option<nn_microscope::lab::sweep::ZoomWindow>,
    /// The zoom's grid sizes, coarse to fine, such as 32,64,128.
    #[arg(long, value_delimiter = ',', requires = "zoom")]
    zoom_levels: Option<Vec<usize>>,
    /// Export the centre view as a PNG once the zoom (if any) is trained.
    #[arg(long)]
    export: Option<PathBuf>,
}

/// Parses `--zoom X0:X1,Y0:Y1`.
fn parse_window(s: &str) -> Result<nn_microscope::lab::sweep::ZoomWindow> {
    nn_microscope::lab::sweep::ZoomWindow::parse(s).map_err(|e| anyhow::anyhow!(e))
}

/// Options of `nnm capture`.
#[derive(Debug, clap::Args)]
struct CaptureArgs {
    /// A scene file, a preset name, a run directory to film its recording,
    /// or a sweep directory (or a folder of runs) to film the compare view:
    /// the height field seen from a moving camera, and with
    /// --zoom a zoom training in lock-step with the film.
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
    /// The film's layout: `microscope` (the network, with the film's
    /// overlays) or `dashboard` (NeuroScope's four panels).
    #[arg(long, value_enum, default_value = "microscope")]
    layout: Layout,
    /// A film of the browser: its view and zoom.
    #[command(flatten)]
    browse: BrowseArgs,
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
    /// Click this neuron (LAYER:INDEX) with the mouse a few frames before the
    /// last one, as a user would (with --frames; for tests and scripts).
    #[arg(long, value_parser = parse_neuron, requires = "frames")]
    click_neuron: Option<(usize, usize)>,
    /// Frame neuron layer L with the camera (as the digit key L does) a
    /// second's worth of frames before the last one (with --frames; for
    /// pictures and scripts).
    #[arg(long, requires = "frames")]
    frame_layer: Option<usize>,
    /// Draw this many frames, then exit (for tests and scripts).
    #[arg(long)]
    frames: Option<u32>,
    /// Save a PNG of the window, overlay included, after the last frame, and
    /// print where the panels and the network are in it.
    #[arg(long, requires = "frames")]
    screenshot: Option<PathBuf>,
    /// Print frame-time and memory statistics at exit (with --frames).
    #[arg(long, requires = "frames")]
    bench: bool,
    /// The window's layout: `microscope` (the network and its panels) or
    /// `dashboard` (the fit, loss, sharpness and projection; D switches).
    #[arg(long, value_enum, default_value = "microscope")]
    layout: Layout,
}

/// The layouts of the window and of films.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Layout {
    /// The network in 3D with its control and insight panels.
    Microscope,
    /// Four panels: the fit, the loss, the sharpness against 2/η, the projection.
    Dashboard,
}

/// Parses the command line and runs the command.
pub(crate) fn run() -> Result<ExitCode> {
    let cli = Cli::parse();
    let presets = Presets::new(cli.scenes);
    match cli.command {
        None => view(WindowedScene::parse_from(["view"]), &presets),
        Some(Command::View(args)) => view(args, &presets),
        Some(Command::Train(args)) => train::train(args, &presets),
        Some(Command::Import(args)) => import::import(args, &presets),
        Some(Command::Serve(args)) => serve::serve(args, &presets),
        Some(Command::Sweep(args)) => sweep::sweep(args, &presets),
        Some(Command::Scenes { check }) => scenes::scenes(check, &presets),
        Some(Command::Replay(args)) => replay(args),
        Some(Command::Capture(args)) => capture(args, &presets),
        Some(Command::Runs { action, dir }) => runs::run(action, &dir),
        Some(Command::Compare(args)) => compare(args),
    }
}

#[cfg(feature = "app")]
fn view(args: WindowedScene, presets: &Presets) -> Result<ExitCode> {
    view::view(args, presets)
}

/// `nnm compare`: the table as CSV, or the browser.
fn compare(args: CompareArgs) -> Result<ExitCode> {
    let table = nn_microscope::lab::compare::Table::load(&args.paths)?;
    if let Some(path) = &args.csv {
        let rows: Vec<u32> = (0..table.len() as u32).collect();
        nn_microscope::lab::sweep::write_atomic(path, table.to_csv(&rows).as_bytes())?;
        println!(
            "compare: rows={} columns={} csv={}",
            table.len(),
            table.columns.len(),
            path.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(levels) = &args.browse.zoom_levels
        && levels.iter().any(|&n| !(2..=1024).contains(&n))
    {
        anyhow::bail!("--zoom-levels {levels:?}: each grid size must be between 2 and 1024");
    }
    browse(table, args.browse, args.window)
}

#[cfg(feature = "app")]
fn browse(
    table: nn_microscope::lab::compare::Table,
    browse: BrowseArgs,
    window: WindowArgs,
) -> Result<ExitCode> {
    view::browse(table, browse, window)
}

#[cfg(not(feature = "app"))]
fn browse(_: nn_microscope::lab::compare::Table, _: BrowseArgs, _: WindowArgs) -> Result<ExitCode> {
    without_app("compare")
}

#[cfg(feature = "app")]
fn open_model(
    dir: &std::path::Path,
    model: usize,
    runs: Option<PathBuf>,
    window: WindowArgs,
) -> Result<ExitCode> {
    view::open_model(dir, model, runs, window)
}

#[cfg(not(feature = "app"))]
fn open_model(
    _: &std::path::Path,
    _: usize,
    _: Option<PathBuf>,
    _: WindowArgs,
) -> Result<ExitCode> {
    without_app("sweep open")
}

#[cfg(feature = "app")]
fn replay(args: ReplayArgs) -> Result<ExitCode> {
    view::replay(args)
}

#[cfg(feature = "app")]
fn capture(args: CaptureArgs, presets: &Presets) -> Result<ExitCode> {
    view::capture(args, presets)
}

/// The headless build has no instrument: say so, and what it can do.
#[cfg(not(feature = "app"))]
fn without_app(command: &str) -> Result<ExitCode> {
    eprintln!(
        "nnm {command}: this nnm is the headless build (built with --no-default-features), \
         without the 3D instrument.\n{HEADLESS}.\n\
         Build with the default features for `nnm view`, `nnm replay`, `nnm capture` and `nnm compare`."
    );
    Ok(ExitCode::from(2))
}

#[cfg(not(feature = "app"))]
fn view(_: WindowedScene, _: &Presets) -> Result<ExitCode> {
    without_app("view")
}

#[cfg(not(feature = "app"))]
fn replay(_: ReplayArgs) -> Result<ExitCode> {
    without_app("replay")
}

#[cfg(not(feature = "app"))]
fn capture(_: CaptureArgs, _: &Presets) -> Result<ExitCode> {
    without_app("capture")
}

/// The headless commands, named in messages when no window can be opened.
const HEADLESS: &str = "headless commands work without one: `nnm train SCENE`, `nnm sweep SPEC`, `nnm runs`, `nnm scenes`";

/// Parses `WxH`, such as `1920x1080`.
fn parse_size(s: &str) -> Result<(u32, u32)> {
    let (w, h) = s
        .split_once(['x', 'X'])
        .ok_or_else(|| anyhow::anyhow!("`{s}` is not WIDTHxHEIGHT, such as 1280x720"))?;
    let dim = |v: &str| {
        v.trim()
            .parse::<u32>()
            .ok()
            .filter(|&n| (16..=7680).contains(&n))
            .ok_or_else(|| anyhow::anyhow!("`{v}` in `{s}` is not a size between 16 and 7680"))
    };
    Ok((dim(w)?, dim(h)?))
}

/// Parses `LAYER:INDEX`, such as `1:3`.
fn parse_neuron(s: &str) -> Result<(usize, usize)> {
    let (l, i) = s
        .split_once(':')
        .ok_or_else(|| anyhow::anyhow!("`{s}` is not LAYER:INDEX, such as 1:3"))?;
    let num = |v: &str| {
        v.trim()
            .parse::<usize>()
            .map_err(|_| anyhow::anyhow!("`{v}` in `{s}` is not a number"))
    };
    Ok((num(l)?, num(i)?))
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
