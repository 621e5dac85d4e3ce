//! Live plots: losses and accuracy over steps, with log scales (values
//! and steps) and EMA smoothing.

use std::collections::BTreeMap;

use bevy_egui::egui;
use egui_plot::{Legend, Line, Plot, PlotPoints, VLine};

use crate::lab::Metrics;
use crate::lab::frame::LayerStats;
use crate::lab::scene::TrainSpec;

/// Plot options the user toggles.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct PlotSettings {
    /// Plot losses on a log10 axis.
    pub log_scale: bool,
    /// Plot every step axis on a log10 scale (step 0 is left out).
    pub log_steps: bool,
    /// Exponential moving average factor for the mini-batch loss (0: none).
    pub ema: f32,
    /// The per-layer stat the gradient-flow plot shows (an index into
    /// [`LayerStats::NAMES`]).
    pub layer_stat: usize,
}

impl Default for PlotSettings {
    fn default() -> Self {
        PlotSettings {
            log_scale: true,
            log_steps: false,
            ema: 0.9,
            layer_stat: GRAD_NORM,
        }
    }
}

/// The index of `grad_norm` in [`LayerStats::NAMES`].
const GRAD_NORM: usize = 1;

/// Exponential moving average: `s = α·s + (1 − α)·x`, started at the first value.
pub(crate) fn ema(values: &[(u64, f32)], alpha: f32) -> Vec<(u64, f32)> {
    let alpha = alpha.clamp(0.0, 0.999);
    let mut s: Option<f32> = None;
    values
        .iter()
        .filter(|(_, v)| v.is_finite())
        .map(|&(step, v)| {
            let next = match s {
                Some(prev) => alpha * prev + (1.0 - alpha) * v,
                None => v,
            };
            s = Some(next);
            (step, next)
        })
        .collect()
}

#[cfg(test)]
/// The points of `values` (in step order) that draw the same line over the
/// steps `lo..=hi` at `columns` pixels wide: per column, its lowest and
/// highest point in step order, plus one point on each side of the range so
/// that the line runs off the edges. Few enough points are kept as they are.
pub(crate) fn decimate(
    values: &[(u64, f32)],
    range: (f64, f64),
    columns: usize,
) -> Vec<(u64, f32)> {
    decimate_on(values, |s| s as f64, range, columns)
}

/// [`decimate`] with columns of equal width in `x(step)` (an increasing
/// function of the step: the plot's x axis) rather than in steps.
fn decimate_on(
    values: &[(u64, f32)],
    x: impl Fn(u64) -> f64,
    (lo, hi): (f64, f64),
    columns: usize,
) -> Vec<(u64, f32)> {
    let start = values.partition_point(|&(s, _)| x(s) < lo);
    let end = values.partition_point(|&(s, _)| x(s) <= hi);
    let (first, last) = (start.saturating_sub(1), (end + 1).min(values.len()));
    let inside = &values[start..end.max(start)];
    if inside.len() <= 2 * columns.max(1) {
        return values[first..last].to_vec();
    }
    let width = (hi - lo) / columns.max(1) as f64;
    let column = |s: u64| (((x(s) - lo) / width) as usize).min(columns - 1);
    let mut out = Vec::with_capacity(2 * columns + 2);
    if first < start {
        out.push(values[first]);
    }
    let mut i = 0;
    while i < inside.len() {
        let c = column(inside[i].0);
        let mut j = i;
        let (mut min, mut max) = (i, i);
        while j < inside.len() && column(inside[j].0) == c {
            if inside[j].1 < inside[min].1 {
                min = j;
            }
            if inside[j].1 > inside[max].1 {
                max = j;
            }
            j += 1;
        }
        out.push(inside[min.min(max)]);
        if min != max {
            out.push(inside[min.max(max)]);
        }
        i = j;
    }
    if last > end {
        out.push(values[end]);
    }
    out
}

