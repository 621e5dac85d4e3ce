//! `nnm view`, `nnm replay` and `nnm capture`: the commands that need the 3D instrument.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;

use nn_microscope::app::AppError;
use nn_microscope::app::{FilmRequest, FilmSource};
use nn_microscope::app::{NeuronId, ViewOptions, check_can_open_window, check_gpu, run_view};
use nn_microscope::lab::record::{RunDir, SCENE_FILE};
use nn_microscope::lab::runner::RunnerOptions;
use nn_microscope::lab::runner::spawn_replay;
use nn_microscope::lab::scene::{Preset, Presets};
use nn_microscope::lab::sweep::{ModelSource, SweepDir};
use nn_microscope::lab::{CpuBackend, Scene, TrainerHandle};

use super::{BrowseArgs, CaptureArgs, HEADLESS, ReplayArgs, WindowArgs, WindowedScene};

impl WindowArgs {
    fn options(self, title: String, play: Option<f32>) -> ViewOptions {
        ViewOptions {
            title,
            frames: self.frames,
            screenshot: self.screenshot,
            bench: self.bench,
            window: self.window,
            select: self.select.map(|(l, i)| NeuronId::new(l, i)),
            click: self.click_neuron.map(|(l, i)| NeuronId::new(l, i)),
            frame_layer: self.frame_layer,
            dashboard: self.layout == super::Layout::Dashboard,
            play,
            scene: None,
        }
    }
}

/// Says why no window can be opened here, and exits with code 2.
fn cannot_open(command: &str, why: &AppError) -> ExitCode {
    eprintln!("nnm {command}: {why}.\n{HEADLESS}.");
    ExitCode::from(2)
}

fn exit_code(exit: bevy::app::AppExit) -> ExitCode {
    match exit {
        bevy::app::AppExit::Success => ExitCode::SUCCESS,
        bevy::app::AppExit::Error(code) => ExitCode::from(code.get()),
    }
}

/// `nnm view`: the instrument on a live run.
pub(super) fn view(args: WindowedScene, presets: &Presets) -> Result<ExitCode> {
    if let Some(addr) = args.listen.clone() {
        return listen(&addr, args, presets);
    }
    if let Some(url) = args.connect.clone() {
        return connect(&url, args);
    }
    let preset = presets.find(args.scene.as_deref().unwrap_or("default"))?;
    let mut scene = preset.load()?;
    if let Some(s) = args.seed {
        scene.seed = s;
    }
    if let Some(rate) = args.steps_per_second {
        anyhow::ensure!(
            rate.is_finite() && rate >= 0.0,
            "--steps-per-second: {rate} is not a pace (steps per second, or 0 for as fast as it goes)"
        );
        scene.view.steps_per_second = (rate > 0.0).then_some(rate);
    }
    let source = Some((preset, presets.clone(), args.seed));
    let runs = (!args.no_record).then_some(args.runs);
    let schedule = match args.cooperative {
        true => Schedule::InFrames,
        false => Schedule::Thread,
    };
    live(
        "view",
        scene,
        runs,
        args.paused,
        args.window,
        source,
        schedule,
    )
}

/// `nnm view --listen`: the instrument on a network trained elsewhere,
/// streamed in step by step and recorded as a run.
fn listen(addr: &str, args: WindowedScene, presets: &Presets) -> Result<ExitCode> {
    use nn_microscope::lab::net::{Inbox, LOG_PATH, bind};
    use nn_microscope::lab::runner::ListenOptions;
    if let Err(why) = check_can_open_window() {
        return Ok(cannot_open("view --listen", &why));
    }
    let data = args.scene.clone().unwrap_or_else(|| "default".into());
    // A data set that cannot be read is said now, not at the first step.
    nn_microscope::lab::stream::data_scene(&data, presets, 2)?;
    let (listener, bound) = bind(addr, args.token.as_deref())?;
    let inbox = Inbox::new(listener, args.token.clone())?;
    // The address first, alone on its line: a script that asked for port 0 reads it here.
    println!("listening on {bound}");
    println!(
        "post one safetensors message per step to http://{bound}{LOG_PATH} (Python: nnm.connect(\"{bound}\"))"
    );
    let trainer = TrainerHandle::spawn_listen::<CpuBackend>(
        inbox,
        ListenOptions {
            data,
            presets: presets.clone(),
            activation: args.activation,
            runs_root: (!args.no_record).then_some(args.runs),
        },
    )?;
    let title = format!("NN Microscope · listening on {bound}");
    Ok(exit_code(run_view(
        trainer,
        args.window.options(title, None),
    )))
}

