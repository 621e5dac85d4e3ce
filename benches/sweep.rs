//! Sweeps: model-steps per second of the batched CPU kernel, side by side
//! with JAX's `vmap` (`../shared/peers/jax_vmap_sweep.py`) in the same run,
//! and the trainability fractal's time and peak memory.
//!
//! `cargo bench --bench sweep` runs the JAX comparison and the 256×256 fractal.
//! JAX runs when `NNM_JAX_PYTHON` names a Python with JAX (or `python3` has it):
//! `python3 -m venv /tmp/peer && /tmp/peer/bin/pip install 'jax[cpu]'`, then
//! `NNM_JAX_PYTHON=/tmp/peer/bin/python3 cargo bench --bench sweep`.
//! `NNM_BENCH_FRACTAL=512` draws the 512×512 map instead (four times longer).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test that cannot unwrap has failed, and says where"
)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::AtomicU64;
use std::time::Instant;

use nn_microscope::lab::Device;
use nn_microscope::lab::scene::Presets;
use nn_microscope::lab::sweep::kernel::Isa;
use nn_microscope::lab::sweep::{Plan, Sweep, SweepDir};

/// The JAX script's work: 1000 models of 2-8-8-2 tanh, full-batch GD on a
/// 400-point spiral, learning rates spread over 0.01 to 1 in log scale.
fn jax_like(models: usize, steps: u64) -> String {
    format!(
        "Sweep(
    name: \"jax-peer\",
    base: Inline(
        seed: 1,
        data: Spiral(samples: 500, noise: 0.02, test_fraction: 0.2),
        model: (hidden: [8, 8], activation: Tanh),
        train: (optimizer: Gd, learning_rate: 0.1, steps: {steps}, eval_every: {steps}),
    ),
    axes: [(field: \"train.learning_rate\", values: Log(0.01, 1.0, {models}))],
)"
    )
}

/// Peak resident memory of this process so far, in MiB (Linux).
fn peak_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// Trains every chunk of `sweep`; the seconds it took and the model-steps trained.
fn train(sweep: &Sweep, threads: usize, dir: Option<&SweepDir>) -> (f64, u64, usize) {
    let plan = Plan::new(sweep).expect("plan");
    let done = AtomicU64::new(0);
    let started = Instant::now();
    let mut trained = 0;
    let mut diverged = 0;
    let steps = sweep.base().train.steps;
    for c in 0..plan.chunks.len() {
        let rows = plan
            .train_chunk(sweep, c, Device::Cpu, threads, &done)
            .expect("train");
        trained += rows.iter().map(|r| r.steps_trained(steps)).sum::<u64>();
        diverged += rows.iter().filter(|r| r.diverged_at.is_some()).count();
        if let Some(d) = dir {
            d.write_chunk(c, &rows).expect("write");
        }
    }
    (started.elapsed().as_secs_f64(), trained, diverged)
}

fn jax_python() -> Option<String> {
    let candidates = std::env::var("NNM_JAX_PYTHON")
        .ok()
        .into_iter()
        .chain(["python3".to_string()]);
    for python in candidates {
        let ok = Command::new(&python)
            .args(["-c", "import jax"])
            .output()
            .is_ok_and(|o| o.status.success());
        if ok {
            return Some(python);
        }
    }
    None
}

fn peer_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/peers/jax_vmap_sweep.py")
}

fn main() {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let presets = Presets::built_in();
    println!(
        "sweep benchmarks: {threads} threads, {} ({} models per tile)",
        Isa::detect().name(),
        Isa::detect().lanes()
    );

    let (models, steps) = (1000, 1000);
    let text = jax_like(models, steps);
    let sweep = Sweep::parse(&text, Path::new("jax-peer.ron"), &presets).expect("sweep");
    let (seconds, trained, diverged) = train(&sweep, threads, None);
    let nominal = (models as u64 * steps) as f64;
    let ours = nominal / seconds;
    println!(
        "nnm: {models} models x {steps} full-batch steps (2-8-8-2 tanh, 400 pts) in {seconds:.2} s = {ours:.0} model-steps/s \
         ({diverged} diverged; {:.0} model-steps/s counting only the steps trained)",
        trained as f64 / seconds
    );
    match jax_python() {
        Some(python) => {
            let o = Command::new(&python)
                .arg(peer_script())
                .args([models.to_string(), steps.to_string()])
                .output()
                .expect("python runs");
            let out = String::from_utf8_lossy(&o.stdout);
            print!("{out}");
            let jax = out
                .split("= ")
                .nth(1)
                .and_then(|s| s.split_whitespace().next())
                .and_then(|s| s.parse::<f64>().ok());
            match jax {
                Some(j) => println!("nnm / jax: {:.2}x", ours / j),
                None => println!(
                    "the JAX peer printed no figure: {}",
                    String::from_utf8_lossy(&o.stderr)
                ),
            }
        }
        None => println!(
            "jax: not found; `python3 -m venv /tmp/peer && /tmp/peer/bin/pip install 'jax[cpu]'`, \
             then NNM_JAX_PYTHON=/tmp/peer/bin/python3 cargo bench --bench sweep"
        ),
    }

    let side: usize = std::env::var("NNM_BENCH_FRACTAL")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    let file = presets
        .find_sweep("trainability-fractal")
        .expect("built in");
    let text = file.text.replace(", 256)),", &format!(", {side})),"));
    let sweep = Sweep::parse(&text, &file.path, &presets).expect("sweep");
    let out = std::env::temp_dir().join(format!("nnm-bench-fractal-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let dir = SweepDir::create(Some(&out), &out, &sweep, None).expect("dir");
    let started = Instant::now();
    let (seconds, trained, diverged) = train(&sweep, threads, Some(&dir));
    let plan = Plan::new(&sweep).expect("plan");
    let report = dir.finish(&sweep, &plan).expect("finish");
    let total = started.elapsed().as_secs_f64();
    let steps = sweep.base().train.steps;
    let nominal = (sweep.count as u64 * steps) as f64;
    println!(
        "trainability fractal {side}x{side} x {steps} steps (16-16-1 on 272 pts): trained in {seconds:.1} s \
         ({:.0} model-steps/s; {diverged} of {} diverged, so {:.1}% of the {:.1}M model-steps were trained), \
         {total:.1} s with the sweep directory; peak memory {:.0} MiB; map {}",
        nominal / seconds,
        sweep.count,
        100.0 * trained as f64 / nominal,
        nominal / 1e6,
        peak_mib().unwrap_or(f64::NAN),
        if report.map {
            out.join("map.png").display().to_string()
        } else {
            "none".into()
        }
    );
}
