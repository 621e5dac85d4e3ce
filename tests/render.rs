//! Rendering tests: real scenes drawn by `nnm` on Mesa's software Vulkan driver
//! (lavapipe) under Xvfb, checked for real content.
//!
//! The test installs lavapipe and Xvfb (Debian packages `mesa-vulkan-drivers`,
//! `xvfb`, `xauth`) when they are missing and it runs as root; otherwise it
//! fails, saying what to install.

mod common;

use common::{Image, nnm_under_xvfb, temp_dir};

/// Renders `scene` for `frames` frames and returns the screenshot.
fn screenshot(scene: &str, frames: u32, tag: &str) -> Image {
    let dir = temp_dir(tag);
    let png = dir.join("shot.png");
    let frames = frames.to_string();
    let out = nnm_under_xvfb(&[
        "view",
        scene,
        "--frames",
        &frames,
        "--screenshot",
        png.to_str().unwrap(),
        "--window",
        "1280x720",
        "--runs",
        dir.join("runs").to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "nnm view failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Image::load(&png)
}

/// The checks every screenshot must pass: a real, lit network and the overlay.
fn assert_real_content(img: &Image, what: &str) {
    assert_eq!((img.width, img.height), (1280, 720), "{what}: window size");
    let colours = img.distinct_colours();
    assert!(
        colours > 2_000,
        "{what}: only {colours} distinct colours, the frame looks blank"
    );
    // The 3D view is the middle of the window, between the panels.
    let view = (330, 60, 930, 700);
    let glowing = img.count(view, |[r, g, b]| r.min(g).min(b) > 200);
    assert!(
        glowing > 300,
        "{what}: {glowing} glowing pixels in the 3D view; neurons should glow"
    );
    let blue_lines = img.count(view, |[r, _g, b]| b > 90 && b > r + 40);
    let warm_lines = img.count(view, |[r, _g, b]| r > 90 && r > b + 40);
    assert!(
        blue_lines > 500 && warm_lines > 300,
        "{what}: synapses of both signs should show ({blue_lines} blue, {warm_lines} warm)"
    );
    // The left panel holds text: light, grey pixels on the dark panel.
    let text = img.count((8, 40, 260, 400), |[r, g, b]| {
        r > 150 && r.abs_diff(g) < 20 && g.abs_diff(b) < 20
    });
    assert!(
        text > 800,
        "{what}: {text} text pixels in the control panel; the overlay should be drawn"
    );
    // The right panel's plots draw train (blue) and test (orange) curves.
    let plot_orange = img.count((1000, 40, 1280, 400), |[r, g, b]| {
        r > 200 && (100..180).contains(&g) && b < 90
    });
    assert!(
        plot_orange > 20,
        "{what}: {plot_orange} orange plot pixels; the loss plot should be drawn"
    );
}

#[test]
fn default_scene_renders_a_lit_network_and_the_overlay() {
    let img = screenshot("default", 45, "default");
    assert_real_content(&img, "default scene");
}

#[test]
fn mnist_scene_renders_110k_synapses() {
    let img = screenshot("mnist", 30, "mnist");
    assert_real_content(&img, "mnist scene");
}

#[test]
fn without_a_gpu_adapter_view_explains_what_it_needs() {
    let dir = temp_dir("nogpu");
    let missing = dir.join("no-such-icd.json");
    let out = common::nnm_under_xvfb_with(
        &[
            "view",
            "xor",
            "--frames",
            "5",
            "--runs",
            dir.join("runs").to_str().unwrap(),
        ],
        &[
            ("VK_DRIVER_FILES", missing.to_str().unwrap()),
            ("VK_ICD_FILENAMES", missing.to_str().unwrap()),
            ("WGPU_BACKEND", "vulkan"),
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no GPU adapter") && err.contains("mesa-vulkan-drivers"),
        "{err}"
    );
    assert!(
        err.contains("nnm train") && !err.contains("panicked"),
        "{err}"
    );
}

#[test]
fn a_replay_renders_its_history_with_the_timeline() {
    let dir = temp_dir("replay");
    let train = std::process::Command::new(env!("CARGO_BIN_EXE_nnm"))
        .args([
            "train",
            "xor",
            "--steps",
            "120",
            "--out",
            dir.to_str().unwrap(),
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(
        train.status.success(),
        "{}",
        String::from_utf8_lossy(&train.stderr)
    );
    let run = dir.join("xor_001");
    let png = dir.join("replay.png");
    let out = nnm_under_xvfb(&[
        "replay",
        run.to_str().unwrap(),
        "--play",
        "4",
        "--frames",
        "30",
        "--screenshot",
        png.to_str().unwrap(),
        "--window",
        "1280x720",
    ]);
    assert!(
        out.status.success(),
        "nnm replay failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let img = Image::load(&png);
    assert_real_content(&img, "replay");
    // The timeline along the bottom: text on the dark panel.
    let text = img.count((8, 640, 1270, 715), |[r, g, b]| {
        r > 150 && r.abs_diff(g) < 20 && g.abs_diff(b) < 20
    });
    assert!(text > 300, "{text} text pixels in the timeline");
}
