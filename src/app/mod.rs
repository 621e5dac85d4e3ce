//! The Bevy instrument: plugins that turn frames into entities, light and UI. No tensors here.

pub mod bridge;
pub mod camera;
pub mod capture;
pub mod drawing;
pub mod film;
pub mod film_sink;
pub mod history;
pub mod layout;
pub mod lesson;
pub mod network;
pub mod particles;
pub mod quads;
pub mod scene_file;
pub mod snapshots;
pub mod ui;
pub mod visual;

use std::path::PathBuf;

use bevy::prelude::*;

use crate::lab::TrainerHandle;

/// The order of the app's per-frame work, in one place.
///
/// Each feature is a plugin that puts its systems in one of these sets, run in
/// this order in `Update`:
/// 1. `Input`: hotkeys, picking, and keeping the camera and egui from
///    fighting over the pointer;
/// 2. `Ingest`: send UI commands, then drain the trainer's channel under a
///    time budget (never blocks);
/// 3. `Playback`: keep the history and move the VCR cursor, which picks the
///    frame to show (the newest when following live);
/// 4. `Probe`: a drawn input, if any, takes the probe sample's place in the
///    shown frame;
/// 5. `Apply`: respawn entities when the network's shape changed, then write
///    the shown frame into `Neuron`/`Synapse` components;
/// 6. `Visualize`: map components to glow, lines and particles;
/// 7. `Upload`: write what is drawn into the GPU buffers (one write per batch).
///
/// The egui overlay runs afterwards, in bevy_egui's `EguiPrimaryContextPass`.
#[derive(SystemSet, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AppSystems {
    /// Keyboard, mouse and camera gating.
    Input,
    /// Trainer commands out, events in.
    Ingest,
    /// History and the VCR cursor.
    Playback,
    /// A drawing in place of the probe sample.
    Probe,
    /// Frame data into components.
    Apply,
    /// Components into what is drawn.
    Visualize,
    /// What is drawn into GPU buffers.
    Upload,
}

/// Orders the [`AppSystems`] sets in `Update`.
pub struct AppSystemsPlugin;

impl Plugin for AppSystemsPlugin {
    fn build(&self, app: &mut App) {
        app.configure_sets(
            Update,
            (
                AppSystems::Input,
                AppSystems::Ingest,
                AppSystems::Playback,
                AppSystems::Probe,
                AppSystems::Apply,
                AppSystems::Visualize,
                AppSystems::Upload,
            )
                .chain(),
        );
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
    pub select: Option<(usize, usize)>,
    /// Start playing the history from its first step at this speed.
    pub play: Option<f32>,
    /// The scene file to follow (hot reload) and the presets folder the picker lists,
    /// with a seed given on the command line.
    pub scene_file: Option<(PathBuf, PathBuf, Option<u64>)>,
}

/// The instrument without window, renderer or UI: frames in, components and
/// what to draw out. Tests and benchmarks run it on `MinimalPlugins`.
pub struct CorePlugins;

impl PluginGroup for CorePlugins {
    fn build(self) -> bevy::app::PluginGroupBuilder {
        bevy::app::PluginGroupBuilder::start::<Self>()
            .add(AppSystemsPlugin)
            .add(bridge::BridgePlugin)
            .add(history::HistoryPlugin)
            .add(network::NetworkPlugin)
            .add(visual::VisualPlugin)
            .add(particles::ParticlesPlugin)
            .add(drawing::DrawingPlugin)
    }
}

/// Everything the live app adds on top of `DefaultPlugins`.
pub struct MicroscopePlugins;

impl PluginGroup for MicroscopePlugins {
    fn build(self) -> bevy::app::PluginGroupBuilder {
        bevy::app::PluginGroupBuilder::start::<Self>()
            .add_group(CorePlugins)
            .add(quads::QuadsPlugin)
            .add(camera::CameraPlugin)
            .add(snapshots::SnapshotsPlugin)
            .add(lesson::LessonPlugin)
            .add(ui::UiPlugin)
    }
}

/// The `assets` folder: the working directory's, else the one beside the sources.
pub fn assets_dir() -> PathBuf {
    let local = std::env::current_dir()
        .map(|d| d.join("assets"))
        .unwrap_or_default();
    if local.is_dir() {
        local
    } else {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets")
    }
}

/// Why the app cannot open a window here, if it cannot: no display, or no GPU adapter.
pub fn check_can_open_window() -> Result<String, String> {
    let set = |k: &str| std::env::var_os(k).is_some_and(|v| !v.is_empty());
    if !set("DISPLAY") {
        return Err(
            "no display: `nnm view` opens a window and needs an X11 display \
             (DISPLAY is not set; on a server, run it under `xvfb-run`)"
                .into(),
        );
    }
    check_gpu()
}

/// The GPU adapter rendering would use, or why there is none.
pub fn check_gpu() -> Result<String, String> {
    let instance =
        wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
    match bevy::tasks::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions::default())) {
        Ok(adapter) => {
            let info = adapter.get_info();
            Ok(format!("{} ({:?})", info.name, info.backend))
        }
        Err(_) => Err("no GPU adapter: the app needs a Vulkan or OpenGL driver \
             (without a GPU, install Mesa's software driver: `apt-get install mesa-vulkan-drivers`)"
            .into()),
    }
}

/// Opens the window and runs the instrument on a live trainer until it is closed
/// (or `options.frames` have been drawn).
pub fn run_view(trainer: TrainerHandle, options: ViewOptions) -> AppExit {
    let mut app = App::new();
    if let Some((file, presets, seed)) = &options.scene_file {
        let folder = file
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(std::path::Path::new("."));
        scene_file::register_scene_sources(&mut app, folder, presets);
        app.insert_resource(scene_file::SceneFile::open(file, presets, *seed));
    }
    app.add_plugins(
        DefaultPlugins
            .set(WindowPlugin {
                primary_window: Some(Window {
                    title: options.title.clone(),
                    resolution: bevy::window::WindowResolution::new(
                        options.window.0,
                        options.window.1,
                    ),
                    ..default()
                }),
                ..default()
            })
            .set(AssetPlugin {
                file_path: assets_dir().to_string_lossy().into_owned(),
                ..default()
            })
            .set(bevy::log::LogPlugin {
                filter: "warn,wgpu=error,naga=error".into(),
                ..default()
            }),
    )
    .add_plugins(bevy_egui::EguiPlugin::default())
    .add_plugins(bevy_panorbit_camera::PanOrbitCameraPlugin)
    .add_plugins(MicroscopePlugins)
    .insert_resource(bridge::TrainerLink::new(trainer))
    .insert_resource(ClearColor(Color::srgb(0.01, 0.012, 0.02)))
    .insert_resource(network::Selection {
        neuron: options.select,
    });

    if options.scene_file.is_some() {
        app.add_plugins(scene_file::SceneFilePlugin);
    }
    if let Some(speed) = options.play {
        app.insert_resource(history::StartPlaying(speed));
    }
    capture::add_automation(&mut app, &options);
    app.run()
}

#[cfg(test)]
mod tests;