/// `nnm view --connect`: the instrument on a run served by `nnm serve`.
fn connect(url: &str, args: WindowedScene) -> Result<ExitCode> {
    if let Err(why) = check_can_open_window() {
        return Ok(cannot_open("view --connect", &why));
    }
    let url = match &args.token {
        Some(t) if !url.contains("token=") => {
            let joint = if url.contains('?') { '&' } else { '?' };
            format!("{url}{joint}token={t}")
        }
        _ => url.to_string(),
    };
    let trainer = TrainerHandle::spawn_connect::<CpuBackend>(&url)?;
    let title = format!("NN Microscope · {}", url.split('?').next().unwrap_or(&url));
    Ok(exit_code(run_view(
        trainer,
        args.window.options(title, None),
    )))
}

/// Where a live view's trainer runs.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Schedule {
    /// On a thread of its own.
    Thread,
    /// Inside the app's frames, a slice of each (as in the browser).
    InFrames,
}

/// The instrument on `scene`, trained live; `source` is the preset it came
/// from, reloaded when its file is edited.
fn live(
    command: &str,
    scene: Scene,
    runs: Option<PathBuf>,
    paused: bool,
    window: WindowArgs,
    source: Option<(Preset, Presets, Option<u64>)>,
    schedule: Schedule,
) -> Result<ExitCode> {
    if let Err(why) = check_can_open_window() {
        return Ok(cannot_open(command, &why));
    }
    let title = format!("NN Microscope · {}", scene.display_title());
    let options = RunnerOptions {
        runs_root: runs,
        start_paused: paused,
        lesson_pauses: true,
        ..Default::default()
    };
    let trainer = match schedule {
        Schedule::Thread => TrainerHandle::spawn::<CpuBackend>(scene, Default::default(), options)?,
        Schedule::InFrames => {
            TrainerHandle::cooperative::<CpuBackend>(scene, Default::default(), options)
        }
    };
    let mut options = window.options(title, None);
    options.scene = source;
    Ok(exit_code(run_view(trainer, options)))
}

/// `nnm sweep open`: one model of a sweep in the instrument, its recording
/// replayed when the sweep kept its frames, else its scene trained again.
pub(super) fn open_model(
    dir: &Path,
    model: usize,
    runs: Option<PathBuf>,
    window: WindowArgs,
) -> Result<ExitCode> {
    let (sweep_dir, sweep, _) = SweepDir::open(dir)?;
    match sweep_dir.model_source(&sweep, model)? {
        ModelSource::Recording(run) => replay(ReplayArgs {
            run,
            play: None,
            window,
        }),
        ModelSource::Scene(scene) => live(
            "sweep open",
            *scene,
            runs,
            false,
            window,
            None,
            Schedule::Thread,
        ),
    }
}

/// Default length of a film of the browser: with a zoom, and without.
const BROWSER_FILM_SECONDS: (f32, f32) = (12.0, 8.0);
/// Default frame rate of a film of the browser.
const BROWSER_FILM_FPS: f32 = 30.0;

/// `nnm capture SWEEP_DIR`: a film of the compare view.
fn capture_browser(args: CaptureArgs) -> Result<ExitCode> {
    use nn_microscope::app::FilmSink;
    use nn_microscope::app::{CompareFilm, CompareOptions, film_compare};
    use nn_microscope::app::{check_fps, check_size, film_output};
    for (given, flag) in [
        (args.seed.is_some(), "--seed"),
        (args.steps_per_frame.is_some(), "--steps-per-frame"),
        (args.panels, "--panels"),
        (
            args.layout == super::Layout::Dashboard,
            "--layout dashboard",
        ),
        (args.browse.export.is_some(), "--export"),
    ] {
        if given {
            anyhow::bail!(
                "{flag} does not apply to a film of the browser ({} is a folder of runs or a sweep, not a scene)",
                args.source
            );
        }
    }
    let table = nn_microscope::lab::compare::Table::load(&[PathBuf::from(&args.source)])?;
    check_size(args.size)?;
    let fps = check_fps(args.fps.unwrap_or(BROWSER_FILM_FPS))?;
    let seconds = args.seconds.unwrap_or(if args.browse.zoom.is_some() {
        BROWSER_FILM_SECONDS.0
    } else {
        BROWSER_FILM_SECONDS.1
    });
    let frames = args.frames.unwrap_or((seconds * fps).round() as u32);
    if frames == 0 {
        anyhow::bail!("--frames: the film would have no frames (check --frames or --seconds)");
    }
    let (output, gif_instead_of_mp4) = film_output(&args.out)?;
    if gif_instead_of_mp4 {
        eprintln!(
            "ffmpeg was not found, so no MP4 can be written: writing a GIF beside it instead, {}",
            output.path().display()
        );
    }
    let adapter = match film_adapter() {
        Ok(adapter) => adapter,
        Err(code) => return Ok(code),
    };
    let browse = CompareOptions {
        tab: args.browse.tab,
        zoom: args.browse.zoom,
        levels: args.browse.zoom_levels,
        export: None,
    };
    let film = CompareFilm {
        size: args.size,
        fps,
        frames,
    };
    let bar = super::progress_bar(u64::from(frames), "frames");
    let sink = FilmSink::new(&output, args.size, fps)?.with_progress(bar.clone());
    let report = film_compare(table, browse, film, sink)?;
    bar.finish_and_clear();
    println!(
        "captured {} frames ({}x{}, {fps} fps) of the browser to {}, {:.3} s per frame on {adapter}",
        report.frames,
        args.size.0,
        args.size.1,
        output.path().display(),
        report.seconds_per_frame
    );
    Ok(ExitCode::SUCCESS)
}

