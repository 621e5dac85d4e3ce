//! What the network does with its task: a prediction grid for images, the
//! decision boundary for 2D points, the fitted curve for 1D functions.

use std::sync::Arc;

use bevy_egui::egui;
use egui_plot::{Line, Plot, PlotImage, PlotPoint, PlotPoints, Points, VLine};

use crate::lab::Frame;
use crate::lab::data::{Dataset, InputLayout, Targets};
use crate::lab::model::plain_forward;

/// Test samples shown in the prediction grid.
pub(crate) const GRID_SAMPLES: usize = 20;
/// Recompute predictions at most this often (they cost milliseconds on big nets).
const REFRESH_EVERY: std::time::Duration = std::time::Duration::from_millis(150);
/// Views computed from the shown frame take at most one part in this of the
/// time: a refresh that took 8 ms waits 80 ms at least. Their forward passes
/// are in double precision, and in a page they share its one thread with
/// training: MNIST's 1,000 projected predictions take some 70 ms there.
pub(crate) const REFRESH_COST_SHARE: u32 = 10;
/// Resolution of the decision-boundary heatmap.
const BOUNDARY_RES: usize = 64;
/// The classes' colours, as [`crate::lab::data::CLASS_NAMES`] names them:
/// TensorFlow Playground's orange and blue for classes 0 and 1, then green,
/// purple, red and teal.
pub(crate) const CLASS_COLOURS: [[u8; 3]; crate::lab::data::MAX_CLASSES] = [
    [245, 147, 34],
    [8, 119, 189],
    [60, 170, 80],
    [150, 90, 200],
    [215, 50, 60],
    [30, 170, 170],
];

/// Which frame of which run a cached view belongs to: the app's topology
/// serial (bumped by every start, restart, reseed or new architecture) and
/// shown-frame serial (bumped by every frame shown). A step number alone does
/// not say it: after a reset, step 0 is another network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct ViewKey {
    /// The run (the change tick of its last start).
    pub run: u64,
    /// The frame shown (its serial).
    pub frame: u64,
}

/// Cached predictions and textures, rebuilt when the frame changes.
#[derive(Default)]
pub(crate) struct TaskView {
    /// The run and frame the cache was computed for.
    key: Option<ViewKey>,
    /// Predicted class and its probability for each grid sample.
    predictions: Vec<(usize, f32)>,
    /// Textures of the grid samples (built once per data set).
    sample_textures: Vec<egui::TextureHandle>,
    /// The decision-boundary heatmap.
    boundary: Option<egui::TextureHandle>,
    /// The fitted curve: (x, prediction).
    fit: Vec<[f64; 2]>,
    /// When the cache was last rebuilt.
    refreshed_at: Option<crate::lab::clock::Instant>,
    /// How long the last rebuild took.
    refresh_cost: std::time::Duration,
    /// Rebuild for every new frame: in a film, what a frame shows must not
    /// depend on the wall clock.
    pub every_frame: bool,
}

impl TaskView {
    fn refresh(
        &mut self,
        ctx: &egui::Context,
        key: ViewKey,
        data: &Arc<Dataset>,
        frame: &Frame,
        activations: &[crate::lab::model::Activation],
        output: crate::lab::model::OutputKind,
    ) {
        if self.key == Some(key) {
            return;
        }
        // A new run (its data set may be another) is shown at once; frames of
        // the same run at most every REFRESH_EVERY, or less often where a
        // refresh is slow.
        let new_data = self.key.is_none_or(|k| k.run != key.run);
        let wait = REFRESH_EVERY.max(self.refresh_cost * REFRESH_COST_SHARE);
        if !new_data && !self.every_frame && self.refreshed_at.is_some_and(|t| t.elapsed() < wait) {
            return;
        }
        self.key = Some(key);
        let started = crate::lab::clock::Instant::now();
        self.refreshed_at = Some(started);
        self.rebuild(ctx, new_data, data, frame, activations, output);
        self.refresh_cost = started.elapsed();
    }

