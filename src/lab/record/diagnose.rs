//! Full diagnostics of a run directory, as text: what `nnm runs show --full`
//! prints and the app's diagnostics panel shows.

use std::fmt::Write as _;
use std::path::Path;

use crate::lab::error::LabResult;
use crate::lab::format_value;
use crate::lab::frame::LayerStats;
use crate::lab::frame::{Metrics, RunStatus};
use crate::lab::record::edits::read_edits;
use crate::lab::record::{EDITS_FILE, FrameReader, LAYERS_FILE, RunDir, read_layers, read_metrics};
use crate::lab::runner::checkpoints;

fn num(v: Option<f32>) -> String {
    format_value(v, Some(4))
}

/// Bytes for people.
fn size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 => format!("{:.2} GiB", b as f64 / f64::from(1u32 << 30)),
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / f64::from(1u32 << 20)),
        b if b >= 1 << 10 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{b} B"),
    }
}

/// The diagnostics of the run in `dir` at `step` (its last recorded update
/// when `None`): configuration, parameter counts, each layer's stats,
/// timing, the recording and checkpoints, the edits, and any divergence
/// with its likely cause.
pub fn diagnose(dir: &Path, step: Option<u64>) -> LabResult<String> {
    let run = RunDir::open(dir)?;
    let scene = run.scene()?;
    let mut out = String::new();
    let w = &mut out;
    configuration(w, &scene);
    let mut reader = FrameReader::open(&run.frames_path()).ok();
    let sizes = reader
        .as_ref()
        .map(|r| r.header().topology.network.sizes.clone())
        .unwrap_or_default();
    parameters(w, &sizes, scene.model.bias);
    let rows = read_metrics(&run.metrics_path()).unwrap_or_default();
    let layers =
        read_layers(&run.path.join(LAYERS_FILE), sizes.len().saturating_sub(1)).unwrap_or_default();
    layers_at(w, &layers, step);
    timing(w, &run, rows.last());
    if let Some(r) = reader.as_mut() {
        let index = r.index();
        let _ = writeln!(
            w,
            "recording   {} frames, {} ({} per frame), {} keyframes{}",
            index.len(),
            size(r.bytes()),
            size(r.bytes() / index.len().max(1) as u64),
            index.iter().filter(|e| e.key).count(),
            match r.damage() {
                Some(d) => format!("; damaged from byte {}: {}", d.offset, d.reason),
                None => String::new(),
            }
        );
    }
    let saved = checkpoints(&run.path)?;
    let _ = writeln!(
        w,
        "checkpoints {}",
        if saved.is_empty() {
            "none".to_string()
        } else {
            saved
                .iter()
                .map(|(s, _)| format!("step {s}"))
                .collect::<Vec<_>>()
                .join(", ")
        }
    );
    let edits = read_edits(&run.path.join(EDITS_FILE))?;
    if !edits.is_empty() {
        let list: Vec<String> = edits
            .iter()
            .map(|(s, e)| format!("{} {} at step {s}", e.setting(), e.value()))
            .collect();
        let _ = writeln!(w, "edits       {}", list.join(", "));
    }
    if let Some(cause) = divergence(&rows, &layers) {
        let _ = writeln!(w, "diverged    {cause}");
    }
    Ok(out)
}