/// [`decimate`] over the whole of `values` (the plot fits its bounds to
/// what it is given, so the whole run, not the view), in columns of the
/// step axis as drawn (log or not).
fn decimate_all(values: Vec<(u64, f32)>, columns: usize, log_steps: bool) -> Vec<(u64, f32)> {
    let values: Vec<(u64, f32)> = values
        .into_iter()
        .filter(|&(s, _)| !log_steps || s > 0)
        .collect();
    let x = |s: u64| step_x(s, log_steps);
    match (values.first(), values.last()) {
        (Some(&(lo, _)), Some(&(hi, _))) if hi > lo => {
            decimate_on(&values, x, (x(lo), x(hi)), columns)
        }
        _ => values,
    }
}

/// Where `step` sits on a step axis: itself, or its log10 on a log axis.
pub(crate) fn step_x(step: u64, log_steps: bool) -> f64 {
    if log_steps {
        (step as f64).log10()
    } else {
        step as f64
    }
}

/// The points of `values`, steps along x (log10 with `log_steps`, which
/// leaves step 0 out) and values up y (log10 with `log`, which leaves out
/// what is not positive).
fn to_points(
    values: impl Iterator<Item = (u64, f32)>,
    log_steps: bool,
    log: bool,
) -> PlotPoints<'static> {
    values
        .filter(|(s, v)| v.is_finite() && (!log || *v > 0.0) && (!log_steps || *s > 0))
        .map(|(s, v)| {
            [
                step_x(s, log_steps),
                if log {
                    f64::from(v).log10()
                } else {
                    f64::from(v)
                },
            ]
        })
        .collect()
}

/// A plot whose x axis is the step: labelled in steps on a log scale too.
fn step_plot(id: &str, log_steps: bool) -> Plot<'static> {
    let plot = Plot::new(id).allow_scroll(false);
    if log_steps {
        plot.x_axis_label("step (log)")
            .x_axis_formatter(|mark, _| step_label(10f64.powf(mark.value)))
    } else {
        plot
    }
}

/// A step count as a log axis labels it: 1, 30, 2k, 5M.
pub(crate) fn step_label(step: f64) -> String {
    let round = |v: f64| {
        let r = v.round();
        if (v - r).abs() < 0.05 * v.max(1.0) {
            format!("{r:.0}")
        } else {
            format!("{v:.1}")
        }
    };
    match step {
        s if s >= 1e6 => format!("{}M", round(s / 1e6)),
        s if s >= 1e3 => format!("{}k", round(s / 1e3)),
        s => round(s),
    }
}

/// Reads one measure of a measurement.
type Reading = fn(&Metrics) -> Option<f32>;

/// The (step, value) points of one measure, where it was measured.
fn measured(evaluations: &[Metrics], measure: Reading) -> impl Iterator<Item = (u64, f32)> + '_ {
    evaluations
        .iter()
        .filter_map(move |e| measure(e).map(|v| (e.step, v)))
}

/// The cursor's line, on a plot.
fn cursor_line(p: &mut egui_plot::PlotUi<'_>, cursor: Option<u64>, log_steps: bool) {
    if let Some(step) = cursor.filter(|&s| !log_steps || s > 0) {
        p.vline(VLine::new("now", step_x(step, log_steps)).color(egui::Color32::from_gray(200)));
    }
}

