//! An installed `nnm` works from any folder on any machine: its presets, data
//! sets and shader travel inside the binary. The headless build
//! (`--no-default-features`) has no Bevy at all, and trains and records the
//! same way.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test that cannot unwrap has failed, and says where"
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;

use common::output_text as text;
use common::{Scratch, temp_dir};

/// Copies `binary` into a fresh folder, far from any checkout, and returns the
/// copy and an empty working folder beside it.
fn install(binary: &Path, tag: &str) -> (Scratch, PathBuf, PathBuf) {
    let root = temp_dir(tag);
    let bin = root.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let nnm = bin.join("nnm");
    std::fs::copy(binary, &nnm).unwrap();
    let work = root.join("work");
    std::fs::create_dir_all(&work).unwrap();
    (root, nnm, work)
}

fn run(nnm: &Path, work: &Path, args: &[&str]) -> Output {
    Command::new(nnm)
        .args(args)
        .current_dir(work)
        // Nothing may lead back to the checkout.
        .env_remove("CARGO_MANIFEST_DIR")
        .env_remove("BEVY_ASSET_ROOT")
        .output()
        .expect("nnm runs")
}

/// The commands a cluster node or a new user runs, from an empty folder.
fn works_from_an_empty_folder(nnm: &Path, work: &Path) {
    let o = run(nnm, work, &["scenes"]);
    assert!(o.status.success(), "{}", text(&o));
    let listed = String::from_utf8_lossy(&o.stdout).into_owned();
    for preset in ["default", "xor", "mnist", "digits8x8", "lesson-2-xor"] {
        assert!(
            listed.lines().any(|l| l.starts_with(preset)),
            "{preset} missing:\n{listed}"
        );
    }
    assert!(listed.contains("built in"), "{listed}");
    for (scene, steps) in [("xor", "5"), ("mnist", "2"), ("digits8x8", "3")] {
        let o = run(nnm, work, &["train", scene, "--steps", steps]);
        assert!(o.status.success(), "nnm train {scene}: {}", text(&o));
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(
            out.lines()
                .any(|l| l.starts_with(&format!("final: step={steps} "))),
            "{out}"
        );
        let run_dir = work.join("runs").join(format!("{scene}_001"));
        assert!(run_dir.join("metrics.csv").is_file(), "{run_dir:?}");
        assert!(run_dir.join("scene.ron").is_file(), "{run_dir:?}");
    }
    // A run repeats from its own scene.ron, wherever it is.
    let o = run(
        nnm,
        work,
        &["train", "runs/xor_001/scene.ron", "--out", "again"],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        std::fs::read_to_string(work.join("runs/xor_001/metrics.csv")).unwrap(),
        std::fs::read_to_string(work.join("again/xor_001/metrics.csv")).unwrap()
    );
    // A local scenes folder adds presets and overrides built-in ones by name.
    std::fs::create_dir_all(work.join("scenes")).unwrap();
    std::fs::write(
        work.join("scenes/xor.ron"),
        "Scene(name: \"local-xor\", data: Xor(samples: 40), train: (steps: 3))",
    )
    .unwrap();
    let o = run(nnm, work, &["train", "xor"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(work.join("runs/local-xor_001").is_dir());
}

/// The bytes of the checkout's path do not appear in the binary: nothing is
/// looked up where it was built.
fn has_no_build_paths(nnm: &Path) {
    let bytes = std::fs::read(nnm).unwrap();
    let checkout = env!("CARGO_MANIFEST_DIR").as_bytes();
    assert!(
        !bytes.windows(checkout.len()).any(|w| w == checkout),
        "{} holds the build path {}",
        nnm.display(),
        env!("CARGO_MANIFEST_DIR")
    );
}

#[test]
fn the_release_binary_works_from_an_empty_folder() {
    let (_root, nnm, work) = install(Path::new(env!("CARGO_BIN_EXE_nnm")), "release");
    has_no_build_paths(&nnm);
    works_from_an_empty_folder(&nnm, &work);
}

#[test]
fn the_headless_build_has_no_bevy_and_works_from_an_empty_folder() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let manifest = env!("CARGO_MANIFEST_DIR");
    let tree = |edges: &[&str]| {
        let o = Command::new(&cargo)
            .args([
                "tree",
                "--offline",
                "--no-default-features",
                "--prefix",
                "none",
                "--format",
                "{p}",
            ])
            .args(edges)
            .current_dir(manifest)
            .output()
            .expect("cargo tree runs");
        assert!(o.status.success(), "{}", text(&o));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    // No Bevy anywhere, tests included; and the binary itself has no renderer or UI.
    let everything = tree(&[]);
    assert!(
        !everything.lines().any(|l| l.starts_with("bevy")),
        "{everything}"
    );
    let built = tree(&["-e", "normal,build"]);
    let ui: Vec<&str> = built
        .lines()
        .filter(|l| l.starts_with("egui") || l.starts_with("wgpu") || l.starts_with("winit"))
        .collect();
    assert!(ui.is_empty(), "the headless build pulls in {ui:?}");
    assert!(built.lines().any(|l| l.starts_with("burn ")), "{built}");

    let (_root, nnm, work) = install(&common::headless_nnm(), "headless");
    has_no_build_paths(&nnm);
    works_from_an_empty_folder(&nnm, &work);
    // The instrument is not there, and it says so.
    let o = run(&nnm, &work, &["view", "xor"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("headless build") && err.contains("nnm train"),
        "{err}"
    );
}
