//! `--device wgpu`: burn's wgpu backend trains the same network as the CPU,
//! within a stated tolerance, on Mesa's software Vulkan driver (lavapipe),
//! which is slow but a real Vulkan device.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test that cannot unwrap has failed, and says where"
)]

use std::path::Path;
use std::process::Command;

mod common;

/// A run's (step, train_loss) points.
fn losses(run: &Path) -> Vec<(u64, f32)> {
    let text = std::fs::read_to_string(run.join("metrics.csv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (step, loss) = (col("step"), col("train_loss"));
    lines
        .map(|l| {
            let cells: Vec<&str> = l.split(',').collect();
            (cells[step].parse().unwrap(), cells[loss].parse().unwrap())
        })
        .collect()
}

/// Trains `scene` for `steps` on `device`; its run directory.
fn train(work: &Path, scene: &str, steps: &str, device: &str) -> std::path::PathBuf {
    let icd = common::ensure_software_gpu();
    let o = Command::new(env!("CARGO_BIN_EXE_nnm"))
        .args([
            "train", scene, "--steps", steps, "--device", device, "--out", device,
        ])
        .current_dir(work)
        .env("VK_DRIVER_FILES", &icd)
        .env("VK_ICD_FILENAMES", &icd)
        .env("WGPU_BACKEND", "vulkan")
        .env("XDG_RUNTIME_DIR", common::temp_dir("gpu-xdg"))
        .env_remove("DISPLAY")
        .output()
        .expect("nnm runs");
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        o.status.success(),
        "nnm train {scene} --device {device}: {out}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let line = out.lines().find(|l| l.starts_with("final: ")).unwrap();
    let run = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("run="))
        .unwrap();
    work.join(run)
}

#[test]
fn wgpu_trains_as_the_cpu_does_on_lavapipe() {
    let work = common::temp_dir("gpu-train");
    for (scene, steps) in [("xor", "200"), ("sine-1d", "200")] {
        let cpu = losses(&train(&work, scene, steps, "cpu"));
        let gpu = losses(&train(&work, scene, steps, "wgpu"));
        assert_eq!(
            cpu.iter().map(|p| p.0).collect::<Vec<_>>(),
            gpu.iter().map(|p| p.0).collect::<Vec<_>>(),
            "{scene}: other steps evaluated"
        );
        assert!(cpu.len() >= 3, "{scene}: {} evaluations", cpu.len());
        // Within 1e-3 of the loss's scale (its first value): float sums in
        // another order move a small late loss by more than 1e-3 of itself
        // where training is unstable (Adam's late loss bumps).
        let scale = cpu[0].1.abs().max(1e-6);
        let mut worst = 0f32;
        for ((step, c), (_, g)) in cpu.iter().zip(&gpu) {
            let off = (c - g).abs() / scale;
            worst = worst.max(off);
            assert!(
                off < 1e-3,
                "{scene} at step {step}: {c} on the CPU, {g} on wgpu"
            );
        }
        eprintln!("{scene}: wgpu within {worst:.2e} of the CPU, relative to the first loss");
        // Training did something: the loss fell on both.
        assert!(gpu.last().unwrap().1 < gpu[0].1, "{scene}: {gpu:?}");
    }
}

/// models.csv's rows as (status, diverged_at, train_loss).
fn models(dir: &Path) -> Vec<(String, String, f32)> {
    let text = std::fs::read_to_string(dir.join("models.csv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (status, at, loss) = (col("status"), col("diverged_at"), col("train_loss"));
    lines
        .map(|l| {
            let c: Vec<&str> = l.split(',').collect();
            (
                c[status].to_string(),
                c[at].to_string(),
                c[loss].parse().unwrap_or(f32::NAN),
            )
        })
        .collect()
}

/// Runs the sweep file `spec` on the CPU kernel and on wgpu, and checks that
/// every model ends the same; returns how many models diverged.
fn sweep_agrees(name: &str, spec: &str) -> usize {
    let work = common::temp_dir(name);
    std::fs::write(work.join("g.ron"), spec).unwrap();
    let icd = common::ensure_software_gpu();
    for device in ["cpu", "wgpu"] {
        let o = Command::new(env!("CARGO_BIN_EXE_nnm"))
            .args(["sweep", "g.ron", "--device", device, "--out", device])
            .current_dir(&work)
            .env("VK_DRIVER_FILES", &icd)
            .env("VK_ICD_FILENAMES", &icd)
            .env("WGPU_BACKEND", "vulkan")
            .env("XDG_RUNTIME_DIR", common::temp_dir("gpu-sweep-xdg"))
            .env_remove("DISPLAY")
            .output()
            .expect("nnm runs");
        assert!(o.status.success(), "{}", common::output_text(&o));
    }
    let (cpu, gpu) = (models(&work.join("cpu")), models(&work.join("wgpu")));
    assert_eq!(cpu.len(), gpu.len());
    let mut worst = 0f32;
    for (k, (c, g)) in cpu.iter().zip(&gpu).enumerate() {
        assert_eq!(c.0, g.0, "{name} model {k}: status");
        // A blow-up multiplies the loss by 10² to 10⁴ a step and amplifies
        // every float difference on the way: the step at which it passes
        // f32's largest value may differ by one.
        if c.0 == "diverged" {
            let (a, b): (i64, i64) = (c.1.parse().unwrap(), g.1.parse().unwrap());
            assert!(
                (a - b).abs() <= 1,
                "{name} model {k}: diverged at {a} on the CPU, {b} on wgpu"
            );
        }
        if c.0 == "ok" {
            let off = (c.2 - g.2).abs() / c.2.abs().max(1e-6);
            worst = worst.max(off);
            assert!(
                off < 1e-3,
                "{name} model {k}: train loss {} on the CPU, {} on wgpu",
                c.2,
                g.2
            );
        }
    }
    assert!(cpu.iter().any(|c| c.0 == "ok"), "{name}: none converged");
    assert!(work.join("wgpu/models.csv").is_file());
    eprintln!("{name} on wgpu: final train losses within {worst:.2e} of the CPU kernel's");
    cpu.iter().filter(|c| c.0 == "diverged").count()
}

#[test]
fn a_sweep_on_wgpu_trains_as_on_the_cpu_on_lavapipe() {
    let quick = include_str!("../scenes/sweeps/trainability-fractal-quick.ron");
    // Stable rates, and output-layer rates that blow up at once.
    let spec = quick
        .replace("Log(10.0, 100000.0, 64)", "Log(0.5, 8.0, 5)")
        .replace("Log(40.0, 400.0, 64)", "[1.0, 4.0, 12.0, 3000.0, 10000.0]")
        .replace("steps: 500", "steps: 150")
        .replace("chunk: 512", "chunk: 16");
    assert!(sweep_agrees("gpu-sweep", &spec) > 0, "none diverged");
}

#[test]
fn mini_batch_sgd_momentum_and_adam_sweeps_on_wgpu_train_as_on_the_cpu() {
    // Each seed draws its own batch order, which rides along on the device.
    let spec = r#"Sweep(
    title: "optimisers on wgpu",
    base: Inline(
        seed: 1,
        data: Spiral(samples: 120, noise: 0.1),
        model: (hidden: [8, 8], activation: Tanh),
        train: (optimizer: Sgd, learning_rate: 0.1, batch_size: 16, l2: 0.0005, steps: 80, eval_every: 8),
    ),
    axes: [
        (field: "train.optimizer", values: [Sgd, Momentum, Adam]),
        (field: "train.learning_rate", values: Log(0.003, 0.3, 3)),
        (field: "seed", values: Range(0, 2)),
    ],
)"#;
    sweep_agrees("gpu-sweep-optimisers", spec);
}
