//! Scene presets: those built into the binary, and a folder of scene files that
//! adds to them and overrides them by name.
//!
//! An installed `nnm` carries every preset of the project's `scenes/` folder,
//! so `nnm train xor` works from any folder on any machine. A `scenes/`
//! folder in the working directory (or one given with `--scenes DIR`) is read
//! as well: its files add presets, and a file named like a built-in one
//! replaces it.

use std::path::{Path, PathBuf};

use crate::lab::error::{LabError, LabResult};
use crate::lab::scene::Scene;

/// Every preset of the project's `scenes/` folder, as text, by name.
const BUILT_IN: &[(&str, &str)] = &[
    (
        "below-the-edge",
        include_str!("../../../scenes/below-the-edge.ron"),
    ),
    (
        "circles-vs-squares",
        include_str!("../../../scenes/circles-vs-squares.ron"),
    ),
    ("default", include_str!("../../../scenes/default.ron")),
    ("digits8x8", include_str!("../../../scenes/digits8x8.ron")),
    ("dropout", include_str!("../../../scenes/dropout.ron")),
    (
        "edge-of-stability",
        include_str!("../../../scenes/edge-of-stability.ron"),
    ),
    ("exhibition", include_str!("../../../scenes/exhibition.ron")),
    (
        "lesson-1-perceptron",
        include_str!("../../../scenes/lesson-1-perceptron.ron"),
    ),
    (
        "lesson-2-xor",
        include_str!("../../../scenes/lesson-2-xor.ron"),
    ),
    (
        "lesson-3-spiral-depth",
        include_str!("../../../scenes/lesson-3-spiral-depth.ron"),
    ),
    (
        "lesson-4-learning-rate",
        include_str!("../../../scenes/lesson-4-learning-rate.ron"),
    ),
    (
        "lesson-5-overfitting",
        include_str!("../../../scenes/lesson-5-overfitting.ron"),
    ),
    (
        "lesson-6-circles-vs-squares",
        include_str!("../../../scenes/lesson-6-circles-vs-squares.ron"),
    ),
    (
        "lesson-7-draw-digits",
        include_str!("../../../scenes/lesson-7-draw-digits.ron"),
    ),
    (
        "lesson-8-extrapolation",
        include_str!("../../../scenes/lesson-8-extrapolation.ron"),
    ),
    (
        "lesson-9-edge-of-stability",
        include_str!("../../../scenes/lesson-9-edge-of-stability.ron"),
    ),
    ("mnist", include_str!("../../../scenes/mnist.ron")),
    (
        "pinn-laplace-2d",
        include_str!("../../../scenes/pinn-laplace-2d.ron"),
    ),
    (
        "pinn-poisson-1d",
        include_str!("../../../scenes/pinn-poisson-1d.ron"),
    ),
    ("sincos-2d", include_str!("../../../scenes/sincos-2d.ron")),
    ("sine-1d", include_str!("../../../scenes/sine-1d.ron")),
    (
        "spiral-3-arms",
        include_str!("../../../scenes/spiral-3-arms.ron"),
    ),
    ("spiral", include_str!("../../../scenes/spiral.ron")),
    ("xor", include_str!("../../../scenes/xor.ron")),
];

/// Every sweep file of the project's `scenes/sweeps/` folder, as text, by name.
const BUILT_IN_SWEEPS: &[(&str, &str)] = &[
    (
        "trainability-fractal",
        include_str!("../../../scenes/sweeps/trainability-fractal.ron"),
    ),
    (
        "trainability-fractal-quick",
        include_str!("../../../scenes/sweeps/trainability-fractal-quick.ron"),
    ),
];

/// The subfolder of the scenes folder that holds sweep files.
pub(super) const SWEEPS_DIR: &str = "sweeps";

/// A sweep file: its name, where it is (a made-up path under `(built-in)/` for
/// a built-in one) and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SweepFile {
    /// The file's name without `.ron`.
    pub name: String,
    /// Its path, for messages and for a base scene given relative to it.
    pub path: PathBuf,
    /// Whether it is built into the binary.
    pub built_in: bool,
    /// Its text.
    pub text: String,
}

