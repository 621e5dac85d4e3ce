//! `--device wgpu`: burn's wgpu backend trains the same network as the CPU,
//! within a stated tolerance, on Mesa's software Vulkan driver (lavapipe),
//! which is slow but a real Vulkan device.

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
