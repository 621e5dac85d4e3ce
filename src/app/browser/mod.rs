//! The Dimensions browser (`nnm compare`, `nnm sweep view`): thousands of runs
//! in a linked table, parallel coordinates, curves grouped and aggregated, a
//! scatter and a sweep's landscape. One selection and one query drive them all.

mod views;

#[cfg(test)]
mod tests;

pub use views::{
    browser_ui, curves_ui, landscape_ui, parallel_ui, scatter_ui, table_ui, value_colour,
};

use bevy::prelude::*;
use bevy_egui::{EguiContexts, EguiPrimaryContextPass, egui};

use crate::lab::compare::{Band, ColumnKind, Landscape, Query, Role, Source, Table, group_curves};

/// Lines parallel coordinates draws at most; the rest are sampled evenly.
pub const MAX_LINES: usize = 2_000;
/// Curves the overlay draws at most (groups are drawn as bands instead).
pub const MAX_CURVES: usize = 1_000;
/// Points the scatter draws at most.
pub const MAX_POINTS: usize = 20_000;

/// Which view fills the centre.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BrowserTab {
    /// One axis per column, a line per run.
    #[default]
    Parallel,
    /// Loss curves, overlaid or grouped.
    Curves,
    /// One column against another.
    Scatter,
    /// A two-axis sweep's grid as an image.
    Landscape,
}

/// How grouped curves show their spread.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Spread {
    /// Between the smallest and the largest value.
    #[default]
    MinMax,
    /// The mean ± one standard deviation.
    Sigma,
}

/// How the curves are drawn.
#[derive(Debug, Clone, PartialEq)]
pub struct CurveSettings {
    /// Index into [`Table::curves`].
    pub set: usize,
    /// Group by this column and aggregate over the rest.
    pub group_by: Option<usize>,
    /// The band of a group.
    pub spread: Spread,
    /// Exponential smoothing, 0 (none) to 0.99.
    pub smoothing: f32,
    /// Log y axis.
    pub log_y: bool,
    /// Log x axis (the step).
    pub log_x: bool,
    /// One small plot per group (or per run) instead of one overlay.
    pub small_multiples: bool,
}

impl Default for CurveSettings {
    fn default() -> Self {
        CurveSettings {
            set: 0,
            group_by: None,
            spread: Spread::MinMax,
            smoothing: 0.0,
            log_y: true,
            log_x: false,
            small_multiples: false,
        }
    }
}

/// Everything the browser shows and the user's choices: the one state every
/// view reads and writes, so that a selection or a brush in one is seen in all.
#[derive(Resource)]
pub struct Browser {
    /// The runs.
    pub table: Table,
    /// The filters (brushes included) and the order.
    pub query: Query,
    /// The rows passing the query, in order; recomputed when it changes.
    pub rows: Vec<u32>,
    /// The selected row.
    pub selected: Option<u32>,
    /// Columns not shown in the table and parallel coordinates.
    pub hidden: Vec<bool>,
    /// Each column's filter text, as typed.
    pub filter_text: Vec<String>,
    /// Lines, points and cells are coloured by this column.
    pub colour_by: Option<usize>,
    /// The scatter's axes.
    pub scatter: (usize, usize),
    /// The curves' settings.
    pub curves: CurveSettings,
    /// The step under the pointer in any curve plot, drawn in all of them.
    pub cursor_step: Option<u64>,
    /// The first two-axis sweep's grid, if any.
    pub landscape: Option<Landscape>,
    /// The column the landscape shows.
    pub landscape_column: usize,
    /// The centre view.
    pub tab: BrowserTab,
    /// The grouped curves of `rows`, kept until the rows or settings change.
    pub bands: Vec<Band>,
    /// Where each parallel axis was drawn (column, rect), for brushing.
    pub axis_rects: Vec<(usize, egui::Rect)>,
    /// Where the landscape image was drawn.
    pub landscape_rect: Option<egui::Rect>,
    /// A message for the status line (an export's result).
    pub message: Option<String>,
    /// A row to open in the microscope, asked for this frame.
    pub open_request: Option<u32>,
    /// The query (and settings) `rows` and `bands` were computed for.
    computed: Option<(Query, Option<usize>, usize)>,
    /// The landscape's texture and the column it shows.
    pub(crate) texture: Option<(usize, egui::TextureHandle)>,
}