    /// Computes the predictions, boundary or curve of `frame`.
    fn rebuild(
        &mut self,
        ctx: &egui::Context,
        new_data: bool,
        data: &Arc<Dataset>,
        frame: &Frame,
        activations: &[crate::lab::model::Activation],
        output: crate::lab::model::OutputKind,
    ) {
        let layers = frame.dense_layers();
        let forward = |x: &[f32]| plain_forward(&layers, activations, output, x);
        match data.layout {
            InputLayout::Image { width, height } => {
                let n = GRID_SAMPLES.min(data.test.len());
                if new_data {
                    self.sample_textures = (0..n)
                        .map(|i| {
                            let pixels: Vec<u8> = data
                                .test_input(i)
                                .iter()
                                .map(|v| (v.clamp(0.0, 1.0) * 255.0) as u8)
                                .collect();
                            let img = egui::ColorImage::from_gray([width, height], &pixels);
                            ctx.load_texture(
                                format!("sample-{i}"),
                                img,
                                egui::TextureOptions::NEAREST,
                            )
                        })
                        .collect();
                }
                self.predictions = (0..n)
                    .map(|i| {
                        let out = forward(data.test_input(i)).post.pop().unwrap_or_default();
                        argmax(&out)
                    })
                    .collect();
            }
            InputLayout::Plane { x, y } => {
                let mut rgba = Vec::with_capacity(BOUNDARY_RES * BOUNDARY_RES * 4);
                for row in 0..BOUNDARY_RES {
                    for col in 0..BOUNDARY_RES {
                        let px = x.0 + (x.1 - x.0) * (col as f32 + 0.5) / BOUNDARY_RES as f32;
                        // Image rows go down; the plane's y goes up.
                        let py = y.1 - (y.1 - y.0) * (row as f32 + 0.5) / BOUNDARY_RES as f32;
                        let out = forward(&[px, py]).post.pop().unwrap_or_default();
                        let c = if data.is_classification() {
                            class_color(&out)
                        } else {
                            value_color(out.first().copied().unwrap_or(0.0) as f32)
                        };
                        rgba.extend([c[0], c[1], c[2], 255]);
                    }
                }
                let img =
                    egui::ColorImage::from_rgba_unmultiplied([BOUNDARY_RES, BOUNDARY_RES], &rgba);
                match &mut self.boundary {
                    Some(t) => t.set(img, egui::TextureOptions::LINEAR),
                    None => {
                        self.boundary =
                            Some(ctx.load_texture("boundary", img, egui::TextureOptions::LINEAR));
                    }
                }
            }
            InputLayout::Features => {}
            InputLayout::Line { x } => {
                const POINTS: usize = 200;
                self.fit = (0..POINTS)
                    .map(|i| {
                        let v = x.0 + (x.1 - x.0) * i as f32 / (POINTS - 1) as f32;
                        let y = forward(&[v]).post.pop().unwrap_or_default();
                        [f64::from(v), y.first().copied().unwrap_or(0.0)]
                    })
                    .collect();
            }
        }
    }

    /// Predicted class and its probability for grid sample `i`.
    pub(crate) fn prediction(&self, i: usize) -> Option<(usize, f32)> {
        self.predictions.get(i).copied()
    }
}

fn argmax(v: &[f64]) -> (usize, f32) {
    v.iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map(|(i, p)| (i, *p as f32))
        .unwrap_or((0, 0.0))
}

/// The colour of class `c` (grey past the palette).
pub(crate) fn class_colour(c: usize) -> [u8; 3] {
    CLASS_COLOURS.get(c).copied().unwrap_or([128, 128, 128])
}

/// The predicted class's colour, pale where the network is unsure: from
/// chance (`1/k`) to certain.
pub(crate) fn class_color(probs: &[f64]) -> [u8; 3] {
    let k = probs.len().max(2) as f32;
    let (c, p) = argmax(probs);
    let chance = 1.0 / k;
    let confidence = ((p.clamp(0.0, 1.0) - chance) / (1.0 - chance)).clamp(0.0, 1.0);
    tint(class_colour(c), confidence)
}

/// `base` mixed towards pale grey, less so with `confidence` (0 to 1).
pub(crate) fn tint(base: [u8; 3], confidence: f32) -> [u8; 3] {
    let mix = |c: u8| (230.0 + (f32::from(c) - 230.0) * (0.25 + 0.55 * confidence)) as u8;
    [mix(base[0]), mix(base[1]), mix(base[2])]
}

/// A diverging colour for a regression value (around -1..1): blue above
/// zero, orange below.
pub(crate) fn value_color(v: f32) -> [u8; 3] {
    let v = v.clamp(-1.0, 1.0);
    tint(class_colour(usize::from(v >= 0.0)), v.abs())
}