/// `nnm compare` and `nnm sweep view`: the compare view on a table of runs.
pub(super) fn browse(
    table: nn_microscope::lab::compare::Table,
    browse: BrowseArgs,
    window: WindowArgs,
) -> Result<ExitCode> {
    use nn_microscope::app::CompareOptions;
    if let Err(why) = check_can_open_window() {
        return Ok(cannot_open("compare", &why));
    }
    let title = format!("NN Microscope · Compare · {} runs", table.len());
    let options = window.options(title, None);
    let browse = CompareOptions {
        tab: browse.tab,
        zoom: browse.zoom,
        levels: browse.zoom_levels,
        export: browse.export,
    };
    Ok(exit_code(nn_microscope::app::run_compare(
        table, &options, browse,
    )))
}

/// `nnm replay`: the instrument on a recorded run.
pub(super) fn replay(args: ReplayArgs) -> Result<ExitCode> {
    if let Some(speed) = args.play
        && !(0.25..=16.0).contains(&speed)
    {
        anyhow::bail!("--play {speed}: the speed must be between 0.25 and 16");
    }
    let source = spawn_replay(&args.run)?;
    if let Err(why) = check_can_open_window() {
        return Ok(cannot_open("replay", &why));
    }
    let title = format!("NN Microscope · replay of {}", args.run.display());
    Ok(exit_code(run_view(
        source,
        args.window.options(title, args.play),
    )))
}

/// `nnm capture`: a film, off-screen.
pub(super) fn capture(args: CaptureArgs, presets: &Presets) -> Result<ExitCode> {
    let run_dir = Path::new(&args.source);
    if run_dir.is_dir() && !run_dir.join(SCENE_FILE).is_file() {
        return capture_browser(args);
    }
    for (given, flag) in [
        (args.browse.tab.is_some(), "--tab"),
        (args.browse.zoom.is_some(), "--zoom"),
        (args.browse.export.is_some(), "--export"),
    ] {
        if given {
            anyhow::bail!(
                "{flag} films the compare view: give a sweep directory (or a folder of runs), not {}",
                args.source
            );
        }
    }
    let source = if run_dir.join(SCENE_FILE).is_file() {
        FilmSource::Recording {
            dir: run_dir.to_path_buf(),
            scene: RunDir::open(run_dir)?.scene()?,
        }
    } else {
        FilmSource::Scene(presets.find(&args.source)?.load()?)
    };
    let plan = FilmRequest {
        source,
        out: args.out,
        size: args.size,
        fps: args.fps,
        seconds: args.seconds,
        frames: args.frames,
        steps_per_frame: args.steps_per_frame,
        seed: args.seed,
        panels: args.panels,
        title: !args.no_title,
        captions: !args.no_captions,
        metrics: !args.no_metrics,
        runs: (!args.no_record).then_some(args.runs),
        dashboard: args.layout == super::Layout::Dashboard,
    }
    .plan()?;
    if plan.gif_instead_of_mp4 {
        eprintln!(
            "ffmpeg was not found, so no MP4 can be written: writing a GIF beside it instead, {}",
            plan.output.path().display()
        );
    }
    let adapter = match film_adapter() {
        Ok(adapter) => adapter,
        Err(code) => return Ok(code),
    };
    let (encoder, out, size, fps) = (
        plan.encoder(),
        plan.output.path().to_path_buf(),
        plan.options.size,
        plan.options.fps,
    );
    let bar = super::progress_bar(u64::from(plan.options.frames), "frames");
    let report = plan.film(bar.clone())?;
    bar.finish_and_clear();
    println!(
        "captured {} frames ({}x{}, {fps} fps) to {} with {encoder}, {:.3} s per frame on {adapter}",
        report.frames,
        size.0,
        size.1,
        out.display(),
        report.seconds_per_frame
    );
    Ok(ExitCode::SUCCESS)
}

/// The GPU adapter a film renders on, in words; without one, says why and
/// gives the exit code.
fn film_adapter() -> Result<String, ExitCode> {
    check_gpu().map_err(|why| {
        eprintln!(
            "nnm capture: {why}.\n`nnm capture` renders off-screen and needs no display, but it needs a GPU adapter."
        );
        ExitCode::from(2)
    })
}
