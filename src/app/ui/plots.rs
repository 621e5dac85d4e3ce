//! Live plots: losses and accuracy over steps, with log scale and EMA smoothing.

use bevy_egui::egui;
use egui_plot::{Legend, Line, Plot, PlotPoints, VLine};

use crate::lab::Metrics;

/// Plot options the user toggles.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlotSettings {
    /// Plot losses on a log10 axis.
    pub log_scale: bool,
    /// Exponential moving average factor for the mini-batch loss (0: none).
    pub ema: f32,
}

impl Default for PlotSettings {
    fn default() -> Self {
        PlotSettings {
            log_scale: true,
            ema: 0.9,
        }
    }
}

/// Exponential moving average: `s = α·s + (1 − α)·x`, started at the first value.
pub fn ema(values: &[(u64, f32)], alpha: f32) -> Vec<(u64, f32)> {
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

fn to_points(values: impl Iterator<Item = (u64, f32)>, log: bool) -> PlotPoints<'static> {
    values
        .filter(|(_, v)| v.is_finite() && (!log || *v > 0.0))
        .map(|(s, v)| {
            [
                s as f64,
                if log {
                    f64::from(v).log10()
                } else {
                    f64::from(v)
                },
            ]
        })
        .collect()
}

/// The (step, value) points of one measure, where it was measured.
fn measured(
    evaluations: &[Metrics],
    measure: fn(&Metrics) -> Option<f32>,
) -> impl Iterator<Item = (u64, f32)> + '_ {
    evaluations
        .iter()
        .filter_map(move |e| measure(e).map(|v| (e.step, v)))
}

/// The loss and accuracy plots; `cursor` marks a step (the one being shown).
pub fn metrics_ui(
    ui: &mut egui::Ui,
    evaluations: &[Metrics],
    batch_losses: &[(u64, f32)],
    cursor: Option<u64>,
    settings: &mut PlotSettings,
) {
    ui.horizontal(|ui| {
        ui.checkbox(&mut settings.log_scale, "log scale");
        ui.add(egui::Slider::new(&mut settings.ema, 0.0..=0.99).text("smoothing"));
    });
    let log = settings.log_scale;
    let loss_plot = Plot::new("loss")
        .height(150.0)
        .legend(Legend::default())
        .allow_scroll(false)
        .y_axis_label(if log { "loss (log10)" } else { "loss" });
    loss_plot.show(ui, |p| {
        let smoothed = ema(batch_losses, settings.ema);
        p.line(
            Line::new("batch", to_points(smoothed.into_iter(), log))
                .color(egui::Color32::from_gray(120))
                .width(1.0),
        );
        p.line(
            Line::new(
                "train",
                to_points(measured(evaluations, |e| e.train_loss), log),
            )
            .color(egui::Color32::from_rgb(80, 160, 255))
            .width(2.0),
        );
        p.line(
            Line::new(
                "test",
                to_points(measured(evaluations, |e| e.test_loss), log),
            )
            .color(egui::Color32::from_rgb(255, 140, 40))
            .width(2.0),
        );
        if let Some(step) = cursor {
            p.vline(VLine::new("now", step as f64).color(egui::Color32::from_gray(200)));
        }
    });
    let has_accuracy = evaluations.iter().any(|e| e.test_accuracy.is_some());
    let has_generalization = evaluations.iter().any(|e| e.generalization_error.is_some());
    if has_accuracy {
        Plot::new("accuracy")
            .height(110.0)
            .legend(Legend::default())
            .allow_scroll(false)
            .include_y(0.0)
            .include_y(1.0)
            .y_axis_label("accuracy")
            .show(ui, |p| {
                let acc = |f: fn(&Metrics) -> Option<f32>| {
                    to_points(
                        evaluations
                            .iter()
                            .filter_map(move |e| f(e).map(|a| (e.step, a))),
                        false,
                    )
                };
                p.line(
                    Line::new("train", acc(|e| e.train_accuracy))
                        .color(egui::Color32::from_rgb(80, 160, 255)),
                );
                p.line(
                    Line::new("test", acc(|e| e.test_accuracy))
                        .color(egui::Color32::from_rgb(255, 140, 40)),
                );
                if let Some(step) = cursor {
                    p.vline(VLine::new("now", step as f64).color(egui::Color32::from_gray(200)));
                }
            });
    } else if has_generalization {
        Plot::new("generalization")
            .height(110.0)
            .legend(Legend::default())
            .allow_scroll(false)
            .y_axis_label(if log {
                "outside range (log10)"
            } else {
                "outside range"
            })
            .show(ui, |p| {
                let g = evaluations
                    .iter()
                    .filter_map(|e| e.generalization_error.map(|g| (e.step, g)));
                p.line(
                    Line::new("generalization error", to_points(g, log))
                        .color(egui::Color32::from_rgb(230, 90, 200)),
                );
            });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ema_smooths_and_starts_at_the_first_value() {
        let v = vec![(0, 1.0), (1, 0.0), (2, 0.0), (3, f32::NAN)];
        let s = ema(&v, 0.5);
        assert_eq!(s, vec![(0, 1.0), (1, 0.5), (2, 0.25)]);
        assert_eq!(ema(&v, 0.0)[1], (1, 0.0), "no smoothing keeps the values");
    }
}
