//! Histograms over time: each layer's distributions of weights, gradients
//! and activations at the steps the app has seen (every frame that arrives
//! or is shown), and the step × value heatmap TensorBoard draws of them.

use bevy::prelude::*;

use crate::app::AppSystems;
use crate::app::bridge::{NewestFrame, Run};
use crate::app::history::Shown;
use crate::app::ui::plots::step_x;
use crate::lab::analysis::{LayerDistributions, Quantity, distributions};

/// Steps kept; past it every other one is let go (the first and the newest stay).
pub(super) const MAX_STEPS_KEPT: usize = 2048;

/// The distributions at every step seen, in step order.
#[derive(Resource, Debug, Default)]
pub(super) struct DistributionHistory {
    /// (step, one entry per weight layer).
    pub steps: Vec<(u64, Vec<LayerDistributions>)>,
    /// Bumped whenever `steps` changes.
    pub serial: u64,
    /// The [`Shown`] frame's serial last looked at.
    seen_shown: u64,
}

impl DistributionHistory {
    /// Keeps the distributions of a frame at `step`, unless that step is kept already.
    pub(super) fn insert(&mut self, step: u64, layers: Vec<LayerDistributions>) {
        let at = self.steps.partition_point(|(s, _)| *s < step);
        if self.steps.get(at).is_some_and(|(s, _)| *s == step) {
            return;
        }
        self.steps.insert(at, (step, layers));
        if self.steps.len() > MAX_STEPS_KEPT {
            let newest = self.steps.len() - 1;
            let mut k = 0;
            self.steps.retain(|_| {
                let keep = k % 2 == 0 || k == newest;
                k += 1;
                keep
            });
        }
        self.serial += 1;
    }

    /// Weight layers in the newest entry.
    pub(super) fn layers(&self) -> usize {
        self.steps.last().map_or(0, |(_, l)| l.len())
    }
}

/// Keeps the distributions of the frames the app sees.
pub(super) struct HistogramsPlugin;

impl Plugin for HistogramsPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<DistributionHistory>()
            .add_systems(Update, track.in_set(AppSystems::Visualize));
    }
}

fn track(
    run: Res<Run>,
    newest: Res<NewestFrame>,
    shown: Res<Shown>,
    mut history: ResMut<DistributionHistory>,
) {
    if run.is_changed() {
        history.steps.clear();
        history.serial += 1;
    }
    if !newest.is_changed() && history.seen_shown == shown.serial {
        return;
    }
    history.seen_shown = shown.serial;
    for frame in [&newest.0, &shown.frame].into_iter().flatten() {
        if history.steps.iter().any(|(s, _)| *s == frame.step) {
            continue;
        }
        history.insert(frame.step, distributions(frame));
    }
}

/// A step × value heatmap of one layer's distribution of one quantity.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Heatmap {
    /// The value axis: from `range.0` (the bottom row) to `range.1`.
    pub range: (f32, f32),
    /// The step each column shows (the nearest kept step to the column's place).
    pub steps: Vec<u64>,
    /// Rows per column.
    pub rows: usize,
    /// Column by column, bottom row first: the share of the values in each
    /// row, scaled so that each column's fullest row is 1.
    pub cells: Vec<f32>,
}

/// The heatmap of layer `layer`'s `quantity` over the kept steps, `columns`
/// wide (evenly spaced in steps, or in log10 steps) and `rows` high, on the
/// value range every kept step shares. `None` with nothing kept.
pub(super) fn heatmap(
    history: &DistributionHistory,
    layer: usize,
    quantity: Quantity,
    (columns, rows): (usize, usize),
    log_steps: bool,
) -> Option<Heatmap> {
    let kept: Vec<(u64, &crate::lab::analysis::Quantiles)> = history
        .steps
        .iter()
        .filter(|(s, _)| !log_steps || *s > 0)
        .filter_map(|(s, l)| Some((*s, l.get(layer)?.get(quantity)?)))
        .collect();
    let (first, last) = (kept.first()?.0, kept.last()?.0);
    let (lo, hi) = kept
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), (_, q)| {
            let (a, b) = q.range();
            (lo.min(a), hi.max(b))
        });
    // A spike (every value equal) still gets some width.
    let pad = ((hi - lo) * 0.02).max(1e-6);
    let range = (lo - pad, hi + pad);
    let (x0, x1) = (step_x(first, log_steps), step_x(last, log_steps));
    let columns = columns.max(1);
    let mut steps = Vec::with_capacity(columns);
    let mut cells = Vec::with_capacity(columns * rows);
    for c in 0..columns {
        let x = if columns == 1 {
            x1
        } else {
            x0 + (x1 - x0) * c as f64 / (columns - 1) as f64
        };
        let nearest = kept.iter().min_by(|a, b| {
            (step_x(a.0, log_steps) - x)
                .abs()
                .total_cmp(&(step_x(b.0, log_steps) - x).abs())
        })?;
        let mut column = nearest.1.density(range.0, range.1, rows);
        let max = column.iter().copied().fold(0.0f32, f32::max);
        if max > 0.0 {
            column.iter_mut().for_each(|v| *v /= max);
        }
        steps.push(nearest.0);
        cells.extend(column);
    }
    Some(Heatmap {
        range,
        steps,
        rows,
        cells,
    })
}