/// The folder that the names of built-in presets are shown in, in messages.
const BUILT_IN_DIR: &str = "(built-in)";

/// The folder of local presets that `nnm` reads unless told another: `./scenes`.
pub const LOCAL_DIR: &str = "scenes";

/// Where a preset's text comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PresetSource {
    /// Built into the binary.
    BuiltIn(&'static str),
    /// A scene file on disk.
    File(PathBuf),
}

/// One preset: a name and where its scene is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preset {
    /// The name users type, such as `xor`.
    pub name: String,
    /// Its text, built in or on disk.
    pub source: PresetSource,
}

impl Preset {
    /// The file behind the preset, if it is not built in.
    pub fn path(&self) -> Option<&Path> {
        match &self.source {
            PresetSource::File(p) => Some(p),
            PresetSource::BuiltIn(_) => None,
        }
    }

    /// The path errors name: the file, or `(built-in)/<name>.ron`.
    pub fn shown_path(&self) -> PathBuf {
        match &self.source {
            PresetSource::File(p) => p.clone(),
            PresetSource::BuiltIn(_) => Path::new(BUILT_IN_DIR).join(format!("{}.ron", self.name)),
        }
    }

    /// Reads, parses and validates the scene.
    pub fn load(&self) -> LabResult<Scene> {
        match &self.source {
            PresetSource::File(p) => Scene::load(p),
            PresetSource::BuiltIn(text) => Scene::parse(text, &self.shown_path()),
        }
    }

    /// True when the preset is built into the binary.
    pub fn is_built_in(&self) -> bool {
        matches!(self.source, PresetSource::BuiltIn(_))
    }
}

/// Writes `scene`, every default written out, as a new scene file in `dir`
/// (created if needed): `<name>-saved.ron`, or `-saved-2`, `-saved-3`... so
/// that nothing is overwritten. The scene takes the file's name. Returns the path.
pub fn save_scene(scene: &Scene, dir: &Path) -> LabResult<PathBuf> {
    std::fs::create_dir_all(dir).map_err(|e| LabError::io(dir, "cannot create", e))?;
    let stem = (1..)
        .map(|n| match n {
            1 => format!("{}-saved", scene.name),
            n => format!("{}-saved-{n}", scene.name),
        })
        .find(|stem| !dir.join(format!("{stem}.ron")).exists())
        .unwrap_or_else(|| format!("{}-saved", scene.name));
    let mut saved = scene.resolved();
    saved.name = stem.clone();
    let text = saved.to_ron()?;
    let path = dir.join(format!("{stem}.ron"));
    // Written aside and renamed: a file that appears is whole.
    let aside = dir.join(format!(".{stem}.ron.partial"));
    std::fs::write(&aside, text).map_err(|e| LabError::io(&aside, "cannot write", e))?;
    std::fs::rename(&aside, &path).map_err(|e| LabError::io(&path, "cannot write", e))?;
    Ok(path)
}

/// The presets in reach: the built-in ones, overridden and extended by a folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presets {
    /// The folder of local scene files, if any.
    pub dir: Option<PathBuf>,
}

impl Presets {
    /// Built-in presets plus `dir`; without `dir`, plus `./scenes` when it exists.
    pub fn new(dir: Option<PathBuf>) -> Self {
        let dir = dir.or_else(|| {
            let local = PathBuf::from(LOCAL_DIR);
            local.is_dir().then_some(local)
        });
        Presets { dir }
    }

    /// Only the presets built into the binary.
    pub fn built_in() -> Self {
        Presets { dir: None }
    }

