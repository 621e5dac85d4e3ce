//! Streaming costs: a training loop's steps posted to `nnm view --listen`'s
//! inbox (messages per second taken and recorded, and the round trip of
//! each), and `nnm serve` with viewers connected (the trainer's pace with 0
//! and 8 viewers, one of them slow, and what each viewer got).
//!
//! `cargo bench --bench stream` (`NNM_BENCH_ONLY=inbox-record`, `inbox-plain`,
//! `inbox-random`, `inbox` or `serve` runs those parts only). The Python client's own cost is measured by
//! `python/examples/bench_client.py` against a running `nnm view --listen`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a benchmark that cannot unwrap has failed, and says where"
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use nn_microscope::lab::CpuBackend;
use nn_microscope::lab::TrainerHandle;
use nn_microscope::lab::model::Activation;
use nn_microscope::lab::net::{Client, Inbox, ServeOptions, Server, bind, frame_message};
use nn_microscope::lab::runner::ListenOptions;
use nn_microscope::lab::scene::Presets;
use nn_microscope::lab::stream::{LayerTensors, NetworkMessage};
use nn_microscope::lab::{StepOutcome, Trainer};
use rand::{RngExt, SeedableRng};

/// A 784-128-64-10 network with random weights at `step`, with two scalars.
fn mnist_message(step: u64, rng: &mut rand::rngs::StdRng) -> NetworkMessage {
    let sizes = [784usize, 128, 64, 10];
    let layers = sizes
        .windows(2)
        .enumerate()
        .map(|(i, w)| LayerTensors {
            inputs: w[0],
            outputs: w[1],
            weights: (0..w[0] * w[1])
                .map(|_| rng.random_range(-0.1..0.1))
                .collect(),
            biases: vec![0.0; w[1]],
            weight_grads: None,
            bias_grads: None,
            name: format!("layers.{i}.weight"),
        })
        .collect();
    NetworkMessage {
        step,
        layers,
        scalars: [
            ("loss".to_string(), 1.0 / (step + 1) as f64),
            ("reward".to_string(), step as f64),
        ]
        .into_iter()
        .collect(),
        ..Default::default()
    }
}

/// `n` steps of a real MNIST run (the `mnist` preset, 784-128-64-10, seed
/// as the preset says) as a training loop would stream them: each step's
/// weights and biases, its loss and a `reward`.
fn trained_messages(n: u64) -> Vec<NetworkMessage> {
    let scene = Presets::built_in()
        .find("mnist")
        .and_then(|p| p.load())
        .unwrap();
    let mut trainer = Trainer::<CpuBackend>::new(&scene, &Default::default()).unwrap();
    (0..n)
        .map(|step| {
            let StepOutcome::Stepped {
                batch_loss,
                frame: Some(frame),
            } = trainer.step(true).unwrap()
            else {
                panic!("the mnist preset diverged at step {step}");
            };
            let mut message = frame_message(&frame);
            for layer in &mut message.layers {
                layer.weight_grads = None;
                layer.bias_grads = None;
            }
            message.scalars = [
                ("loss".to_string(), f64::from(batch_loss)),
                ("reward".to_string(), step as f64),
            ]
            .into_iter()
            .collect();
            message
        })
        .collect()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Where the messages posted to the inbox come from.
#[derive(Clone, Copy)]
enum Source {
    /// A real MNIST run, step after step: what a training loop sends.
    Trained,
    /// An unrelated random network at every step: the delta encoder's worst case.
    Random,
}

/// Posts `n` MNIST messages to a listening inbox (recording to a scratch
/// folder when `record`, events drained as the app would), one after another.
fn inbox(n: u64, record: bool, source: Source) {
    let dir = tempfile::tempdir().unwrap();
    let (listener, addr) = bind("127.0.0.1:0", None).unwrap();
    let inbox = Inbox::new(listener, None).unwrap();
    let handle = TrainerHandle::spawn_listen::<CpuBackend>(
        inbox,
        ListenOptions {
            data: "mnist".into(),
            presets: Presets::built_in(),
            activation: Activation::Relu,
            runs_root: record.then(|| dir.path().to_path_buf()),
        },
    )
    .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let drained = {
        let stop = stop.clone();
        let events = handle.events().clone();
        std::thread::spawn(move || {
            let mut count = 0u64;
            while !stop.load(Ordering::Relaxed) {
                if events.recv_timeout(Duration::from_millis(10)).is_ok() {
                    count += 1;
                }
            }
            count
        })
    };
    let client = Client::new(&addr.to_string());
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let messages: Vec<Vec<u8>> = match source {
        Source::Trained => trained_messages(n),
        Source::Random => (0..n).map(|s| mnist_message(s, &mut rng)).collect(),
    }
    .iter()
    .map(|m| m.encode().unwrap())
    .collect();
    let bytes = messages[0].len();
    // The first message starts the run (loads MNIST): not timed.
    client
        .post("/log", &messages[0], "application/octet-stream")
        .unwrap();
    let mut trips = Vec::new();
    let start = Instant::now();
    for m in &messages[1..] {
        let t = Instant::now();
        let answer = client.post("/log", m, "application/octet-stream").unwrap();
        assert_eq!(answer.status, 200, "{}", answer.text());
        trips.push(t.elapsed().as_secs_f64() * 1e3);
    }
    // Answered is not yet recorded: the clock stops once the last message
    // is taken and every record written (the viewer closing waits for both).
    drop(handle);
    let seconds = start.elapsed().as_secs_f64();
    let recorded_bytes = folder_bytes(dir.path());
    stop.store(true, Ordering::Relaxed);
    let events = drained.join().unwrap();
    trips.sort_by(f64::total_cmp);
    println!(
        "inbox, {}, {}: {} messages of {} kB (784-128-64-10) taken in {seconds:.2} s: {:.0} messages/s; round trip p50 {:.2} ms, p95 {:.2} ms; {events} events to the app; {:.0} kB recorded a message",
        match source {
            Source::Trained => "a trained run",
            Source::Random => "random networks",
        },
        if record {
            "recording every step"
        } else {
            "recording nothing"
        },
        n - 1,
        bytes / 1000,
        (n - 1) as f64 / seconds,
        percentile(&trips, 0.5),
        percentile(&trips, 0.95),
        recorded_bytes as f64 / 1000.0 / n as f64,
    );
}

/// Bytes of the files under `dir`, all depths.
fn folder_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            match e.file_type().unwrap().is_dir() {
                true => folder_bytes(&e.path()),
                false => e.metadata().unwrap().len(),
            }
        })
        .sum()
}

