//! Capture tests: `nnm capture` films real scenes off-screen on lavapipe, with no
//! display, and the films are checked frame by frame.
//!
//! Like the rendering tests, these install lavapipe (and, for the MP4 test,
//! ffmpeg) when missing and running as root, and otherwise fail saying what to
//! install.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test that cannot unwrap has failed, and says where"
)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{Image, nnm_offscreen, temp_dir};

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Films `source` into `out` with the given extra flags; panics if it fails.
fn capture(source: &str, out: &Path, flags: &[&str], env: &[(&str, &str)]) -> Output {
    let mut args = vec!["capture", source, "--out", out.to_str().unwrap()];
    args.extend_from_slice(flags);
    let o = nnm_offscreen(&args, env);
    assert!(
        o.status.success(),
        "nnm capture {source} failed:\n{}",
        stderr(&o)
    );
    o
}

/// The frames of a PNG folder, in order; checks they are named 0, 1, 2, ... with no gaps.
fn png_frames(dir: &Path) -> Vec<PathBuf> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for (i, name) in names.iter().enumerate() {
        assert_eq!(name, &format!("frame_{i:05}.png"), "frames in {dir:?}");
    }
    names.iter().map(|n| dir.join(n)).collect()
}

#[test]
fn a_png_capture_is_offscreen_sized_right_lit_and_moving() {
    let dir = temp_dir("cap-png");
    let film = dir.join("film");
    let runs = dir.join("runs");
    let out = capture(
        "default",
        &film,
        &[
            "--size",
            "480x270",
            "--fps",
            "10",
            "--frames",
            "6",
            "--steps-per-frame",
            "8",
            "--runs",
            runs.to_str().unwrap(),
        ],
        &[],
    );
    let said = stdout(&out);
    assert!(
        said.contains("captured 6 frames") && said.contains("PNG frames"),
        "the CLI says what it wrote and with which encoder: {said}"
    );
    let frames = png_frames(&film);
    assert_eq!(frames.len(), 6, "frame count");
    let images: Vec<Image> = frames.iter().map(|p| Image::load(p)).collect();
    for (i, img) in images.iter().enumerate() {
        assert_eq!((img.width, img.height), (480, 270), "frame {i} size");
        let colours = img.distinct_colours();
        assert!(colours > 500, "frame {i}: {colours} colours, looks blank");
        let glowing = img.count((0, 0, 480, 270), |[r, g, b]| r.min(g).min(b) > 200);
        assert!(glowing > 50, "frame {i}: {glowing} glowing pixels");
        let blue = img.count((0, 0, 480, 270), |[r, _g, b]| b > 90 && b > r + 40);
        assert!(blue > 100, "frame {i}: {blue} blue synapse pixels");
    }
    for (i, pair) in images.windows(2).enumerate() {
        let d = pair[0].mean_difference(&pair[1]);
        assert!(
            d > 0.01,
            "frames {i} and {} are the same ({d}) while training runs",
            i + 1
        );
    }
    // The filmed training was recorded like any other run: 6 frames x 8 steps.
    let metrics = std::fs::read_to_string(runs.join("default_001/metrics.csv")).unwrap();
    let last_step: u64 = metrics
        .lines()
        .last()
        .and_then(|l| l.split(',').next())
        .and_then(|s| s.parse().ok())
        .unwrap();
    assert!(last_step >= 40, "the run trained to step {last_step}");
}

#[test]
fn two_captures_of_one_scene_and_seed_are_byte_identical() {
    let dir = temp_dir("cap-same");
    let flags = [
        "--size",
        "320x180",
        "--frames",
        "5",
        "--steps-per-frame",
        "4",
        "--seed",
        "7",
        "--no-record",
    ];
    let (a, b) = (dir.join("a"), dir.join("b"));
    capture("xor", &a, &flags, &[]);
    capture("xor", &b, &flags, &[]);
    let (fa, fb) = (png_frames(&a), png_frames(&b));
    assert_eq!(fa.len(), 5);
    assert_eq!(fa.len(), fb.len());
    for (x, y) in fa.iter().zip(&fb) {
        assert!(
            std::fs::read(x).unwrap() == std::fs::read(y).unwrap(),
            "{x:?} and {y:?} differ"
        );
    }
    // And a different seed gives a different film: the frames show the network.
    let c = dir.join("c");
    let mut other = flags;
    other[7] = "8";
    capture("xor", &c, &other, &[]);
    let last = |d: &Path| Image::load(png_frames(d).last().unwrap());
    assert!(last(&a).mean_difference(&last(&c)) > 0.01);
}

