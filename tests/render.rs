//! Rendering tests: real scenes drawn by `nnm` on Mesa's software Vulkan driver
//! (lavapipe) under Xvfb, checked for real content.
//!
//! The test installs lavapipe and Xvfb (Debian packages `mesa-vulkan-drivers`,
//! `xvfb`, `xauth`) when they are missing and it runs as root; otherwise it
//! fails, saying what to install.
//!
//! Where the panels and the network are comes from the app itself: with
//! `--screenshot`, `nnm` prints a `layout:` line (window pixels), so a change
//! of layout moves the boxes the checks look in, not the checks.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test that cannot unwrap has failed, and says where"
)]

mod common;

use std::collections::BTreeMap;
use std::process::Output;

use common::{Image, nnm_under_xvfb, temp_dir};

/// A box in window pixels: (x0, y0, x1, y1).
type Area = (u32, u32, u32, u32);

/// Where things were in the screenshot, as the app reported them.
#[derive(Debug)]
struct Layout {
    panels: BTreeMap<String, Area>,
    view: Area,
    network: Area,
    /// The box of the output's surface, for a 2D regression.
    surface: Option<Area>,
    /// The selected neuron: (layer, index).
    selected: Option<(u64, u64)>,
}

impl Layout {
    /// Reads the `layout: {json}` line of `nnm`'s output.
    fn from_output(out: &Output) -> Layout {
        let stdout = String::from_utf8_lossy(&out.stdout);
        let line = stdout
            .lines()
            .find_map(|l| l.strip_prefix("layout: "))
            .unwrap_or_else(|| panic!("no layout line in:\n{stdout}"));
        let v: serde_json::Value = serde_json::from_str(line).expect("layout is JSON");
        let area = |v: &serde_json::Value| -> Area {
            let n = |i: usize| v[i].as_f64().unwrap_or_else(|| panic!("{line}")).max(0.0) as u32;
            (n(0), n(1), n(2), n(3))
        };
        Layout {
            panels: v["panels"]
                .as_object()
                .expect("panels")
                .iter()
                .map(|(k, a)| (k.clone(), area(a)))
                .collect(),
            view: area(&v["view"]),
            network: area(&v["network"]),
            surface: (!v["surface"].is_null()).then(|| area(&v["surface"])),
            selected: v["selected"]
                .as_array()
                .map(|a| (a[0].as_u64().unwrap(), a[1].as_u64().unwrap())),
        }
    }

    fn panel(&self, name: &str) -> Area {
        *self
            .panels
            .get(name)
            .unwrap_or_else(|| panic!("no {name} panel in {self:?}"))
    }

    /// The network's box, grown by `margin` (bulbs and lines reach past the
    /// neurons' centres), within the 3D view.
    fn network_area(&self, margin: u32) -> Area {
        let (x0, y0, x1, y1) = self.network;
        let (v0, w0, v1, w1) = self.view;
        (
            x0.saturating_sub(margin).max(v0),
            y0.saturating_sub(margin).max(w0),
            (x1 + margin).min(v1),
            (y1 + margin).min(w1),
        )
    }
}

/// Renders `scene` for `frames` frames and returns the screenshot and its layout.
fn screenshot(scene: &str, frames: u32, tag: &str) -> (Image, Layout) {
    screenshot_with(scene, frames, tag, &[])
}

