//! The `nnm` binary's headless commands, run as a user would.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test that cannot unwrap has failed, and says where"
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;

use common::{Scratch, nnm, run_frame, temp_dir};

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The `key=value` fields of the `final:` line, which must be the only one.
fn final_fields(out: &str) -> Vec<(String, String)> {
    let finals: Vec<&str> = out.lines().filter(|l| l.starts_with("final: ")).collect();
    assert_eq!(
        finals.len(),
        1,
        "expected exactly one final line in:\n{out}"
    );
    finals[0]["final: ".len()..]
        .split(' ')
        .map(|kv| {
            let (k, v) = kv.split_once('=').expect("key=value");
            (k.to_string(), v.to_string())
        })
        .collect()
}

fn field<'a>(fields: &'a [(String, String)], key: &str) -> &'a str {
    &fields
        .iter()
        .find(|(k, _)| k == key)
        .unwrap_or_else(|| panic!("no {key}"))
        .1
}

#[test]
fn train_writes_a_run_directory_and_one_final_line() {
    let out_dir = temp_dir("train");
    let o = nnm(&[
        "train",
        "xor",
        "--steps",
        "60",
        "--seed",
        "9",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let fields = final_fields(&stdout(&o));
    let keys: Vec<&str> = fields.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        keys,
        ["step", "train_loss", "test_loss", "test_accuracy", "run"]
    );
    assert_eq!(field(&fields, "step"), "60");
    let acc: f32 = field(&fields, "test_accuracy").parse().unwrap();
    assert!((0.0..=1.0).contains(&acc));
    let run = PathBuf::from(field(&fields, "run"));
    assert_eq!(run, out_dir.join("xor_001"));
    let scene = std::fs::read_to_string(run.join("scene.ron")).unwrap();
    assert!(
        scene.contains("seed: 9"),
        "the resolved scene keeps the seed:\n{scene}"
    );
    assert!(scene.contains("steps: 60"));
    let metrics = std::fs::read_to_string(run.join("metrics.csv")).unwrap();
    assert!(
        metrics.starts_with("step,train_loss,test_loss,test_accuracy")
            || metrics.starts_with("step,train_loss,test_loss,")
    );
    for col in ["step", "train_loss", "test_loss", "test_accuracy"] {
        assert!(
            metrics.lines().next().unwrap().split(',').any(|c| c == col),
            "{col}"
        );
    }
    // Rows at 0, 10, ..., 50 and the final 60.
    assert_eq!(metrics.lines().count(), 1 + 7);
    assert!(run.join("frames.nnmr").metadata().unwrap().len() > 1000);
    // A second run never overwrites the first.
    let o2 = nnm(&[
        "train",
        "xor",
        "--steps",
        "5",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert!(field(&final_fields(&stdout(&o2)), "run").ends_with("xor_002"));
}

#[test]
fn rerunning_a_runs_scene_reproduces_its_metrics_exactly() {
    let out_dir = temp_dir("repro");
    let root = out_dir.to_str().unwrap();
    let first = nnm(&[
        "train",
        "circles-vs-squares",
        "--steps",
        "120",
        "--seed",
        "4",
        "--out",
        root,
    ]);
    assert!(first.status.success(), "{}", stderr(&first));
    let run1 = PathBuf::from(field(&final_fields(&stdout(&first)), "run"));
    let again = nnm(&[
        "train",
        run1.join("scene.ron").to_str().unwrap(),
        "--out",
        root,
    ]);
    assert!(again.status.success(), "{}", stderr(&again));
    let run2 = PathBuf::from(field(&final_fields(&stdout(&again)), "run"));
    assert_ne!(run1, run2);
    let m1 = std::fs::read(run1.join("metrics.csv")).unwrap();
    let m2 = std::fs::read(run2.join("metrics.csv")).unwrap();
    assert_eq!(String::from_utf8_lossy(&m1), String::from_utf8_lossy(&m2));
    assert_eq!(
        std::fs::read(run1.join("frames.nnmr")).unwrap(),
        std::fs::read(run2.join("frames.nnmr")).unwrap()
    );
    // The run directory itself re-runs too (with the edits it logged, here none).
    let third = nnm(&["train", run1.to_str().unwrap(), "--out", root]);
    assert!(third.status.success(), "{}", stderr(&third));
    let run3 = PathBuf::from(field(&final_fields(&stdout(&third)), "run"));
    assert_eq!(
        String::from_utf8_lossy(&m1),
        std::fs::read_to_string(run3.join("metrics.csv")).unwrap()
    );
}

#[test]
fn regression_adds_the_generalization_error() {
    let out_dir = temp_dir("sine");
    let o = nnm(&[
        "train",
        "sine-1d",
        "--steps",
        "30",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let fields = final_fields(&stdout(&o));
    assert_eq!(field(&fields, "test_accuracy"), "nan");
    let g: f32 = field(&fields, "generalization_error").parse().unwrap();
    assert!(g.is_finite() && g > 0.0);
}

fn write_scene(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn a_wrong_typed_scene_names_file_line_column_and_field() {
    let dir = temp_dir("badscene");
    let p = write_scene(
        &dir,
        "bad.ron",
        "Scene(\n    data: Xor(samples: 100),\n    train: (learning_rate: \"high\"),\n)\n",
    );
    let o = nnm(&["train", p.to_str().unwrap(), "--out", dir.to_str().unwrap()]);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(err.contains(&format!("{}:3:", p.display())), "{err}");
    assert!(err.contains("train.learning_rate"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn an_unknown_data_set_or_activation_lists_the_valid_names() {
    let dir = temp_dir("unknown");
    let p = write_scene(&dir, "u.ron", "Scene(data: Checkerboard(samples: 100))");
    let err = stderr(&nnm(&[
        "train",
        p.to_str().unwrap(),
        "--out",
        dir.to_str().unwrap(),
    ]));
    for name in ["Circle", "Xor", "Spiral", "Mnist", "Function1d"] {
        assert!(err.contains(name), "{name} missing: {err}");
    }
    let p = write_scene(
        &dir,
        "a.ron",
        "Scene(data: Xor(samples: 100), model: (activation: Swish))",
    );
    let err = stderr(&nnm(&[
        "train",
        p.to_str().unwrap(),
        "--out",
        dir.to_str().unwrap(),
    ]));
    for name in ["Relu", "Tanh", "Sigmoid", "Gelu", "Linear"] {
        assert!(err.contains(name), "{name} missing: {err}");
    }
}

/// Your own data: a CSV file with a header and a label column trains from a
/// scene; a missing value fails naming the file, row and column.
#[test]
fn a_csv_data_set_trains_and_a_missing_value_names_its_row_and_column() {
    let dir = temp_dir("csv");
    // Three classes by the angle of (x, y): sectors of 120 degrees.
    let mut csv = String::from("x,y,sector\n");
    for i in 0..300 {
        let angle = i as f32 * 2.399_963;
        let r = 1.0 + (i % 7) as f32 * 0.3;
        let (x, y) = (r * angle.cos(), r * angle.sin());
        let sector =
            ((angle.rem_euclid(std::f32::consts::TAU)) / (std::f32::consts::TAU / 3.0)) as usize;
        csv.push_str(&format!("{x},{y},{}\n", ["a", "b", "c"][sector.min(2)]));
    }
    let data = dir.join("sectors.csv");
    std::fs::write(&data, &csv).unwrap();
    let scene = format!(
        "Scene(seed: 1, data: Csv(path: \"{}\", target: \"sector\", task: Classification), \
         model: (hidden: [16], activation: Relu), \
         train: (optimizer: Adam, learning_rate: 0.02, batch_size: 32, steps: 600))",
        data.display()
    );
    let p = write_scene(&dir, "csv.ron", &scene);
    let o = nnm(&["train", p.to_str().unwrap(), "--out", dir.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let fields = final_fields(&stdout(&o));
    let accuracy: f32 = field(&fields, "test_accuracy").parse().unwrap();
    assert!(accuracy > 0.85, "{accuracy}");

    let lines: Vec<&str> = csv.lines().collect();
    let mut broken = lines.clone();
    broken[7] = "0.5,,b";
    std::fs::write(&data, broken.join("\n")).unwrap();
    let o = nnm(&["train", p.to_str().unwrap(), "--out", dir.to_str().unwrap()]);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(err.contains(&data.display().to_string()), "{err}");
    assert!(err.contains("row 8") && err.contains("column `y`"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn a_missing_mnist_file_names_the_path() {
    let dir = temp_dir("mnist");
    let p = write_scene(
        &dir,
        "m.ron",
        "Scene(data: Mnist(images: \"/data/mnist/train-images-idx3-ubyte.gz\"))",
    );
    let o = nnm(&["train", p.to_str().unwrap(), "--out", dir.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("/data/mnist/train-images-idx3-ubyte.gz"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_diverging_learning_rate_ends_the_run_as_diverged() {
    let dir = temp_dir("diverge");
    let p = write_scene(
        &dir,
        "hot.ron",
        "Scene(name: \"hot\", data: Function1d(samples: 64), model: (hidden: [16], activation: Relu),
              train: (optimizer: Sgd, learning_rate: 1000000.0, steps: 200, eval_every: 1))",
    );
    let o = nnm(&["train", p.to_str().unwrap(), "--out", dir.to_str().unwrap()]);
    assert!(
        o.status.success(),
        "a diverged run is a result, not a crash: {}",
        stderr(&o)
    );
    assert!(!stderr(&o).contains("panicked"));
    assert!(stderr(&o).contains("diverged"), "{}", stderr(&o));
    let fields = final_fields(&stdout(&o));
    assert_eq!(field(&fields, "status"), "diverged");
    let steps: u64 = field(&fields, "step").parse().unwrap();
    assert!(steps < 200);
    let run = PathBuf::from(field(&fields, "run"));
    let metrics = std::fs::read_to_string(run.join("metrics.csv")).unwrap();
    let last = metrics.lines().last().unwrap();
    assert!(last.ends_with(",diverged"), "{metrics}");
    // Rows before divergence hold real numbers, not NaN garbage.
    for line in metrics.lines().skip(1).filter(|l| l.ends_with(",ok")) {
        assert!(!line.split(',').nth(1).unwrap().contains("nan"), "{line}");
    }
}

#[test]
fn scenes_lists_and_checks_the_presets() {
    let o = nnm(&["scenes"]);
    assert!(o.status.success());
    let out = stdout(&o);
    for preset in [
        "default",
        "xor",
        "spiral",
        "circles-vs-squares",
        "digits8x8",
        "mnist",
        "sine-1d",
        "exhibition",
    ] {
        assert!(
            out.lines().any(|l| l.starts_with(preset)),
            "{preset} not listed:\n{out}"
        );
    }
    let o = nnm(&["scenes", "--check"]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).lines().all(|l| l.starts_with("ok")),
        "{}",
        stdout(&o)
    );
    // A broken preset fails the check with a non-zero exit.
    let dir = temp_dir("check");
    write_scene(&dir, "broken.ron", "Scene(data: Xor(samples: 5))");
    let o = nnm(&["scenes", "--check", "--scenes", dir.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(stdout(&o).contains("data.samples"), "{}", stdout(&o));
}

#[test]
#[cfg(feature = "app")]
fn without_a_display_view_explains_what_it_needs() {
    let o = Command::new(env!("CARGO_BIN_EXE_nnm"))
        .args(["view", "xor"])
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(err.contains("no display"), "{err}");
    assert!(
        err.contains("nnm train"),
        "it names the headless commands: {err}"
    );
    assert!(
        !err.contains("panicked") && !err.contains("backtrace"),
        "{err}"
    );
}

#[test]
#[cfg(feature = "app")]
fn a_pace_that_is_not_one_is_refused_naming_the_flag() {
    for rate in ["-3", "NaN"] {
        let o = Command::new(env!("CARGO_BIN_EXE_nnm"))
            .args(["view", "xor", "--steps-per-second", rate])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .unwrap();
        assert!(!o.status.success());
        let err = stderr(&o);
        assert!(
            err.contains("--steps-per-second") && err.contains("not a pace"),
            "{rate}: {err}"
        );
    }
}

/// Trains `scene` for `steps` into a fresh folder; returns the folder and the run directory.
fn trained_run(tag: &str, scene: &str, steps: u64) -> (Scratch, PathBuf) {
    let out_dir = temp_dir(tag);
    let o = nnm(&[
        "train",
        scene,
        "--steps",
        &steps.to_string(),
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let run = PathBuf::from(field(&final_fields(&stdout(&o)), "run"));
    (out_dir, run)
}

#[test]
fn runs_lists_shows_prints_frames_and_exports() {
    let (_out, run) = trained_run("runs", "xor", 40);
    let root = run.parent().unwrap().to_str().unwrap().to_string();
    let o = nnm(&["runs", "--dir", &root]);
    assert!(o.status.success(), "{}", stderr(&o));
    let line = stdout(&o)
        .lines()
        .find(|l| l.starts_with("xor_001"))
        .map(str::to_string)
        .expect("listed");
    assert!(
        line.contains(" xor ") && line.contains(" 40 ") && line.ends_with("ok"),
        "{line}"
    );

    let o = nnm(&["runs", "show", run.to_str().unwrap(), "--verify"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let show = stdout(&o);
    // Steps 0 to 39 before their updates, and the final state of step 40.
    assert!(show.contains("41 recorded, steps 0..=40"), "{show}");
    assert!(
        show.contains("damage     none (every checksum verified)"),
        "{show}"
    );
    assert!(show.contains("final      step 40"), "{show}");
    let o = nnm(&[
        "runs",
        "show",
        run.to_str().unwrap(),
        "--full",
        "--step",
        "17",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let full = stdout(&o);
    for needle in [
        "config      xor data",
        "parameters  ",
        "layers at step 17:",
        "checkpoints step 40",
    ] {
        assert!(full.contains(needle), "`{needle}` missing from:\n{full}");
    }

    let o = nnm(&["runs", "frame", run.to_str().unwrap(), "--step", "17"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("JSON");
    assert_eq!(v["step"], 17);
    assert_eq!(v["layers"].as_array().unwrap().len(), 2);
    assert_eq!(v["layers"][0]["weights"].as_array().unwrap().len(), 2 * 8);
    for key in [
        "biases",
        "weight_grads",
        "bias_grads",
        "activations",
        "pre_activations",
        "mean_activations",
    ] {
        assert!(v["layers"][0][key].is_array(), "{key}");
    }
    assert!(v["metrics"]["batch_loss"].is_number());
    // The final line's network can be inspected; past it is an error, not
    // the last frame under another step's name.
    let o = nnm(&["runs", "frame", run.to_str().unwrap(), "--step", "40"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("JSON");
    assert_eq!(v["step"], 40);
    assert_eq!(v["evaluation"]["step"], 40);
    let o = nnm(&["runs", "frame", run.to_str().unwrap(), "--step", "99999"]);
    assert!(!o.status.success(), "{}", stdout(&o));
    assert!(
        stderr(&o).contains("step 99999 is outside the recorded steps 0..=40"),
        "{}",
        stderr(&o)
    );
    assert!(stdout(&o).is_empty(), "{}", stdout(&o));

    let json = run.join("m.json");
    let csv = run.join("m.csv");
    for f in [&json, &csv] {
        let o = nnm(&[
            "runs",
            "export",
            run.to_str().unwrap(),
            "--metrics",
            f.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let rows: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 5);
    assert_eq!(rows[4]["step"], 40);
    assert_eq!(
        std::fs::read_to_string(&csv).unwrap(),
        std::fs::read_to_string(run.join("metrics.csv")).unwrap()
    );
    let bad = nnm(&[
        "runs",
        "export",
        run.to_str().unwrap(),
        "--metrics",
        "/tmp/m.txt",
    ]);
    assert!(!bad.status.success() && stderr(&bad).contains(".csv or .json"));
    let missing = nnm(&["runs", "show", "/no/such/run"]);
    assert!(!missing.status.success() && stderr(&missing).contains("/no/such/run"));
}

#[test]
fn a_killed_run_keeps_every_complete_record() {
    let out_dir = temp_dir("kill");
    let mut child = Command::new(env!("CARGO_BIN_EXE_nnm"))
        .args([
            "train",
            "mnist",
            "--steps",
            "100000",
            "--out",
            out_dir.to_str().unwrap(),
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let run = out_dir.join("mnist_001");
    // Let it record for a while, then kill it without warning (SIGKILL).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while std::fs::metadata(run.join("frames.nnmr")).map_or(0, |m| m.len()) < 8 << 20 {
        assert!(
            std::time::Instant::now() < deadline,
            "the run did not record"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let o = nnm(&["runs", "show", run.to_str().unwrap(), "--verify"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let show = stdout(&o);
    let recorded: u64 = show
        .lines()
        .find_map(|l| l.strip_prefix("frames     "))
        .and_then(|l| l.split(' ').next())
        .and_then(|n| n.parse().ok())
        .expect("a frames line");
    assert!(recorded >= 10, "{show}");
    // Every complete record reads back; the metrics file is cut at most mid-row.
    let o = nnm(&[
        "runs",
        "frame",
        run.to_str().unwrap(),
        "--step",
        &(recorded - 1).to_string(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["step"], recorded - 1);
    // Cutting the recording anywhere keeps the records before the cut.
    let bytes = std::fs::read(run.join("frames.nnmr")).unwrap();
    for fraction in [0.31, 0.57, 0.83] {
        let cut = (bytes.len() as f64 * fraction) as usize;
        std::fs::write(run.join("frames.nnmr"), &bytes[..cut]).unwrap();
        let o = nnm(&["runs", "show", run.to_str().unwrap()]);
        assert!(o.status.success(), "{}", stderr(&o));
        let show = stdout(&o);
        assert!(
            show.contains("damage     from byte"),
            "a cut mid-record is reported:\n{show}"
        );
    }
}

#[test]
#[cfg(feature = "app")]
fn capture_refuses_bad_flags_and_camera_paths_clearly() {
    let dir = temp_dir("capture-bad");
    let out = dir.join("film.mp4");
    let out = out.to_str().unwrap();
    let refuse = |args: &[&str], says: &[&str]| {
        let o = nnm(args);
        assert!(!o.status.success(), "{args:?} should fail");
        let err = stderr(&o);
        for s in says {
            assert!(err.contains(s), "{args:?}: want {s:?} in {err}");
        }
        assert!(!err.contains("panicked"), "{err}");
    };
    refuse(
        &["capture", "xor", "--out", out, "--size", "7680x4320"],
        &["--size", "3840x2160"],
    );
    refuse(
        &["capture", "xor", "--out", "film.avi"],
        &["film.avi", ".mp4", ".gif"],
    );
    refuse(&["capture", "xor", "--out", out, "--fps", "0"], &["--fps"]);
    refuse(
        &["capture", "xor", "--out", out, "--steps-per-frame", "0"],
        &["--steps-per-frame"],
    );
    refuse(
        &["capture", "no-such-scene", "--out", out],
        &["no-such-scene"],
    );
    let p = write_scene(
        &dir,
        "path.ron",
        "Scene(\n    data: Xor(samples: 100),\n    model: (hidden: [4]),\n    view: (camera: Still(focus: Layer(5))),\n)\n",
    );
    refuse(
        &["capture", p.to_str().unwrap(), "--out", out],
        &[
            "path.ron",
            "view.camera.focus",
            "layer 5",
            "0 (inputs) to 2",
        ],
    );
    let (_out, run) = trained_run("capture-bad-run", "xor", 10);
    refuse(
        &[
            "capture",
            run.to_str().unwrap(),
            "--out",
            out,
            "--seed",
            "3",
        ],
        &["--seed", "recorded"],
    );
    assert!(
        !Path::new(out).exists(),
        "nothing is written when the flags are wrong"
    );
}

#[test]
fn every_preset_trains_its_first_200_steps_headless() {
    let dir = temp_dir("presets-200");
    let mut presets: Vec<PathBuf> =
        std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("scenes"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "ron"))
            .collect();
    presets.sort();
    let lessons = presets
        .iter()
        .filter(|p| std::fs::read_to_string(p).unwrap().contains("lesson:"))
        .count();
    assert!(lessons >= 8, "{lessons} lesson presets");
    for preset in &presets {
        let o = nnm(&[
            "train",
            preset.to_str().unwrap(),
            "--steps",
            "200",
            "--out",
            dir.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{preset:?}: {}", stderr(&o));
        let fields = final_fields(&stdout(&o));
        assert_eq!(field(&fields, "step"), "200", "{preset:?}");
        assert!(
            !stdout(&o).contains("diverged"),
            "{preset:?} diverged: {}",
            stdout(&o)
        );
    }
}

#[test]
fn a_measured_run_writes_sharpness_everywhere() {
    let dir = temp_dir("sharpness");
    let o = nnm(&[
        "train",
        "edge-of-stability",
        "--steps",
        "40",
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let fields = final_fields(&stdout(&o));
    let lambda: f32 = field(&fields, "sharpness").parse().unwrap();
    assert_eq!(field(&fields, "sharpness_threshold"), "50.000000");
    assert!(lambda > 10.0 && lambda < 50.0, "{lambda}");
    let run = PathBuf::from(field(&fields, "run"));
    let metrics = std::fs::read_to_string(run.join("metrics.csv")).unwrap();
    let header: Vec<&str> = metrics.lines().next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|c| *c == name).unwrap();
    for line in metrics.lines().skip(1) {
        let cells: Vec<&str> = line.split(',').collect();
        let lambda: f32 = cells[col("sharpness")].parse().unwrap();
        let threshold: f32 = cells[col("sharpness_threshold")].parse().unwrap();
        let ratio: f32 = cells[col("sharpness_ratio")].parse().unwrap();
        assert!(lambda.is_finite() && threshold == 50.0, "{line}");
        assert!((ratio - lambda / threshold).abs() < 1e-5, "{line}");
    }
    // Rows before the last carry the update that followed them.
    let first: Vec<&str> = metrics.lines().nth(1).unwrap().split(',').collect();
    assert!(first[col("update_projection")].parse::<f32>().unwrap() >= 0.0);
    // Frames and their exports carry the projection of their update too.
    let frame = nnm(&["runs", "frame", run.to_str().unwrap(), "--step", "15"]);
    assert!(frame.status.success(), "{}", stderr(&frame));
    let json: serde_json::Value = serde_json::from_str(&stdout(&frame)).unwrap();
    assert!(
        json["metrics"]["update_projection"].as_f64().is_some(),
        "{json}"
    );
    assert_eq!(json["evaluation"]["step"], 10);
    assert!(json["evaluation"]["sharpness"].as_f64().is_some());
}

#[test]
fn a_killed_run_resumes_from_its_checkpoint_to_the_metrics_of_an_uninterrupted_run() {
    let dir = temp_dir("resume");
    let scene = write_scene(
        &dir,
        "resume.ron",
        r#"Scene(
    name: "resume",
    seed: 7,
    data: Spiral(samples: 300),
    model: (hidden: [12, 8], activation: Relu),
    train: (optimizer: Adam, learning_rate: 0.01, batch_size: 16, steps: 100000, eval_every: 25),
    record: (checkpoint_every: 200),
)"#,
    );
    let scene = scene.to_str().unwrap();
    let (whole, killed) = (dir.join("whole"), dir.join("killed"));
    let o = nnm(&[
        "train",
        scene,
        "--steps",
        "1500",
        "--out",
        whole.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let whole_run = PathBuf::from(field(&final_fields(&stdout(&o)), "run"));
    // The same scene trains towards 100,000 steps and is killed (SIGKILL)
    // once its checkpoint of step 400 is in place.
    let mut child = Command::new(env!("CARGO_BIN_EXE_nnm"))
        .args(["train", scene, "--out", killed.to_str().unwrap()])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let run = killed.join("resume_001");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !run.join("checkpoints/step_400/state.ron").is_file() {
        assert!(std::time::Instant::now() < deadline, "no checkpoint came");
        assert!(child.try_wait().unwrap().is_none(), "the run ended early");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    for name in ["model.mpk", "optimizer.mpk", "state.ron"] {
        assert!(
            run.join("checkpoints/step_200").join(name).is_file(),
            "{name}"
        );
    }
    // Resumed to 1,500 steps in place: the metrics of the uninterrupted run.
    let o = nnm(&[
        "train",
        "--resume",
        run.to_str().unwrap(),
        "--steps",
        "1500",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let resumed = final_fields(&stdout(&o));
    assert_eq!(field(&resumed, "run"), run.to_str().unwrap());
    assert_eq!(field(&resumed, "step"), "1500");
    for file in ["metrics.csv", "layers.csv", "scene.ron"] {
        let a = std::fs::read_to_string(whole_run.join(file)).unwrap();
        let b = std::fs::read_to_string(run.join(file)).unwrap();
        assert!(a == b, "{file} differs:\n{a}\n---\n{b}");
    }
    // The recording holds every step once, in order, and the final state,
    // and verifies.
    let o = nnm(&["runs", "show", run.to_str().unwrap(), "--verify"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("frames     1501 recorded, steps 0..=1500 "),
        "{}",
        stdout(&o)
    );
    // A run with nothing to resume from says so.
    let o = nnm(&["train", "--resume", dir.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("scene.ron"), "{}", stderr(&o));
}

#[test]
fn compare_tabs_are_parsed_once_and_their_aliases_agree() {
    // A wrong name is refused by the parser, which lists the views.
    let o = nnm(&["compare", "no-such-dir", "--tab", "globe"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    for name in ["parallel", "curves", "scatter", "landscape", "terrain"] {
        assert!(err.contains(name), "{name} missing from: {err}");
    }
    // `terrain` and its alias `height-field` both parse: the command then
    // fails on the folder, not on the tab.
    for tab in ["terrain", "height-field"] {
        let o = nnm(&["compare", "no-such-dir", "--tab", tab, "--csv", "t.csv"]);
        assert!(!o.status.success());
        let err = stderr(&o);
        assert!(
            err.contains("no-such-dir") && !err.contains("--tab"),
            "{tab}: {err}"
        );
    }
}

/// A PyTorch-named checkpoint (`net.0.weight` `[out, in]`, ...) of a 2-8-2
/// network at `step`, its values a function of the step.
fn torch_checkpoint(dir: &Path, step: u64, second_inputs: usize) -> Vec<Vec<f32>> {
    use safetensors::tensor::{Dtype, TensorView};
    let value = |i: usize| (i as f32 * 0.37 + step as f32 * 0.011).sin() * 0.8;
    let shapes = [
        ("net.0.weight", vec![8, 2]),
        ("net.0.bias", vec![8]),
        ("net.2.weight", vec![2, second_inputs]),
        ("net.2.bias", vec![2]),
    ];
    let values: Vec<Vec<f32>> = shapes
        .iter()
        .enumerate()
        .map(|(t, (_, s))| {
            (0..s.iter().product::<usize>())
                .map(|i| value(i + 100 * t))
                .collect()
        })
        .collect();
    let bytes: Vec<Vec<u8>> = values
        .iter()
        .map(|v| v.iter().flat_map(|x| x.to_le_bytes()).collect())
        .collect();
    let views: Vec<(String, TensorView<'_>)> = shapes
        .iter()
        .zip(&bytes)
        .map(|((n, s), b)| {
            (
                n.to_string(),
                TensorView::new(Dtype::F32, s.clone(), b).unwrap(),
            )
        })
        .collect();
    let metadata = std::collections::HashMap::from([
        ("format".to_string(), "pt".to_string()),
        ("loss".to_string(), format!("{}", 1.0 / (1.0 + step as f64))),
        ("reward".to_string(), format!("{}", step as f64 * 0.5)),
    ]);
    let file = dir.join(format!("ckpt_{step:06}.safetensors"));
    std::fs::write(
        file,
        safetensors::tensor::serialize(views, Some(metadata)).unwrap(),
    )
    .unwrap();
    values
}

#[test]
fn import_turns_pytorch_checkpoints_into_a_run_with_their_exact_weights() {
    let dir = temp_dir("import");
    let ckpts = dir.join("ckpts");
    std::fs::create_dir_all(&ckpts).unwrap();
    let steps = [0u64, 10, 20, 30, 40];
    let written: Vec<Vec<Vec<f32>>> = steps
        .iter()
        .map(|&s| torch_checkpoint(&ckpts, s, 8))
        .collect();
    let out = dir.join("runs");
    // A training loop's own log, every 5 steps, with a text column.
    let log = dir.join("log.csv");
    let rows: String = (0..=40)
        .step_by(5)
        .map(|s| format!("{s},{},train\n", s as f64 / 100.0))
        .collect();
    std::fs::write(&log, format!("step,accuracy,phase\n{rows}")).unwrap();
    let o = nnm(&[
        "import",
        ckpts.to_str().unwrap(),
        "--data",
        "xor",
        "--activation",
        "tanh",
        "--metrics",
        log.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let fields = final_fields(&stdout(&o));
    assert_eq!(field(&fields, "step"), "40");
    assert!(
        field(&fields, "test_loss").parse::<f64>().is_ok(),
        "{fields:?}"
    );
    let run = PathBuf::from(field(&fields, "run"));
    for (k, &step) in steps.iter().enumerate() {
        let v = run_frame(&run, step);
        assert_eq!(v["step"], step);
        // The lab keeps [in][out]; torch wrote [out][in].
        for (layer, (w, b), n_in, n_out) in [(0, (0, 1), 2, 8), (1, (2, 3), 8, 2)] {
            let weights = v["layers"][layer]["weights"].as_array().unwrap();
            assert_eq!(weights.len(), n_in * n_out);
            for i in 0..n_in {
                for o in 0..n_out {
                    let got = weights[i * n_out + o].as_f64().unwrap();
                    let sent = f64::from(written[k][w][o * n_in + i]);
                    assert!(
                        (got - sent).abs() <= 1e-6,
                        "step {step} layer {layer} [{i}][{o}]: {got} vs {sent}"
                    );
                }
            }
            let biases = v["layers"][layer]["biases"].as_array().unwrap();
            for (o, got) in biases.iter().enumerate() {
                assert!((got.as_f64().unwrap() - f64::from(written[k][b][o])).abs() <= 1e-6);
            }
        }
        assert!(
            v["layers"][0]["activations"].is_array(),
            "the probe is followed through it"
        );
        assert_eq!(
            v["evaluation"]["step"], step,
            "each checkpoint is evaluated"
        );
    }
    let scalars = std::fs::read_to_string(run.join("scalars.csv")).unwrap();
    for step in steps {
        let reward = format!("{step},reward,{}", step as f64 * 0.5);
        assert!(
            scalars.lines().any(|l| l == reward),
            "{reward} missing from:\n{scalars}"
        );
    }
    // The log's numbers at every step it has, between checkpoints too, in step order.
    let accuracy: Vec<&str> = scalars
        .lines()
        .filter(|l| l.contains(",accuracy,"))
        .collect();
    let expected: Vec<String> = (0..=40)
        .step_by(5)
        .map(|s| format!("{s},accuracy,{}", s as f64 / 100.0))
        .collect();
    assert_eq!(accuracy, expected, "{scalars}");
    assert!(!scalars.contains("phase"), "text is not a scalar");
    let sources = std::fs::read_to_string(run.join("imported_from.txt")).unwrap();
    assert!(sources.contains("ckpt_000030.safetensors"), "{sources}");

    // A checkpoint missing from the series is named by its step.
    std::fs::remove_file(ckpts.join("ckpt_000020.safetensors")).unwrap();
    let o = nnm(&[
        "import",
        ckpts.to_str().unwrap(),
        "--data",
        "xor",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("the checkpoint of step 20 is missing"),
        "{}",
        stderr(&o)
    );

    // Shapes that do not chain name the file, the tensor and both shapes.
    let bad = dir.join("bad");
    std::fs::create_dir_all(&bad).unwrap();
    torch_checkpoint(&bad, 5, 7);
    let o = nnm(&[
        "import",
        bad.to_str().unwrap(),
        "--data",
        "xor",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    let e = stderr(&o);
    for part in [
        "ckpt_000005.safetensors",
        "`net.2.weight`",
        "[2, 7]",
        "`net.0.weight`",
        "8 outputs",
    ] {
        assert!(e.contains(part), "{part} missing from: {e}");
    }
}

/// The `metrics.csv` rows of `run` by step (the columns up to `batch_loss`:
/// what the weights alone decide, and the step's loss).
fn metric_rows(run: &Path) -> Vec<(u64, String)> {
    let text = std::fs::read_to_string(run.join("metrics.csv")).unwrap();
    text.lines()
        .skip(1)
        .map(|l| {
            let fields: Vec<&str> = l.split(',').collect();
            (fields[0].parse().unwrap(), fields[1..7].join(","))
        })
        .collect()
}

#[test]
fn import_turns_a_runs_own_checkpoints_into_a_run_with_its_exact_metrics() {
    let dir = temp_dir("import-own");
    // A run that kept no frames, only a checkpoint every 50 steps (as a
    // cluster run may): importing it gives it a recording to replay.
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("scenes/spiral.ron"))
            .unwrap();
    let text = text.trim_end().strip_suffix(')').unwrap().to_string()
        + "    record: (frames: false, checkpoint_every: Some(50)),\n)\n";
    let scene = write_scene(&dir, "spiral-ckpt", &text);
    let runs = dir.join("runs");
    let o = nnm(&[
        "train",
        scene.to_str().unwrap(),
        "--steps",
        "200",
        "--out",
        runs.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let trained = final_fields(&stdout(&o));
    let run = PathBuf::from(field(&trained, "run"));
    assert!(!run.join("frames.nnmr").exists());

    // No --data: the checkpoints carry their scene.
    let out = dir.join("imported");
    let o = nnm(&[
        "import",
        run.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let imported = final_fields(&stdout(&o));
    for key in ["step", "train_loss", "test_loss", "test_accuracy"] {
        assert_eq!(field(&imported, key), field(&trained, key), "{key}");
    }
    let copy = PathBuf::from(field(&imported, "run"));
    // Every checkpoint's row equals the training run's row at its step.
    let original = metric_rows(&run);
    let rows = metric_rows(&copy);
    assert_eq!(
        rows.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
        [50, 100, 150, 200]
    );
    // Training evaluated every 20 steps: steps 100 and 200 are in both.
    let mut compared = 0;
    for (step, row) in &rows {
        if let Some((_, want)) = original.iter().find(|(s, _)| s == step) {
            assert_eq!(row, want, "step {step}");
            compared += 1;
        }
    }
    assert_eq!(compared, 2);
    let v = run_frame(&copy, 150);
    assert_eq!(v["step"], 150);
    assert_eq!(v["layers"].as_array().unwrap().len(), 3, "2-32-32-2");
    assert_eq!(v["layers"][0]["weights"].as_array().unwrap().len(), 2 * 32);

    // A burn record alone needs the data, and takes its step from its folder.
    let record = run.join("checkpoints/step_100/model.mpk");
    let o = nnm(&[
        "import",
        record.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("--data is needed"), "{}", stderr(&o));
    let alone = dir.join("alone");
    let o = nnm(&[
        "import",
        record.to_str().unwrap(),
        "--data",
        "spiral",
        "--out",
        alone.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let single = PathBuf::from(field(&final_fields(&stdout(&o)), "run"));
    let at_100 = original.iter().find(|(s, _)| *s == 100).unwrap();
    // The same network, the same numbers (a record alone has no batch loss).
    let rows = metric_rows(&single);
    assert_eq!(rows.len(), 1);
    let without_loss = |row: &str| row.rsplit_once(',').unwrap().0.to_string();
    assert_eq!(
        (rows[0].0, without_loss(&rows[0].1)),
        (100, without_loss(&at_100.1))
    );

    // A checkpoint missing in the middle is named by its step.
    std::fs::remove_dir_all(run.join("checkpoints/step_100")).unwrap();
    let o = nnm(&[
        "import",
        run.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("the checkpoint of step 100 is missing"),
        "{}",
        stderr(&o)
    );
}