#[test]
fn the_film_overlays_can_be_turned_off() {
    let dir = temp_dir("cap-overlays");
    let common = ["--size", "1280x720", "--frames", "1", "--no-record"];
    let (with, without) = (dir.join("with"), dir.join("without"));
    capture("exhibition", &with, &common, &[]);
    let mut bare = common.to_vec();
    bare.extend(["--no-title", "--no-captions", "--no-metrics"]);
    capture("exhibition", &without, &bare, &[]);
    let with = Image::load(&with.join("frame_00000.png"));
    let without = Image::load(&without.join("frame_00000.png"));
    // The title card sits at the bottom left in the first seconds: white text.
    let white = |[r, g, b]: [u8; 3]| r > 200 && g > 200 && b > 200;
    let (t_with, t_without) = (
        with.count((0, 480, 900, 720), white),
        without.count((0, 480, 900, 720), white),
    );
    assert!(
        t_with > t_without + 500,
        "the title card should add white text: {t_with} vs {t_without} pixels"
    );
    // The metrics strip at the top right: light blue-grey text.
    let grey = |[r, g, b]: [u8; 3]| r > 150 && r.abs_diff(g) < 25 && g.abs_diff(b) < 25;
    let (s_with, s_without) = (
        with.count((640, 0, 1280, 60), grey),
        without.count((640, 0, 1280, 60), grey),
    );
    assert!(
        s_with > s_without + 200,
        "the metrics strip should show text: {s_with} vs {s_without} pixels"
    );
    // Nothing else changes: the network underneath is the same.
    let rest = (0, 80, 1280, 460);
    let diff = (0..rest.3 - rest.1)
        .flat_map(|dy| (0..rest.2).map(move |x| (x, rest.1 + dy)))
        .filter(|&(x, y)| with.pixel(x, y) != without.pixel(x, y))
        .count();
    assert_eq!(diff, 0, "{diff} pixels of the network differ");
}

/// ffprobe's answer for the first video stream, as `key=value` lines.
fn ffprobe(path: &Path) -> String {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-count_frames",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=width,height,r_frame_rate,nb_read_frames,codec_name",
            "-of",
            "default=noprint_wrappers=1",
        ])
        .arg(path)
        .output()
        .expect("ffprobe runs");
    assert!(out.status.success(), "ffprobe: {}", stderr(&out));
    stdout(&out)
}

#[test]
fn an_mp4_capture_plays() {
    common::ensure_ffmpeg();
    let dir = temp_dir("cap-mp4");
    let mp4 = dir.join("film.mp4");
    let out = capture(
        "spiral",
        &mp4,
        &[
            "--size",
            "320x240",
            "--fps",
            "24",
            "--frames",
            "12",
            "--no-record",
        ],
        &[],
    );
    assert!(stdout(&out).contains("ffmpeg"), "{}", stdout(&out));
    let probe = ffprobe(&mp4);
    for want in [
        "codec_name=h264",
        "width=320",
        "height=240",
        "r_frame_rate=24/1",
        "nb_read_frames=12",
    ] {
        assert!(probe.lines().any(|l| l == want), "want {want} in:\n{probe}");
    }
}

#[test]
fn without_ffmpeg_an_mp4_request_writes_a_gif_beside_it() {
    let dir = temp_dir("cap-gif");
    let empty_path = dir.join("bin");
    std::fs::create_dir_all(&empty_path).unwrap();
    let mp4 = dir.join("film.mp4");
    let out = capture(
        "xor",
        &mp4,
        &["--size", "320x180", "--frames", "4", "--no-record"],
        &[("PATH", empty_path.to_str().unwrap())],
    );
    let gif = dir.join("film.gif");
    let err = stderr(&out);
    assert!(
        err.contains("ffmpeg") && err.contains(gif.to_str().unwrap()),
        "it says why and where the GIF went: {err}"
    );
    assert!(!mp4.exists());
    assert!(stdout(&out).contains("GIF"), "{}", stdout(&out));
    use image::AnimationDecoder;
    let file = std::io::BufReader::new(std::fs::File::open(&gif).unwrap());
    let frames = image::codecs::gif::GifDecoder::new(file)
        .unwrap()
        .into_frames()
        .collect_frames()
        .unwrap();
    assert_eq!(frames.len(), 4);
    assert_eq!(frames[0].buffer().dimensions(), (320, 180));
}

