//! Networks trained elsewhere: a numpy training loop in Python writes
//! checkpoints that `nnm import` turns into a run, and streams its steps
//! live into `nnm view --listen`; `nnm serve` trains a run that HTTP
//! clients drive and WebSocket viewers watch.
//!
//! The Python tests make a venv under the target folder (numpy,
//! safetensors, and `python/` installed with pip); the rendering ones
//! install lavapipe and Xvfb as the render tests do.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails by panicking, with the value that was wrong"
)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{
    Image, Running, Served, nnm, nnm_under_xvfb, output_text, python_with_nnm, run_frame,
    status_until, temp_dir,
};
use nn_microscope::lab::net::Client;
use nn_microscope::lab::record::{FrameReader, RunDir};

/// Runs the numpy spiral example (python/examples) with `args`.
fn numpy_spiral(args: &[&str]) -> Output {
    let python = python_with_nnm();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("python/examples/numpy_spiral.py");
    Command::new(python)
        .arg(script)
        .args(args)
        .output()
        .expect("python runs")
}

/// The one run directory under `runs`.
fn only_run(runs: &Path) -> PathBuf {
    let dirs: Vec<PathBuf> = std::fs::read_dir(runs)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    assert_eq!(dirs.len(), 1, "one run in {}: {dirs:?}", runs.display());
    dirs[0].clone()
}

/// A tensor of a safetensors file, as written: its shape and values.
fn tensor(file: &Path, name: &str) -> (Vec<usize>, Vec<f32>) {
    let bytes = std::fs::read(file).unwrap();
    let tensors = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let view = tensors.tensor(name).unwrap();
    let values = view
        .data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    (view.shape().to_vec(), values)
}

/// The steps of `scalars.csv` that carry `name`.
fn scalar_steps(run: &Path, name: &str) -> Vec<u64> {
    let text = std::fs::read_to_string(run.join("scalars.csv")).unwrap();
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let mut f = l.split(',');
            let step = f.next()?.parse().ok()?;
            (f.next()? == name).then_some(step)
        })
        .collect()
}