impl Browser {
    /// The browser on `table`, everything shown, nothing filtered.
    pub fn new(table: Table) -> Browser {
        let n = table.columns.len();
        let find = |name: &str| table.column(name);
        let metric = find("test_loss")
            .or_else(|| find("train_loss"))
            .unwrap_or(n.saturating_sub(1));
        let first_param = table
            .columns
            .iter()
            .position(|c| c.role == Role::Param)
            .unwrap_or(0);
        let landscape = (0..table.sources.len()).find_map(|s| Landscape::of(&table, s));
        let landscape_column = find("convergence_score").unwrap_or(metric);
        let tab = if landscape.is_some() {
            BrowserTab::Landscape
        } else {
            BrowserTab::Parallel
        };
        Browser {
            hidden: vec![false; n],
            filter_text: vec![String::new(); n],
            colour_by: Some(landscape_column),
            scatter: (first_param, metric),
            curves: CurveSettings::default(),
            cursor_step: None,
            landscape,
            landscape_column,
            tab,
            rows: Vec::new(),
            selected: None,
            query: Query::default(),
            bands: Vec::new(),
            axis_rects: Vec::new(),
            landscape_rect: None,
            message: None,
            open_request: None,
            computed: None,
            texture: None,
            table,
        }
    }

    /// Reruns the query and regroups the curves when they changed since the last frame.
    pub fn refresh(&mut self) {
        let key = (self.query.clone(), self.curves.group_by, self.curves.set);
        if self.computed.as_ref() == Some(&key) {
            return;
        }
        self.query.run(&self.table, &mut self.rows);
        self.bands = match self.table.curves.get(self.curves.set) {
            Some(set) if self.curves.group_by.is_some() => {
                group_curves(&self.table, set, &self.rows, self.curves.group_by)
            }
            _ => Vec::new(),
        };
        self.computed = Some(key);
    }

    /// The columns the table and parallel coordinates show, in order.
    pub fn shown_columns(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.table.columns.len()).filter(|&c| !self.hidden.get(c).copied().unwrap_or(false))
    }

    /// The axes of parallel coordinates: shown parameters and metrics.
    pub fn parallel_axes(&self) -> Vec<usize> {
        self.shown_columns()
            .filter(|&c| {
                let col = &self.table.columns[c];
                col.role != Role::Id
                    && col
                        .range()
                        .is_some_and(|(lo, hi)| lo < hi || col.is_category())
            })
            .collect()
    }

    /// Where value `v` of column `c` sits on its axis, 0 (bottom) to 1 (top).
    pub fn axis_fraction(&self, c: usize, v: f32) -> Option<f32> {
        let col = self.table.columns.get(c)?;
        if !v.is_finite() {
            return None;
        }
        match &col.kind {
            ColumnKind::Category(levels) => {
                let n = levels.len().max(2) - 1;
                Some(v / n as f32)
            }
            ColumnKind::Number { log } => {
                let (lo, hi) = col.range()?;
                if *log {
                    if v <= 0.0 {
                        return None;
                    }
                    let (a, b) = (lo.ln(), hi.ln());
                    Some(if b > a { (v.ln() - a) / (b - a) } else { 0.5 })
                } else {
                    Some(if hi > lo { (v - lo) / (hi - lo) } else { 0.5 })
                }
            }
        }
    }

    /// The `nnm` arguments that open row `row` in the microscope: a sweep's
    /// model through `nnm sweep open`, a run directory through `nnm replay`.
    pub fn open_args(&self, row: u32) -> Option<Vec<std::ffi::OsString>> {
        let id = self.table.ids.get(row as usize)?;
        let source = self.table.sources.get(id.source)?;
        let path = source.path().as_os_str().to_owned();
        Some(match source {
            Source::Sweep { .. } => vec![
                "sweep".into(),
                "open".into(),
                path,
                "--model".into(),
                id.model.to_string().into(),
            ],
            Source::Run { .. } => vec!["replay".into(), path],
        })
    }

    /// The value of column `c` at fraction `t` of its axis (inverse of [`Browser::axis_fraction`]).
    pub fn axis_value(&self, c: usize, t: f32) -> f32 {
        let Some(col) = self.table.columns.get(c) else {
            return f32::NAN;
        };
        match &col.kind {
            ColumnKind::Category(levels) => t * (levels.len().max(2) - 1) as f32,
            ColumnKind::Number { log } => {
                let Some((lo, hi)) = col.range() else {
                    return f32::NAN;
                };
                if *log {
                    (lo.ln() + t * (hi.ln() - lo.ln())).exp()
                } else {
                    lo + t * (hi - lo)
                }
            }
        }
    }
}