/// The loss plot: mini-batch (smoothed), train and test losses.
pub(crate) fn loss_plot_ui(
    ui: &mut egui::Ui,
    evaluations: &[Metrics],
    batch_losses: &[(u64, f32)],
    cursor: Option<u64>,
    settings: &PlotSettings,
    height: f32,
) {
    let (log, log_steps) = (settings.log_scale, settings.log_steps);
    step_plot("loss", log_steps)
        .height(height)
        .legend(Legend::default())
        .y_axis_label(if log { "loss (log10)" } else { "loss" })
        .show(ui, |p| {
            let smoothed = ema(batch_losses, settings.ema);
            // At most two points per quarter pixel column over the whole run:
            // a million steps tessellate as a few thousand points. The whole
            // run, not the view, since the plot fits its bounds to what it is
            // given; zoomed in past 4x, the line is coarser than the data.
            let columns = 4 * p.response().rect.width().max(1.0) as usize;
            let shown = decimate_all(smoothed, columns, log_steps);
            p.line(
                Line::new("batch", to_points(shown.into_iter(), log_steps, log))
                    .color(egui::Color32::from_gray(120))
                    .width(1.0),
            );
            p.line(
                Line::new(
                    "train",
                    to_points(measured(evaluations, |e| e.train_loss), log_steps, log),
                )
                .color(TRAIN)
                .width(2.0),
            );
            p.line(
                Line::new(
                    "test",
                    to_points(measured(evaluations, |e| e.test_loss), log_steps, log),
                )
                .color(TEST)
                .width(2.0),
            );
            cursor_line(p, cursor, log_steps);
        });
}

/// Blue for the training set.
const TRAIN: egui::Color32 = egui::Color32::from_rgb(80, 160, 255);
/// Orange for the test set.
const TEST: egui::Color32 = egui::Color32::from_rgb(255, 140, 40);
/// Magenta for errors outside the training data.
const ERROR: egui::Color32 = egui::Color32::from_rgb(230, 90, 200);

/// The second plot: accuracy for classification, the error outside the
/// training range for regression, the error against the exact solution for a PDE.
pub(crate) fn error_plot_ui(
    ui: &mut egui::Ui,
    evaluations: &[Metrics],
    cursor: Option<u64>,
    settings: &PlotSettings,
    height: f32,
) {
    let (log, log_steps) = (settings.log_scale, settings.log_steps);
    let has = |f: Reading| evaluations.iter().any(|e| f(e).is_some());
    if has(|e| e.test_accuracy) {
        step_plot("accuracy", log_steps)
            .height(height)
            .legend(Legend::default())
            .include_y(0.0)
            .include_y(1.0)
            .y_axis_label("accuracy")
            .show(ui, |p| {
                let acc = |f: fn(&Metrics) -> Option<f32>| {
                    to_points(measured(evaluations, f), log_steps, false)
                };
                p.line(Line::new("train", acc(|e| e.train_accuracy)).color(TRAIN));
                p.line(Line::new("test", acc(|e| e.test_accuracy)).color(TEST));
                cursor_line(p, cursor, log_steps);
            });
        return;
    }
    let (name, label, measure): (&str, &str, Reading) = if has(|e| e.solution_error) {
        ("max |u − u*|", "error vs exact", |e| e.solution_error)
    } else if has(|e| e.generalization_error) {
        ("generalization error", "outside range", |e| {
            e.generalization_error
        })
    } else {
        return;
    };
    step_plot("error", log_steps)
        .height(height)
        .legend(Legend::default())
        .y_axis_label(if log {
            format!("{label} (log10)")
        } else {
            label.to_string()
        })
        .show(ui, |p| {
            p.line(
                Line::new(
                    name,
                    to_points(measured(evaluations, measure), log_steps, log),
                )
                .color(ERROR),
            );
            cursor_line(p, cursor, log_steps);
        });
}

/// True when the run measures its sharpness.
pub(crate) fn has_sharpness(evaluations: &[Metrics]) -> bool {
    evaluations.iter().any(|e| e.sharpness.is_some())
}