    /// Every preset, sorted by name; a local file replaces a built-in one of its name.
    pub fn list(&self) -> LabResult<Vec<Preset>> {
        let mut out: Vec<Preset> = BUILT_IN
            .iter()
            .map(|(name, text)| Preset {
                name: (*name).to_string(),
                source: PresetSource::BuiltIn(text),
            })
            .collect();
        if let Some(dir) = &self.dir {
            for path in scene_files(dir)? {
                let Some(name) = path.file_stem().map(|s| s.to_string_lossy().into_owned()) else {
                    continue;
                };
                out.retain(|p| p.name != name);
                out.push(Preset {
                    name,
                    source: PresetSource::File(path),
                });
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// The preset called `name`.
    pub fn get(&self, name: &str) -> LabResult<Option<Preset>> {
        Ok(self.list()?.into_iter().find(|p| p.name == name))
    }

    /// A scene by path or preset name: a file that exists is read as it is,
    /// anything else names a preset. The error lists the presets.
    pub fn find(&self, name_or_path: &str) -> LabResult<Preset> {
        let given = Path::new(name_or_path);
        if given.is_file() {
            let name = given
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            return Ok(Preset {
                name,
                source: PresetSource::File(given.to_path_buf()),
            });
        }
        if let Some(p) = self.get(name_or_path)? {
            return Ok(p);
        }
        let names: Vec<String> = self.list()?.into_iter().map(|p| p.name).collect();
        Err(LabError::setting(
            "scene",
            format!(
                "no scene file `{name_or_path}` and no preset of that name (presets: {})",
                names.join(", ")
            ),
        ))
    }
}

impl Presets {
    /// Every sweep file, sorted by name: the built-in ones and those of
    /// `<scenes>/sweeps/`, a local file replacing a built-in one of its name.
    pub fn sweeps(&self) -> LabResult<Vec<SweepFile>> {
        let mut out: Vec<SweepFile> = BUILT_IN_SWEEPS
            .iter()
            .map(|(name, text)| SweepFile {
                name: (*name).to_string(),
                path: Path::new(BUILT_IN_DIR)
                    .join(SWEEPS_DIR)
                    .join(format!("{name}.ron")),
                built_in: true,
                text: (*text).to_string(),
            })
            .collect();
        if let Some(dir) = self.dir.as_ref().map(|d| d.join(SWEEPS_DIR))
            && dir.is_dir()
        {
            for path in scene_files(&dir)? {
                let Some(name) = path.file_stem().map(|s| s.to_string_lossy().into_owned()) else {
                    continue;
                };
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| LabError::io(&path, "cannot read", e))?;
                out.retain(|s| s.name != name);
                out.push(SweepFile {
                    name,
                    path,
                    built_in: false,
                    text,
                });
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// A sweep by path or name: a file that exists is read as it is, anything
    /// else names a sweep of [`Presets::sweeps`]. The error lists them.
    pub fn find_sweep(&self, name_or_path: &str) -> LabResult<SweepFile> {
        let given = Path::new(name_or_path);
        if given.is_file() {
            let text = std::fs::read_to_string(given)
                .map_err(|e| LabError::io(given, "cannot read", e))?;
            return Ok(SweepFile {
                name: given
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                path: given.to_path_buf(),
                built_in: false,
                text,
            });
        }
        let all = self.sweeps()?;
        let names: Vec<String> = all.iter().map(|s| s.name.clone()).collect();
        all.into_iter()
            .find(|s| s.name == name_or_path)
            .ok_or_else(|| {
                LabError::setting(
                    "sweep",
                    format!(
                        "no sweep file `{name_or_path}` and no sweep of that name (sweeps: {})",
                        names.join(", ")
                    ),
                )
            })
    }
}

/// The `.ron` files of `dir`, sorted.
fn scene_files(dir: &Path) -> LabResult<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir).map_err(|e| LabError::io(dir, "cannot list", e))?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "ron"))
        .collect();
    paths.sort();
    Ok(paths)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_as_scene_writes_a_new_preset_that_trains_the_same() {
        let dir = crate::scratch::Scratch::new("saved");
        let mut scene = Presets::built_in().find("xor").unwrap().load().unwrap();
        // The settings in force after an edit in the app.
        scene.train.learning_rate = 0.0123;
        let first = save_scene(&scene, &dir).unwrap();
        let second = save_scene(&scene, &dir).unwrap();
        assert_eq!(first, dir.join("xor-saved.ron"));
        assert_eq!(
            second,
            dir.join("xor-saved-2.ron"),
            "nothing is overwritten"
        );
        let presets = Presets::new(Some(dir.to_path_buf()));
        let back = presets.find("xor-saved").unwrap().load().unwrap();
        assert_eq!(back.name, "xor-saved");
        assert_eq!(back.train.learning_rate, 0.0123);
        let mut expected = scene.resolved();
        expected.name = "xor-saved".into();
        assert_eq!(back, expected);
    }

    #[test]
    fn every_scene_file_of_the_project_is_built_in() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(LOCAL_DIR);
        let on_disk: Vec<String> = scene_files(&dir)
            .unwrap()
            .iter()
            .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
            .collect();
        let built_in: Vec<&str> = BUILT_IN.iter().map(|(n, _)| *n).collect();
        assert_eq!(on_disk, built_in, "add new presets to BUILT_IN");
        for (name, text) in BUILT_IN {
            let file = std::fs::read_to_string(dir.join(format!("{name}.ron"))).unwrap();
            assert_eq!(&file, text);
        }
    }

