//! Exhibition captures: off-screen, frame-exact films of a training run or a
//! recorded one, with camera paths and film overlays.
//!
//! No window is opened: the camera renders into an image, each frame is read
//! back and handed to a [`FilmSink`](crate::app::film_sink::FilmSink). Time
//! advances by exactly one frame per update and the trainer runs in lockstep,
//! so the film does not depend on the machine's speed.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::lab::clock::Instant;

use bevy::app::ScheduleRunnerPlugin;
use bevy::asset::RenderAssetUsages;
use bevy::camera::RenderTarget;
use bevy::prelude::*;
use bevy::render::RenderPlugin;
use bevy::render::render_resource::{Extent3d, TextureDimension, TextureFormat, TextureUsages};
use bevy::render::view::screenshot::{Screenshot, ScreenshotCaptured};
use bevy::time::TimeUpdateStrategy;
use bevy::window::ExitCondition;
use bevy::winit::WinitPlugin;
use bevy_egui::{EguiContexts, EguiPrimaryContextPass, egui};

use crate::app::AppSystems;
use crate::app::bridge::{Live, Lockstep, TrainerLink, TrainerNotes};
use crate::app::error::{AppError, AppResult};
use crate::app::film_sink::{FilmFile, FilmSink, ffmpeg_available};
use crate::app::history::{History, PlayMode, Playback, Shown};
use crate::app::layout::blend_placement;
use crate::app::network::{AppliedFrame, NetworkView};
use crate::app::ui::dashboard::{DashboardInput, dashboard_ui};
use crate::app::ui::plots::PlotSettings;
use crate::app::ui::task_view::TaskView;
use crate::app::{CorePlugins, quads, ui};
use crate::lab::runner::spawn_replay;
use crate::lab::runner::{RunnerOptions, Speed};
use crate::lab::scene::{CameraPath, FilmSpec, Pose};
use crate::lab::{CpuBackend, Scene, TrainerHandle};

/// Vertical field of view of the film camera, radians.
const FOV: f32 = std::f32::consts::FRAC_PI_4;
/// Longest wait for the trainer's frame before the capture gives up.
const LOCKSTEP_TIMEOUT: Duration = Duration::from_secs(120);
/// Updates allowed before the first frame (loading, a replay opening its recording).
pub(crate) const WARMUP_LIMIT: u32 = 2_000;
/// Updates drawn, unfilmed, once everything is ready: uploads and the font
/// atlas settle before the first frame.
pub(crate) const SETTLE_UPDATES: u32 = 4;
/// Largest film frame: 4K UHD.
pub(super) const MAX_SIZE: (u32, u32) = (3840, 2160);

/// What to film: a scene (trained as it is filmed) or a recorded run.
#[derive(Debug, Clone)]
pub enum FilmSource {
    /// Train this scene, in lock-step with the film.
    Scene(Scene),
    /// Replay the recording of this run directory (its scene given).
    Recording {
        /// The run directory.
        dir: PathBuf,
        /// The scene it was made with.
        scene: Scene,
    },
}

/// A film as the user asked for it; `None` takes the scene's film settings.
#[derive(Debug, Clone)]
pub struct FilmRequest {
    /// What to film.
    pub source: FilmSource,
    /// Where: `NAME.mp4`, `NAME.gif`, or a folder for PNG frames.
    pub out: PathBuf,
    /// Frame size in pixels.
    pub size: (u32, u32),
    /// Frames per second.
    pub fps: Option<f32>,
    /// Length in seconds.
    pub seconds: Option<f32>,
    /// Length in frames (wins over `seconds`).
    pub frames: Option<u32>,
    /// Training steps between two frames.
    pub steps_per_frame: Option<u32>,
    /// Another seed than the scene's.
    pub seed: Option<u64>,
    /// Draw the interactive panels too.
    pub panels: bool,
    /// Show the title card.
    pub title: bool,
    /// Show the captions.
    pub captions: bool,
    /// Show the metrics strip.
    pub metrics: bool,
    /// Record the filmed training run under this folder (`None`: record nothing).
    pub runs: Option<PathBuf>,
    /// Film NeuroScope's four-panel dashboard instead of the network.
    pub dashboard: bool,
}

