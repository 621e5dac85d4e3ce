//! The Bevy instrument: plugins that turn frames into entities, light and UI. No tensors here.

mod beside;
mod bridge;
mod camera;
mod compare;
mod drawing;
mod error;
mod exports;
mod film;
mod film_sink;
mod histograms;
mod history;
mod layout;
mod lesson;
mod messages;
mod network;
mod neuron_maps;
mod particles;
mod quads;
mod renderer;
mod scene_file;
mod script;
mod snapshots;
mod surface;
mod ui;
mod visual;
#[cfg(target_arch = "wasm32")]
mod web;

pub use compare::{CompareFilm, CompareOptions, CompareTab, film_compare, run_compare};
pub use error::{AppError, AppResult};
pub use film::{FilmRequest, FilmSource, check_fps, check_size, film_output};
pub use film_sink::FilmSink;
pub use network::NeuronId;
#[cfg(target_arch = "wasm32")]
pub use web::run_web;

use std::path::PathBuf;

use bevy::prelude::*;

use crate::lab::TrainerHandle;
use crate::lab::scene::{Preset, Presets};

/// The order of the app's per-frame work, in one place.
///
/// Each feature is a plugin that puts its systems in one of these sets, run in
/// this order in `Update`:
/// 0. `Script`: input played by a script (`--click-neuron`), as if by the user;
/// 1. `Input`: hotkeys, picking, keeping the camera and egui from fighting
///    over the pointer, and deciding the renderer's tier once it is known;
/// 2. `Ingest`: send UI commands, then drain the trainer's channel under a
///    time budget (never blocks);
/// 3. `History`: keep the history within reach (the recording, recent frames);
/// 4. `Seek`: move the VCR cursor from outside (a film of a recording);
/// 5. `Playback`: move the cursor while playing and pick the frame to show
///    (the newest when following live); the lesson reacts to what arrived;
/// 6. `Probe`: a drawn input, if any, takes the probe sample's place in the
///    shown frame;
/// 7. `Apply`: respawn entities when the network's shape changed, then write
///    the shown frame into `Neuron`/`Synapse` components; a software
///    renderer's cheaper settings take effect;
/// 8. `Visualize`: map components to glow, lines and particles, and place a
///    film's camera;
/// 9. `Upload`: write what is drawn into the GPU buffers (one write per batch)
///    and images (the neuron cards, painted from the maps of `Visualize`).
///
/// The egui overlay runs afterwards, in bevy_egui's `EguiPrimaryContextPass`.
/// Then, in `Last`, once the frame is complete:
/// 10. `Snapshot`: screenshots and recordings of the window;
/// 11. `Export`: files written from the run's data.
#[derive(SystemSet, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AppSystems {
    /// Scripted input, for tests and scripts.
    Script,
    /// Keyboard, mouse and camera gating.
    Input,
    /// Trainer commands out, events in.
    Ingest,
    /// The recording and recent frames.
    History,
    /// The VCR cursor, moved from outside.
    Seek,
    /// Playing, and the frame to show.
    Playback,
    /// A drawing in place of the probe sample.
    Probe,
    /// Frame data into components.
    Apply,
    /// Components into what is drawn.
    Visualize,
    /// What is drawn into GPU buffers.
    Upload,
    /// Screenshots and recordings of the window (in `Last`).
    Snapshot,
    /// Exports of metrics and frames (in `Last`).
    Export,
}

/// Orders the [`AppSystems`] sets in `Update`.
pub struct AppSystemsPlugin;

impl Plugin for AppSystemsPlugin {
    fn build(&self, app: &mut App) {
        app.configure_sets(
            Update,
            (
                AppSystems::Script,
                AppSystems::Input,
                AppSystems::Ingest,
                AppSystems::History,
                AppSystems::Seek,
                AppSystems::Playback,
                AppSystems::Probe,
                AppSystems::Apply,
                AppSystems::Visualize,
                AppSystems::Upload,
            )
                .chain(),
        )
        .configure_sets(Last, (AppSystems::Snapshot, AppSystems::Export).chain());
    }
}

/// How `nnm view` runs.
#[derive(Debug, Clone)]
pub struct ViewOptions {
    /// Window title.
    pub title: String,
    /// Render this many frames, then exit.
    pub frames: Option<u32>,
    /// Save a PNG of the window (overlay included) at the last frame.
    pub screenshot: Option<PathBuf>,
    /// Print frame-time statistics at exit.
    pub bench: bool,
    /// Window size in logical pixels.
    pub window: (u32, u32),
    /// A neuron to select at start: (layer, index).
    pub select: Option<NeuronId>,
    /// A neuron to click, as the user would, near the last frame: (layer, index).
    pub click: Option<NeuronId>,
    /// A neuron layer to frame with the camera before the last frame.
    pub frame_layer: Option<usize>,
    /// Open in the dashboard layout.
    pub dashboard: bool,
    /// Start playing the history from its first step at this speed.
    pub play: Option<f32>,
    /// The scene the run was started from (followed for hot reload when it is
    /// a file), the presets the picker lists, and a seed given on the command line.
    pub scene: Option<(Preset, Presets, Option<u64>)>,
}

/// The instrument without window, renderer or UI: frames in, components and
/// what to draw out. Tests and benchmarks run it on `MinimalPlugins`.
pub struct CorePlugins;