#[test]
fn a_run_directory_is_filmed_from_its_recording() {
    let dir = temp_dir("cap-run");
    let train = Command::new(env!("CARGO_BIN_EXE_nnm"))
        .args(["train", "spiral", "--steps", "200", "--out"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(train.status.success(), "{}", stderr(&train));
    let run = dir.join("spiral_001");
    let film = dir.join("film");
    capture(
        run.to_str().unwrap(),
        &film,
        &[
            "--size",
            "320x180",
            "--frames",
            "5",
            "--steps-per-frame",
            "40",
        ],
        &[],
    );
    let frames = png_frames(&film);
    assert_eq!(frames.len(), 5);
    let images: Vec<Image> = frames.iter().map(|p| Image::load(p)).collect();
    for pair in images.windows(2) {
        assert!(pair[0].mean_difference(&pair[1]) > 0.01);
    }
    // Filming a recording trains nothing: the run directory is as it was.
    let entries = std::fs::read_dir(&dir).unwrap().count();
    assert_eq!(entries, 2, "only the run and the film in {dir:?}");
}

#[test]
fn without_a_gpu_adapter_capture_says_what_it_needs() {
    let dir = temp_dir("cap-nogpu");
    let missing = dir.join("no-such-icd.json");
    let missing = missing.to_str().unwrap();
    let film = dir.join("film");
    let o = nnm_offscreen(
        &[
            "capture",
            "xor",
            "--out",
            film.to_str().unwrap(),
            "--no-record",
        ],
        &[("VK_DRIVER_FILES", missing), ("VK_ICD_FILENAMES", missing)],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("no GPU adapter") && err.contains("needs no display"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    assert!(!film.exists(), "no empty film is left behind");
}

#[test]
fn the_edge_of_stability_dashboard_films_four_panels_repeatably() {
    let dir = temp_dir("cap-dashboard");
    let flags = [
        "--layout",
        "dashboard",
        "--size",
        "640x360",
        "--frames",
        "6",
        "--steps-per-frame",
        "300",
        "--no-title",
        "--no-record",
    ];
    let (a, b) = (dir.join("a"), dir.join("b"));
    capture("edge-of-stability", &a, &flags, &[]);
    capture("edge-of-stability", &b, &flags, &[]);
    let (fa, fb) = (png_frames(&a), png_frames(&b));
    assert_eq!(fa.len(), 6);
    for (x, y) in fa.iter().zip(&fb) {
        assert!(
            std::fs::read(x).unwrap() == std::fs::read(y).unwrap(),
            "{x:?} and {y:?} differ"
        );
    }
    // The last frame, 1,500 steps in: each quadrant holds its plot.
    let img = Image::load(fa.last().unwrap());
    let (w, h) = (img.width, img.height);
    let quadrants = [
        ("fit", (0, 0, w / 2, h / 2)),
        ("loss", (w / 2, 0, w, h / 2)),
        ("sharpness", (0, h / 2, w / 2, h)),
        ("projection", (w / 2, h / 2, w, h)),
    ];
    for (name, area) in quadrants {
        let text = img.count(area, |[r, g, b]| {
            r > 150 && r.abs_diff(g) < 20 && g.abs_diff(b) < 20
        });
        assert!(text > 200, "{name}: {text} light pixels (title, axes)");
    }
    // The fit draws the network's curve in orange, the sharpness plot λ in yellow.
    let orange = img.count(quadrants[0].1, |[r, g, b]| {
        r > 200 && (100..180).contains(&g) && b < 90
    });
    assert!(orange > 100, "{orange} orange pixels of the fit");
    let yellow = img.count(quadrants[2].1, |[r, g, b]| r > 200 && g > 160 && b < 100);
    assert!(yellow > 100, "{yellow} yellow pixels of λ_max");
    // An MP4 of it is written through ffmpeg, and is the same bytes twice.
    common::ensure_ffmpeg();
    let mp4 = |name: &str| {
        let out = dir.join(name);
        capture(
            "edge-of-stability",
            &out,
            &[
                "--layout",
                "dashboard",
                "--size",
                "320x180",
                "--frames",
                "4",
                "--steps-per-frame",
                "100",
                "--no-record",
            ],
            &[],
        );
        std::fs::read(&out).unwrap()
    };
    let (m1, m2) = (mp4("one.mp4"), mp4("two.mp4"));
    assert!(m1.len() > 1000);
    assert!(m1 == m2, "two MP4 films of one scene differ");
}

/// Trains the quick trainability fractal (64 × 64) into `dir/quick`.
fn fractal_quick(dir: &Path) -> PathBuf {
    let out = dir.join("quick");
    let o = Command::new(env!("CARGO_BIN_EXE_nnm"))
        .args(["sweep", "trainability-fractal-quick", "--out"])
        .arg(&out)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("nnm runs");
    assert!(o.status.success(), "{}", stderr(&o));
    out
}

#[test]
fn a_sweep_is_filmed_as_the_browser_over_its_height_field_zooming_in_lock_step() {
    let dir = temp_dir("cap-browser");
    let sweep = fractal_quick(&dir);
    let source = sweep.to_str().unwrap();
    let zoom_flags = [
        "--size",
        "960x540",
        "--fps",
        "12",
        "--frames",
        "24",
        "--zoom",
        "300:3000,100:200",
        "--zoom-levels",
        "8,16",
    ];
    // The zoom's folder, beside the sweep; removed between films so that the
    // second zoom gets the same name (the status line shows it).
    let folder = dir.join("trainability-fractal-quick-zoom_001");
    let a = dir.join("a");
    let o = capture(source, &a, &zoom_flags, &[]);
    assert!(stdout(&o).contains("captured 24 frames"), "{}", stdout(&o));
    let frames = png_frames(&a);
    assert_eq!(frames.len(), 24);
    let first = Image::load(&frames[0]);
    assert_eq!((first.width, first.height), (960, 540));
    // Every level of the zoom was trained, and kept, as in the browser.
    for n in [8usize, 16] {
        let models = std::fs::read_to_string(folder.join(format!("{n}x{n}/models.csv")))
            .expect("the zoom's level was written");
        assert_eq!(models.lines().count(), n * n + 1, "{n}x{n}");
    }
    // The same command makes the same film, however long each chunk took to train.
    std::fs::remove_dir_all(&folder).unwrap();
    let b = dir.join("b");
    capture(source, &b, &zoom_flags, &[]);
    let other = png_frames(&b);
    assert_eq!(other.len(), frames.len());
    for (x, y) in frames.iter().zip(&other) {
        assert!(
            std::fs::read(x).unwrap() == std::fs::read(y).unwrap(),
            "{x:?} and {y:?} differ"
        );
    }
    // The camera flies: the first and the sixth frame (before the zoom) differ.
    assert!(first.mean_difference(&Image::load(&frames[5])) > 0.002);
    // Without the zoom, the same path over the same field: identical until
    // the zoom's first chunk arrives (frame 6), different once it has.
    let c = dir.join("c");
    capture(source, &c, &zoom_flags[..6], &[]);
    let plain = png_frames(&c);
    assert_eq!(plain.len(), 24);
    let frame = |d: &[PathBuf], i: usize| Image::load(&d[i]);
    // The height field's part of the frame: the centre view, below its header.
    let (w, h) = (first.width, first.height);
    let field = (w * 6 / 10, h * 3 / 10, w, h - 24);
    let before = frame(&frames, 5).region_difference(&frame(&plain, 5), field);
    assert!(before < 0.5, "before the zoom the fields agree: {before}");
    let after = frame(&frames, 23).region_difference(&frame(&plain, 23), field);
    assert!(
        after > 2.0,
        "the zoomed film shows the refined window: {after}"
    );
}

#[test]
fn a_film_of_the_browser_refuses_a_scene_s_settings() {
    let dir = temp_dir("cap-browser-flags");
    std::fs::create_dir_all(dir.join("empty")).unwrap();
    let o = nnm_offscreen(
        &[
            "capture",
            dir.join("empty").to_str().unwrap(),
            "--out",
            dir.join("x").to_str().unwrap(),
            "--seed",
            "3",
        ],
        &[],
    );
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("--seed does not apply to a film of the browser"),
        "{}",
        stderr(&o)
    );
    let o = nnm_offscreen(
        &[
            "capture",
            "xor",
            "--out",
            dir.join("y").to_str().unwrap(),
            "--zoom",
            "1:2,1:2",
        ],
        &[],
    );
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("--zoom films the compare view"),
        "{}",
        stderr(&o)
    );
}