/// A film ready to be made: every setting resolved and checked.
#[derive(Debug, Clone)]
pub struct FilmPlan {
    /// What is filmed and how.
    pub options: CaptureOptions,
    /// Where the frames go.
    pub output: FilmFile,
    /// True when an MP4 was asked for and, without ffmpeg, a GIF is written instead.
    pub gif_instead_of_mp4: bool,
    /// The recording to replay, when filming a run directory.
    recording: Option<PathBuf>,
    /// Where the filmed training run is recorded.
    runs: Option<PathBuf>,
}

impl FilmRequest {
    /// Resolves and checks the settings; an MP4 without `ffmpeg` becomes a GIF
    /// beside it (the plan says so).
    pub fn plan(self) -> AppResult<FilmPlan> {
        check_size(self.size)?;
        let (mut scene, recording) = match self.source {
            FilmSource::Scene(scene) => (scene, None),
            FilmSource::Recording { dir, scene } => (scene, Some(dir)),
        };
        if let Some(seed) = self.seed {
            if recording.is_some() {
                return Err(AppError::flag(
                    "--seed",
                    "a recorded run keeps the seed it was trained with",
                ));
            }
            scene.seed = seed;
        }
        let film = scene.view.film.clone();
        let fps = check_fps(self.fps.unwrap_or(film.fps))?;
        let frames = match (self.frames, self.seconds) {
            (Some(n), _) => n,
            (None, Some(s)) => (s * fps).round() as u32,
            (None, None) => (film.seconds * fps).round() as u32,
        };
        if frames == 0 {
            return Err(AppError::flag(
                "--frames",
                "the film would have no frames (check --frames or --seconds)",
            ));
        }
        let steps_per_frame = self.steps_per_frame.unwrap_or(film.steps_per_frame);
        if steps_per_frame == 0 {
            return Err(AppError::flag("--steps-per-frame", "must be at least 1"));
        }
        let (output, gif_instead_of_mp4) = film_output(&self.out)?;
        if recording.is_none() {
            // The film is the point: train for as long as it lasts.
            let needed = u64::from(frames) * u64::from(steps_per_frame) + 1;
            scene.train.steps = scene.train.steps.max(needed);
        }
        Ok(FilmPlan {
            options: CaptureOptions {
                scene,
                size: self.size,
                fps,
                frames,
                steps_per_frame,
                from_recording: recording.is_some(),
                panels: self.panels,
                title: self.title,
                captions: self.captions,
                metrics: self.metrics,
                dashboard: self.dashboard,
            },
            output,
            gif_instead_of_mp4,
            recording,
            runs: self.runs,
        })
    }
}

/// Checks a film's `--size`.
pub fn check_size(size: (u32, u32)) -> AppResult<()> {
    if size.0 > MAX_SIZE.0 || size.1 > MAX_SIZE.1 || size.0 == 0 || size.1 == 0 {
        return Err(AppError::flag(
            format!("--size {}x{}", size.0, size.1),
            "films go from 1x1 up to 3840x2160",
        ));
    }
    Ok(())
}

/// Checks a film's `--fps`.
pub fn check_fps(fps: f32) -> AppResult<f32> {
    if !(fps.is_finite() && fps > 0.0 && fps <= 240.0) {
        return Err(AppError::flag(
            format!("--fps {fps}"),
            "must be between 0 and 240",
        ));
    }
    Ok(fps)
}

/// Where a film at `out` goes, and whether an MP4 became a GIF beside it
/// for want of `ffmpeg`.
pub fn film_output(out: &std::path::Path) -> AppResult<(FilmFile, bool)> {
    match FilmFile::from_path(out)? {
        FilmFile::Mp4(path) if !ffmpeg_available() => {
            Ok((FilmFile::Gif(path.with_extension("gif")), true))
        }
        output => Ok((output, false)),
    }
}

impl FilmPlan {
    /// The encoder, in words.
    pub fn encoder(&self) -> &'static str {
        match &self.output {
            FilmFile::Pngs(_) => "PNG frames",
            FilmFile::Mp4(_) => "ffmpeg (H.264 MP4)",
            FilmFile::Gif(_) => "GIF",
        }
    }

    /// Makes the film: starts the trainer (or the replay), renders every frame
    /// off-screen and writes them, showing progress on `bar`.
    pub fn film(self, bar: indicatif::ProgressBar) -> AppResult<CaptureReport> {
        let o = &self.options;
        let source = match &self.recording {
            Some(dir) => spawn_replay(dir)?,
            None => TrainerHandle::spawn::<CpuBackend>(
                o.scene.clone(),
                Default::default(),
                RunnerOptions {
                    runs_root: self.runs.clone(),
                    speed: Speed::StepsPerFrame(o.steps_per_frame),
                    ..Default::default()
                },
            )?,
        };
        let sink = FilmSink::new(&self.output, o.size, o.fps)?.with_progress(bar);
        run_capture(source, self.options, sink)
    }
}