/// Steps per second of a served MNIST run over `seconds`, with `viewers`
/// WebSocket viewers (the last one slow when `slow`).
fn serve(viewers: usize, slow: bool, seconds: f64) {
    let (listener, addr) = bind("127.0.0.1:0", None).unwrap();
    let mut server = Server::<CpuBackend>::new(
        listener,
        ServeOptions {
            presets: Presets::built_in(),
            runs_root: None,
            token: None,
            max_connections: nn_microscope::lab::net::MAX_CONNECTIONS,
        },
    )
    .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let serving = {
        let stop = stop.clone();
        std::thread::spawn(move || server.run(&stop))
    };
    let client = Client::new(&addr.to_string());
    let started = client
        .post(
            "/train",
            br#"{"scene": "mnist", "steps": 100000000}"#,
            "application/json",
        )
        .unwrap();
    assert_eq!(started.status, 200, "{}", started.text());
    let step = || -> u64 {
        let s: serde_json::Value =
            serde_json::from_slice(&client.get("/status").unwrap().body).unwrap();
        s["step"].as_u64().unwrap_or(0)
    };
    while step() < 10 {
        std::thread::sleep(Duration::from_millis(50));
    }
    let frames: Vec<Arc<AtomicU64>> = (0..viewers).map(|_| Arc::new(AtomicU64::new(0))).collect();
    let watching = Arc::new(AtomicBool::new(true));
    let threads: Vec<_> = frames
        .iter()
        .enumerate()
        .map(|(i, count)| {
            let (count, watching) = (count.clone(), watching.clone());
            let url = format!("ws://{addr}/stream");
            let lazy = slow && i + 1 == viewers;
            std::thread::spawn(move || {
                let (mut socket, _) = tungstenite::connect(url).unwrap();
                while watching.load(Ordering::Relaxed) {
                    socket.send(tungstenite::Message::text("\"next\"")).unwrap();
                    loop {
                        match socket.read().unwrap() {
                            tungstenite::Message::Binary(b) => {
                                NetworkMessage::decode(&b, "bench", None).unwrap();
                                count.fetch_add(1, Ordering::Relaxed);
                            }
                            tungstenite::Message::Text(t) if t.as_str() == "\"end\"" => break,
                            _ => {}
                        }
                    }
                    if lazy {
                        std::thread::sleep(Duration::from_millis(250));
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let (from, t0) = (step(), Instant::now());
    std::thread::sleep(Duration::from_secs_f64(seconds));
    let (to, dt) = (step(), t0.elapsed().as_secs_f64());
    let status: serde_json::Value =
        serde_json::from_slice(&client.get("/status").unwrap().body).unwrap();
    watching.store(false, Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }
    let got: Vec<f64> = frames
        .iter()
        .map(|c| c.load(Ordering::Relaxed) as f64 / (seconds + 0.5))
        .collect();
    client.post("/stop", b"", "text/plain").unwrap();
    stop.store(true, Ordering::Relaxed);
    serving.join().unwrap();
    let per_viewer = match got.as_slice() {
        [] => String::new(),
        [.., last] if slow => format!(
            "; frames/s per viewer {:.0} (the slow one {last:.1}); frames dropped {}",
            got[..got.len() - 1].iter().sum::<f64>() / (got.len() - 1).max(1) as f64,
            status["frames_dropped"]
        ),
        _ => format!(
            "; frames/s per viewer {:.0}",
            got.iter().sum::<f64>() / got.len() as f64
        ),
    };
    println!(
        "serve mnist, {viewers} viewers{}: {:.0} steps/s{per_viewer}; peak RSS {:.0} MiB",
        if slow { " (one slow)" } else { "" },
        (to - from) as f64 / dt,
        nn_microscope::lab::peak_rss_mib()
    );
}

fn main() {
    let n = std::env::var("NNM_BENCH_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    // NNM_BENCH_ONLY=inbox-record (or inbox, serve) runs one part, for a profiler.
    let only = std::env::var("NNM_BENCH_ONLY").unwrap_or_default();
    let runs = |part: &str| only.is_empty() || part.starts_with(only.as_str());
    if runs("inbox-plain") {
        inbox(n, false, Source::Trained);
    }
    if runs("inbox-record") {
        inbox(n, true, Source::Trained);
    }
    if runs("inbox-random") {
        inbox(n, false, Source::Random);
        inbox(n, true, Source::Random);
    }
    if runs("serve") {
        serve(0, false, 10.0);
        serve(8, true, 10.0);
    }
}