/// What the task view draws: the shown frame of a run, and the run's data and shape.
pub(crate) struct TaskInput<'a> {
    /// Which frame of which run.
    pub key: ViewKey,
    /// The data set.
    pub data: &'a Arc<Dataset>,
    /// The frame shown.
    pub frame: &'a Frame,
    /// The network's shape and labels.
    pub topology: &'a crate::lab::Topology,
}

/// Draws the task view for the shown frame, its plot `height` points high.
pub(crate) fn task_view_ui(
    ui: &mut egui::Ui,
    view: &mut TaskView,
    input: &TaskInput<'_>,
    height: f32,
) {
    let TaskInput {
        key,
        data,
        frame,
        topology,
    } = *input;
    view.refresh(
        ui.ctx(),
        key,
        data,
        frame,
        &topology.network.activations,
        topology.network.output,
    );
    let class_names = &topology.output_names;
    match data.layout {
        InputLayout::Image { .. } => prediction_grid_ui(ui, view, data, class_names),
        InputLayout::Plane { x, y } => boundary_ui(ui, view, data, x, y, height),
        InputLayout::Line { .. } => fit_ui(ui, view, data, height),
        InputLayout::Features => {
            ui.label("No picture of this data: its inputs are plain features.");
        }
    }
}

fn prediction_grid_ui(ui: &mut egui::Ui, view: &TaskView, data: &Dataset, class_names: &[String]) {
    let correct = (0..view.sample_textures.len())
        .filter(|&i| view.prediction(i).map(|p| p.0 as u32) == data.test.label(i))
        .count();
    ui.label(format!(
        "Predictions on {} test samples: {correct} right",
        view.sample_textures.len()
    ));
    egui::Grid::new("predictions")
        .spacing([6.0, 6.0])
        .show(ui, |ui| {
            for (i, tex) in view.sample_textures.iter().enumerate() {
                let (pred, p) = view.prediction(i).unwrap_or((0, 0.0));
                let ok = data.test.label(i) == Some(pred as u32);
                let border = if ok {
                    egui::Color32::from_rgb(60, 140, 255)
                } else {
                    egui::Color32::from_rgb(230, 50, 50)
                };
                ui.vertical(|ui| {
                    let size = egui::vec2(44.0, 44.0);
                    let resp = ui.add(egui::Image::new((tex.id(), size)));
                    ui.painter().rect_stroke(
                        resp.rect.expand(1.5),
                        2.0,
                        egui::Stroke::new(3.0, border),
                        egui::StrokeKind::Outside,
                    );
                    let name = class_names.get(pred).map_or("?", String::as_str);
                    ui.small(format!("{name} {:.0}%", p * 100.0));
                });
                if (i + 1) % 5 == 0 {
                    ui.end_row();
                }
            }
        });
}

fn boundary_ui(
    ui: &mut egui::Ui,
    view: &TaskView,
    data: &Dataset,
    x: (f32, f32),
    y: (f32, f32),
    height: f32,
) {
    ui.label(if data.is_classification() {
        "Decision boundary (test points on top)"
    } else {
        "Prediction over the plane"
    });
    let Some(tex) = &view.boundary else { return };
    Plot::new("boundary")
        .height(height)
        .data_aspect(1.0)
        .allow_scroll(false)
        .show(ui, |p| {
            let center = PlotPoint::new(f64::from(x.0 + x.1) / 2.0, f64::from(y.0 + y.1) / 2.0);
            let size = egui::vec2(x.1 - x.0, y.1 - y.0);
            p.image(PlotImage::new("boundary", tex.id(), center, size));
            if let Targets::Labels(labels) = &data.test.targets {
                for class in 0..data.outputs() as u32 {
                    let pts: PlotPoints = (0..labels.len())
                        .filter(|&i| labels[i] == class)
                        .map(|i| {
                            let v = data.test_input(i);
                            [f64::from(v[0]), f64::from(v[1])]
                        })
                        .collect();
                    let c = class_colour(class as usize);
                    let name = data.class_names.get(class as usize).cloned();
                    p.points(
                        Points::new(name.unwrap_or_else(|| format!("class {class}")), pts)
                            .radius(2.5)
                            .color(egui::Color32::from_rgb(c[0], c[1], c[2])),
                    );
                }
            }
        });
}