/// What to film and how.
#[derive(Debug, Clone)]
pub struct CaptureOptions {
    /// The scene (for its camera path, captions and title).
    pub scene: Scene,
    /// Frame size in pixels.
    pub size: (u32, u32),
    /// Frames per second.
    pub fps: f32,
    /// Frames to capture.
    pub frames: u32,
    /// Training steps between two frames.
    pub steps_per_frame: u32,
    /// True when filming a recorded run (frames come from its recording).
    pub from_recording: bool,
    /// Show the interactive panels too.
    pub panels: bool,
    /// The overlays: title card, captions, metrics strip.
    pub title: bool,
    /// Show the scene's captions.
    pub captions: bool,
    /// Show the metrics strip.
    pub metrics: bool,
    /// Film the four-panel dashboard: the fit (for a 2D regression, the
    /// surface, which the camera films in its quadrant), the loss, the
    /// sharpness against 2/η and the update's projection.
    pub dashboard: bool,
}

/// What a capture did.
#[derive(Debug, Clone)]
pub struct CaptureReport {
    /// Frames written.
    pub frames: u32,
    /// Wall-clock seconds per frame, from the first frame to the last.
    pub seconds_per_frame: f64,
}

/// Where the film is: the frame being drawn, and how film time maps to
/// training steps. Systems that follow film time read it.
#[derive(Resource, Debug, Clone, PartialEq)]
pub(super) struct FilmClock {
    /// The frame being drawn (0 first); it moves on when its screenshot is asked for.
    pub frame: u32,
    /// Frames per second.
    pub fps: f32,
    /// Training steps between two frames.
    pub steps_per_frame: u32,
    /// True when the frames come from a recording (the cursor follows the film).
    pub from_recording: bool,
}

impl FilmClock {
    /// Seconds of film at the frame being drawn.
    pub(super) fn seconds(&self) -> f32 {
        self.frame as f32 / self.fps
    }

    /// The recorded step shown by the frame being drawn, when filming a recording.
    pub(super) fn recorded_step(&self) -> u64 {
        u64::from(self.frame) * u64::from(self.steps_per_frame)
    }
}

/// Moves the VCR with the film when it films a recording (ordered in
/// [`AppSystems::Seek`], between keeping the history and showing the cursor's frame).
pub(super) struct FilmCursorPlugin;

impl Plugin for FilmCursorPlugin {
    fn build(&self, app: &mut App) {
        app.add_systems(Update, seek_recording.in_set(AppSystems::Seek));
    }
}

/// The film being made: settings, progress and the sink frames go to.
#[derive(Resource)]
struct Film {
    options: CaptureOptions,
    spec: FilmSpec,
    output: FilmOutput,
    takes: Takes,
}

/// What a film's driving system sees at an update.
pub(crate) enum Cue {
    /// What it films has failed, and why: the film ends.
    Failed(String),
    /// What it films is not ready; what to say if it never becomes so.
    Waiting(String),
    /// Everything to film this frame is drawn.
    Ready,
}

/// A film's progress towards its first frame: the director's count of
/// updates spent waiting, and of updates settled once ready.
#[derive(Debug, Default)]
pub(crate) struct Takes {
    /// Updates spent before the first frame.
    warmup: u32,
    /// Updates in a row with everything ready, before the first frame.
    settled: u32,
}

/// How the capture went, read after the app has run.
#[derive(Default)]
struct Outcome {
    started: Option<Instant>,
    error: Option<AppError>,
}

/// Where a film's frames go, and how the film went: the image its cameras
/// draw into, the sink each frame is read back into, and the outcome the
/// caller reads once the app has run (films of a run and of the browser).
#[derive(Clone)]
pub(crate) struct FilmOutput {
    /// The image the film's cameras draw into.
    pub target: Handle<Image>,
    sink: Arc<Mutex<FilmSink>>,
    outcome: Arc<Mutex<Outcome>>,
}

