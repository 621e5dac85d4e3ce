//! Scripted runs of the window, for tests and scripts: draw N frames, save a screenshot, measure frame times, exit.
//!
//! With a screenshot, the run also prints where things are in it, in window
//! pixels, as one `layout: {json}` line: the panels, the 3D view between them,
//! the box the network's neurons fill on screen and the selected neuron.
//! Scripts and the rendering tests read it instead of guessing where the
//! layout puts things. `--click-neuron` clicks a neuron through the mouse
//! input, as a user would, a few frames before the end.

use std::path::PathBuf;

use bevy::prelude::*;
use bevy::render::view::screenshot::{Screenshot, ScreenshotCaptured, save_to_disk};
use bevy::window::PrimaryWindow;

use crate::app::camera::{MainCamera, OverlayRects};
use crate::app::network::{NetworkView, Neuron, NeuronId, Selection};
use crate::app::{AppSystems, ViewOptions};

/// Frames ignored by the frame-time statistics (shader compilation, first uploads).
const WARMUP_FRAMES: usize = 30;
/// Frames to wait for a screenshot before giving up.
const SCREENSHOT_PATIENCE: u32 = 240;
/// A scripted click happens this many frames before the last one.
const CLICK_BEFORE_END: u32 = 6;

/// What an automated run does and what it has measured.
#[derive(Resource, Debug, Default)]
pub(super) struct Automation {
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
    /// Where things were on screen when the screenshot was taken.
    pub layout: Option<serde_json::Value>,
    /// A neuron to click near the end.
    pub click: Option<NeuronId>,
    /// Where the scripted click went down, in window coordinates, once it has.
    pub clicked_at: Option<Vec2>,
    /// A neuron layer to frame before the end (the digit key is pressed).
    pub frame_layer: Option<usize>,
    /// While set, frames are not counted: work the run waits for is pending
    /// (a zoom training, an export).
    pub hold: bool,
}

/// Adds the automation systems when `options` ask for frames, a screenshot or a benchmark.
pub(super) fn add_automation(app: &mut App, options: &ViewOptions) {
    if options.frames.is_none() && options.screenshot.is_none() && !options.bench {
        return;
    }
    app.insert_resource(Automation {
        frames: options.frames,
        screenshot: options.screenshot.clone(),
        bench: options.bench,
        click: options.click,
        frame_layer: options.frame_layer,
        ..default()
    })
    .add_systems(
        Update,
        (click_neuron, frame_layer).in_set(AppSystems::Script),
    )
    // After everything else of the frame, so that the whole frame is counted.
    .add_systems(Last, drive);
}

/// Clicks the neuron asked for where it is on screen: the cursor moves there,
/// the left button goes down, and up on the next frame, through the same
/// input the mouse drives.
fn click_neuron(
    mut auto: ResMut<Automation>,
    mut windows: Query<&mut Window, With<PrimaryWindow>>,
    mut buttons: ResMut<ButtonInput<MouseButton>>,
    camera: Query<(&Camera, &GlobalTransform), With<MainCamera>>,
    neurons: Query<(&Neuron, &GlobalTransform)>,
) {
    let (Some(target), Some(frames)) = (auto.click, auto.frames) else {
        return;
    };
    let Ok(mut window) = windows.single_mut() else {
        return;
    };
    if let Some(at) = auto.clicked_at {
        if buttons.pressed(MouseButton::Left) {
            window.set_cursor_position(Some(at));
            buttons.release(MouseButton::Left);
        }
        return;
    }
    if auto.frame + CLICK_BEFORE_END < frames {
        return;
    }
    let (Ok((camera, eye)), Some((_, neuron))) = (
        camera.single(),
        neurons.iter().find(|(n, _)| n.id() == target),
    ) else {
        return;
    };
    if let Ok(at) = camera.world_to_viewport(eye, neuron.translation()) {
        window.set_cursor_position(Some(at));
        buttons.press(MouseButton::Left);
        auto.clicked_at = Some(at);
    }
}

/// Frames before the end at which `--frame-layer` presses its key: time
/// for the camera to get there.
const FRAME_LAYER_BEFORE_END: u32 = 30;

