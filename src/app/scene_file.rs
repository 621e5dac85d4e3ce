//! Scenes as Bevy assets: a RON loader, hot reload of the open scene file, and the scene picker.
//!
//! The open file is watched by polling its modification time (cheap, and it
//! works on every file system, without Bevy's `file_watcher` feature). An
//! edit reloads it through the asset server: a change to the view or lesson
//! applies at once, a change to anything that shapes training restarts it, and
//! a broken edit keeps the last good scene running and shows the error.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use bevy::asset::io::file::FileAssetReader;
use bevy::asset::io::{AssetSourceBuilder, Reader};
use bevy::asset::{AssetLoadFailedEvent, AssetLoader, LoadContext};
use bevy::prelude::*;

use crate::app::AppSystems;
use crate::app::bridge::{Live, SendCommand};
use crate::app::snapshots::Notice;
use crate::lab::{LabError, Scene, TrainerCommand};

/// The asset source of the open scene file's folder.
pub const OPENED_SOURCE: &str = "scene-file";
/// The asset source of the presets folder (`scenes/`), for the picker.
pub const PRESETS_SOURCE: &str = "presets";
/// How often the open file is checked for changes.
const POLL_EVERY: Duration = Duration::from_millis(250);

/// A scene file, loaded and validated.
#[derive(Asset, TypePath, Debug, Clone)]
pub struct SceneAsset(pub Scene);

/// Reads scene files; errors name the real file, line, column and field.
#[derive(TypePath)]
pub struct SceneLoader {
    roots: Vec<(String, PathBuf)>,
    /// The newest error, in our words (the asset server wraps errors in its own).
    last_error: Arc<Mutex<Option<String>>>,
}

impl AssetLoader for SceneLoader {
    type Asset = SceneAsset;
    type Settings = ();
    type Error = LabError;

    async fn load(
        &self,
        reader: &mut dyn Reader,
        _settings: &(),
        load_context: &mut LoadContext<'_>,
    ) -> Result<SceneAsset, LabError> {
        let asset_path = load_context.path().clone();
        let source = asset_path.source().as_str().unwrap_or_default().to_string();
        let file = self
            .roots
            .iter()
            .find(|(name, _)| *name == source)
            .map_or_else(
                || asset_path.path().to_path_buf(),
                |(_, root)| root.join(asset_path.path()),
            );
        let mut bytes = Vec::new();
        let result = match reader.read_to_end(&mut bytes).await {
            Ok(_) => match String::from_utf8(bytes) {
                Ok(text) => Scene::parse(&text, &file),
                Err(_) => Err(LabError::scene_file(&file, "is not UTF-8 text")),
            },
            Err(e) => Err(LabError::scene_file(&file, format!("cannot read: {e}"))),
        };
        if let (Err(e), Ok(mut slot)) = (&result, self.last_error.lock()) {
            *slot = Some(e.to_string());
        }
        result.map(SceneAsset)
    }

    fn extensions(&self) -> &[&str] {
        &["ron"]
    }
}

/// Registers the asset sources for the open scene's folder and the presets.
/// Must run before `AssetPlugin` is added.
pub fn register_scene_sources(app: &mut App, opened_dir: &Path, presets_dir: &Path) {
    let mut roots = Vec::new();
    for (name, dir) in [(OPENED_SOURCE, opened_dir), (PRESETS_SOURCE, presets_dir)] {
        let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
        roots.push((name.to_string(), dir.clone()));
        app.register_asset_source(
            name,
            AssetSourceBuilder::new(move || Box::new(FileAssetReader::new(dir.clone()))),
        );
    }
    app.insert_resource(SceneRoots(roots));
}

/// The folders behind the scene asset sources, so that errors name real files.
#[derive(Resource, Debug, Clone, Default)]
pub struct SceneRoots(Vec<(String, PathBuf)>);

/// The scene file the app follows.
#[derive(Resource, Debug, Default)]
pub struct SceneFile {
    /// The file on disk.
    pub path: Option<PathBuf>,
    /// The folder the picker lists.
    pub presets_dir: PathBuf,
    /// The file's last good content.
    pub loaded: Option<Scene>,
    /// The error of the last edit, if it was broken.
    pub error: Option<String>,
    /// A seed given on the command line, kept while the file's own seed is unchanged.
    pub seed_override: Option<u64>,
    handle: Option<Handle<SceneAsset>>,
    modified: Option<SystemTime>,
    checked_at: Option<Instant>,
    /// True while a newly picked file loads: it replaces the run whatever it holds.
    switching: bool,
}

impl SceneFile {
    /// Follows `path`, which the run in progress was started from.
    pub fn open(path: &Path, presets_dir: &Path, seed_override: Option<u64>) -> Self {
        SceneFile {
            path: Some(path.to_path_buf()),
            presets_dir: presets_dir.to_path_buf(),
            seed_override,
            ..Default::default()
        }
    }

    /// The `.ron` files of the presets folder, sorted.
    pub fn presets(&self) -> Vec<PathBuf> {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(&self.presets_dir)
            .map(|dir| {
                dir.filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|e| e == "ron"))
                    .collect()
            })
            .unwrap_or_default();
        paths.sort();
        paths
    }
}

/// Asks to switch to another scene file of the presets folder.
#[derive(Message, Debug, Clone, PartialEq, Eq)]
pub struct PickScene(pub PathBuf);

/// Loads, watches and applies the open scene file.
pub struct SceneFilePlugin;