impl FilmOutput {
    /// An output of `size` pixels into `sink`, its image added to `app`.
    pub(crate) fn new(app: &mut App, size: (u32, u32), sink: FilmSink) -> FilmOutput {
        let target = app
            .world_mut()
            .resource_mut::<Assets<Image>>()
            .add(render_target(size));
        FilmOutput {
            target,
            sink: Arc::new(Mutex::new(sink)),
            outcome: Arc::new(Mutex::new(Outcome::default())),
        }
    }

    /// Ends the film with `why` (the first failure is the one reported).
    pub(crate) fn fail(&self, why: AppError) {
        if let Ok(mut o) = self.outcome.lock() {
            o.error.get_or_insert(why);
        }
    }

    /// Whether the film goes on: not when the sink failed or all `total`
    /// frames are written (the app is then told to exit).
    pub(crate) fn going_on(&self, total: u32, exit: &mut MessageWriter<AppExit>) -> bool {
        let sink_error = self.sink.lock().ok().and_then(|mut s| s.take_error());
        if let Some(e) = sink_error {
            self.fail(e);
            exit.write(AppExit::error());
            return false;
        }
        if self.sink.lock().map_or(0, |s| s.written()) >= total {
            exit.write(AppExit::Success);
            return false;
        }
        true
    }

    /// Directs one update of a film at frame `frame` of `total`, as `cue`
    /// says: it ends on a failure, once every frame is written, or when
    /// nothing was ready within [`WARMUP_LIMIT`] updates; once ready, the
    /// first frame waits [`SETTLE_UPDATES`] updates (uploads and the font
    /// atlas settle); then each update shoots a frame. True when it shot
    /// frame `frame` (the caller moves its clock on). Films of a run and of
    /// the compare view share this one state machine.
    pub(crate) fn direct(
        &self,
        takes: &mut Takes,
        cue: Cue,
        (frame, total): (u32, u32),
        commands: &mut Commands,
        exit: &mut MessageWriter<AppExit>,
    ) -> bool {
        let never = match cue {
            Cue::Failed(why) => {
                self.fail(AppError::Capture(why));
                exit.write(AppExit::error());
                return false;
            }
            Cue::Waiting(never) => Some(never),
            Cue::Ready => None,
        };
        if !self.going_on(total, exit) || frame >= total {
            return false;
        }
        if let Some(never) = never {
            takes.warmup += 1;
            if takes.warmup > WARMUP_LIMIT {
                self.fail(AppError::Capture(never));
                exit.write(AppExit::error());
            }
            return false;
        }
        if frame == 0 && takes.settled < SETTLE_UPDATES {
            takes.settled += 1;
            return false;
        }
        self.shoot(commands, frame);
        true
    }

    /// Asks for this update's image as frame `index`.
    pub(crate) fn shoot(&self, commands: &mut Commands, index: u32) {
        if let Ok(mut o) = self.outcome.lock() {
            o.started.get_or_insert_with(Instant::now);
        }
        let sink = self.sink.clone();
        commands
            .spawn(Screenshot::image(self.target.clone()))
            .observe(move |captured: On<ScreenshotCaptured>| {
                if let Ok(mut s) = sink.lock() {
                    s.accept(index, &captured.image);
                }
            });
    }

    /// After the app has run: the film's error, or its frames finished and reported.
    pub(crate) fn report(&self) -> AppResult<CaptureReport> {
        let poisoned = || AppError::Capture("the film's writer thread panicked".into());
        let mut sink = self.sink.lock().map_err(|_| poisoned())?;
        let mut outcome = self.outcome.lock().map_err(|_| poisoned())?;
        if let Some(e) = outcome.error.take() {
            return Err(e);
        }
        let frames = sink.written();
        sink.finish()?;
        let elapsed = outcome.started.map_or(0.0, |t| t.elapsed().as_secs_f64());
        Ok(CaptureReport {
            frames,
            seconds_per_frame: elapsed / f64::from(frames.max(1)),
        })
    }
}

