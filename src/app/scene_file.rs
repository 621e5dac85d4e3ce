//! Scenes as Bevy assets: a RON loader, hot reload of the open scene file, and the scene picker.
//!
//! The open file is polled about every quarter second and compared by its
//! contents, not its modification time: file systems with one-second
//! timestamps would hide a quick second save. (Bevy's `file_watcher` is not
//! built in: it brings a watcher crate for one file.) An edit reloads it
//! through the asset server: a change to the presentation applies at once, a
//! change to anything that shapes training restarts it, and a broken edit
//! keeps the last good scene running and shows the error.
//!
//! The picker lists every preset: those built into the binary (which have no
//! file to follow) and the scene files of the presets folder.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::lab::clock::Instant;

use bevy::asset::io::Reader;
use bevy::asset::{AssetLoadFailedEvent, AssetLoader, LoadContext};
use bevy::prelude::*;

use crate::app::AppSystems;
use crate::app::bridge::SceneInForce;
use crate::app::messages::{Notice, PickScene, SendCommand};
use crate::lab::scene::{Preset, Presets};
use crate::lab::{LabError, Scene, TrainerCommand};

/// The asset source of the open scene file's folder.
pub(super) const OPENED_SOURCE: &str = "scene-file";
/// The asset source of the presets folder (`scenes/`), for the picker.
pub(super) const PRESETS_SOURCE: &str = "presets";
/// How often the open file is checked for changes.
const POLL_EVERY: Duration = Duration::from_millis(250);

/// A scene file, loaded and validated.
#[derive(Asset, TypePath, Debug, Clone)]
pub(super) struct SceneAsset(pub Scene);

/// Reads scene files; errors name the real file, line, column and field.
#[derive(TypePath)]
pub(super) struct SceneLoader {
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

/// Registers the asset sources for the open scene's folder and the presets
/// folder, when there are such folders. Must run before `AssetPlugin` is added.
pub(super) fn register_scene_sources(
    app: &mut App,
    opened_dir: Option<&Path>,
    presets_dir: Option<&Path>,
) {
    let mut roots = Vec::new();
    for (name, dir) in [(OPENED_SOURCE, opened_dir), (PRESETS_SOURCE, presets_dir)] {
        let Some(dir) = dir else { continue };
        let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
        roots.push((name.to_string(), dir.clone()));
        // A page has no folders: its scenes are the built-in ones and uploads.
        #[cfg(not(target_arch = "wasm32"))]
        app.register_asset_source(
            name,
            bevy::asset::io::AssetSourceBuilder::new(move || {
                Box::new(bevy::asset::io::file::FileAssetReader::new(dir.clone()))
            }),
        );
    }
    app.insert_resource(SceneRoots(roots));
}

/// The folders behind the scene asset sources, so that errors name real files.
#[derive(Resource, Debug, Clone, Default)]
pub(super) struct SceneRoots(Vec<(String, PathBuf)>);

/// The scene the app follows: its preset, and its file when it has one.
#[derive(Resource, Debug)]
pub(super) struct SceneFile {
    /// The name of the preset shown in the picker.
    pub current: String,
    /// The file on disk that is followed (none for a built-in preset).
    pub path: Option<PathBuf>,
    /// The presets the picker lists.
    pub presets: Presets,
    /// The file's last good content.
    pub loaded: Option<Scene>,
    /// The error of the last edit, if it was broken.
    pub error: Option<String>,
    /// A seed given on the command line, kept while the file's own seed is unchanged.
    pub seed_override: Option<u64>,
    handle: Option<Handle<SceneAsset>>,
    /// The file's bytes as last seen: a change of contents is a change.
    seen: Option<Vec<u8>>,
    checked_at: Option<Instant>,
    /// True while a newly picked file loads: it replaces the run whatever it holds.
    switching: bool,
}

impl SceneFile {
    /// Follows `preset`, which the run in progress was started from.
    pub(super) fn open(preset: &Preset, presets: Presets, seed_override: Option<u64>) -> Self {
        SceneFile {
            current: preset.name.clone(),
            path: preset.path().map(Path::to_path_buf),
            presets,
            loaded: None,
            error: None,
            seed_override,
            handle: None,
            seen: None,
            checked_at: None,
            switching: false,
        }
    }

