//! `nnm sweep`, run as a user would: the trainability fractal's map, models
//! that train alone as they trained in the sweep, a killed sweep that resumes,
//! shards that merge, a real one-node Slurm, and clear errors.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test that cannot unwrap has failed, and says where"
)]

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

mod common;

use common::output_text as text;

use common::{Image, temp_dir};

/// Runs `nnm` (the given binary) in `work`; panics with its output when it fails.
fn nnm_in(nnm: &Path, work: &Path, args: &[&str]) -> String {
    let o = Command::new(nnm)
        .args(args)
        .current_dir(work)
        .output()
        .expect("nnm runs");
    assert!(o.status.success(), "nnm {args:?}: {}", text(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn nnm(work: &Path, args: &[&str]) -> String {
    nnm_in(Path::new(env!("CARGO_BIN_EXE_nnm")), work, args)
}

/// The failing run's standard error.
fn nnm_fails(work: &Path, args: &[&str]) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_nnm"))
        .args(args)
        .current_dir(work)
        .output()
        .expect("nnm runs");
    assert!(
        !o.status.success(),
        "nnm {args:?} should fail: {}",
        text(&o)
    );
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The `key=value` pairs of the line starting with `prefix`.
fn final_line(stdout: &str, prefix: &str) -> BTreeMap<String, String> {
    let line = stdout
        .lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no `{prefix}` line in\n{stdout}"));
    line.split_whitespace()
        .filter_map(|w| w.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// models.csv as rows of named cells.
fn models_csv(dir: &Path) -> Vec<BTreeMap<String, String>> {
    let text = std::fs::read_to_string(dir.join("models.csv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    lines
        .map(|l| {
            header
                .iter()
                .zip(l.split(','))
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

/// curves.csv.gz: each model's (step, loss) points.
fn curves(dir: &Path) -> BTreeMap<usize, Vec<(u64, f32)>> {
    let mut text = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(dir.join("curves.csv.gz")).unwrap())
        .read_to_string(&mut text)
        .unwrap();
    let mut lines = text.lines();
    let steps: Vec<u64> = lines
        .next()
        .unwrap()
        .split(',')
        .skip(1)
        .map(|s| s.parse().unwrap())
        .collect();
    lines
        .map(|l| {
            let mut cells = l.split(',');
            let model = cells.next().unwrap().parse().unwrap();
            let points = steps
                .iter()
                .zip(cells)
                .filter(|(_, c)| !c.is_empty())
                .map(|(s, c)| (*s, c.parse().unwrap()))
                .collect();
            (model, points)
        })
        .collect()
}

/// A run directory's (step, train_loss) points and its last status.
fn run_curve(run: &Path) -> (Vec<(u64, f32)>, String) {
    let text = std::fs::read_to_string(run.join("metrics.csv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (step, loss, status) = (col("step"), col("train_loss"), col("status"));
    let mut points = Vec::new();
    let mut last = String::new();
    for l in lines {
        let cells: Vec<&str> = l.split(',').collect();
        last = cells[status].to_string();
        let v: f32 = cells[loss].parse().unwrap_or(f32::NAN);
        if v.is_finite() {
            points.push((cells[step].parse().unwrap(), v));
        }
    }
    (points, last)
}

fn relative(a: f32, b: f32) -> f32 {
    (a - b).abs() / b.abs().max(1e-6)
}

/// Every file under `dir`, relative path → bytes, leaving out `skip` folders.
fn tree(dir: &Path, skip: &[&str]) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(root: &Path, at: &Path, skip: &[&str], out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        for e in std::fs::read_dir(at).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(root).unwrap().to_path_buf();
            if skip.iter().any(|s| rel == Path::new(s)) {
                continue;
            }
            if p.is_dir() {
                walk(root, &p, skip, out);
            } else {
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, skip, &mut out);
    out
}

/// Asserts two sweep directories hold the same files with the same bytes.
fn assert_same_sweep(a: &Path, b: &Path, skip: &[&str]) {
    let (ta, tb) = (tree(a, skip), tree(b, skip));
    let (na, nb): (Vec<_>, Vec<_>) = (ta.keys().collect(), tb.keys().collect());
    assert_eq!(
        na,
        nb,
        "{} and {} hold other files",
        a.display(),
        b.display()
    );
    for (name, bytes) in &ta {
        assert!(
            &tb[name] == bytes,
            "{} differs between {} and {}",
            name.display(),
            a.display(),
            b.display()
        );
    }
    for must in [
        "sweep.ron",
        "models.csv",
        "curves.csv.gz",
        "groups.csv",
        "groups/0/init.npy",
    ] {
        assert!(
            ta.contains_key(Path::new(must)),
            "{must} missing in {}",
            a.display()
        );
    }
}

/// A sweep of the fractal's cell over `lr0 × lr1`, `steps` long, `chunk` models per chunk.
fn fractal_sweep(lr0: &str, lr1: &str, steps: u64, chunk: usize) -> String {
    let quick = include_str!("../scenes/sweeps/trainability-fractal-quick.ron");
    let start = quick.find("    axes: [").unwrap();
    let end = quick.find("    keep:").unwrap();
    let axes = format!(
        "    axes: [\n        (field: \"train.learning_rates[0]\", values: {lr0}),\n        \
         (field: \"train.learning_rates[1]\", values: {lr1}),\n    ],\n"
    );
    let text = format!("{}{axes}{}", &quick[..start], &quick[end..])
        .replace("steps: 500", &format!("steps: {steps}"))
        .replace("chunk: 512", &format!("chunk: {chunk}"))
        .replace("curves_every: 10", "curves_every: 1");
    assert!(text.contains(&format!("chunk: {chunk}")));
    text
}

#[test]
fn the_quick_fractal_map_shows_both_regions_and_the_boundary() {
    let work = temp_dir("sweep-quick");
    let out = nnm(
        &work,
        &["sweep", "trainability-fractal-quick", "--out", "quick"],
    );
    let line = final_line(&out, "sweep: ");
    let n = |k: &str| line[k].parse::<usize>().unwrap();
    assert_eq!(n("models"), 4096, "{out}");
    assert!(n("converged") + n("diverged") <= 4096);
    assert!(n("converged") > 400 && n("diverged") > 400, "{out}");
    assert!(n("model_steps_per_s") > 0);
    assert!(out.contains("best models"), "{out}");
    let dir = work.join("quick");
    let rows = models_csv(&dir);
    assert_eq!(rows.len(), 4096);
    assert_eq!(rows[4095]["model"], "4095");
    // The first axis varies slowest: model 1 differs from model 0 in the second rate.
    assert_eq!(
        rows[0]["train.learning_rates[0]"],
        rows[1]["train.learning_rates[0]"]
    );
    assert_ne!(
        rows[0]["train.learning_rates[1]"],
        rows[1]["train.learning_rates[1]"]
    );

    // The map: blue cells where models converged, red where they diverged,
    // and each colour on both sides of many neighbouring cells (the boundary).
    let map = Image::load(&dir.join("map.png"));
    assert!(
        map.width > 500 && map.height > 500,
        "{}×{}",
        map.width,
        map.height
    );
    let (mut red, mut blue) = (0usize, 0usize);
    for y in 0..map.height {
        for x in 0..map.width {
            let [r, g, b] = map.pixel(x, y);
            let (r, g, b) = (i32::from(r), i32::from(g), i32::from(b));
            if r > 100 && r > 3 * g && r > 3 * b {
                red += 1;
            }
            if b > 80 && b > 2 * r && b > g {
                blue += 1;
            }
        }
    }
    let area = (map.width * map.height) as usize;
    assert!(
        red > area / 20 && blue > area / 20,
        "red {red}, blue {blue} of {area}"
    );
    let status = |ix: usize, iy: usize| rows[ix * 64 + iy]["status"].as_str() == "diverged";
    let boundary = (0..64)
        .flat_map(|ix| (0..63).map(move |iy| (ix, iy)))
        .filter(|&(ix, iy)| status(ix, iy) != status(ix, iy + 1))
        .count();
    assert!(boundary >= 64, "{boundary} vertical neighbours differ");
    // The output layer's rate decides: the top row diverged, the bottom row did not.
    assert!((0..64).all(|ix| status(ix, 63)));
    assert!((0..64).all(|ix| !status(ix, 0)));

    // The data and the initial weights are there for any other tool.
    let init = std::fs::read(dir.join("groups/0/init.npy")).unwrap();
    assert!(init.starts_with(b"\x93NUMPY"));
    let header = String::from_utf8_lossy(&init[10..128]).into_owned();
    assert!(header.contains("'shape': (1, 272)"), "{header}");
    let x = std::fs::read(dir.join("groups/0/x_train.npy")).unwrap();
    assert!(String::from_utf8_lossy(&x[10..128]).contains("'shape': (272, 16)"));
    let listed = nnm(&work, &["sweep", "list", "--runs", "."]);
    assert!(
        listed.contains("trainability-fractal-quick") && listed.contains("quick"),
        "{listed}"
    );
    assert!(listed.contains("finished"), "{listed}");

    // `nnm compare --csv` writes the browser's table: every model, its values
    // and metrics as models.csv has them.
    let said = nnm(&work, &["compare", "quick", "--csv", "table.csv"]);
    assert!(said.contains("compare: rows=4096"), "{said}");
    let table = std::fs::read_to_string(work.join("table.csv")).unwrap();
    let mut lines = table.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (status_at, loss_at) = (col("status"), col("train_loss"));
    let body: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(body.len(), 4096);
    for (k, cells) in body.iter().enumerate() {
        assert_eq!(cells[0], format!("quick#{k}"));
        assert_eq!(cells[status_at], rows[k]["status"], "model {k}");
        let (a, b) = (cells[loss_at], rows[k]["train_loss"].as_str());
        // A diverged model's loss is NaN: an empty cell in either file.
        let num = |s: &str| s.parse::<f32>().ok().filter(|v| !v.is_nan());
        let same = a == b || num(a) == num(b);
        assert!(same, "model {k}: {a} vs {b}");
    }
    let err = nnm_fails(&work, &["sweep", "open", "quick", "--model", "4096"]);
    assert!(
        err.contains("quick") && err.contains("models 0 to 4095"),
        "{err}"
    );
    let err = nnm_fails(&work, &["compare", "nowhere"]);
    assert!(
        err.contains("nowhere") && err.contains("no such directory"),
        "{err}"
    );
}

/// Picks `n` distinct models of `count` with a fixed linear congruential walk.
fn sample(count: usize, n: usize, seed: u64) -> Vec<usize> {
    let mut state = seed;
    let mut out = Vec::new();
    while out.len() < n {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let k = (state >> 33) as usize % count;
        if !out.contains(&k) {
            out.push(k);
        }
    }
    out
}

/// Trains model `k` of the sweep directory alone, from the scene
/// `nnm sweep scene` prints, with `nnm train`; with `nudge`, its first
/// learning rate is multiplied by `1 + nudge` first.
fn train_alone(work: &Path, dir: &str, k: usize, nudge: Option<f64>) -> (Vec<(u64, f32)>, String) {
    let mut scene = nnm(work, &["sweep", "scene", dir, "--model", &k.to_string()]);
    if let Some(n) = nudge {
        let at = scene.find("learning_rates: [").unwrap() + "learning_rates: [".len();
        let start = at + scene[at..].find(|c: char| c.is_ascii_digit()).unwrap();
        let end = start + scene[start..].find(',').unwrap();
        let rate: f64 = scene[start..end].parse().unwrap();
        scene.replace_range(start..end, &format!("{}", (rate * (1.0 + n)) as f32));
    }
    let file = work.join(format!("model-{k}.ron"));
    std::fs::write(&file, scene).unwrap();
    let out = nnm(work, &["train", file.to_str().unwrap(), "--out", "alone"]);
    let run = final_line(&out, "final: ")["run"].clone();
    run_curve(&work.join(run))
}

/// The first step at which two curves differ by 1e-3 or more, relatively.
fn first_apart(a: &[(u64, f32)], b: &[(u64, f32)]) -> Option<u64> {
    a.iter().find_map(|(step, x)| {
        let y = b.iter().find(|(s, _)| s == step).map(|p| p.1)?;
        (relative(y, *x) >= 1e-3).then_some(*step)
    })
}

#[test]
fn models_of_a_sweep_train_alone_as_they_trained_in_it() {
    let work = temp_dir("sweep-alone");
    // Stable rates, and output-layer rates that blow up at once.
    std::fs::write(
        work.join("alone.ron"),
        fractal_sweep(
            "Log(1.0, 30.0, 6)",
            "[1.0, 4.0, 16.0, 40.0, 3000.0, 10000.0]",
            200,
            16,
        ),
    )
    .unwrap();
    nnm(&work, &["sweep", "alone.ron", "--out", "s"]);
    let rows = models_csv(&work.join("s"));
    let kept = curves(&work.join("s"));
    let mut diverged = 0;
    for k in sample(36, 10, 7).into_iter().chain([5, 35]) {
        let (alone, status) = train_alone(&work, "s", k, None);
        let row = &rows[k];
        assert_eq!(row["status"], status, "model {k}");
        if status == "diverged" {
            diverged += 1;
            // The single-model trainer records the step it stopped at.
            let at: u64 = row["diverged_at"].parse().unwrap();
            let last = alone.last().map_or(0, |p| p.0);
            assert!(
                at >= last,
                "model {k}: diverged at {at}, alone after {last}"
            );
        } else {
            let final_loss: f32 = row["train_loss"].parse().unwrap();
            let alone_final = alone.last().unwrap().1;
            assert!(
                relative(final_loss, alone_final) < 1e-3,
                "model {k}: final loss {final_loss} in the sweep, {alone_final} alone"
            );
        }
        // The kept curve agrees within 1e-3: all of it for a model that
        // converged, up to where the loss starts to blow up for one that did not.
        let swept = &kept[&k];
        for (i, (step, a)) in alone.iter().enumerate() {
            if status == "diverged" && i > 0 && *a > alone[i - 1].1 {
                break;
            }
            let loss = swept
                .iter()
                .find(|(s, _)| s == step)
                .map(|p| p.1)
                .unwrap_or_else(|| panic!("model {k}: no step {step} in curves.csv.gz"));
            assert!(
                relative(loss, *a) < 1e-3,
                "model {k} at step {step}: {loss} in the sweep, {a} alone"
            );
        }
    }
    assert!(diverged >= 1, "the sample holds no diverged model");

    // In the fractal's window, training is chaotic (loss spikes, catapults,
    // blow-ups): two runs of the single-model trainer whose learning rates
    // differ by a few float steps part within some tens of steps. The sweep
    // follows the trainer at least about as long as the trainer follows itself.
    let quick = work.join("quick.ron");
    std::fs::write(
        &quick,
        fractal_sweep("Log(10.0, 100000.0, 16)", "Log(40.0, 400.0, 16)", 500, 64),
    )
    .unwrap();
    nnm(&work, &["sweep", "quick.ron", "--out", "q"]);
    let kept = curves(&work.join("q"));
    let (mut swept_total, mut nudged_total) = (0, 0);
    for k in sample(256, 8, 11) {
        let (alone, _) = train_alone(&work, "q", k, None);
        let (nudged, _) = train_alone(&work, "q", k, Some(1e-6));
        let end = alone.last().map_or(0, |p| p.0);
        let swept = first_apart(&alone, &kept[&k]).unwrap_or(end + 1);
        let itself = first_apart(&alone, &nudged).unwrap_or(end + 1);
        eprintln!(
            "model {k}: the sweep parts from the trainer at step {swept}, a nudged trainer at {itself}"
        );
        assert!(
            swept >= 3,
            "model {k}: parts from the trainer at step {swept}"
        );
        swept_total += swept;
        nudged_total += itself;
    }
    assert!(
        10 * swept_total >= 8 * nudged_total,
        "the sweep follows the trainer for {swept_total} steps in all, a nudged trainer for {nudged_total}"
    );
}

/// Waits until `dir/chunks` holds at least one chunk file.
fn wait_for_a_chunk(dir: &Path, child: &mut std::process::Child) {
    let started = Instant::now();
    loop {
        if chunk_files(dir) >= 1 {
            return;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the sweep ended before a chunk appeared"
        );
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no chunk after 2 minutes"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Finished chunk files of a sweep directory (not the temporary files of a killed writer).
fn chunk_files(dir: &Path) -> usize {
    std::fs::read_dir(dir.join("chunks")).map_or(0, |rd| {
        rd.filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".csv"))
            .count()
    })
}

#[test]
fn a_killed_sweep_resumes_and_ends_equal_to_an_uninterrupted_one() {
    let work = temp_dir("sweep-resume");
    std::fs::write(
        work.join("r.ron"),
        fractal_sweep("Log(10.0, 100000.0, 32)", "Log(40.0, 400.0, 32)", 500, 128),
    )
    .unwrap();
    nnm(
        &work,
        &["sweep", "r.ron", "--out", "whole", "--threads", "1"],
    );

    let mut child = Command::new(env!("CARGO_BIN_EXE_nnm"))
        .args(["sweep", "r.ron", "--out", "killed", "--threads", "1"])
        .current_dir(&work)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let killed = work.join("killed");
    wait_for_a_chunk(&killed, &mut child);
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        !killed.join("models.csv").exists(),
        "the sweep finished before the kill"
    );
    let done = chunk_files(&killed);
    assert!((1..8).contains(&done), "{done} chunks of 8 were done");
    let err = nnm_fails(&work, &["sweep", "r.ron", "--out", "killed"]);
    assert!(
        err.contains("already holds a sweep") && err.contains("resume"),
        "{err}"
    );

    let o = Command::new(env!("CARGO_BIN_EXE_nnm"))
        .args(["sweep", "resume", "killed"])
        .current_dir(&work)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let said = String::from_utf8_lossy(&o.stderr);
    // Only the chunks that were missing are trained again.
    assert!(said.contains(&format!("; {} chunks (", 8 - done)), "{said}");
    assert_eq!(chunk_files(&killed), 8);
    assert_same_sweep(&work.join("whole"), &killed, &[]);
}

#[test]
fn shards_merge_into_the_sweep_trained_in_one_piece() {
    let work = temp_dir("sweep-merge");
    std::fs::write(
        work.join("m.ron"),
        fractal_sweep("Log(10.0, 100000.0, 16)", "Log(40.0, 400.0, 16)", 300, 32),
    )
    .unwrap();
    nnm(&work, &["sweep", "m.ron", "--out", "whole"]);
    for i in 0..3 {
        let out = nnm(
            &work,
            &[
                "sweep",
                "m.ron",
                "--shard",
                &format!("{i}/3"),
                "--out",
                &format!("s{i}"),
            ],
        );
        assert_eq!(final_line(&out, "sweep: ")["shard"], format!("{i}/3"));
        assert!(!work.join(format!("s{i}/models.csv")).exists());
    }
    // A missing shard is named, not papered over.
    let err = nnm_fails(&work, &["sweep", "merge", "s0", "s2", "--out", "partial"]);
    assert!(err.contains("chunks are missing"), "{err}");
    nnm(
        &work,
        &["sweep", "merge", "s0", "s1", "s2", "--out", "merged"],
    );
    assert_same_sweep(&work.join("whole"), &work.join("merged"), &[]);
    // Shards of another sweep are refused.
    std::fs::write(
        work.join("other.ron"),
        fractal_sweep("Log(10.0, 100000.0, 16)", "Log(40.0, 400.0, 16)", 200, 32),
    )
    .unwrap();
    nnm(
        &work,
        &["sweep", "other.ron", "--shard", "1/3", "--out", "o1"],
    );
    let err = nnm_fails(
        &work,
        &["sweep", "merge", "s0", "o1", "s2", "--out", "mixed"],
    );
    assert!(err.contains("not shards of one sweep"), "{err}");

    // Kubernetes: an Indexed Job over the same shards, and its merge.
    let out = nnm(
        &work,
        &["sweep", "k8s", "m.ron", "--shards", "3", "--out", "k"],
    );
    assert!(out.contains("kubectl apply"), "{out}");
    let job = std::fs::read_to_string(work.join("k/k8s/job.yaml")).unwrap();
    for want in [
        "kind: \"ConfigMap\"",
        "completionMode: \"Indexed\"",
        "completions: 3",
        "$JOB_COMPLETION_INDEX/3",
        "claimName: \"nnm-runs\"",
    ] {
        assert!(job.contains(want), "{want} missing from\n{job}");
    }
    let merge = std::fs::read_to_string(work.join("k/k8s/merge.yaml")).unwrap();
    assert!(
        merge.contains(
            "sweep merge /runs/k/shards/0 /runs/k/shards/1 /runs/k/shards/2 --out /runs/k"
        ),
        "{merge}"
    );
}

#[test]
fn bad_sweeps_and_directories_are_clear_errors() {
    let work = temp_dir("sweep-errors");
    std::fs::write(
        work.join("bad.ron"),
        "Sweep(\n    base: Path(\"xor\"),\n    axes: [\n        (field: \"train.learning_rat\", values: [0.1]),\n    ],\n)\n",
    )
    .unwrap();
    let err = nnm_fails(&work, &["sweep", "bad.ron"]);
    assert!(
        err.contains("bad.ron:4:") && err.contains("train.learning_rat"),
        "{err}"
    );
    assert!(
        err.contains("learning_rate"),
        "the fields that exist are listed: {err}"
    );
    let err = nnm_fails(&work, &["sweep", "no-such-sweep"]);
    assert!(err.contains("trainability-fractal-quick"), "{err}");
    let err = nnm_fails(
        &work,
        &["sweep", "trainability-fractal-quick", "--shard", "4/4"],
    );
    assert!(err.contains("4/4"), "{err}");
    std::fs::create_dir_all(work.join("empty")).unwrap();
    let err = nnm_fails(&work, &["sweep", "resume", "empty"]);
    assert!(err.contains("not a sweep directory"), "{err}");
    let err = nnm_fails(
        &work,
        &[
            "sweep",
            "scene",
            "trainability-fractal-quick",
            "--model",
            "4096",
        ],
    );
    assert!(err.contains("0 to 4095"), "{err}");
    // One model's scene is a scene file `nnm train` reads.
    let scene = nnm(
        &work,
        &[
            "sweep",
            "scene",
            "trainability-fractal-quick",
            "--model",
            "4095",
        ],
    );
    assert!(
        scene.contains("trainability-fractal-quick_m4095") && scene.contains("100000"),
        "{scene}"
    );
}

/// A one-node Slurm cluster (munge, slurmctld, slurmd) in a temporary folder,
/// stopped by pid when dropped (see `../shared/SLURM.md`).
struct Slurm {
    conf: PathBuf,
    pids: Vec<PathBuf>,
    munged: Option<PathBuf>,
}

impl Drop for Slurm {
    fn drop(&mut self) {
        for pid_file in self.pids.iter().chain(self.munged.iter()) {
            if let Ok(pid) = std::fs::read_to_string(pid_file) {
                let _ = Command::new("kill").arg(pid.trim()).status();
            }
        }
    }
}

fn sh(script: &str) -> Output {
    Command::new("sh")
        .args(["-c", script])
        .output()
        .expect("sh runs")
}

impl Slurm {
    fn start(state: &Path) -> Slurm {
        let needed = [
            "slurmctld",
            "slurmd",
            "sbatch",
            "squeue",
            "sinfo",
            "munged",
            "munge",
            "unmunge",
        ];
        if !needed.iter().all(|p| common::has_program(p)) {
            let hint = "the Slurm test needs a one-node Slurm: `apt-get install slurm-wlm munge`";
            assert!(
                common::running_as_root() && common::has_program("apt-get"),
                "{hint} (not root, or no apt-get: install them first)"
            );
            let o = sh("export DEBIAN_FRONTEND=noninteractive; \
                 apt-get install -y -q slurm-wlm munge >/dev/null 2>&1 || \
                 (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q slurm-wlm munge >/dev/null)");
            assert!(
                o.status.success(),
                "{hint}: installing them failed: {}",
                text(&o)
            );
        }
        assert!(
            common::running_as_root(),
            "the Slurm test starts slurmd, which needs root"
        );
        let mut slurm = Slurm {
            conf: state.join("slurm.conf"),
            pids: Vec::new(),
            munged: None,
        };
        if !sh("munge -n | unmunge >/dev/null 2>&1").status.success() {
            let o = sh(
                "mkdir -p /etc/munge /run/munge /var/log/munge /var/lib/munge && \
                 ([ -f /etc/munge/munge.key ] || dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null) && \
                 chown -R munge:munge /etc/munge /run/munge /var/log/munge /var/lib/munge && \
                 chmod 400 /etc/munge/munge.key && chmod 700 /etc/munge && \
                 su -s /bin/sh munge -c /usr/sbin/munged",
            );
            assert!(o.status.success(), "munged did not start: {}", text(&o));
            slurm.munged = Some(PathBuf::from("/run/munge/munged.pid"));
            assert!(
                sh("munge -n | unmunge >/dev/null").status.success(),
                "munge does not work after starting munged"
            );
        }
        let host = String::from_utf8_lossy(&sh("hostname -s").stdout)
            .trim()
            .to_string();
        let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
        for sub in ["state", "spool", "log"] {
            std::fs::create_dir_all(state.join(sub)).unwrap();
        }
        let s = state.display();
        let conf = format!(
            "ClusterName=nnm\nSlurmctldHost={host}\nSlurmUser=root\nSlurmdUser=root\nAuthType=auth/munge\n\
             StateSaveLocation={s}/state\nSlurmdSpoolDir={s}/spool\nSlurmctldPidFile={s}/slurmctld.pid\n\
             SlurmdPidFile={s}/slurmd.pid\nSlurmctldLogFile={s}/log/slurmctld.log\nSlurmdLogFile={s}/log/slurmd.log\n\
             ProctrackType=proctrack/linuxproc\nTaskPlugin=task/none\nSchedulerType=sched/backfill\n\
             SelectType=select/cons_tres\nSelectTypeParameters=CR_Core\nReturnToService=2\nMpiDefault=none\n\
             JobAcctGatherType=jobacct_gather/none\nNodeName={host} CPUs={cpus} State=UNKNOWN\n\
             PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP\n"
        );
        std::fs::write(&slurm.conf, conf).unwrap();
        for daemon in ["slurmctld", "slurmd"] {
            let o = slurm.command(daemon).output().unwrap();
            assert!(o.status.success(), "{daemon} did not start: {}", text(&o));
            slurm.pids.push(state.join(format!("{daemon}.pid")));
        }
        let started = Instant::now();
        loop {
            let o = slurm
                .command("sinfo")
                .args(["-h", "-o", "%t"])
                .output()
                .unwrap();
            let t = String::from_utf8_lossy(&o.stdout).trim().to_string();
            if t == "idle" {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "the node is `{t}`, not idle: {}",
                std::fs::read_to_string(state.join("log/slurmctld.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(500));
        }
        slurm
    }

    /// A Slurm command reading this cluster's configuration.
    fn command(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.env("SLURM_CONF", &self.conf);
        c
    }
}

#[test]
fn a_four_shard_sweep_through_a_real_slurm_equals_the_unsharded_sweep() {
    let work = temp_dir("sweep-slurm");
    let slurm = Slurm::start(&work.join("slurm-state"));
    // The nodes run the headless build.
    let headless = common::headless_nnm();
    let whole = nnm_in(
        &headless,
        &work,
        &["sweep", "trainability-fractal-quick", "--out", "whole"],
    );
    assert_eq!(final_line(&whole, "sweep: ")["models"], "4096");

    let o = slurm
        .command(env!("CARGO_BIN_EXE_nnm"))
        .args([
            "sweep",
            "slurm",
            "trainability-fractal-quick",
            "--shards",
            "4",
            "--submit",
            "--out",
            "cluster",
        ])
        .arg("--nnm")
        .arg(&headless)
        .current_dir(&work)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let line = final_line(&out, "sweep: slurm");
    let merge_job = line["merge_job"].clone();
    let array = std::fs::read_to_string(work.join("cluster/slurm/array.sbatch")).unwrap();
    assert!(array.contains("#SBATCH --array=0-3"), "{array}");

    let started = Instant::now();
    loop {
        let q = slurm
            .command("squeue")
            .args(["-h", "-j", &merge_job])
            .output()
            .unwrap();
        let pending = String::from_utf8_lossy(&q.stdout).trim().to_string();
        if pending.is_empty() && work.join("cluster/models.csv").exists() {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "the merge job {merge_job} did not end in 10 minutes: {pending}\n{}",
            std::fs::read_to_string(work.join("cluster/slurm/merge.log")).unwrap_or_default()
        );
        if pending.is_empty() && started.elapsed() > Duration::from_secs(5) {
            // Gone from the queue without models.csv: show why.
            std::thread::sleep(Duration::from_secs(2));
            assert!(
                work.join("cluster/models.csv").exists(),
                "the merge ended without a sweep.\nmerge.log:\n{}\nshard-0.log:\n{}",
                std::fs::read_to_string(work.join("cluster/slurm/merge.log")).unwrap_or_default(),
                std::fs::read_to_string(work.join("cluster/slurm/shard-0.log")).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    for i in 0..4 {
        let log =
            std::fs::read_to_string(work.join(format!("cluster/slurm/shard-{i}.log"))).unwrap();
        assert!(
            log.contains(&format!("sweep: shard={i}/4")),
            "shard {i}: {log}"
        );
    }
    assert_same_sweep(
        &work.join("whole"),
        &work.join("cluster"),
        &["slurm", "shards"],
    );
    drop(slurm);
}