/// An app that draws off-screen, with no window, one frame of `fps` per
/// update however long it takes: what films run on. Egui's context is the
/// one a camera is given.
pub(crate) fn offscreen_app(fps: f32) -> App {
    let mut app = App::new();
    app.add_plugins(
        DefaultPlugins
            .set(WindowPlugin {
                primary_window: None,
                exit_condition: ExitCondition::DontExit,
                ..default()
            })
            .set(RenderPlugin {
                synchronous_pipeline_compilation: true,
                ..default()
            })
            .set(bevy::log::LogPlugin {
                filter: "warn,wgpu=error,naga=error,bevy_render=error,bevy_egui=error".into(),
                ..default()
            })
            .disable::<WinitPlugin>(),
    )
    .add_plugins(ScheduleRunnerPlugin::run_loop(Duration::ZERO))
    .add_plugins(bevy_egui::EguiPlugin::default())
    .insert_resource(bevy_egui::EguiGlobalSettings {
        auto_create_primary_context: false,
        ..default()
    })
    .insert_resource(ClearColor(Color::srgb(0.01, 0.012, 0.02)))
    .insert_resource(TimeUpdateStrategy::ManualDuration(Duration::from_secs_f64(
        1.0 / f64::from(fps),
    )));
    app
}

/// Marks the film's 3D camera.
#[derive(Component)]
struct FilmCamera;

/// Films `source` (a trainer, or a replay of a recorded run) into `sink`.
pub(super) fn run_capture(
    source: TrainerHandle,
    options: CaptureOptions,
    sink: FilmSink,
) -> AppResult<CaptureReport> {
    let mut spec = options.scene.view.film.clone();
    spec.fps = options.fps;
    spec.steps_per_frame = options.steps_per_frame;
    let mut app = offscreen_app(options.fps);
    app.add_plugins(CorePlugins)
        .add_plugins(quads::QuadsPlugin)
        .add_plugins(crate::app::surface::SurfacePlugin)
        .insert_resource(TrainerLink::new(source));
    if !options.from_recording {
        app.insert_resource(Lockstep {
            steps_per_frame: options.steps_per_frame,
            wanted: 0,
            delivered: None,
            timeout: LOCKSTEP_TIMEOUT,
            failed: None,
        });
    }
    if options.panels {
        app.add_plugins(ui::UiPlugin);
        app.world_mut()
            .resource_mut::<ui::UiState>()
            .task
            .every_frame = true;
    } else {
        app.add_systems(EguiPrimaryContextPass, film_overlay_ui);
    }
    let output = FilmOutput::new(&mut app, options.size, sink);
    app.insert_resource(FilmClock {
        frame: 0,
        fps: options.fps,
        steps_per_frame: options.steps_per_frame,
        from_recording: options.from_recording,
    })
    .insert_resource(Film {
        spec,
        output: output.clone(),
        takes: Takes::default(),
        options,
    })
    .add_plugins(FilmCursorPlugin)
    .add_systems(Startup, spawn_cameras)
    .add_systems(Update, place_camera.in_set(AppSystems::Visualize))
    .add_systems(Last, drive);
    app.run();
    output.report()
}

/// An image the size of a film frame that cameras can render into.
pub(crate) fn render_target((w, h): (u32, u32)) -> Image {
    let mut image = Image::new_uninit(
        Extent3d {
            width: w,
            height: h,
            depth_or_array_layers: 1,
        },
        TextureDimension::D2,
        TextureFormat::Rgba8UnormSrgb,
        RenderAssetUsages::RENDER_WORLD,
    );
    image.texture_descriptor.usage |= TextureUsages::RENDER_ATTACHMENT;
    image
}

fn spawn_cameras(mut commands: Commands, film: Res<Film>) {
    commands.spawn((
        FilmCamera,
        crate::app::camera::lens(),
        RenderTarget::Image(film.output.target.clone().into()),
    ));
    // The overlays (and panels, if asked for) are drawn by egui over the same image.
    commands.spawn((
        crate::app::camera::egui_overlay(),
        RenderTarget::Image(film.output.target.clone().into()),
    ));
}

/// When filming a recording, shows the frame's step.
fn seek_recording(clock: Res<FilmClock>, mut playback: ResMut<Playback>) {
    if clock.from_recording {
        let step = clock.recorded_step();
        if playback.cursor != step || playback.mode != PlayMode::Paused {
            playback.seek(step);
        }
    }
}