/// The sharpness λ_max against the stability threshold 2/η (which moves when
/// η is changed during the run).
pub(crate) fn sharpness_plot_ui(
    ui: &mut egui::Ui,
    evaluations: &[Metrics],
    cursor: Option<u64>,
    settings: &PlotSettings,
    height: f32,
) {
    let log_steps = settings.log_steps;
    step_plot("sharpness", log_steps)
        .height(height)
        .legend(Legend::default())
        .include_y(0.0)
        .y_axis_label("sharpness λ_max")
        .show(ui, |p| {
            p.line(
                Line::new(
                    "λ_max",
                    to_points(measured(evaluations, |e| e.sharpness), log_steps, false),
                )
                .color(egui::Color32::from_rgb(255, 200, 60))
                .width(2.0),
            );
            p.line(
                Line::new(
                    "2/η",
                    to_points(
                        measured(evaluations, |e| e.sharpness_threshold),
                        log_steps,
                        false,
                    ),
                )
                .color(egui::Color32::from_gray(220))
                .style(egui_plot::LineStyle::dashed_loose())
                .width(1.5),
            );
            cursor_line(p, cursor, log_steps);
        });
}

/// |Δθ·v_max|: each update's length along the top eigenvector.
pub(crate) fn projection_plot_ui(
    ui: &mut egui::Ui,
    evaluations: &[Metrics],
    cursor: Option<u64>,
    settings: &PlotSettings,
    height: f32,
) {
    let (log, log_steps) = (settings.log_scale, settings.log_steps);
    step_plot("projection", log_steps)
        .height(height)
        .legend(Legend::default())
        .y_axis_label(if log {
            "|Δθ·v_max| (log10)"
        } else {
            "|Δθ·v_max|"
        })
        .show(ui, |p| {
            p.line(
                Line::new(
                    "|Δθ·v_max|",
                    to_points(
                        measured(evaluations, |e| e.update_projection),
                        log_steps,
                        log,
                    ),
                )
                .color(egui::Color32::from_rgb(120, 230, 170))
                .width(1.5),
            );
            cursor_line(p, cursor, log_steps);
        });
}

/// One layer's values of stat `stat` (an index into [`LayerStats::NAMES`]), in step order.
pub(crate) fn layer_series(
    stats: &[(u64, Vec<LayerStats>)],
    layer: usize,
    stat: usize,
) -> Vec<(u64, f32)> {
    stats
        .iter()
        .filter_map(|(step, layers)| {
            let v = layers.get(layer)?.values().get(stat).copied()?;
            Some((*step, v))
        })
        .collect()
}

/// What the layers' stats at one step say about the gradient flow: how the
/// first layer's gradient compares with the last's, and which layers have
/// mostly dead units.
pub(crate) fn flow_diagnosis(layers: &[LayerStats]) -> Option<String> {
    let (first, last) = (layers.first()?, layers.last()?);
    let ratio = first.grad_norm / last.grad_norm;
    let mut text = if layers.len() < 2 || !ratio.is_finite() {
        format!("gradient norm {:.3e}", last.grad_norm)
    } else if ratio < 0.01 {
        format!(
            "vanishing gradients: layer 1's is {:.0}x smaller than layer {}'s",
            1.0 / ratio,
            layers.len()
        )
    } else if ratio > 100.0 {
        format!(
            "exploding gradients: layer 1's is {ratio:.0}x larger than layer {}'s",
            layers.len()
        )
    } else {
        format!(
            "gradients flow: layer 1's norm is {ratio:.2}x layer {}'s",
            layers.len()
        )
    };
    for (l, stats) in layers.iter().enumerate() {
        if stats.dead_fraction >= 0.5 {
            text.push_str(&format!(
                "; layer {}: {:.0}% of its ReLUs dead",
                l + 1,
                100.0 * stats.dead_fraction
            ));
        }
    }
    Some(text)
}

/// A colour per layer, from blue on the input side to red on the output side.
fn layer_colour(l: usize, layers: usize) -> egui::Color32 {
    let t = l as f32 / layers.saturating_sub(1).max(1) as f32;
    egui::Color32::from_rgb(
        (70.0 + 185.0 * t) as u8,
        (150.0 - 60.0 * t) as u8,
        (255.0 - 185.0 * t) as u8,
    )
}