/// Like [`screenshot`], with more options for `nnm view`.
fn screenshot_with(scene: &str, frames: u32, tag: &str, more: &[&str]) -> (Image, Layout) {
    let dir = temp_dir(tag);
    let png = dir.join("shot.png");
    let frames = frames.to_string();
    let out = nnm_under_xvfb(
        &[
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
        ]
        .into_iter()
        .chain(more.iter().copied())
        .collect::<Vec<_>>(),
    );
    assert!(
        out.status.success(),
        "nnm view failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (Image::load(&png), Layout::from_output(&out))
}

/// The checks every screenshot must pass: a real, lit network and the overlay.
fn assert_real_content(img: &Image, layout: &Layout, what: &str) {
    assert_eq!((img.width, img.height), (1280, 720), "{what}: window size");
    let colours = img.distinct_colours();
    assert!(
        colours > 2_000,
        "{what}: only {colours} distinct colours, the frame looks blank"
    );
    // The network sits in the 3D view, between the panels.
    let (v0, w0, v1, w1) = layout.view;
    let (x0, y0, x1, y1) = layout.network;
    assert!(
        v1 > v0 + 200 && w1 > w0 + 200,
        "{what}: the 3D view is too small: {layout:?}"
    );
    assert!(
        x0 >= v0 && y0 >= w0 && x1 <= v1 && y1 <= w1 && x1 > x0 + 50 && y1 > y0 + 50,
        "{what}: the network is not framed in the 3D view: {layout:?}"
    );
    let network = layout.network_area(24);
    // A 2D regression's surface, pale where the fit is high, is drawn beside
    // the network: it is not glow, and is left out of these counts.
    let glowing_in = |(x0, y0, x1, y1): Area| {
        let mut n = 0usize;
        for y in y0..y1.min(img.height) {
            for x in x0..x1.min(img.width) {
                let on_surface = layout
                    .surface
                    .is_some_and(|(s0, t0, s1, t1)| (s0..s1).contains(&x) && (t0..t1).contains(&y));
                let [r, g, b] = img.pixel(x, y);
                n += usize::from(!on_surface && r.min(g).min(b) > 200);
            }
        }
        n
    };
    let glowing = glowing_in(network);
    assert!(
        glowing > 300,
        "{what}: {glowing} glowing pixels on the network; neurons should glow"
    );
    // Blue lines are bluer than the bulbs' white-cyan glow and the forward
    // particles (green well under blue); warm ones share their hue with the
    // gradient halos and the backward particles.
    let blue_lines = img.count(network, |[r, g, b]| {
        b > 90 && b > r + 40 && u32::from(g) * 100 < u32::from(b) * 85
    });
    let warm_lines = img.count(network, |[r, _g, b]| r > 90 && r > b + 40);
    assert!(
        blue_lines > 500 && warm_lines > 300,
        "{what}: synapses of both signs should show ({blue_lines} blue, {warm_lines} warm)"
    );
    // The box the app reports is where the light is: nearly all of the 3D
    // view's glow falls inside it.
    let glowing_in_view = glowing_in(layout.view);
    assert!(
        glowing * 10 >= glowing_in_view * 9,
        "{what}: only {glowing} of {glowing_in_view} glowing pixels are on the reported network"
    );
    // The control panel holds text: light, grey pixels on the dark panel.
    let text = img.count(layout.panel("controls"), |[r, g, b]| {
        r > 150 && r.abs_diff(g) < 20 && g.abs_diff(b) < 20
    });
    assert!(
        text > 800,
        "{what}: {text} text pixels in the control panel; the overlay should be drawn"
    );
    // The metrics panel's plots draw train (blue) and test (orange) curves.
    let plot_orange = img.count(layout.panel("metrics"), |[r, g, b]| {
        r > 200 && (100..180).contains(&g) && b < 90
    });
    assert!(
        plot_orange > 20,
        "{what}: {plot_orange} orange plot pixels; the loss plot should be drawn"
    );
}

#[test]
fn default_scene_renders_a_lit_network_and_the_overlay() {
    let (img, layout) = screenshot("default", 45, "default");
    assert_real_content(&img, &layout, "default scene");
}

#[test]
fn clicking_a_neuron_selects_it() {
    // The click goes through the mouse input where the neuron is drawn, with
    // the control panel pushing the 3D view to the right.
    for neuron in ["2:1", "1:5"] {
        let (_, layout) = screenshot_with(
            "default",
            40,
            &format!("click-{}", neuron.replace(':', "-")),
            &["--click-neuron", neuron],
        );
        let (l, i) = neuron.split_once(':').unwrap();
        assert_eq!(
            layout.selected,
            Some((l.parse().unwrap(), i.parse().unwrap())),
            "clicked {neuron}: {layout:?}"
        );
        assert!(layout.view.0 > 0, "the view starts right of a panel");
    }
}

#[test]
fn mnist_scene_renders_110k_synapses() {
    let (img, layout) = screenshot("mnist", 30, "mnist");
    assert_real_content(&img, &layout, "mnist scene");
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
    let layout = Layout::from_output(&out);
    assert_real_content(&img, &layout, "replay");
    // The timeline along the bottom: text on the dark panel.
    let text = img.count(layout.panel("timeline"), |[r, g, b]| {
        r > 150 && r.abs_diff(g) < 20 && g.abs_diff(b) < 20
    });
    assert!(text > 300, "{text} text pixels in the timeline");
}

#[test]
fn a_2d_regression_draws_its_surface_and_it_changes_as_it_trains() {
    let (untrained, before) = screenshot_with("sincos-2d", 30, "surface-before", &["--paused"]);
    let (trained, after) = screenshot_with("sincos-2d", 30, "surface-after", &[]);
    let area = before.surface.expect("a 2D regression has a surface");
    assert_eq!(
        Some(area),
        after.surface,
        "the camera frames the same scene"
    );
    let (x0, y0, x1, y1) = area;
    assert!(x1 > x0 + 40 && y1 > y0 + 20, "{area:?}");
    // The sheet is lit: pale blue where it is right, red where it is off.
    let sheet = |img: &Image| {
        img.count(area, |[r, g, b]| {
            u16::from(r) + u16::from(g) + u16::from(b) > 300
        })
    };
    for (img, what) in [(&untrained, "untrained"), (&trained, "trained")] {
        let lit = sheet(img);
        assert!(lit > 400, "{what}: {lit} lit pixels on the surface");
    }
    // Training reshapes it: the two sheets differ.
    let diff = untrained.region_difference(&trained, area);
    assert!(diff > 5.0, "the surface did not change: {diff}");
}

/// Trains `trainability-fractal-quick` into `dir/quick` and returns its path.
fn fractal_quick(dir: &std::path::Path) -> std::path::PathBuf {
    let out = dir.join("quick");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_nnm"))
        .args(["sweep", "trainability-fractal-quick", "--out"])
        .arg(&out)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("nnm runs");
    assert!(o.status.success(), "{}", common::output_text(&o));
    out
}

/// Opens the browser on `sweep` with `more` options for `frames` frames,
/// exporting its centre view to `export`.
fn browse(sweep: &std::path::Path, export: &std::path::Path, more: &[&str]) -> Output {
    let args: Vec<&str> = [
        "sweep",
        "view",
        sweep.to_str().unwrap(),
        "--frames",
        "20",
        "--window",
        "1280x720",
        "--export",
        export.to_str().unwrap(),
    ]
    .into_iter()
    .chain(more.iter().copied())
    .collect();
    let out = nnm_under_xvfb(&args);
    assert!(out.status.success(), "{}", common::output_text(&out));
    out
}

/// Pixels of `img` that are clearly red (diverged) and clearly blue (converged).
fn red_and_blue(img: &Image) -> (usize, usize) {
    let all = (0, 0, img.width, img.height);
    let red = img.count(all, |[r, g, b]| {
        r > 120 && r as i32 > b as i32 + 60 && r as i32 > g as i32 + 40
    });
    let blue = img.count(all, |[r, _, b]| b > 120 && b as i32 > r as i32 + 60);
    (red, blue)
}

#[test]
fn the_fractal_renders_as_an_image_and_a_height_field_and_a_zoom_refines_it() {
    let dir = temp_dir("browser-fractal");
    let sweep = fractal_quick(&dir);

    // The landscape as an image: 64 × 64 cells, both sides of the boundary.
    let image = dir.join("landscape.png");
    browse(&sweep, &image, &["--tab", "landscape"]);
    let flat = Image::load(&image);
    let (red, blue) = red_and_blue(&flat);
    let area = (flat.width * flat.height) as usize;
    assert!(
        red > area / 20 && blue > area / 20,
        "image: {red} red, {blue} blue of {area}"
    );
    // The boundary is lit: pale, bright cells between the two.
    let lit = flat.count((0, 0, flat.width, flat.height), |[r, g, b]| {
        r > 170 && g > 150 && b > 150
    });
    assert!(lit > 200, "{lit} lit boundary pixels");

    // The same landscape as a height field, seen in perspective by the 3D camera.
    let field = dir.join("terrain.png");
    browse(&sweep, &field, &["--tab", "terrain"]);
    let terrain = Image::load(&field);
    let (red3, blue3) = red_and_blue(&terrain);
    let area3 = (terrain.width * terrain.height) as usize;
    assert!(
        red3 > area3 / 50 && blue3 > area3 / 50,
        "height field: {red3} red, {blue3} blue of {area3}"
    );
    assert!(
        terrain.distinct_colours() > 500,
        "shaded: {} colours",
        terrain.distinct_colours()
    );
    // Not the flat image: the camera sees the field from above at an angle,
    // with background around it.
    let background = terrain.count((0, 0, terrain.width, terrain.height / 6), |[r, g, b]| {
        u16::from(r) + u16::from(g) + u16::from(b) < 40
    });
    assert!(background > 0, "the sky above the field");

    // Zoom into a window across the boundary: a sub-sweep trains level by
    // level beside the sweep, and the browser ends on its finest level.
    let zoomed = dir.join("zoom.png");
    let out = browse(
        &sweep,
        &zoomed,
        &[
            "--tab",
            "landscape",
            "--zoom",
            "300:3000,100:200",
            "--zoom-levels",
            "16,32",
        ],
    );
    let folder = dir.join("trainability-fractal-quick-zoom_001");
    for n in [16usize, 32] {
        let models = folder.join(format!("{n}x{n}")).join("models.csv");
        let text = std::fs::read_to_string(&models)
            .unwrap_or_else(|e| panic!("{}: {e}\n{}", models.display(), common::output_text(&out)));
        let mut lines = text.lines();
        let header: Vec<&str> = lines.next().unwrap().split(',').collect();
        let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
        let (x, y) = (
            col("train.learning_rates[0]"),
            col("train.learning_rates[1]"),
        );
        let rows: Vec<Vec<f64>> = lines
            .map(|l| {
                l.split(',')
                    .map(|c| c.parse().unwrap_or(f64::NAN))
                    .collect()
            })
            .collect();
        assert_eq!(rows.len(), n * n, "{n}x{n}");
        let within = |v: f64, lo: f64, hi: f64| v >= lo * 0.9999 && v <= hi * 1.0001;
        assert!(
            rows.iter()
                .all(|r| within(r[x], 300.0, 3000.0) && within(r[y], 100.0, 200.0))
        );
    }
    let zoom = Image::load(&zoomed);
    let (red, blue) = red_and_blue(&zoom);
    let area = (zoom.width * zoom.height) as usize;
    assert!(
        red > area / 20 && blue > area / 20,
        "zoom: {red} red, {blue} blue of {area}"
    );
    assert!(
        zoom.mean_difference(&flat) > 10.0
            || (zoom.width, zoom.height) != (flat.width, flat.height),
        "the zoom shows another part of the landscape"
    );
}

#[test]
fn a_trainer_without_a_thread_of_its_own_trains_inside_the_apps_frames() {
    // `--cooperative` schedules the trainer as the web build must: a slice of
    // each drawn frame, no thread. Paused, it still shows the untrained net.
    let more = ["--cooperative", "--paused"];
    let (untrained, before) = screenshot_with("sincos-2d", 30, "cooperative-before", &more);
    let (trained, after) = screenshot_with("sincos-2d", 30, "cooperative-after", &more[..1]);
    let area = before.surface.expect("a 2D regression has a surface");
    assert_eq!(Some(area), after.surface);
    assert_real_content(&trained, &after, "cooperative");
    let diff = untrained.region_difference(&trained, area);
    assert!(diff > 5.0, "the surface did not change: {diff}");
}