#[test]
fn numpy_checkpoints_import_as_a_run_with_their_exact_weights_and_replay() {
    let dir = temp_dir("numpy-import");
    let ckpts = dir.join("ckpts");
    let o = numpy_spiral(&[
        "--save",
        ckpts.to_str().unwrap(),
        "--steps",
        "200",
        "--every",
        "10",
    ]);
    assert!(o.status.success(), "{}", output_text(&o));
    let runs = dir.join("runs");
    let o = nnm(&[
        "import",
        ckpts.to_str().unwrap(),
        "--data",
        "spiral",
        "--metrics",
        ckpts.join("metrics.csv").to_str().unwrap(),
        "--out",
        runs.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", output_text(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("final: step=200 "), "{text}");
    let run = only_run(&runs);
    for step in [0u64, 100, 200] {
        let file = ckpts.join(format!("step_{step:06}.safetensors"));
        let v = run_frame(&run, step);
        assert_eq!(v["step"], step);
        // nn.Sequential(Linear, Tanh, Linear, Tanh, Linear): 0, 2 and 4.
        for (layer, torch) in [0, 2, 4].into_iter().enumerate() {
            let (shape, w) = tensor(&file, &format!("{torch}.weight"));
            let (n_out, n_in) = (shape[0], shape[1]);
            let got = v["layers"][layer]["weights"].as_array().unwrap();
            assert_eq!(got.len(), n_in * n_out);
            for i in 0..n_in {
                for o in 0..n_out {
                    let (a, b) = (
                        got[i * n_out + o].as_f64().unwrap(),
                        f64::from(w[o * n_in + i]),
                    );
                    assert!(
                        (a - b).abs() <= 1e-6,
                        "step {step} {torch}.weight[{o}][{i}]: {a} vs {b}"
                    );
                }
            }
            let (_, bias) = tensor(&file, &format!("{torch}.bias"));
            let got = v["layers"][layer]["biases"].as_array().unwrap();
            for (o, b) in bias.iter().enumerate() {
                assert!((got[o].as_f64().unwrap() - f64::from(*b)).abs() <= 1e-6);
            }
        }
    }
    // The checkpoints' own scalars at their steps, the loop's log at every step.
    assert_eq!(
        scalar_steps(&run, "reward"),
        (0..=200).step_by(10).collect::<Vec<u64>>()
    );
    assert_eq!(
        scalar_steps(&run, "accuracy"),
        (0..=200).collect::<Vec<u64>>()
    );
    let sources = std::fs::read_to_string(run.join("imported_from.txt")).unwrap();
    assert!(sources.contains("step_000200.safetensors"), "{sources}");

    let shot = dir.join("replay.png");
    let o = nnm_under_xvfb(&[
        "replay",
        run.to_str().unwrap(),
        "--frames",
        "30",
        "--window",
        "1280x720",
        "--screenshot",
        shot.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", output_text(&o));
    let img = Image::load(&shot);
    assert!(
        img.distinct_colours() > 200,
        "the replay draws the network and its panels: {} colours",
        img.distinct_colours()
    );
}

#[test]
fn a_python_loop_streams_300_steps_live_into_view_listen() {
    let dir = temp_dir("listen");
    let runs = dir.join("runs");
    let shot = dir.join("live.png");
    let mut app = Running::under_xvfb(&[
        "view",
        "spiral",
        "--listen",
        "127.0.0.1:0",
        "--runs",
        runs.to_str().unwrap(),
        "--frames",
        "300",
        "--window",
        "1280x720",
        "--screenshot",
        shot.to_str().unwrap(),
    ]);
    let first = app.line();
    let Some(addr) = first.strip_prefix("listening on ") else {
        panic!(
            "expected `listening on ADDR`, got `{first}`\n{}",
            output_text(&app.wait())
        );
    };
    let addr = addr.to_string();
    // Bad input first: it is refused with its reason, and nothing breaks.
    let client = Client::new(&addr);
    let bad = client
        .post(
            "/log",
            b"\x08\x00\x00\x00\x00\x00\x00\x00{",
            "application/octet-stream",
        )
        .unwrap();
    assert_eq!(bad.status, 400);
    assert!(
        bad.text().contains("not a safetensors message"),
        "{}",
        bad.text()
    );

    let o = numpy_spiral(&["--connect", &addr, "--steps", "299"]);
    assert!(
        o.status.success(),
        "the client streamed every step\n{}",
        output_text(&o)
    );
    let done = app.wait();
    assert!(done.status.success(), "{}", output_text(&done));

    let run = only_run(&runs);
    let recorded = RunDir::open(&run).unwrap();
    let reader = FrameReader::open(&recorded.frames_path()).unwrap();
    let steps: Vec<u64> = reader.index().iter().map(|e| e.step).collect();
    assert_eq!(steps, (0..300).collect::<Vec<u64>>(), "every step recorded");
    for name in ["loss", "accuracy", "reward"] {
        assert_eq!(
            scalar_steps(&run, name),
            (0..300).collect::<Vec<u64>>(),
            "{name}"
        );
    }
    let last = run_frame(&run, 299);
    assert!(
        last["layers"][0]["activations"].is_array(),
        "the probe is followed"
    );
    let img = Image::load(&shot);
    assert!(
        img.distinct_colours() > 200,
        "{} colours",
        img.distinct_colours()
    );
}

#[test]
fn serve_trains_one_run_at_a_time_and_streams_it_to_viewers() {
    use nn_microscope::lab::stream::NetworkMessage;
    use tungstenite::Message;
    let dir = temp_dir("serve");
    let runs = dir.join("runs");
    let server = Served::start(&["--bind", "127.0.0.1:0", "--runs", runs.to_str().unwrap()]);
    let client = Client::new(&server.addr);
    assert_eq!(client.get("/health").unwrap().text(), "ok");
    let idle = status_until(&client, "idle", |s| s["state"] == "idle");
    assert_eq!(idle["training"], false);
    assert_eq!(client.get("/weights").unwrap().status, 404);

    let json = "application/json";
    let start = client
        .post("/train", br#"{"scene": "xor", "steps": 10000000}"#, json)
        .unwrap();
    assert_eq!(start.status, 200, "{}", start.text());
    let busy = client
        .post("/train", br#"{"scene": "spiral"}"#, json)
        .unwrap();
    assert_eq!(busy.status, 409, "the training lock");
    assert!(busy.text().contains("busy"), "{}", busy.text());
    let unknown = client
        .post("/train", br#"{"scene": "nope"}"#, json)
        .unwrap();
    assert_eq!(unknown.status, 409, "busy comes first");
    status_until(&client, "training", |s| {
        s["training"] == true && s["step"].as_u64() > Some(0)
    });

    let set = client
        .post("/settings", br#"{"learning_rate": 0.0625}"#, json)
        .unwrap();
    assert_eq!(set.status, 200, "{}", set.text());
    status_until(&client, "the new learning rate", |s| {
        s["learning_rate"] == 0.0625
    });
    let typo = client
        .post("/settings", br#"{"learnin_rate": 1}"#, json)
        .unwrap();
    assert_eq!(typo.status, 400);
    assert!(
        typo.text().contains("unknown field `learnin_rate`"),
        "{}",
        typo.text()
    );
    let bad = client
        .post("/settings", br#"{"batch_size": 0}"#, json)
        .unwrap();
    assert_eq!(bad.status, 400);
    assert!(bad.text().contains("batch_size"), "{}", bad.text());

    let weights = client.get("/weights").unwrap();
    assert_eq!(weights.status, 200);
    let network = NetworkMessage::decode(&weights.body, "/weights", None).unwrap();
    let status = status_until(&client, "status", |_| true);
    let hidden: Vec<usize> = serde_json::from_value(status["hidden"].clone()).unwrap();
    assert_eq!(network.sizes(), [vec![2], hidden, vec![2]].concat());

    // A viewer over the WebSocket: the run's scene, then frames as it asks.
    let (mut socket, _) = tungstenite::connect(format!("ws://{}/stream", server.addr)).unwrap();
    let mut started = false;
    let mut steps = Vec::new();
    while steps.len() < 3 {
        socket.send(Message::text("\"next\"")).unwrap();
        loop {
            match socket.read().unwrap() {
                Message::Text(t) if t.as_str() == "\"end\"" => break,
                Message::Text(t) => started |= t.as_str().starts_with("{\"started\""),
                Message::Binary(b) => {
                    steps.push(NetworkMessage::decode(&b, "ws", None).unwrap().step)
                }
                _ => {}
            }
        }
    }
    assert!(started, "a viewer first hears which run it is");
    assert!(
        steps.windows(2).all(|w| w[0] < w[1]),
        "frames go forward: {steps:?}"
    );
    status_until(&client, "a viewer", |s| s["viewers"] == 1);
    socket
        .send(Message::text("{\"settings\": {\"learning_rate\": 0.125}}"))
        .unwrap();
    status_until(&client, "the viewer's command", |s| {
        s["learning_rate"] == 0.125
    });
    drop(socket);

    // The instrument follows the served run.
    let shot = dir.join("connect.png");
    let url = format!("ws://{}/stream", server.addr);
    let o = nnm_under_xvfb(&[
        "view",
        "--connect",
        &url,
        "--frames",
        "40",
        "--window",
        "1280x720",
        "--screenshot",
        shot.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", output_text(&o));
    assert!(Image::load(&shot).distinct_colours() > 200);

    let stop = client.post("/stop", b"", json).unwrap();
    assert_eq!(stop.status, 200, "{}", stop.text());
    let stopped = status_until(&client, "stopped", |s| s["state"] == "stopped");
    assert_eq!(stopped["training"], false);
    let listed: serde_json::Value =
        serde_json::from_slice(&client.get("/runs").unwrap().body).unwrap();
    let run_dir = stopped["run_dir"].as_str().unwrap().to_string();
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["path"] == run_dir.as_str()),
        "{listed}"
    );
    assert!(Path::new(&run_dir).join("metrics.csv").exists());
    // Free again: a second run may start.
    let again = client
        .post("/train", br#"{"scene": "xor", "steps": 5}"#, json)
        .unwrap();
    assert_eq!(again.status, 200, "{}", again.text());
}

#[test]
fn serving_beyond_loopback_needs_the_token_on_every_request() {
    let o = nnm(&["serve", "--bind", "0.0.0.0:0"]);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("--token"),
        "{}",
        output_text(&o)
    );
    let dir = temp_dir("serve-token");
    let server = Served::start(&[
        "--bind",
        "0.0.0.0:0",
        "--token",
        "s3cret",
        "--runs",
        dir.to_str().unwrap(),
    ]);
    let port = server.addr.rsplit(':').next().unwrap();
    let local = format!("127.0.0.1:{port}");
    for path in ["/health", "/status", "/runs"] {
        assert_eq!(Client::new(&local).get(path).unwrap().status, 401, "{path}");
    }
    let refused = Client::new(&local)
        .post("/train", br#"{"scene": "xor"}"#, "application/json")
        .unwrap();
    assert_eq!(refused.status, 401);
    assert!(refused.text().contains("token"));
    assert!(tungstenite::connect(format!("ws://{local}/stream")).is_err());
    let client = Client::new(&local).with_token("s3cret");
    assert_eq!(client.get("/health").unwrap().status, 200);
    assert!(tungstenite::connect(format!("ws://{local}/stream?token=s3cret")).is_ok());
}

#[test]
fn tensorboard_logs_show_their_runs_hparams_and_scalars_in_compare() {
    let dir = temp_dir("tensorboard");
    let logs = dir.join("logs");
    // tensorboardX, as a PyTorch user writes: scalars, and hparams in the same run.
    let script = r#"
import os, sys
from tensorboardX import SummaryWriter
from tensorboardX.summary import hparams
root = sys.argv[1]
for i, lr in enumerate([0.1, 0.01, 0.001]):
    w = SummaryWriter(os.path.join(root, f"lr_{lr}"))
    for summary in hparams({"lr": lr, "optimizer": "sgd" if i == 0 else "adam"}, {"loss": 0.0}):
        w.file_writer.add_summary(summary)
    for step in range(0, 100, 10):
        w.add_scalar("loss", 1.0 / (1.0 + lr * step), step)
        w.add_scalar("episode/reward", lr * step, step)
    w.close()
"#;
    let o = Command::new(python_with_nnm())
        .args(["-c", script, logs.to_str().unwrap()])
        .output()
        .expect("python runs");
    assert!(o.status.success(), "{}", output_text(&o));
    let csv = dir.join("table.csv");
    let o = nnm(&[
        "compare",
        logs.to_str().unwrap(),
        "--csv",
        csv.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", output_text(&o));
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    let col = |name: &str| {
        header
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("no column {name} in {header:?}"))
    };
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 3, "{text}");
    let mut seen = Vec::new();
    for row in &rows {
        let lr: f32 = row[col("lr")].parse().unwrap();
        let loss: f32 = row[col("loss")].parse().unwrap();
        let reward: f32 = row[col("episode/reward")].parse().unwrap();
        assert!(
            (loss - 1.0 / (1.0 + lr * 90.0)).abs() < 1e-6,
            "lr {lr}: loss {loss}"
        );
        assert!(
            (reward - lr * 90.0).abs() < 1e-5,
            "lr {lr}: reward {reward}"
        );
        let optimizer = &row[col("optimizer")];
        assert_eq!(optimizer, if lr == 0.1 { "sgd" } else { "adam" });
        seen.push(lr);
    }
    seen.sort_by(f32::total_cmp);
    assert_eq!(seen, [0.001, 0.01, 0.1]);
}

#[test]
fn npz_checkpoints_from_numpy_alone_import_as_the_same_run() {
    let dir = temp_dir("npz-import");
    let mut runs = Vec::new();
    for format in ["safetensors", "npz"] {
        let ckpts = dir.join(format);
        let o = numpy_spiral(&[
            "--save",
            ckpts.to_str().unwrap(),
            "--steps",
            "50",
            "--every",
            "10",
            "--format",
            format,
        ]);
        assert!(o.status.success(), "{}", output_text(&o));
        let out = dir.join(format!("runs-{format}"));
        let o = nnm(&[
            "import",
            ckpts.to_str().unwrap(),
            "--data",
            "spiral",
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", output_text(&o));
        runs.push(only_run(&out));
    }
    for step in (0..=50).step_by(10) {
        let (a, b) = (run_frame(&runs[0], step), run_frame(&runs[1], step));
        assert_eq!(
            a["layers"], b["layers"],
            "step {step}: the same network both ways"
        );
    }
    let scene = std::fs::read_to_string(runs[1].join("scene.ron")).unwrap();
    assert!(
        scene.contains("Tanh"),
        "the npz's activations are read: {scene}"
    );

    // On the loop's own data (a CSV it wrote), the imported network scores
    // what the loop measured.
    let data = dir.join("spiral.csv");
    let ckpts = dir.join("with-data");
    let o = numpy_spiral(&[
        "--save",
        ckpts.to_str().unwrap(),
        "--steps",
        "50",
        "--format",
        "npz",
        "--data-csv",
        data.to_str().unwrap(),
        "--data-npz",
        dir.join("spiral.npz").to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", output_text(&o));
    let said = String::from_utf8_lossy(&o.stdout).into_owned();
    let python_accuracy: f64 = said
        .split_whitespace()
        .find_map(|kv| kv.strip_prefix("accuracy="))
        .unwrap()
        .parse()
        .unwrap();
    let out = dir.join("runs-csv");
    let o = nnm(&[
        "import",
        ckpts.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", output_text(&o));
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    let accuracy: f64 = text
        .split_whitespace()
        .find_map(|kv| kv.strip_prefix("test_accuracy="))
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (accuracy - python_accuracy).abs() < 0.1,
        "test accuracy {accuracy} on the CSV, {python_accuracy} in the loop"
    );
    let scene = std::fs::read_to_string(only_run(&out).join("scene.ron")).unwrap();
    assert!(
        scene.contains("Csv(") && scene.contains("normalize: false"),
        "{scene}"
    );

    // The same data as numpy arrays (an .npz of x and y, and two .npy files):
    // the same rows, the same split, the same score.
    let npz = dir.join("spiral.npz");
    let python = python_with_nnm();
    let split = "import numpy as np, sys; d = np.load(sys.argv[1]); np.save(sys.argv[2], d['x']); np.save(sys.argv[3], d['y'])";
    let (xs, ys) = (dir.join("x.npy"), dir.join("y.npy"));
    let o = Command::new(&python)
        .args(["-c", split])
        .args([&npz, &xs, &ys])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", output_text(&o));
    let pair = format!("{},{}", xs.display(), ys.display());
    for (i, given) in [npz.to_str().unwrap(), pair.as_str()]
        .into_iter()
        .enumerate()
    {
        let out = dir.join(format!("runs-arrays-{i}"));
        let o = nnm(&[
            "import",
            ckpts.to_str().unwrap(),
            "--data",
            given,
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", output_text(&o));
        let text = String::from_utf8_lossy(&o.stdout).into_owned();
        let same: f64 = text
            .split_whitespace()
            .find_map(|kv| kv.strip_prefix("test_accuracy="))
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(same, accuracy, "{given}: the arrays score as the CSV does");
    }
    let nowhere = dir.join("runs-never");
    let o = nnm(&[
        "import",
        ckpts.to_str().unwrap(),
        "--data",
        xs.to_str().unwrap(),
        "--out",
        nowhere.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("INPUTS.npy,TARGETS.npy"),
        "{}",
        output_text(&o)
    );
}

#[test]
fn watch_reads_the_linear_layers_of_a_torch_like_module_without_torch() {
    let dir = temp_dir("watch");
    let file = dir.join("watched.safetensors");
    // A module as PyTorch shapes it (named_modules, Linear layers with
    // weight, bias and .grad tensors), with no torch installed.
    let script = r#"
import sys
import numpy as np
import nnm

class Tensor:
    def __init__(self, array, grad=None):
        self.array, self.grad = array, grad
    def detach(self):
        return self
    def cpu(self):
        return self
    def numpy(self):
        return self.array

class Linear:
    def __init__(self, n_in, n_out):
        self.weight = Tensor(np.arange(n_out * n_in, dtype=np.float32).reshape(n_out, n_in),
                             Tensor(np.full((n_out, n_in), 0.125, np.float32)))
        self.bias = Tensor(np.arange(n_out, dtype=np.float32))

class ReLU:
    pass

class Net:
    def __init__(self):
        self.layers = [("net.0", Linear(3, 4)), ("net.1", ReLU()), ("net.2", Linear(4, 2))]
    def named_modules(self):
        return [("", self)] + self.layers

with open(sys.argv[1], "wb") as f:
    f.write(nnm.message(5, nnm.watch(Net()), activations=["relu"], loss=0.25))
"#;
    let o = Command::new(python_with_nnm())
        .args(["-c", script, file.to_str().unwrap()])
        .output()
        .expect("python runs");
    assert!(o.status.success(), "{}", output_text(&o));
    let bytes = std::fs::read(&file).unwrap();
    let m = nn_microscope::lab::stream::NetworkMessage::decode(&bytes, "watched", None).unwrap();
    assert_eq!(m.step, 5);
    assert_eq!(m.sizes(), [3, 4, 2]);
    assert_eq!(m.scalars["loss"], 0.25);
    // torch's [out, in] arrives as the lab's [in][out].
    assert_eq!(
        m.layers[0].weights[1], 3.0,
        "w[in 0][out 1] = torch w[1][0]"
    );
    assert_eq!(m.layers[0].biases, [0.0, 1.0, 2.0, 3.0]);
    assert_eq!(
        m.layers[1].weight_grads.as_deref(),
        Some(&[0.125f32; 8][..])
    );
}