/// The gradient-flow plot: one line per weight layer of the chosen stat
/// (gradient norm by default) over the steps, and what it says at the cursor.
pub(crate) fn layers_plot_ui(
    ui: &mut egui::Ui,
    stats: &[(u64, Vec<LayerStats>)],
    cursor: Option<u64>,
    settings: &mut PlotSettings,
    height: f32,
) {
    let stat = settings.layer_stat.min(LayerStats::NAMES.len() - 1);
    egui::ComboBox::from_id_salt("layer stat")
        .selected_text(LayerStats::NAMES[stat])
        .show_ui(ui, |ui| {
            for (i, name) in LayerStats::NAMES.iter().enumerate() {
                ui.selectable_value(&mut settings.layer_stat, i, *name);
            }
        });
    let at = cursor
        .and_then(|c| stats.iter().rev().find(|(s, _)| *s <= c))
        .or(stats.last());
    match at.and_then(|(_, layers)| flow_diagnosis(layers)) {
        Some(text) => ui.label(text),
        None => ui.label("no layer stats yet (they come with recorded frames)"),
    };
    let layers = stats.iter().map(|(_, l)| l.len()).max().unwrap_or(0);
    // Norms and ratios span decades; activation moments and shares do not.
    let log = settings.log_scale && stat <= 3;
    let log_steps = settings.log_steps;
    let name = LayerStats::NAMES[stat];
    step_plot("layers", log_steps)
        .height(height)
        .legend(Legend::default())
        .y_axis_label(if log {
            format!("{name} (log10)")
        } else {
            name.to_string()
        })
        .show(ui, |p| {
            let columns = 4 * p.response().rect.width().max(1.0) as usize;
            for l in 0..layers {
                let shown = decimate_all(layer_series(stats, l, stat), columns, log_steps);
                p.line(
                    Line::new(
                        format!("layer {}", l + 1),
                        to_points(shown.into_iter(), log_steps, log),
                    )
                    .color(layer_colour(l, layers))
                    .width(1.5),
                );
            }
            cursor_line(p, cursor, log_steps);
        });
}

/// The plots of the right panel: loss, accuracy or error, and, when the run
/// measures it, the sharpness against 2/η and the update's projection.
pub(crate) fn metrics_ui(
    ui: &mut egui::Ui,
    evaluations: &[Metrics],
    batch_losses: &[(u64, f32)],
    cursor: Option<u64>,
    settings: &mut PlotSettings,
) {
    ui.horizontal(|ui| {
        ui.checkbox(&mut settings.log_scale, "log values");
        ui.checkbox(&mut settings.log_steps, "log steps");
        ui.add(egui::Slider::new(&mut settings.ema, 0.0..=0.99).text("smoothing"));
    });
    loss_plot_ui(ui, evaluations, batch_losses, cursor, settings, 150.0);
    error_plot_ui(ui, evaluations, cursor, settings, 110.0);
    if has_sharpness(evaluations) {
        sharpness_plot_ui(ui, evaluations, cursor, settings, 120.0);
        projection_plot_ui(ui, evaluations, cursor, settings, 90.0);
    }
}

/// One small plot per scalar a training loop sent (loss, reward...), in
/// name order, each smoothed as the loss is.
pub(crate) fn scalars_ui(
    ui: &mut egui::Ui,
    scalars: &BTreeMap<String, Vec<(u64, f32)>>,
    cursor: Option<u64>,
    settings: &PlotSettings,
    height: f32,
) {
    let log_steps = settings.log_steps;
    for (name, values) in scalars {
        // A reward or a score may be negative: log values only where all are positive.
        let log = settings.log_scale && values.iter().all(|(_, v)| *v > 0.0);
        let now = match cursor {
            Some(c) => values.iter().rev().find(|(s, _)| *s <= c),
            None => values.last(),
        };
        ui.label(match now {
            Some((step, v)) => format!("{name}: {v:.4} at step {step}"),
            None => name.clone(),
        });
        step_plot(name, log_steps)
            .height(height)
            .y_axis_label(name.as_str())
            .show(ui, |p| {
                let columns = 4 * p.response().rect.width().max(1.0) as usize;
                let shown = decimate_all(ema(values, settings.ema), columns, log_steps);
                p.line(
                    Line::new(name.as_str(), to_points(shown.into_iter(), log_steps, log))
                        .color(TRAIN)
                        .width(1.5),
                );
                cursor_line(p, cursor, log_steps);
            });
    }
}