/// The configuration and training settings, and the schedule when it moves.
fn configuration(w: &mut String, scene: &crate::lab::Scene) {
    let t = &scene.train;
    let _ = writeln!(
        w,
        "config      {} data, seed {}, hidden {:?} {} (output {:?}, init {:?}, bias {}){}",
        scene.data.name(),
        scene.seed,
        scene.model.hidden,
        match &scene.model.activations {
            Some(per_layer) => format!("{per_layer:?}"),
            None => format!("{:?}", scene.model.activation),
        },
        scene.output(),
        scene.init(),
        scene.model.bias,
        if scene.model.dropout > 0.0 {
            format!(", dropout {} in training", scene.model.dropout)
        } else {
            String::new()
        }
    );
    let _ = writeln!(
        w,
        "training    {} at η {}, batch {}, {} steps, loss {:?}, l1 {}, l2 {}, evaluated every {}",
        t.optimizer.label(),
        t.learning_rate,
        t.batch_size,
        t.steps,
        scene.loss(),
        t.l1,
        t.l2,
        t.eval_every
    );
    if !t.schedule.is_constant(t.warmup_steps) {
        let _ = writeln!(
            w,
            "schedule    {:?}, {} warm-up steps: η {} at step 0, {} at the middle, {} at the end",
            t.schedule,
            t.warmup_steps,
            t.learning_rate * t.lr_factor(0),
            t.learning_rate * t.lr_factor(t.steps / 2),
            t.learning_rate * t.lr_factor(t.steps)
        );
    }
}

/// The parameter count of a network of `sizes`, in all and per layer.
fn parameters(w: &mut String, sizes: &[usize], bias: bool) {
    if sizes.len() >= 2 {
        let per_layer: Vec<String> = sizes
            .windows(2)
            .map(|l| {
                let n = l[0] * l[1] + if bias { l[1] } else { 0 };
                format!(
                    "{}x{} {}",
                    l[0],
                    l[1],
                    crate::lab::scene::limits::count_text(n as u128)
                )
            })
            .collect();
        let total: usize = sizes
            .windows(2)
            .map(|l| l[0] * l[1] + if bias { l[1] } else { 0 })
            .sum();
        let _ = writeln!(
            w,
            "parameters  {} ({})",
            crate::lab::scene::limits::count_text(total as u128),
            per_layer.join(", ")
        );
    }
}

/// Each layer's stats at `step` (by default the last recorded update's).
fn layers_at(w: &mut String, layers: &[(u64, Vec<LayerStats>)], step: Option<u64>) {
    // By default the last update's: the final state's row has no update to measure.
    let updated =
        |(_, stats): &&(u64, Vec<LayerStats>)| stats.iter().any(|l| l.update_norm.is_finite());
    let at = step.or_else(|| {
        layers
            .iter()
            .rev()
            .find(updated)
            .or(layers.last())
            .map(|(s, _)| *s)
    });
    match at.and_then(|at| layers.iter().rev().find(|(s, _)| *s <= at)) {
        Some((s, stats)) => {
            let _ = writeln!(w, "layers at step {s}:");
            let _ = writeln!(
                w,
                "  layer  weight_norm  grad_norm  update_ratio  act_mean  act_std  dead"
            );
            for (l, st) in stats.iter().enumerate() {
                let _ = writeln!(w, "  {:<5}  {}", l + 1, stats_row(st));
            }
        }
        None => {
            let _ = writeln!(w, "layers      no stats recorded (layers.csv)");
        }
    }
}

/// The wall time from the run's start to its `last` metrics row.
fn timing(w: &mut String, run: &RunDir, last: Option<&Metrics>) {
    let seconds = |p: &Path| {
        std::fs::metadata(p)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
    };
    if let (Some(start), Some(end), Some(last)) = (
        seconds(&run.scene_path()),
        seconds(&run.metrics_path()),
        last,
    ) {
        let wall = end.saturating_sub(start).as_secs_f64();
        let _ = writeln!(
            w,
            "timing      about {wall:.1} s of wall time to step {} ({:.0} steps/s; scene.ron to the last metrics row)",
            last.step,
            last.step as f64 / wall.max(1e-3)
        );
    }
}

/// One layer's stats as a table row.
fn stats_row(s: &LayerStats) -> String {
    let sci = |v: f32| {
        if v.is_finite() {
            format!("{v:.3e}")
        } else {
            format_value(Some(v), None)
        }
    };
    format!(
        "{:>11}  {:>9}  {:>12}  {:>8}  {:>7}  {}",
        sci(s.weight_norm),
        sci(s.grad_norm),
        sci(s.update_ratio()),
        sci(s.activation_mean),
        sci(s.activation_std),
        if s.dead_fraction.is_nan() {
            "-".to_string()
        } else {
            format!("{:.0}%", 100.0 * s.dead_fraction)
        }
    )
}

