//! Automated runs: draw N frames, save a screenshot, measure frame times, exit.

use std::path::PathBuf;

use bevy::prelude::*;
use bevy::render::view::screenshot::{Screenshot, ScreenshotCaptured, save_to_disk};

use crate::app::ViewOptions;

/// Frames ignored by the frame-time statistics (shader compilation, first uploads).
const WARMUP_FRAMES: usize = 30;
/// Frames to wait for a screenshot before giving up.
const SCREENSHOT_PATIENCE: u32 = 240;

/// What an automated run does and what it has measured.
#[derive(Resource, Debug, Default)]
pub struct Automation {
    /// Stop after this many frames.
    pub frames: Option<u32>,
    /// Save the window here before stopping.
    pub screenshot: Option<PathBuf>,
    /// Print frame-time statistics when stopping.
    pub bench: bool,
    /// Frames drawn so far.
    pub frame: u32,
    /// The frame at which the screenshot was asked for.
    pub shot_at: Option<u32>,
    /// Set once the screenshot is on disk.
    pub shot_saved: bool,
    /// Time between frames, ms.
    pub frame_ms: Vec<f32>,
}

/// Adds the automation systems when `options` ask for frames, a screenshot or a benchmark.
pub fn add_automation(app: &mut App, options: &ViewOptions) {
    if options.frames.is_none() && options.screenshot.is_none() && !options.bench {
        return;
    }
    app.insert_resource(Automation {
        frames: options.frames,
        screenshot: options.screenshot.clone(),
        bench: options.bench,
        ..default()
    })
    // After everything else of the frame, so that the whole frame is counted.
    .add_systems(Last, drive);
}

fn drive(
    mut commands: Commands,
    mut auto: ResMut<Automation>,
    time: Res<Time<Real>>,
    mut exit: MessageWriter<AppExit>,
) {
    auto.frame += 1;
    let ms = time.delta_secs() * 1000.0;
    auto.frame_ms.push(ms);
    let due = auto.frames.is_some_and(|n| auto.frame >= n);
    if !due {
        return;
    }
    match (&auto.screenshot, auto.shot_at) {
        (Some(path), None) => {
            let path = path.clone();
            auto.shot_at = Some(auto.frame);
            commands
                .spawn(Screenshot::primary_window())
                .observe(save_to_disk(path))
                .observe(|_: On<ScreenshotCaptured>, mut auto: ResMut<Automation>| {
                    auto.shot_saved = true
                });
        }
        (Some(path), Some(at)) if !auto.shot_saved => {
            if auto.frame - at > SCREENSHOT_PATIENCE {
                error!(
                    "no screenshot arrived for {} after {SCREENSHOT_PATIENCE} frames",
                    path.display()
                );
                exit.write(AppExit::error());
            }
        }
        _ => {
            if auto.bench {
                println!("{}", auto.report());
            }
            exit.write(AppExit::Success);
        }
    }
}

/// Peak resident memory of this process so far, in MiB (Linux; NaN elsewhere).
pub fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

impl Automation {
    /// Frame-time statistics, warm-up frames left out.
    pub fn report(&self) -> String {
        let stats = |v: &[f32]| {
            let mut s: Vec<f32> = v.iter().skip(WARMUP_FRAMES).copied().collect();
            if s.is_empty() {
                return "no samples".to_string();
            }
            s.sort_by(f32::total_cmp);
            let mean = s.iter().sum::<f32>() / s.len() as f32;
            let p = |q: f32| s[((s.len() - 1) as f32 * q) as usize];
            format!(
                "mean={mean:.2} p50={:.2} p95={:.2} n={}",
                p(0.5),
                p(0.95),
                s.len()
            )
        };
        format!(
            "frame_ms: {}\npeak_memory_mib: {:.0}",
            stats(&self.frame_ms),
            peak_rss_mib()
        )
    }
}