impl Plugin for SceneFilePlugin {
    fn build(&self, app: &mut App) {
        let roots = app
            .world()
            .get_resource::<SceneRoots>()
            .map(|r| r.0.clone())
            .unwrap_or_default();
        let last_error = Arc::new(Mutex::new(None));
        app.init_resource::<SceneFile>()
            .init_asset::<SceneAsset>()
            .register_asset_loader(SceneLoader {
                roots,
                last_error: last_error.clone(),
            })
            .insert_resource(LoaderErrors(last_error))
            .add_message::<PickScene>()
            .add_message::<Notice>()
            .add_message::<SendCommand>()
            .add_systems(
                Update,
                (pick_scene, watch_scene_file, apply_scene_file)
                    .chain()
                    .in_set(AppSystems::Input),
            );
    }
}

#[derive(Resource)]
struct LoaderErrors(Arc<Mutex<Option<String>>>);

fn asset_path_of(file: &SceneFile, path: &Path) -> Option<String> {
    let name = path.file_name()?.to_string_lossy().into_owned();
    let in_presets = path.parent().is_some_and(|dir| {
        std::path::absolute(dir).ok() == std::path::absolute(&file.presets_dir).ok()
    });
    let source = if in_presets {
        PRESETS_SOURCE
    } else {
        OPENED_SOURCE
    };
    Some(format!("{source}://{name}"))
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

fn pick_scene(
    mut picks: MessageReader<PickScene>,
    server: Res<AssetServer>,
    mut file: ResMut<SceneFile>,
) {
    for PickScene(path) in picks.read() {
        let Some(asset_path) = asset_path_of(&file, path) else {
            continue;
        };
        file.handle = Some(server.load(asset_path));
        file.path = Some(path.clone());
        file.modified = modified(path);
        file.loaded = None;
        file.error = None;
        file.seed_override = None;
        file.switching = true;
    }
}

/// Starts loading the file, and reloads it when it changes on disk.
fn watch_scene_file(server: Res<AssetServer>, mut file: ResMut<SceneFile>) {
    let Some(path) = file.path.clone() else {
        return;
    };
    let Some(asset_path) = asset_path_of(&file, &path) else {
        return;
    };
    if file.handle.is_none() {
        file.modified = modified(&path);
        file.handle = Some(server.load(asset_path));
        return;
    }
    if file.checked_at.is_some_and(|t| t.elapsed() < POLL_EVERY) {
        return;
    }
    file.checked_at = Some(Instant::now());
    let now = modified(&path);
    if now.is_some() && now != file.modified {
        file.modified = now;
        server.reload(asset_path);
    }
}

/// True when going from `a` to `b` changes how the network trains.
fn changes_training(a: &Scene, b: &Scene) -> bool {
    a.name != b.name
        || a.seed != b.seed
        || a.data != b.data
        || a.model != b.model
        || a.train != b.train
        || a.record != b.record
}

#[allow(clippy::too_many_arguments)]
fn apply_scene_file(
    mut loaded: MessageReader<AssetEvent<SceneAsset>>,
    mut failed: MessageReader<AssetLoadFailedEvent<SceneAsset>>,
    scenes: Res<Assets<SceneAsset>>,
    errors: Res<LoaderErrors>,
    mut file: ResMut<SceneFile>,
    mut live: ResMut<Live>,
    mut send: MessageWriter<SendCommand>,
    mut notices: MessageWriter<Notice>,
) {
    let Some(id) = file.handle.as_ref().map(Handle::id) else {
        return;
    };
    let shown = file
        .path
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    for event in failed.read() {
        if event.id != id {
            continue;
        }
        let message = errors
            .0
            .lock()
            .ok()
            .and_then(|mut e| e.take())
            .unwrap_or_else(|| event.error.to_string());
        notices.write(Notice(format!(
            "{message} (still running the last good scene)"
        )));
        file.error = Some(message);
    }
    for event in loaded.read() {
        let (AssetEvent::LoadedWithDependencies { id: changed }
        | AssetEvent::Modified { id: changed }) = *event
        else {
            continue;
        };
        if changed != id {
            continue;
        }
        let Some(SceneAsset(new)) = scenes.get(id) else {
            continue;
        };
        let new = new.clone();
        file.error = None;
        let previous = file.loaded.replace(new.clone());
        let mut apply = new.clone();
        if let Some(seed) = file.seed_override {
            if previous.as_ref().is_none_or(|p| p.seed == new.seed) {
                apply.seed = seed;
            } else {
                file.seed_override = None;
            }
        }
        if std::mem::take(&mut file.switching) {
            send.write(SendCommand(TrainerCommand::LoadScene(Box::new(apply))));
            notices.write(Notice(format!("opened {shown}: training restarted")));
            continue;
        }
        // The first load is the file the run started from.
        let Some(previous) = previous else { continue };
        if changes_training(&previous, &new) {
            send.write(SendCommand(TrainerCommand::LoadScene(Box::new(apply))));
            notices.write(Notice(format!(
                "{shown} changed its data, model or training: training restarted"
            )));
        } else if previous != new {
            send.write(SendCommand(TrainerCommand::SetPresentation(Box::new(
                apply.clone(),
            ))));
            if let Some(scene) = live.scene.as_mut() {
                scene.title = apply.title;
                scene.description = apply.description;
                scene.view = apply.view;
                scene.lesson = apply.lesson;
            }
            notices.write(Notice(format!("{shown} changed: view and lesson updated")));
        }
    }
}
