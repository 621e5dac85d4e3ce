//! Exhibition captures: off-screen, frame-exact films of a training run or a
//! recorded one, with camera paths and film overlays.
//!
//! No window is opened: the camera renders into an image, each frame is read
//! back and handed to a [`FrameSink`](crate::app::film_sink::FrameSink). Time
//! advances by exactly one frame per update and the trainer runs in lockstep,
//! so the film does not depend on the machine's speed.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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

use crate::app::bridge::{Live, Lockstep, TrainerLink};
use crate::app::film_sink::FrameSink;
use crate::app::history::{History, Playback, Shown};
use crate::app::layout::blend_placement;
use crate::app::network::NetworkView;
use crate::app::{AppSystems, CorePlugins, assets_dir, quads, ui};
use crate::lab::film::{CameraPath, FilmSpec, Pose};
use crate::lab::{Scene, TrainerHandle};

/// Vertical field of view of the film camera, radians.
const FOV: f32 = std::f32::consts::FRAC_PI_4;
/// Longest wait for the trainer's frame before the capture gives up.
const LOCKSTEP_TIMEOUT: Duration = Duration::from_secs(120);
/// Updates allowed before the first frame (loading, a replay opening its recording).
const WARMUP_LIMIT: u32 = 2_000;
/// Updates drawn, unfilmed, once everything is ready: uploads and the font
/// atlas settle before the first frame.
const SETTLE_UPDATES: u32 = 4;

/// What to film and how.
#[derive(Clone)]
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
}

/// What a capture did.
#[derive(Debug, Clone)]
pub struct CaptureReport {
    /// Frames written.
    pub frames: u32,
    /// Wall-clock seconds per frame, from the first frame to the last.
    pub seconds_per_frame: f64,
}

/// The film being made: settings, progress and the sink frames go to.
#[derive(Resource)]
struct Film {
    options: CaptureOptions,
    spec: FilmSpec,
    target: Handle<Image>,
    sink: Arc<Mutex<FrameSink>>,
    /// Frames requested so far (a screenshot spawned).
    requested: u32,
    /// Updates spent before the first frame.
    warmup: u32,
    /// Updates in a row with everything ready.
    settled: u32,
    /// Shared with the caller, since running the app consumes it.
    outcome: Arc<Mutex<Outcome>>,
}

/// How the capture went, read after the app has run.
#[derive(Default)]
struct Outcome {
    started: Option<Instant>,
    error: Option<String>,
}

impl Film {
    fn fail(&self, why: String) {
        if let Ok(mut o) = self.outcome.lock() {
            o.error.get_or_insert(why);
        }
    }
}

/// Marks the film's 3D camera.
#[derive(Component)]
struct FilmCamera;

/// Films `source` (a trainer, or a replay of a recorded run) into `sink`.
pub fn run_capture(
    source: TrainerHandle,
    options: CaptureOptions,
    sink: FrameSink,
) -> Result<CaptureReport, String> {
    let mut spec = options.scene.view.film.clone();
    spec.fps = options.fps;
    spec.steps_per_frame = options.steps_per_frame;
    let sink = Arc::new(Mutex::new(sink));
    let outcome = Arc::new(Mutex::new(Outcome::default()));
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
            .set(AssetPlugin {
                file_path: assets_dir().to_string_lossy().into_owned(),
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
    .add_plugins(CorePlugins)
    .add_plugins(quads::QuadsPlugin)
    .insert_resource(TrainerLink::new(source))
    .insert_resource(ClearColor(Color::srgb(0.01, 0.012, 0.02)))
    .insert_resource(TimeUpdateStrategy::ManualDuration(Duration::from_secs_f64(
        1.0 / f64::from(options.fps),
    )));
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
    } else {
        app.add_systems(EguiPrimaryContextPass, film_overlay_ui);
    }
    let target = app
        .world_mut()
        .resource_mut::<Assets<Image>>()
        .add(render_target(options.size));
    app.insert_resource(Film {
        spec,
        target,
        sink: sink.clone(),
        requested: 0,
        warmup: 0,
        settled: 0,
        outcome: outcome.clone(),
        options,
    })
    .add_systems(Startup, spawn_cameras)
    .add_systems(
        Update,
        (seek_recording, place_camera)
            .chain()
            .in_set(AppSystems::Playback),
    )
    .add_systems(Last, drive);
    app.run();
    let mut sink = sink
        .lock()
        .map_err(|_| "the frame writer failed".to_string())?;
    let outcome = outcome
        .lock()
        .map_err(|_| "the capture failed".to_string())?;
    if let Some(e) = &outcome.error {
        return Err(e.clone());
    }
    let frames = sink.written();
    sink.finish()?;
    let elapsed = outcome.started.map_or(0.0, |t| t.elapsed().as_secs_f64());
    Ok(CaptureReport {
        frames,
        seconds_per_frame: elapsed / f64::from(frames.max(1)),
    })
}

fn render_target((w, h): (u32, u32)) -> Image {
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
        RenderTarget::Image(film.target.clone().into()),
    ));
    // The overlays (and panels, if asked for) are drawn by egui over the same image.
    commands.spawn((
        crate::app::camera::egui_overlay(),
        RenderTarget::Image(film.target.clone().into()),
    ));
}