/// Where and why a run diverged: the loss that blew up, the learning rate,
/// and what the last measurements before it show.
fn divergence(rows: &[Metrics], layers: &[(u64, Vec<LayerStats>)]) -> Option<String> {
    let row = rows.iter().find(|r| r.status == RunStatus::Diverged)?;
    let mut text = format!(
        "at step {}: the loss became {} at learning rate {}",
        row.step,
        num(row.batch_loss.or(row.train_loss)),
        num(row.learning_rate)
    );
    let before = rows.iter().rev().find(|r| r.step < row.step);
    if let Some(b) = before
        && let (Some(s), Some(t)) = (b.sharpness, b.sharpness_threshold)
        && s > t
    {
        let _ = write!(
            text,
            "; the sharpness {s:.4} was above the stability threshold 2/η = {t:.4} at step {}: the step size is too large for the curvature",
            b.step
        );
    }
    if let Some((s, stats)) = layers.iter().rev().find(|(s, _)| *s < row.step) {
        let worst = stats
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.update_ratio().total_cmp(&b.1.update_ratio()));
        if let Some((l, st)) = worst
            && st.update_ratio() > 0.1
        {
            let moved = match st.update_ratio() {
                r if r >= 10.0 => format!("{r:.1e} times its norm"),
                r => format!("{:.0}% of its norm", 100.0 * r),
            };
            let _ = write!(
                text,
                "; at step {s} layer {} moved {moved} in one update (a healthy ratio is near 0.1%)",
                l + 1,
            );
        }
    }
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::runner::Session;
    use crate::lab::{CpuBackend, Scene};

    fn run(text: &str, tag: &str) -> (crate::scratch::Scratch, std::path::PathBuf) {
        let scene = Scene::parse(text, Path::new("d.ron")).unwrap();
        let root = crate::scratch::Scratch::new(&format!("diag-{tag}"));
        let mut s =
            Session::<CpuBackend>::start(&scene, &Default::default(), Some(root.path())).unwrap();
        while s.trainer().step_count() < scene.train.steps {
            if s.advance(false).unwrap().diverged.is_some() {
                break;
            }
        }
        if !s.trainer().is_diverged() {
            s.finish().unwrap();
        }
        s.settle().unwrap();
        let dir = s.run_dir().unwrap().to_path_buf();
        (root, dir)
    }

    #[test]
    fn diagnostics_give_the_configuration_layers_and_the_cause_of_a_divergence() {
        let (_ok, dir) = run(
            "Scene(name: \"d\", data: Xor(samples: 60), model: (hidden: [4, 3], activation: Relu), train: (steps: 20, eval_every: 5))",
            "ok",
        );
        let text = diagnose(&dir, None).unwrap();
        for needle in [
            "config      xor data, seed 0, hidden [4, 3] Relu",
            "parameters  35 (2x4 12, 4x3 15, 3x2 8)",
            "layers at step 19:",
            "checkpoints step 20",
        ] {
            assert!(text.contains(needle), "`{needle}` missing from:\n{text}");
        }
        assert!(!text.contains("diverged"), "{text}");
        let at_5 = diagnose(&dir, Some(5)).unwrap();
        assert!(at_5.contains("layers at step 5:"), "{at_5}");
        let (_diverged, dir) = run(
            "Scene(name: \"d\", data: Function1d(samples: 40), model: (hidden: [4]), train: (optimizer: Sgd, learning_rate: 1e6, steps: 20, eval_every: 5))",
            "diverged",
        );
        let text = diagnose(&dir, None).unwrap();
        assert!(
            text.contains("diverged    at step")
                && text.contains("at learning rate 1000000.0000")
                && text.contains("times its norm in one update"),
            "{text}"
        );
    }
}