impl PluginGroup for CorePlugins {
    fn build(self) -> bevy::app::PluginGroupBuilder {
        bevy::app::PluginGroupBuilder::start::<Self>()
            .add(AppSystemsPlugin)
            .add(messages::MessagesPlugin)
            .add(renderer::RendererTierPlugin)
            .add(bridge::BridgePlugin)
            .add(history::HistoryPlugin)
            .add(network::NetworkPlugin)
            .add(visual::VisualPlugin)
            .add(particles::ParticlesPlugin)
            .add(neuron_maps::NeuronMapsPlugin)
            .add(histograms::HistogramsPlugin)
            .add(drawing::DrawingPlugin)
    }
}

/// The instrument's data plugins on `MinimalPlugins`, linked to `trainer`,
/// with time advancing 16 ms an update: what tests and benchmarks drive.
pub fn data_app(trainer: TrainerHandle) -> App {
    let mut app = App::new();
    app.add_plugins(MinimalPlugins)
        .add_plugins(CorePlugins)
        .insert_resource(bridge::TrainerLink::new(trainer))
        .insert_resource(bevy::time::TimeUpdateStrategy::ManualDuration(
            std::time::Duration::from_millis(16),
        ));
    app
}

/// Everything the live app adds on top of `DefaultPlugins`.
pub struct MicroscopePlugins;

impl PluginGroup for MicroscopePlugins {
    fn build(self) -> bevy::app::PluginGroupBuilder {
        bevy::app::PluginGroupBuilder::start::<Self>()
            .add_group(CorePlugins)
            .add(quads::QuadsPlugin)
            .add(surface::SurfacePlugin)
            .add(neuron_maps::NeuronCardsPlugin)
            .add(camera::CameraPlugin)
            .add(snapshots::SnapshotsPlugin)
            .add(exports::ExportsPlugin)
            .add(lesson::LessonPlugin)
            .add(ui::UiPlugin)
    }
}

/// Checks that the app can open a window here: a display, and a GPU adapter.
pub fn check_can_open_window() -> AppResult<String> {
    let set = |k: &str| std::env::var_os(k).is_some_and(|v| !v.is_empty());
    if !set("DISPLAY") {
        return Err(AppError::NoDisplay);
    }
    check_gpu()
}

/// The GPU adapter rendering would use, in words, or why there is none.
pub fn check_gpu() -> AppResult<String> {
    let instance =
        wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
    match bevy::tasks::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions::default())) {
        Ok(adapter) => {
            let info = adapter.get_info();
            Ok(format!("{} ({:?})", info.name, info.backend))
        }
        Err(_) => Err(AppError::NoGpu),
    }
}

/// Bevy's default plugins with the window `options` ask for, quiet logs, and egui.
pub fn window_plugins(options: &ViewOptions) -> bevy::app::PluginGroupBuilder {
    DefaultPlugins
        .set(WindowPlugin {
            primary_window: Some(Window {
                title: options.title.clone(),
                resolution: bevy::window::WindowResolution::new(options.window.0, options.window.1),
                // In a page, the app draws into the page's canvas, at its size.
                #[cfg(target_arch = "wasm32")]
                canvas: Some(web::CANVAS.into()),
                #[cfg(target_arch = "wasm32")]
                fit_canvas_to_parent: true,
                ..default()
            }),
            ..default()
        })
        .set(bevy::log::LogPlugin {
            filter: "warn,wgpu=error,naga=error".into(),
            ..default()
        })
        .add(bevy_egui::EguiPlugin::default())
}

/// Opens the window and runs the instrument on a live trainer until it is closed
/// (or `options.frames` have been drawn).
pub fn run_view(trainer: TrainerHandle, options: ViewOptions) -> AppExit {
    run_view_with(trainer, options, |_| {})
}

/// [`run_view`], with `more` added to the app before it runs.
fn run_view_with(
    trainer: TrainerHandle,
    options: ViewOptions,
    more: impl FnOnce(&mut App),
) -> AppExit {
    let mut app = App::new();
    if let Some((preset, presets, seed)) = &options.scene {
        let folder = preset.path().map(|file| {
            file.parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(std::path::Path::new("."))
        });
        scene_file::register_scene_sources(&mut app, folder, presets.dir.as_deref());
        app.insert_resource(scene_file::SceneFile::open(preset, presets.clone(), *seed));
    }
    app.add_plugins(window_plugins(&options))
        .add_plugins(bevy_panorbit_camera::PanOrbitCameraPlugin)
        .add_plugins(MicroscopePlugins)
        .insert_resource(bridge::TrainerLink::new(trainer))
        .insert_resource(ClearColor(Color::srgb(0.01, 0.012, 0.02)))
        .insert_resource(network::Selection {
            neuron: options.select,
        });

    if options.scene.is_some() {
        app.add_plugins(scene_file::SceneFilePlugin);
    }
    if let Some(speed) = options.play {
        app.insert_resource(history::StartPlaying(speed));
    }
    if options.dashboard {
        app.insert_resource(ui::UiState {
            layout: ui::UiLayout::Dashboard,
            ..default()
        });
    }
    script::add_automation(&mut app, &options);
    more(&mut app);
    app.run()
}

#[cfg(test)]
mod tests;