/// The learning rate each step of a run takes: `learning_rate` (or each
/// layer's rate) times the schedule's factor, over `0..=last` steps.
pub(crate) fn lr_series(train: &TrainSpec, last: u64) -> Vec<Vec<(u64, f32)>> {
    let rates = match &train.learning_rates {
        Some(rates) => rates.clone(),
        None => vec![train.learning_rate],
    };
    // Every step of a short run; a few thousand evenly spaced of a long one
    // (a step decay's jumps then lean by at most one stride).
    let stride = (last / 4096).max(1);
    let steps: Vec<u64> = (0..=last / stride).map(|i| i * stride).collect();
    rates
        .iter()
        .map(|rate| {
            steps
                .iter()
                .map(|&s| (s, rate * train.lr_factor(s)))
                .collect()
        })
        .collect()
}

/// The learning-rate plot: the schedule (and warm-up) over the run's steps,
/// one line per layer where layers have their own rates.
pub(crate) fn lr_plot_ui(
    ui: &mut egui::Ui,
    train: &TrainSpec,
    cursor: Option<u64>,
    settings: &PlotSettings,
    height: f32,
) {
    let log_steps = settings.log_steps;
    let last = train.steps.max(cursor.unwrap_or(0));
    let now = cursor.map(|c| train.learning_rate * train.lr_factor(c));
    ui.label(format!(
        "{}{}{}",
        train.schedule.label(),
        if train.warmup_steps > 0 {
            format!(" after {} warm-up steps", train.warmup_steps)
        } else {
            String::new()
        },
        now.map(|lr| format!(": η = {lr:.3e} now"))
            .unwrap_or_default()
    ));
    let series = lr_series(train, last);
    let layers = series.len();
    step_plot("learning rate", log_steps)
        .height(height)
        .legend(Legend::default())
        .include_y(0.0)
        .y_axis_label("η")
        .show(ui, |p| {
            for (l, points) in series.into_iter().enumerate() {
                let name = if layers == 1 {
                    "η".to_string()
                } else {
                    format!("η layer {}", l + 1)
                };
                p.line(
                    Line::new(name, to_points(points.into_iter(), log_steps, false))
                        .color(layer_colour(l, layers))
                        .width(1.5),
                );
            }
            cursor_line(p, cursor, log_steps);
        });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimation_keeps_each_columns_extremes_and_the_line_beyond_the_view() {
        // A million steps of a noisy descent, 400 columns over steps 1,000..=900,999.
        let values: Vec<(u64, f32)> = (0..1_000_000u64)
            .map(|s| {
                (
                    s,
                    1.0 / (1.0 + s as f32) + if s % 7 == 0 { 0.5 } else { 0.0 },
                )
            })
            .collect();
        let (lo, hi) = (1_000.0, 900_999.0);
        let kept = decimate(&values, (lo, hi), 400);
        assert!(kept.len() <= 2 * 400 + 2, "{} points", kept.len());
        assert_eq!(kept[0], values[999], "the point before the view");
        assert_eq!(*kept.last().unwrap(), values[901_000], "the point after it");
        assert!(kept.windows(2).all(|w| w[0].0 < w[1].0), "in step order");
        // Each column's highest and lowest value survive.
        let width = (hi - lo) / 400.0;
        for c in [0usize, 17, 399] {
            let from = (lo + c as f64 * width).ceil() as usize;
            let to = if c == 399 {
                901_000
            } else {
                (lo + (c + 1) as f64 * width).ceil() as usize
            };
            let column = &values[from..to];
            let max = column.iter().map(|v| v.1).fold(f32::MIN, f32::max);
            let min = column.iter().map(|v| v.1).fold(f32::MAX, f32::min);
            assert!(
                kept.iter()
                    .any(|v| v.1 == max && (from..to).contains(&(v.0 as usize)))
            );
            assert!(
                kept.iter()
                    .any(|v| v.1 == min && (from..to).contains(&(v.0 as usize)))
            );
        }
        // A short history is drawn as it is.
        let few = &values[..50];
        assert_eq!(decimate(few, (0.0, 49.0), 400), few.to_vec());
    }

    #[test]
    fn log_steps_decimate_per_decade_and_leave_step_zero_out() {
        let values: Vec<(u64, f32)> = (0..1_000_000u64).map(|s| (s, s as f32)).collect();
        let kept = decimate_all(values.clone(), 300, true);
        assert!(kept.len() <= 2 * 300 + 2, "{} points", kept.len());
        assert!(kept.iter().all(|&(s, _)| s > 0), "step 0 has no log");
        // Equal columns in log10(step): each decade keeps about as many
        // points, where columns in steps would give the first decades none.
        for decade in 0..6 {
            let (lo, hi) = (10u64.pow(decade), 10u64.pow(decade + 1));
            let n = kept.iter().filter(|&&(s, _)| s >= lo && s < hi).count();
            assert!(
                n >= 9.min(hi - lo) as usize,
                "decade {lo}..{hi}: {n} points"
            );
        }
        let linear = decimate_all(values, 300, false);
        assert!(linear.iter().filter(|&&(s, _)| s < 1000).count() <= 2);
        assert_eq!(step_x(1000, true), 3.0);
        assert_eq!(step_label(10f64.powf(3.0)), "1k");
        assert_eq!(step_label(2.0), "2");
        assert_eq!(step_label(3.162), "3.2");
    }

    #[test]
    fn the_lr_series_follows_the_schedule_and_each_layers_rate() {
        use crate::lab::scene::LrSchedule;
        let train = TrainSpec {
            learning_rate: 0.1,
            steps: 100,
            warmup_steps: 10,
            schedule: LrSchedule::Cosine { floor: 0.0 },
            ..Default::default()
        };
        let series = lr_series(&train, 100);
        assert_eq!(series.len(), 1);
        let s = &series[0];
        assert_eq!(s.len(), 101);
        assert!((s[0].1 - 0.01).abs() < 1e-7, "warm-up starts at a tenth");
        assert!(
            (s[10].1 - 0.1).abs() < 1e-7,
            "the full rate after the warm-up"
        );
        assert!(s[100].1.abs() < 1e-7, "cosine ends at its floor");
        let per_layer = TrainSpec {
            learning_rates: Some(vec![0.1, 0.2]),
            ..train
        };
        let series = lr_series(&per_layer, 100);
        assert_eq!(series.len(), 2);
        assert!((series[1][10].1 - 0.2).abs() < 1e-7);
        // A long run is sampled, to its last step.
        let long = lr_series(&TrainSpec::default(), 10_000_000);
        assert!(long[0].len() <= 4097 && long[0].len() > 4000);
    }

    #[test]
    fn ema_smooths_and_starts_at_the_first_value() {
        let v = vec![(0, 1.0), (1, 0.0), (2, 0.0), (3, f32::NAN)];
        let s = ema(&v, 0.5);
        assert_eq!(s, vec![(0, 1.0), (1, 0.5), (2, 0.25)]);
        assert_eq!(ema(&v, 0.0)[1], (1, 0.0), "no smoothing keeps the values");
    }
}