/// The browser as a Bevy feature: its state, drawn by egui each frame.
pub struct BrowserPlugin;

impl Plugin for BrowserPlugin {
    fn build(&self, app: &mut App) {
        app.add_systems(EguiPrimaryContextPass, browser_system)
            .add_systems(Last, open_system.in_set(crate::app::AppSystems::Export));
    }
}

/// Opens the browser on `table` in a window, until it is closed (or
/// `options.frames` have been drawn; `options.screenshot` saves the last).
pub fn run_browser(table: Table, options: &crate::app::ViewOptions) -> AppExit {
    let mut app = App::new();
    app.add_plugins(crate::app::window_plugins(options))
        .add_plugins(crate::app::AppSystemsPlugin)
        .add_plugins(BrowserPlugin)
        .init_resource::<crate::app::network::Selection>()
        .init_resource::<crate::app::network::NetworkView>()
        .insert_resource(Browser::new(table))
        .insert_resource(ClearColor(Color::srgb(0.01, 0.012, 0.02)))
        .add_systems(Startup, |mut commands: Commands| {
            commands.spawn((bevy_egui::PrimaryEguiContext, Camera2d));
        });
    crate::app::capture::add_automation(&mut app, options);
    app.run()
}

fn browser_system(
    mut contexts: EguiContexts,
    browser: Option<ResMut<Browser>>,
    mut styled: Local<bool>,
) {
    let Some(mut browser) = browser else {
        return;
    };
    let Ok(ctx) = contexts.ctx_mut() else {
        return;
    };
    let ctx = ctx.clone();
    if !*styled {
        crate::app::ui::style(&ctx);
        *styled = true;
    }
    let mut root = egui::Ui::new(
        ctx.clone(),
        "browser".into(),
        egui::UiBuilder::new()
            .layer_id(egui::LayerId::background())
            .max_rect(ctx.viewport_rect()),
    );
    browser_ui(&mut root, &mut browser);
}

/// Opens the row asked for in the microscope, as a process of its own: the
/// browser stays open beside it.
fn open_system(browser: Option<ResMut<Browser>>, mut children: Local<Vec<std::process::Child>>) {
    // Reaped here, so that a closed microscope leaves no zombie behind.
    children.retain_mut(|c| matches!(c.try_wait(), Ok(None)));
    let Some(mut b) = browser else {
        return;
    };
    let Some(row) = b.open_request.take() else {
        return;
    };
    let Some(args) = b.open_args(row) else {
        return;
    };
    let name = b.table.row_name(row as usize);
    let spawned =
        std::env::current_exe().and_then(|nnm| std::process::Command::new(nnm).args(&args).spawn());
    b.message = Some(match spawned {
        Ok(child) => {
            let message = format!("opened {name} in the microscope (process {})", child.id());
            children.push(child);
            message
        }
        Err(e) => format!("cannot open {name}: {e}"),
    });
}