    #[test]
    fn every_sweep_file_of_the_project_is_built_in_and_loads() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(LOCAL_DIR)
            .join(SWEEPS_DIR);
        let on_disk: Vec<String> = scene_files(&dir)
            .unwrap()
            .iter()
            .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
            .collect();
        let mut on_disk = on_disk;
        on_disk.sort();
        let built_in: Vec<&str> = BUILT_IN_SWEEPS.iter().map(|(n, _)| *n).collect();
        assert_eq!(on_disk, built_in, "add new sweeps to BUILT_IN_SWEEPS");
        let presets = Presets::built_in();
        for (name, text) in BUILT_IN_SWEEPS {
            let file = std::fs::read_to_string(dir.join(format!("{name}.ron"))).unwrap();
            assert_eq!(&file, text);
            let found = presets.find_sweep(name).unwrap();
            let sweep = crate::lab::sweep::Sweep::parse(&found.text, &found.path, &presets)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(sweep.name(), *name);
            assert!(sweep.count > 1);
        }
        let err = presets.find_sweep("no-such-sweep").unwrap_err().to_string();
        assert!(err.contains("trainability-fractal-quick"), "{err}");
    }

    #[test]
    fn built_in_presets_load_without_any_folder() {
        let presets = Presets::built_in();
        let list = presets.list().unwrap();
        assert_eq!(list.len(), BUILT_IN.len());
        for p in &list {
            let scene = p.load().unwrap_or_else(|e| panic!("{}: {e}", p.name));
            assert!(!scene.name.is_empty());
        }
        let err = presets.find("no-such-preset").unwrap_err().to_string();
        assert!(
            err.contains("no-such-preset") && err.contains("xor"),
            "{err}"
        );
    }

    #[test]
    fn a_local_folder_adds_presets_and_overrides_by_name() {
        let dir = crate::scratch::Scratch::new("presets");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("xor.ron"),
            "Scene(name: \"my-xor\", data: Xor(samples: 40))",
        )
        .unwrap();
        std::fs::write(dir.join("mine.ron"), "Scene(data: Circle(samples: 40))").unwrap();
        let presets = Presets::new(Some(dir.to_path_buf()));
        let xor = presets.find("xor").unwrap();
        assert_eq!(xor.path(), Some(dir.join("xor.ron").as_path()));
        assert_eq!(xor.load().unwrap().name, "my-xor");
        assert_eq!(presets.find("mine").unwrap().load().unwrap().name, "mine");
        assert!(presets.find("mnist").unwrap().is_built_in());
        assert_eq!(presets.list().unwrap().len(), BUILT_IN.len() + 1);
    }

    #[test]
    fn a_broken_built_in_name_shows_in_errors() {
        let p = Preset {
            name: "broken".into(),
            source: PresetSource::BuiltIn("Scene(data: Xorr())"),
        };
        let err = p.load().unwrap_err().to_string();
        assert!(err.starts_with("(built-in)/broken.ron:1:"), "{err}");
    }
}