fn fit_ui(ui: &mut egui::Ui, view: &TaskView, data: &Dataset, height: f32) {
    // A PDE's training targets are its source term, not values of u: only its
    // boundary points are values to show.
    let first_value = data.pde.as_ref().map_or(0, |p| p.boundary_start);
    ui.label(if data.pde.is_some() {
        "Solution: exact u*, network, boundary values"
    } else {
        "Function fit: target, network, training points"
    });
    let Targets::Values(test_y) = &data.test.targets else {
        return;
    };
    let target: PlotPoints = data
        .test
        .x
        .iter()
        .zip(test_y)
        .map(|(x, y)| [f64::from(*x), f64::from(*y)])
        .collect();
    let train: PlotPoints = match &data.train.targets {
        Targets::Values(v) => data
            .train
            .x
            .iter()
            .zip(v)
            .skip(first_value)
            .map(|(x, y)| [f64::from(*x), f64::from(*y)])
            .collect(),
        Targets::Labels(_) => PlotPoints::default(),
    };
    Plot::new("fit")
        .height(height)
        .allow_scroll(false)
        .show(ui, |p| {
            p.line(
                Line::new("target", target)
                    .color(egui::Color32::from_gray(160))
                    .width(1.5),
            );
            p.line(
                Line::new("network", PlotPoints::from(view.fit.clone()))
                    .color(egui::Color32::from_rgb(255, 140, 40))
                    .width(2.5),
            );
            p.points(
                Points::new("training points", train)
                    .radius(if first_value > 0 { 4.0 } else { 1.8 })
                    .color(egui::Color32::from_rgb(80, 160, 255)),
            );
            if let Some(region) = &data.train_region
                && let Some((lo, hi)) = region.first()
            {
                for edge in [lo, hi] {
                    p.vline(
                        VLine::new("training range", f64::from(*edge))
                            .color(egui::Color32::from_rgb(80, 160, 255)),
                    );
                }
            }
        });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::LayerFrame;
    use crate::lab::data::{DataSpec, Function1dSpec};

    /// A 1-1 linear network y = w·x + b.
    fn line(w: f32, b: f32) -> Frame {
        Frame {
            layers: vec![LayerFrame {
                inputs: 1,
                outputs: 1,
                weights: vec![w],
                biases: vec![b],
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[test]
    fn the_boundary_takes_the_predicted_classs_colour_and_pales_with_doubt() {
        // Two classes: the Playground's orange and blue, as before.
        assert_eq!(class_color(&[0.0, 1.0]), tint(CLASS_COLOURS[1], 1.0));
        assert_eq!(class_color(&[1.0, 0.0]), tint(CLASS_COLOURS[0], 1.0));
        // Three: green where class 2 wins; chance is palest.
        let near = |a: [u8; 3], b: [u8; 3]| a.iter().zip(b).all(|(x, y)| x.abs_diff(y) <= 1);
        assert!(near(
            class_color(&[0.1, 0.1, 0.8]),
            tint(CLASS_COLOURS[2], 0.7)
        ));
        let unsure = class_color(&[1.0 / 3.0; 3]);
        let grey = |c: [u8; 3]| (i32::from(c[0]) - i32::from(c[2])).abs();
        assert!(grey(unsure) < grey(class_color(&[0.9, 0.05, 0.05])));
    }

    #[test]
    fn a_restart_at_the_same_step_shows_the_new_network() {
        let data = Arc::new(
            DataSpec::Function1d(Function1dSpec::default())
                .load()
                .unwrap(),
        );
        let ctx = egui::Context::default();
        let mut view = TaskView::default();
        let (act, out) = (
            &[crate::lab::model::Activation::Linear][..],
            crate::lab::model::OutputKind::Linear,
        );
        let first = ViewKey { run: 1, frame: 1 };
        view.refresh(&ctx, first, &data, &line(1.0, 0.0), act, out);
        let y_at_end = |v: &TaskView| v.fit.last().map(|p| p[1]).unwrap();
        let x_end = view.fit.last().unwrap()[0];
        assert!((y_at_end(&view) - x_end).abs() < 1e-4);
        // Reset: the same data set (the same Arc), step 0 again, another network.
        let reset = ViewKey { run: 2, frame: 2 };
        view.refresh(&ctx, reset, &data, &line(-2.0, 0.5), act, out);
        assert!(
            (y_at_end(&view) - (-2.0 * x_end + 0.5)).abs() < 1e-4,
            "the view still shows the network from before the reset"
        );
        // The same frame again changes nothing.
        view.refresh(&ctx, reset, &data, &line(5.0, 5.0), act, out);
        assert!((y_at_end(&view) - (-2.0 * x_end + 0.5)).abs() < 1e-4);
    }
}