    /// Every preset the picker offers, sorted by name. When the presets
    /// folder cannot be read, the built-in presets and the reason.
    pub(super) fn choices(&self) -> (Vec<Preset>, Option<String>) {
        match self.presets.list() {
            Ok(list) => (list, None),
            Err(e) => (
                Presets::built_in().list().unwrap_or_default(),
                Some(e.to_string()),
            ),
        }
    }
}

/// Loads, watches and applies the open scene file.
pub(super) struct SceneFilePlugin;

impl Plugin for SceneFilePlugin {
    fn build(&self, app: &mut App) {
        let roots = app
            .world()
            .get_resource::<SceneRoots>()
            .map(|r| r.0.clone())
            .unwrap_or_default();
        let last_error = Arc::new(Mutex::new(None));
        app.init_asset::<SceneAsset>()
            .register_asset_loader(SceneLoader {
                roots,
                last_error: last_error.clone(),
            })
            .insert_resource(LoaderErrors(last_error))
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

/// The asset path of a scene file: in the presets folder's source, or the open file's.
fn asset_path_of(file: &SceneFile, path: &Path) -> Option<String> {
    let name = path.file_name()?.to_string_lossy().into_owned();
    let in_presets = file.presets.dir.as_ref().is_some_and(|dir| {
        path.parent().and_then(|p| std::path::absolute(p).ok()) == std::path::absolute(dir).ok()
    });
    let source = if in_presets {
        PRESETS_SOURCE
    } else {
        OPENED_SOURCE
    };
    Some(format!("{source}://{name}"))
}

fn pick_scene(
    mut picks: MessageReader<PickScene>,
    server: Res<AssetServer>,
    mut file: ResMut<SceneFile>,
    mut send: MessageWriter<SendCommand>,
    mut notices: MessageWriter<Notice>,
) {
    for PickScene(name) in picks.read() {
        let Some(preset) = file.choices().0.into_iter().find(|p| &p.name == name) else {
            notices.write(Notice(format!("no preset called {name}")));
            continue;
        };
        file.current = preset.name.clone();
        file.loaded = None;
        file.error = None;
        file.seed_override = None;
        file.seen = None;
        match preset.path() {
            Some(path) => {
                file.path = Some(path.to_path_buf());
                file.handle = asset_path_of(&file, path).map(|p| server.load(p));
                file.switching = true;
            }
            // A built-in preset has no file to follow: it loads at once.
            None => {
                file.path = None;
                file.handle = None;
                match preset.load() {
                    Ok(scene) => {
                        file.loaded = Some(scene.clone());
                        send.write(SendCommand(TrainerCommand::LoadScene(Box::new(scene))));
                        notices.write(Notice(format!(
                            "opened the built-in preset {name}: training restarted"
                        )));
                    }
                    Err(e) => file.error = Some(e.to_string()),
                }
            }
        }
    }
}

/// Starts loading the file, and reloads it when its contents change on disk.
fn watch_scene_file(server: Res<AssetServer>, mut file: ResMut<SceneFile>) {
    let Some(path) = file.path.clone() else {
        return;
    };
    let Some(asset_path) = asset_path_of(&file, &path) else {
        return;
    };
    if file.handle.is_none() {
        file.seen = std::fs::read(&path).ok();
        file.handle = Some(server.load(asset_path));
        return;
    }
    if file.checked_at.is_some_and(|t| t.elapsed() < POLL_EVERY) {
        return;
    }
    file.checked_at = Some(Instant::now());
    // A file being rewritten may be missing for a moment: wait for it.
    let Ok(now) = std::fs::read(&path) else {
        return;
    };
    if file.seen.as_ref() != Some(&now) {
        file.seen = Some(now);
        server.reload(asset_path);
    }
}

#[allow(
    clippy::too_many_arguments,
    reason = "a Bevy system takes each resource and query it reads as a parameter"
)]
fn apply_scene_file(
    mut loaded: MessageReader<AssetEvent<SceneAsset>>,
    mut failed: MessageReader<AssetLoadFailedEvent<SceneAsset>>,
    scenes: Res<Assets<SceneAsset>>,
    errors: Res<LoaderErrors>,
    mut file: ResMut<SceneFile>,
    mut in_force: ResMut<SceneInForce>,
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
        if previous.changes_training(&new) {
            send.write(SendCommand(TrainerCommand::LoadScene(Box::new(apply))));
            notices.write(Notice(format!(
                "{shown} changed its data, model or training: training restarted"
            )));
        } else if previous != new {
            if let Some(scene) = in_force.0.as_mut() {
                scene.take_presentation(&apply);
            }
            send.write(SendCommand(TrainerCommand::SetPresentation(Box::new(
                apply,
            ))));
            notices.write(Notice(format!("{shown} changed: view and lesson updated")));
        }
    }
}