/// Presses the digit key of the layer asked for, as the user would, and
/// lets it go on the next frame.
fn frame_layer(auto: Res<Automation>, mut keys: ResMut<ButtonInput<KeyCode>>) {
    let (Some(layer), Some(frames)) = (auto.frame_layer, auto.frames) else {
        return;
    };
    let Some(&key) = crate::app::camera::DIGIT_KEYS.get(layer) else {
        return;
    };
    let at = frames.saturating_sub(FRAME_LAYER_BEFORE_END);
    if auto.frame == at {
        keys.press(key);
    } else if auto.frame == at + 1 {
        keys.release(key);
    }
}

fn drive(
    mut commands: Commands,
    mut auto: ResMut<Automation>,
    time: Res<Time<Real>>,
    screen: ScreenLayout,
    selection: Res<Selection>,
    mut exit: MessageWriter<AppExit>,
) {
    let ms = time.delta_secs() * 1000.0;
    auto.frame_ms.push(ms);
    if auto.hold {
        return;
    }
    auto.frame += 1;
    let due = auto.frames.is_some_and(|n| auto.frame >= n);
    if !due {
        return;
    }
    match (&auto.screenshot, auto.shot_at) {
        (Some(path), None) => {
            let path = path.clone();
            auto.shot_at = Some(auto.frame);
            auto.layout = Some(screen.report(selection.neuron));
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
            if let Some(layout) = &auto.layout {
                println!("layout: {layout}");
            }
            if auto.bench {
                println!("{}", auto.report());
            }
            exit.write(AppExit::Success);
        }
    }
}

/// What is where on screen: the window, the panels, the camera and the neurons.
#[derive(bevy::ecs::system::SystemParam)]
struct ScreenLayout<'w, 's> {
    window: Query<'w, 's, &'static Window, With<PrimaryWindow>>,
    overlay: Option<Res<'w, OverlayRects>>,
    camera: Query<'w, 's, (&'static Camera, &'static GlobalTransform), With<MainCamera>>,
    neurons: Query<'w, 's, &'static GlobalTransform, With<Neuron>>,
    view: Res<'w, NetworkView>,
}

impl ScreenLayout<'_, '_> {
    /// The layout in physical window pixels, as JSON: `window` [w, h],
    /// `panels` {name: [x0, y0, x1, y1]}, `view` (the 3D view's box) and
    /// `network` (the box of every neuron's centre on screen).
    fn report(&self, selected: Option<NeuronId>) -> serde_json::Value {
        let scale = self.window.single().map_or(1.0, Window::scale_factor);
        let size = self
            .window
            .single()
            .map_or([0, 0], |w| [w.physical_width(), w.physical_height()]);
        let rect = |lo: Vec2, hi: Vec2| {
            let (lo, hi) = (lo * scale, hi * scale);
            serde_json::json!([lo.x.round(), lo.y.round(), hi.x.round(), hi.y.round()])
        };
        let mut panels = serde_json::Map::new();
        let mut view = None;
        if let Some(o) = &self.overlay {
            for (name, lo, hi) in &o.rects {
                panels.insert((*name).to_string(), rect(*lo, *hi));
            }
            view = o.free.map(|(lo, hi)| rect(lo, hi));
        }
        // Bevy's viewport coordinates are window coordinates.
        let on_screen = |points: &mut dyn Iterator<Item = Vec3>| {
            let (camera, eye) = self.camera.single().ok()?;
            let points: Vec<Vec2> = points
                .filter_map(|p| camera.world_to_viewport(eye, p).ok())
                .collect();
            let lo = points.iter().copied().reduce(Vec2::min)?;
            let hi = points.iter().copied().reduce(Vec2::max)?;
            Some(rect(lo, hi))
        };
        let network = on_screen(&mut self.neurons.iter().map(GlobalTransform::translation));
        let surface = self
            .view
            .layout
            .as_ref()
            .and_then(|l| l.surface)
            .and_then(|s| {
                let (lo, hi) = s.bounds();
                on_screen(&mut (0..8).map(|k| {
                    Vec3::new(
                        if k & 1 == 0 { lo.x } else { hi.x },
                        if k & 2 == 0 { lo.y } else { hi.y },
                        if k & 4 == 0 { lo.z } else { hi.z },
                    )
                }))
            });
        serde_json::json!({
            "window": size,
            "panels": panels,
            "view": view,
            "network": network,
            "surface": surface,
            "selected": selected.map(|n| [n.layer, n.index]),
        })
    }
}

impl Automation {
    /// Frame-time statistics, warm-up frames left out.
    pub(super) fn report(&self) -> String {
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
            crate::lab::peak_rss_mib()
        )
    }
}
