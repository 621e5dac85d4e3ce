//! The histograms panel: per layer, a step × value heatmap of the chosen
//! quantity's distribution over the steps seen, the VCR cursor on it.

use bevy_egui::egui;
use egui_plot::{Plot, PlotImage, PlotPoint, VLine};

use crate::app::histograms::{DistributionHistory, Heatmap, heatmap};
use crate::app::ui::plots::{PlotSettings, step_label, step_x};
use crate::lab::analysis::Quantity;

/// Columns and rows of each heatmap.
const CELLS: (usize, usize) = (160, 48);

/// The panel's choice and its textures.
#[derive(Default)]
pub(crate) struct HistogramView {
    /// The quantity shown (an index into [`Quantity::ALL`]).
    pub quantity: usize,
    /// The history serial, quantity and step scale the textures show.
    key: Option<(u64, usize, bool)>,
    /// Per layer, its heatmap and texture.
    layers: Vec<Option<(Heatmap, egui::TextureHandle)>>,
}

impl HistogramView {
    #[cfg(test)]
    /// The heatmaps drawn, per layer.
    pub(crate) fn heatmaps(&self) -> impl Iterator<Item = Option<&Heatmap>> {
        self.layers.iter().map(|l| l.as_ref().map(|(h, _)| h))
    }

    fn refresh(&mut self, ctx: &egui::Context, history: &DistributionHistory, log_steps: bool) {
        let key = (history.serial, self.quantity, log_steps);
        if self.key == Some(key) {
            return;
        }
        self.key = Some(key);
        let quantity = Quantity::ALL[self.quantity.min(Quantity::ALL.len() - 1)];
        let layers = history.layers();
        self.layers.truncate(layers);
        for l in 0..layers {
            let Some(map) = heatmap(history, l, quantity, CELLS, log_steps) else {
                if let Some(slot) = self.layers.get_mut(l) {
                    *slot = None;
                }
                continue;
            };
            let (columns, rows) = (map.steps.len(), map.rows);
            let mut image = egui::ColorImage::filled([columns, rows], egui::Color32::BLACK);
            for c in 0..columns {
                for r in 0..rows {
                    let v = map.cells[c * rows + r];
                    // The top image row is the top of the value axis.
                    image.pixels[(rows - 1 - r) * columns + c] = heat(v);
                }
            }
            match self.layers.get_mut(l) {
                Some(Some((h, tex))) => {
                    tex.set(image, egui::TextureOptions::LINEAR);
                    *h = map;
                }
                slot => {
                    let tex = ctx.load_texture(
                        format!("histogram-{l}"),
                        image,
                        egui::TextureOptions::LINEAR,
                    );
                    match slot {
                        Some(s) => *s = Some((map, tex)),
                        None => self.layers.push(Some((map, tex))),
                    }
                }
            }
        }
    }
}

/// Dark blue where nothing is, through orange to pale yellow at the mode.
fn heat(v: f32) -> egui::Color32 {
    let v = v.clamp(0.0, 1.0).sqrt();
    egui::Color32::from_rgb(
        (15.0 + 240.0 * v) as u8,
        (18.0 + 200.0 * v * v) as u8,
        (40.0 + 60.0 * (1.0 - v) + 60.0 * v * v * v) as u8,
    )
}

/// Draws the histograms over time, one heatmap per weight layer.
pub(crate) fn histograms_ui(
    ui: &mut egui::Ui,
    view: &mut HistogramView,
    history: &DistributionHistory,
    cursor: Option<u64>,
    settings: &PlotSettings,
    height: f32,
) {
    let quantity = view.quantity.min(Quantity::ALL.len() - 1);
    egui::ComboBox::from_id_salt("histogram quantity")
        .selected_text(Quantity::ALL[quantity].label())
        .show_ui(ui, |ui| {
            for (i, q) in Quantity::ALL.iter().enumerate() {
                ui.selectable_value(&mut view.quantity, i, q.label());
            }
        });
    let log_steps = settings.log_steps;
    view.refresh(ui.ctx(), history, log_steps);
    if view.layers.iter().all(Option::is_none) {
        ui.label("no distributions yet (they come with frames)");
        return;
    }
    for (l, entry) in view.layers.iter().enumerate() {
        let Some((map, tex)) = entry else { continue };
        let (first, last) = (map.steps[0], *map.steps.last().unwrap_or(&map.steps[0]));
        ui.small(format!(
            "layer {}: {} from {:+.3} to {:+.3}, steps {} to {}",
            l + 1,
            Quantity::ALL[quantity].label(),
            map.range.0,
            map.range.1,
            first,
            last
        ));
        let (x0, x1) = (step_x(first, log_steps), step_x(last, log_steps));
        let mut plot = Plot::new(("histogram", l))
            .height(height)
            .allow_scroll(false)
            .show_x(false);
        if log_steps {
            plot = plot.x_axis_formatter(|mark, _| step_label(10f64.powf(mark.value)));
        }
        plot.show(ui, |p| {
            let (lo, hi) = (f64::from(map.range.0), f64::from(map.range.1));
            let width = (x1 - x0).max(1e-9);
            p.image(PlotImage::new(
                format!("layer {}", l + 1),
                tex.id(),
                PlotPoint::new((x0 + x1) / 2.0, (lo + hi) / 2.0),
                egui::vec2(width as f32, (hi - lo) as f32),
            ));
            if let Some(step) = cursor.filter(|&s| !log_steps || s > 0) {
                p.vline(
                    VLine::new("now", step_x(step, log_steps)).color(egui::Color32::from_gray(230)),
                );
            }
        });
    }
}