/// Seconds of film at the frame being drawn.
fn film_seconds(film: &Film) -> f32 {
    film.requested as f32 / film.spec.fps
}

/// When filming a recording, shows the frame's step.
fn seek_recording(film: Res<Film>, mut playback: ResMut<Playback>) {
    if film.options.from_recording {
        let step = u64::from(film.requested) * u64::from(film.options.steps_per_frame);
        if playback.cursor != step || playback.mode != crate::app::history::PlayMode::Paused {
            playback.seek(step);
        }
    }
}

/// Places the camera where the scene's path says (a slow orbit by default).
fn place_camera(
    film: Res<Film>,
    view: Res<NetworkView>,
    mut cameras: Query<&mut Transform, With<FilmCamera>>,
) {
    let Some(layout) = &view.layout else { return };
    let path = film
        .options
        .scene
        .view
        .camera
        .clone()
        .unwrap_or(CameraPath::Orbit {
            pose: Pose::default(),
            degrees_per_second: 6.0,
        });
    let blend = path.pose_at(film_seconds(&film), film.spec.steps_per_second());
    let aspect = film.options.size.0 as f32 / film.options.size.1 as f32;
    let (focus, position) = blend_placement(layout, &blend, FOV, aspect);
    for mut t in &mut cameras {
        *t = Transform::from_translation(position).looking_at(focus, Vec3::Y);
    }
}

/// Asks for this update's frame once there is something to film, and ends the
/// capture when every frame has been written.
#[allow(clippy::too_many_arguments)]
fn drive(
    mut commands: Commands,
    mut film: ResMut<Film>,
    live: Res<Live>,
    shown: Res<Shown>,
    history: Res<History>,
    view: Res<NetworkView>,
    lockstep: Option<ResMut<Lockstep>>,
    mut exit: MessageWriter<AppExit>,
) {
    if let Some(why) = lockstep.as_ref().and_then(|l| l.failed.clone()) {
        film.fail(why);
        exit.write(AppExit::error());
        return;
    }
    let sink_error = film.sink.lock().ok().and_then(|s| s.error());
    if let Some(e) = sink_error {
        film.fail(e);
        exit.write(AppExit::error());
        return;
    }
    let written = film.sink.lock().map_or(0, |s| s.written());
    let total = film.options.frames;
    if written >= total {
        exit.write(AppExit::Success);
        return;
    }
    if film.requested >= total {
        return;
    }
    // Something to film: the network is built and showing the frame's step.
    let ready = view.layout.is_some()
        && view.applied_frame == shown.serial
        && shown.frame.is_some()
        && (!film.options.from_recording || history.reader().is_some());
    // The trainer's frame for this drawn frame must have arrived.
    let delivered = lockstep
        .as_ref()
        .is_none_or(|l| l.delivered == Some(u64::from(film.requested)));
    if ready && delivered && film.requested == 0 && film.settled < SETTLE_UPDATES {
        film.settled += 1;
        return;
    }
    if !(ready && delivered) {
        film.warmup += 1;
        if film.warmup > WARMUP_LIMIT {
            film.fail(match live.messages.last() {
                Some(m) => format!("nothing to film: {m}"),
                None => "nothing to film: the network never appeared".into(),
            });
            exit.write(AppExit::error());
        }
        return;
    }
    if film.options.from_recording
        && let Some(last) = history.last_step()
    {
        // A recording shorter than the film ends the film.
        let step = u64::from(film.requested) * u64::from(film.options.steps_per_frame);
        if step > last {
            film.options.frames = film.requested;
            return;
        }
    }
    if let Ok(mut o) = film.outcome.lock() {
        o.started.get_or_insert_with(Instant::now);
    }
    let index = film.requested;
    let sink = film.sink.clone();
    commands
        .spawn(Screenshot::image(film.target.clone()))
        .observe(move |captured: On<ScreenshotCaptured>| {
            if let Ok(mut s) = sink.lock() {
                s.accept(index, &captured.image);
            }
        });
    film.requested += 1;
    if let Some(mut l) = lockstep {
        l.wanted = u64::from(film.requested);
    }
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
fn film_overlay_ui(mut contexts: EguiContexts, film: Res<Film>, shown: Res<Shown>) -> Result {
    let ctx = contexts.ctx_mut()?.clone();
    warm_font_atlas(&ctx);
    let t = film_seconds(&film);
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
                let title = if scene.title.is_empty() {
                    &scene.name
                } else {
                    &scene.title
                };
                ui.label(
                    egui::RichText::new(title)
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
        && let Some(frame) = &shown.frame
    {
        let m = &frame.metrics;
        let mut text = format!("step {}   loss {:.4}", frame.step, m.batch_loss);
        if let Some(a) = m.test_accuracy {
            text.push_str(&format!("   test accuracy {:.1}%", a * 100.0));
        }
        if let Some(g) = m.generalization_error {
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