/// Places the camera where the scene's path says (a slow orbit by default).
///
/// In the dashboard, the camera films only the surface of a 2D regression, in
/// the fit's quadrant, orbiting slowly; without a surface it films nothing.
fn place_camera(
    film: Res<Film>,
    clock: Res<FilmClock>,
    view: Res<NetworkView>,
    mut cameras: Query<(&mut Transform, &mut Camera), With<FilmCamera>>,
) {
    let Some(layout) = &view.layout else { return };
    let (w, h) = film.options.size;
    let path = if film.options.dashboard {
        CameraPath::Orbit {
            pose: Pose {
                focus: crate::lab::scene::Focus::Surface,
                yaw: -30.0,
                pitch: 35.0,
                distance: None,
            },
            degrees_per_second: 6.0,
        }
    } else {
        film.options
            .scene
            .view
            .camera
            .clone()
            .unwrap_or(CameraPath::Orbit {
                pose: Pose::default(),
                degrees_per_second: 6.0,
            })
    };
    let blend = path.pose_at(clock.seconds(), film.spec.steps_per_second());
    let aspect = w as f32 / h as f32;
    let (focus, position) = blend_placement(layout, &blend, FOV, aspect);
    let viewport = film.options.dashboard.then(|| bevy::camera::Viewport {
        physical_position: UVec2::ZERO,
        physical_size: UVec2::new((w / 2).max(1), (h / 2).max(1)),
        ..default()
    });
    let active = !film.options.dashboard || layout.surface.is_some();
    for (mut t, mut camera) in &mut cameras {
        *t = Transform::from_translation(position).looking_at(focus, Vec3::Y);
        if camera.is_active != active {
            camera.is_active = active;
        }
        let key = |v: &Option<bevy::camera::Viewport>| {
            v.as_ref().map(|v| (v.physical_position, v.physical_size))
        };
        if key(&camera.viewport) != key(&viewport) {
            camera.viewport = viewport.clone();
        }
    }
}

/// Asks for this update's frame once there is something to film, and ends the
/// capture when every frame has been written.
#[allow(
    clippy::too_many_arguments,
    reason = "a Bevy system takes each resource and query it reads as a parameter"
)]
fn drive(
    mut commands: Commands,
    mut film: ResMut<Film>,
    mut clock: ResMut<FilmClock>,
    notes: Res<TrainerNotes>,
    shown: Res<Shown>,
    history: Res<History>,
    view: Res<NetworkView>,
    applied: Res<AppliedFrame>,
    lockstep: Option<ResMut<Lockstep>>,
    mut exit: MessageWriter<AppExit>,
) {
    // Something to film: the network is built and showing the frame's step.
    let ready = view.layout.is_some()
        && applied.of(&shown).is_some()
        && (!film.options.from_recording || history.reader().is_some());
    // The trainer's frame for this drawn frame must have arrived.
    let delivered = lockstep
        .as_ref()
        .is_none_or(|l| l.delivered == Some(u64::from(clock.frame)));
    let cue = match lockstep.as_ref().and_then(|l| l.failed.clone()) {
        Some(why) => Cue::Failed(why),
        None if !(ready && delivered) => Cue::Waiting(match notes.0.last() {
            Some(m) => format!("nothing to film: {m}"),
            None => "nothing to film: the network never appeared".into(),
        }),
        None => Cue::Ready,
    };
    // A recording shorter than the film ends the film.
    if matches!(cue, Cue::Ready)
        && film.options.from_recording
        && history
            .last_step()
            .is_some_and(|last| clock.recorded_step() > last)
    {
        film.options.frames = film.options.frames.min(clock.frame);
    }
    let film = &mut *film;
    let at = (clock.frame, film.options.frames);
    if film
        .output
        .direct(&mut film.takes, cue, at, &mut commands, &mut exit)
    {
        clock.frame += 1;
        if let Some(mut l) = lockstep {
            l.wanted = u64::from(clock.frame);
        }
    }
}

/// The dashboard's four panels over the whole film.
fn dashboard_film_ui(
    ctx: &egui::Context,
    live: &Live<'_>,
    history: &History,
    shown: &Shown,
    task: &mut TaskView,
) {
    let area = ctx.viewport_rect();
    let recorded_losses = history.batch_losses();
    let input = DashboardInput::new(
        live,
        shown.frame.as_deref(),
        shown.serial,
        recorded_losses.as_deref(),
    );
    let mut root = egui::Ui::new(
        ctx.clone(),
        "dashboard".into(),
        egui::UiBuilder::new()
            .layer_id(egui::LayerId::background())
            .max_rect(area),
    );
    dashboard_ui(&mut root, area, &input, task, &PlotSettings::default());
}

/// Lays out every printable character at every size the overlays use, out of
/// sight, so that the font atlas never grows (and re-uploads) mid-film.
fn warm_font_atlas(ctx: &egui::Context) {
    const SIZES: [f32; 4] = [44.0, 26.0, 20.0, 18.0];
    let text: String = (' '..='~').chain("·→−±∂ΣηθΔ∇²×".chars()).collect();
    let scale = (ctx.viewport_rect().height() / 720.0).max(0.5);
    egui::Area::new("font-warmup".into())
        .fixed_pos(egui::pos2(-100_000.0, -100_000.0))
        .constrain(false)
        .show(ctx, |ui| {
            for size in SIZES {
                let line = |t: &str| {
                    egui::RichText::new(t)
                        .size(size * scale)
                        .color(egui::Color32::TRANSPARENT)
                };
                ui.label(line(&text));
                ui.label(line(&text).strong());
                ui.label(line(&text).monospace());
            }
        });
}

/// The film's own overlays: a title card, captions and a metrics strip.
fn film_overlay_ui(
    mut contexts: EguiContexts,
    film: Res<Film>,
    clock: Res<FilmClock>,
    shown: Res<Shown>,
    live: Live,
    history: Res<History>,
    mut task: Local<TaskView>,
) -> Result {
    let ctx = contexts.ctx_mut()?.clone();
    warm_font_atlas(&ctx);
    task.every_frame = true;
    let t = clock.seconds();
    if film.options.dashboard {
        dashboard_film_ui(&ctx, &live, &history, &shown, &mut task);
    }
    let scene = &film.options.scene;
    let screen = ctx.viewport_rect();
    let scale = (screen.height() / 720.0).max(0.5);
    if film.options.title && film.spec.title && t < film.spec.title_seconds {
        // Fade out over the last second.
        let alpha = ((film.spec.title_seconds - t).clamp(0.0, 1.0) * 255.0) as u8;
        egui::Area::new("title".into())
            .fixed_pos(egui::pos2(
                screen.left() + 48.0 * scale,
                screen.bottom() - 200.0 * scale,
            ))
            .show(&ctx, |ui| {
                ui.label(
                    egui::RichText::new(scene.display_title())
                        .size(44.0 * scale)
                        .strong()
                        .color(egui::Color32::from_white_alpha(alpha)),
                );
                if !scene.description.is_empty() {
                    ui.set_max_width(screen.width() * 0.6);
                    ui.label(
                        egui::RichText::new(&scene.description)
                            .size(20.0 * scale)
                            .color(egui::Color32::from_white_alpha(alpha / 4 * 3)),
                    );
                }
            });
    }
    if film.options.captions {
        let captions: Vec<&str> = film.spec.captions_at(t).map(|c| c.text.as_str()).collect();
        if !captions.is_empty() {
            egui::Area::new("captions".into())
                .anchor(egui::Align2::CENTER_BOTTOM, egui::vec2(0.0, -70.0 * scale))
                .show(&ctx, |ui| {
                    for text in captions {
                        egui::Frame::new()
                            .fill(egui::Color32::from_black_alpha(150))
                            .corner_radius(6.0)
                            .inner_margin(10.0 * scale)
                            .show(ui, |ui| {
                                ui.label(
                                    egui::RichText::new(text)
                                        .size(26.0 * scale)
                                        .color(egui::Color32::WHITE),
                                );
                            });
                    }
                });
        }
    }
    if film.options.metrics
        && film.spec.metrics
        && !film.options.dashboard
        && let Some(frame) = &shown.frame
    {
        let mut text = format!(
            "step {}   loss {}",
            frame.step,
            crate::lab::format_value(frame.metrics.batch_loss, Some(4))
        );
        if let Some(a) = frame.evaluation.and_then(|e| e.test_accuracy) {
            text.push_str(&format!("   test accuracy {:.1}%", a * 100.0));
        }
        if let Some(g) = frame.evaluation.and_then(|e| e.generalization_error) {
            text.push_str(&format!("   outside the training range {g:.4}"));
        }
        egui::Area::new("metrics".into())
            .anchor(
                egui::Align2::RIGHT_TOP,
                egui::vec2(-24.0 * scale, 20.0 * scale),
            )
            .show(&ctx, |ui| {
                ui.add(
                    egui::Label::new(
                        egui::RichText::new(text)
                            .size(18.0 * scale)
                            .monospace()
                            .color(egui::Color32::from_rgb(200, 215, 230)),
                    )
                    .extend(),
                );
            });
    }
    Ok(())
}
