//! The compare view (`nnm compare`, `nnm sweep view`): thousands of runs
//! in a linked table, parallel coordinates, curves grouped and aggregated, a
//! scatter and a sweep's landscape. One selection and one query drive them all.

mod export;
mod film;
mod paint;
mod pick;
mod raster;
mod terrain;
mod views;
mod zooming;

#[cfg(test)]
mod tests;

pub use film::{CompareFilm, film_compare};
pub(crate) use paint::landscape_paint;
pub(crate) use pick::TerrainPickPlugin;
pub(crate) use terrain::TerrainPlugin;
pub(crate) use views::compare_ui;
pub(crate) use zooming::ZoomPlugin;

use bevy::prelude::*;
use bevy_egui::{EguiContexts, EguiPrimaryContextPass, egui};

use crate::app::messages::CompareRequest;

use crate::lab::compare::{Band, ColumnKind, Landscape, Query, Role, Source, Table, group_curves};

/// Lines parallel coordinates draws at most; the rest are sampled evenly.
pub(super) const MAX_LINES: usize = 2_000;
/// Curves the overlay draws at most (groups are drawn as bands instead).
pub(super) const MAX_CURVES: usize = 1_000;
/// Points the scatter draws at most.
pub(super) const MAX_POINTS: usize = 20_000;

/// Which view fills the centre (`--tab` names it, parsed once by clap).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum CompareTab {
    /// One axis per column, a line per run.
    #[default]
    Parallel,
    /// Loss curves, overlaid or grouped.
    Curves,
    /// One column against another.
    Scatter,
    /// A two-axis sweep's grid as an image.
    Landscape,
    /// The same grid as a 3D height field to fly over.
    #[value(alias = "height-field")]
    Terrain,
}

impl CompareTab {
    /// Its name in file names and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            CompareTab::Parallel => "parallel",
            CompareTab::Curves => "curves",
            CompareTab::Scatter => "scatter",
            CompareTab::Landscape => "landscape",
            CompareTab::Terrain => "terrain",
        }
    }
}

/// A zoom in flight (or trained): which level has how many models.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct ZoomState {
    /// The zoom thread's number for it.
    pub zoom: u64,
    /// The window zoomed into.
    pub window: crate::lab::sweep::ZoomWindow,
    /// The level training (index into the levels).
    pub level: usize,
    /// Its grid size.
    pub n: usize,
    /// Its models trained.
    pub done: usize,
    /// Its models.
    pub total: usize,
    /// Levels in all.
    pub levels: usize,
    /// The level's sweep directory, once it has one.
    pub dir: Option<std::path::PathBuf>,
    /// Every level is trained (or the zoom failed).
    pub finished: bool,
}

/// What the command line asks of the browser beyond the window.
#[derive(Debug, Clone, Default)]
pub struct CompareOptions {
    /// The view to open on.
    pub tab: Option<CompareTab>,
    /// Zoom into this window at start.
    pub zoom: Option<crate::lab::sweep::ZoomWindow>,
    /// The zoom's grid sizes, coarse to fine (default: 32, 64, 128).
    pub levels: Option<Vec<usize>>,
    /// Export the centre view as a PNG here once the zoom (if any) is trained.
    pub export: Option<std::path::PathBuf>,
}

/// What the overlaid curves were decimated for: when any of it changes,
/// they are decimated again; otherwise a frame only draws them (new rows
/// empty the cache instead).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CurveKey {
    /// The curve set.
    pub set: usize,
    /// The smoothing's bits.
    pub smoothing: u32,
    /// Log axes.
    pub log: (bool, bool),
    /// Pixel columns each curve is decimated to.
    pub columns: usize,
}

/// What parallel coordinates' lines were drawn for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LinesKey {
    /// The colouring column.
    pub colour_by: Option<usize>,
    /// The axes, in order.
    pub axes: Vec<usize>,
    /// The texture's size in pixels.
    pub size: [usize; 2],
}

/// A shown row and its curve, decimated, in plot coordinates.
pub(crate) type DecimatedCurve = (u32, Vec<egui_plot::PlotPoint>);

/// The overlaid curves, decimated, what for, and the bounds of their points.
pub(crate) struct OverlayCache {
    /// What the curves were decimated for.
    pub key: CurveKey,
    /// Each shown run's curve.
    pub curves: Vec<DecimatedCurve>,
    /// The smallest box holding every point, in plot coordinates.
    pub bounds: egui_plot::PlotBounds,
}

/// What the overlaid curves' image was drawn for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CurvesImageKey {
    /// The curves drawn.
    pub curves: CurveKey,
    /// The colouring column.
    pub colour_by: Option<usize>,
    /// The plot area the image covers (min x, min y, max x, max y, as bits).
    pub area: [u64; 4],
    /// The image's size in pixels.
    pub size: [usize; 2],
}

/// Points the overlay draws in all, at most: a curve gets its share, at
/// least 32 and at most two per pixel column. Tessellating lines is what a
/// frame of many curves costs.
pub(super) const OVERLAY_POINTS: usize = 200_000;

/// Points the overlay's image is drawn from, at most, when there are more
/// runs than a legend can name: they are drawn once into an image, not
/// tessellated each frame, so a curve can keep more of its detail.
pub(super) const IMAGE_POINTS: usize = 1_000_000;

/// Above this many overlaid runs, their curves are drawn into one image,
/// without a legend (a legend of a thousand runs says nothing).
pub(super) const IMAGE_CURVES: usize = 24;

/// How grouped curves show their spread.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) enum Spread {
    /// Between the smallest and the largest value.
    #[default]
    MinMax,
    /// The mean ± one standard deviation.
    Sigma,
}

/// How the curves are drawn.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct CurveSettings {
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

/// The runs on show and what the user did to them: a table, its query and
/// what follows from the two. Replaced whole when the table is (a zoom, or
/// going back): filters, sorting and the selection start afresh.
pub(super) struct Runs {
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
    /// The step under the pointer in any curve plot, drawn in all of them.
    pub cursor_step: Option<u64>,
    /// The first two-axis sweep's grid, if any.
    pub landscape: Option<Landscape>,
    /// The grouped curves of `rows`, kept until the rows or settings change.
    pub bands: Vec<Band>,
    /// The model whose column is under the pointer in the height field.
    pub terrain_hover: Option<u32>,
    /// The query (and curve settings) `rows` and `bands` were computed for.
    computed: Option<(Query, Option<usize>, usize)>,
    /// Each column's range ([`crate::lab::compare::Column::range`]), computed
    /// once: views ask for it per line and per point.
    ranges: Vec<Option<(f32, f32)>>,
}

impl Runs {
    /// The runs of `table`, everything shown, nothing filtered.
    fn new(table: Table) -> Runs {
        let n = table.columns.len();
        Runs {
            query: Query::default(),
            rows: Vec::new(),
            selected: None,
            hidden: vec![false; n],
            filter_text: vec![String::new(); n],
            cursor_step: None,
            landscape: (0..table.sources.len()).find_map(|s| Landscape::of(&table, s)),
            bands: Vec::new(),
            terrain_hover: None,
            computed: None,
            ranges: table.columns.iter().map(|c| c.range()).collect(),
            table,
        }
    }
}

/// How the runs are looked at: the centre view and the columns each view
/// uses. Kept when the table is replaced, each column followed by its name.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct ViewChoices {
    /// The centre view.
    pub tab: CompareTab,
    /// Lines, points and cells are coloured by this column.
    pub colour_by: Option<usize>,
    /// The scatter's axes.
    pub scatter: (usize, usize),
    /// The curves' settings.
    pub curves: CurveSettings,
    /// The column the landscape shows.
    pub landscape_column: usize,
    /// Draw nothing that moves by itself (a spinner): in a film every frame
    /// follows from the film's clock alone.
    pub still: bool,
}

impl ViewChoices {
    /// The first view of `runs`: the landscape when there is one, coloured
    /// by the convergence score (or the test loss).
    fn new(runs: &Runs) -> ViewChoices {
        let table = &runs.table;
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
        let landscape_column = find("convergence_score").unwrap_or(metric);
        ViewChoices {
            tab: if runs.landscape.is_some() {
                CompareTab::Landscape
            } else {
                CompareTab::Parallel
            },
            colour_by: Some(landscape_column),
            scatter: (first_param, metric),
            curves: CurveSettings::default(),
            landscape_column,
            still: false,
        }
    }

    /// The same choices over `new` runs, whose columns were those of `old`:
    /// each column chosen is found again by name, or left as a new table's
    /// first view would have it.
    fn follow(&self, old: &Table, new: &Runs) -> ViewChoices {
        let fresh = ViewChoices::new(new);
        let find = |c: Option<usize>| {
            c.and_then(|c| old.columns.get(c))
                .and_then(|col| new.table.column(&col.name))
        };
        let keeps_tab = new.landscape.is_some()
            || !matches!(self.tab, CompareTab::Landscape | CompareTab::Terrain);
        ViewChoices {
            tab: if keeps_tab { self.tab } else { fresh.tab },
            colour_by: find(self.colour_by).or(fresh.colour_by),
            scatter: match (find(Some(self.scatter.0)), find(Some(self.scatter.1))) {
                (Some(x), Some(y)) => (x, y),
                _ => fresh.scatter,
            },
            curves: CurveSettings {
                group_by: find(self.curves.group_by),
                ..self.curves.clone()
            },
            landscape_column: find(Some(self.landscape_column)).unwrap_or(fresh.landscape_column),
            still: self.still,
        }
    }
}

/// Zooming into a landscape: the tables zoomed from, the zoom in flight and
/// its settings. Kept when the table is replaced (that is what zooms do).
#[derive(Default)]
pub(super) struct Zooms {
    /// The tables zoomed from, newest last: "back out" returns to them.
    pub back: Vec<Table>,
    /// The zoom in flight or last trained.
    pub zoom: Option<ZoomState>,
    /// The zoom's grid sizes, coarse to fine.
    pub levels: Vec<usize>,
    /// Where zooms write their sweep directories (beside the first sweep zoomed).
    pub root: Option<std::path::PathBuf>,
    /// A coarser image drawn under the landscape while a zoom fills in, and
    /// the part of it (texture coordinates) that the view shows.
    pub underlay: Option<(egui::TextureHandle, egui::Rect)>,
}

/// Where the window's parts are, in logical pixels, as last drawn: what the
/// 3D camera, picking and exports read. Kept when the table is replaced.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub(super) struct Placement {
    /// The centre view, for exports.
    pub view: Option<egui::Rect>,
    /// The height field's 3D view.
    pub terrain: Option<egui::Rect>,
    /// Where the pointer flies the height field's camera: its view, less the header.
    pub terrain_input: Option<egui::Rect>,
}

/// What the views drew from the runs and keep between frames: textures,
/// decimated curves, the rectangles brushes and drags act on. Emptied when
/// the runs change, so nothing drawn for old rows outlives them.
#[derive(Default)]
pub(super) struct Drawn {
    /// Where each parallel axis was drawn (column, rect), for brushing.
    pub axis_rects: Vec<(usize, egui::Rect)>,
    /// Where the landscape image was drawn.
    pub landscape_rect: Option<egui::Rect>,
    /// The landscape's texture and the column it shows.
    pub(crate) landscape: Option<(usize, egui::TextureHandle)>,
    /// The overlaid curves, decimated, and what they were decimated for.
    pub(crate) curve_cache: Option<OverlayCache>,
    /// The overlaid curves drawn into a texture, and what for.
    pub(crate) curves_texture: Option<(CurvesImageKey, egui::TextureHandle)>,
    /// Parallel coordinates' lines, drawn into a texture, and what for.
    pub(crate) lines_texture: Option<(LinesKey, egui::TextureHandle)>,
}

/// The compare view's state: the runs, how they are looked at, the zoom,
/// where things are and what was drawn. One selection and one query, seen
/// by every view. What the views ask of the app goes out as
/// [`CompareRequest`] messages, through `requests`.
#[derive(Resource)]
pub(super) struct Browser {
    /// The runs and the query over them; replaced whole with the table.
    pub runs: Runs,
    /// The views' choices; kept.
    pub view: ViewChoices,
    /// The zoom; kept.
    pub zooms: Zooms,
    /// Where things are on screen; kept.
    pub placement: Placement,
    /// What was drawn from the runs; emptied with them.
    pub drawn: Drawn,
    /// Bumped whenever the table is replaced: the landscape's meshes and
    /// exported file names tell tables apart by it.
    pub generation: u64,
    /// A message for the status line (an export's result).
    pub message: Option<String>,
    /// An export asked for from the command line, done once the zoom is trained.
    pub export_when_idle: Option<std::path::PathBuf>,
    /// What the views asked for this frame, sent on as messages.
    pub requests: Vec<CompareRequest>,
}

impl Browser {
    /// The browser on `table`, everything shown, nothing filtered.
    pub(super) fn new(table: Table) -> Browser {
        let runs = Runs::new(table);
        Browser {
            view: ViewChoices::new(&runs),
            runs,
            zooms: Zooms {
                levels: crate::lab::sweep::ZOOM_LEVELS.to_vec(),
                ..default()
            },
            placement: Placement::default(),
            drawn: Drawn::default(),
            generation: 0,
            message: None,
            export_when_idle: None,
            requests: Vec::new(),
        }
    }

    /// Shows `table` instead (a zoom's, or the one zoomed from): the runs
    /// and what was drawn from them are new, everything else stays (the
    /// chosen columns followed by name).
    pub(super) fn replace_table(&mut self, table: Table) {
        let runs = Runs::new(table);
        self.view = self.view.follow(&self.runs.table, &runs);
        self.runs = runs;
        self.drawn = Drawn::default();
        self.generation += 1;
    }

    /// Reruns the query and regroups the curves when they changed since the
    /// last frame; what was drawn from the old rows goes.
    pub(super) fn refresh(&mut self) {
        let runs = &mut self.runs;
        let curves = &self.view.curves;
        let key = (runs.query.clone(), curves.group_by, curves.set);
        if runs.computed.as_ref() == Some(&key) {
            return;
        }
        runs.query.run(&runs.table, &mut runs.rows);
        runs.bands = match runs.table.curves.get(curves.set) {
            Some(set) if curves.group_by.is_some() => {
                group_curves(&runs.table, set, &runs.rows, curves.group_by)
            }
            _ => Vec::new(),
        };
        runs.computed = Some(key);
        self.drawn.curve_cache = None;
        self.drawn.curves_texture = None;
        self.drawn.lines_texture = None;
    }

    /// The columns the table and parallel coordinates show, in order.
    pub(super) fn shown_columns(&self) -> impl Iterator<Item = usize> + '_ {
        let hidden = &self.runs.hidden;
        (0..self.runs.table.columns.len()).filter(|&c| !hidden.get(c).copied().unwrap_or(false))
    }

    /// Column `c`'s smallest and largest finite value (positive only on a log axis).
    pub(super) fn range(&self, c: usize) -> Option<(f32, f32)> {
        self.runs.ranges.get(c).copied().flatten()
    }

    /// The axes of parallel coordinates: shown parameters and metrics.
    pub(super) fn parallel_axes(&self) -> Vec<usize> {
        self.shown_columns()
            .filter(|&c| {
                let col = &self.runs.table.columns[c];
                col.role != Role::Id
                    && self
                        .range(c)
                        .is_some_and(|(lo, hi)| lo < hi || col.is_category())
            })
            .collect()
    }

    /// Where value `v` of column `c` sits on its axis, 0 (bottom) to 1 (top).
    pub(super) fn axis_fraction(&self, c: usize, v: f32) -> Option<f32> {
        let col = self.runs.table.columns.get(c)?;
        if !v.is_finite() {
            return None;
        }
        match &col.kind {
            ColumnKind::Category(levels) => {
                let n = levels.len().max(2) - 1;
                Some(v / n as f32)
            }
            ColumnKind::Number { log } => {
                let (lo, hi) = self.range(c)?;
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
    pub(super) fn open_args(&self, row: u32) -> Option<Vec<std::ffi::OsString>> {
        let id = self.runs.table.ids.get(row as usize)?;
        let source = self.runs.table.sources.get(id.source)?;
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
            // A TensorBoard run has no network to open.
            Source::Logs { .. } => return None,
        })
    }

    /// The value of column `c` at fraction `t` of its axis (inverse of [`Browser::axis_fraction`]).
    pub(super) fn axis_value(&self, c: usize, t: f32) -> f32 {
        let Some(col) = self.runs.table.columns.get(c) else {
            return f32::NAN;
        };
        match &col.kind {
            ColumnKind::Category(levels) => t * (levels.len().max(2) - 1) as f32,
            ColumnKind::Number { log } => {
                let Some((lo, hi)) = self.range(c) else {
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
pub(super) struct ComparePlugin;

impl Plugin for ComparePlugin {
    fn build(&self, app: &mut App) {
        if !app.is_plugin_added::<crate::app::messages::MessagesPlugin>() {
            app.add_plugins(crate::app::messages::MessagesPlugin);
        }
        app.add_plugins((
            crate::app::renderer::RendererTierPlugin,
            TerrainPlugin,
            TerrainPickPlugin,
            ZoomPlugin,
            export::ExportPlugin,
        ))
        .add_systems(
            Update,
            script_system
                .in_set(crate::app::AppSystems::Script)
                .run_if(resource_exists::<Browser>),
        )
        .add_systems(
            EguiPrimaryContextPass,
            compare_system.run_if(resource_exists::<Browser>),
        )
        .add_systems(
            Last,
            open_system
                .in_set(crate::app::AppSystems::Export)
                .run_if(resource_exists::<Browser>),
        );
    }
}

/// Opens the browser on `table` in a window, until it is closed (or
/// `options.frames` have been drawn; `options.screenshot` saves the last).
pub fn run_compare(
    table: Table,
    options: &crate::app::ViewOptions,
    browse: CompareOptions,
) -> AppExit {
    let mut browser = Browser::new(table);
    if let Some(tab) = browse.tab {
        browser.view.tab = tab;
    }
    if let Some(levels) = browse.levels {
        browser.zooms.levels = levels;
    }
    browser.export_when_idle = browse.export;
    let mut app = App::new();
    app.add_plugins(crate::app::window_plugins(options))
        .add_plugins(crate::app::AppSystemsPlugin)
        .add_plugins(ComparePlugin)
        .init_resource::<crate::app::network::Selection>()
        .init_resource::<crate::app::network::NetworkView>()
        .insert_resource(browser)
        .insert_resource(ClearColor(Color::srgb(0.01, 0.012, 0.02)));
    if let Some(window) = browse.zoom {
        app.world_mut().write_message(CompareRequest::Zoom(window));
    }
    crate::app::script::add_automation(&mut app, options);
    app.run()
}

/// Draws the compare view, and sends on what its views asked for.
fn compare_system(
    mut contexts: EguiContexts,
    mut browser: ResMut<Browser>,
    mut requests: MessageWriter<CompareRequest>,
    mut styled: Local<bool>,
) {
    let Ok(ctx) = contexts.ctx_mut() else {
        return;
    };
    let ctx = ctx.clone();
    // Until its camera's target has a size, egui lays out on a placeholder
    // screen, and the panels would remember sizes made for it.
    if ctx.input(|i| i.raw.screen_rect.is_none()) {
        return;
    }
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
    compare_ui(&mut root, &mut browser);
    requests.write_batch(browser.requests.drain(..));
}

/// Opens the rows asked for in the microscope, each as a process of its
/// own: the browser stays open beside them.
fn open_system(
    mut browser: ResMut<Browser>,
    mut requests: MessageReader<CompareRequest>,
    mut children: Local<Vec<std::process::Child>>,
) {
    // Reaped here, so that a closed microscope leaves no zombie behind.
    children.retain_mut(|c| matches!(c.try_wait(), Ok(None)));
    for request in requests.read() {
        let CompareRequest::Open(row) = *request else {
            continue;
        };
        let Some(args) = browser.open_args(row) else {
            continue;
        };
        let name = browser.runs.table.row_name(row as usize);
        let spawned = std::env::current_exe()
            .and_then(|nnm| std::process::Command::new(nnm).args(&args).spawn());
        browser.message = Some(match spawned {
            Ok(child) => {
                let message = format!("opened {name} in the microscope (process {})", child.id());
                children.push(child);
                message
            }
            Err(e) => format!("cannot open {name}: {e}"),
        });
    }
}

/// What a script asked for: an export once the zoom is trained; and a
/// scripted run (`--frames`) does not count frames while work is pending.
fn script_system(
    mut browser: ResMut<Browser>,
    mut requests: ParamSet<(MessageReader<CompareRequest>, MessageWriter<CompareRequest>)>,
    exporting: Res<export::Exporting>,
    automation: Option<ResMut<crate::app::script::Automation>>,
    mut idle_frames: Local<u32>,
) {
    let asked = requests
        .p0()
        .read()
        .any(|r| matches!(r, CompareRequest::Zoom(_)));
    let training = asked || browser.zooms.zoom.as_ref().is_some_and(|z| !z.finished);
    *idle_frames = if training { 0 } else { *idle_frames + 1 };
    // A few frames after the last table arrived, so that the view is drawn.
    let mut export_sent = false;
    if *idle_frames > 10
        && exporting.0.is_none()
        && let Some(path) = browser.export_when_idle.take()
    {
        requests.p1().write(CompareRequest::Export(path));
        export_sent = true;
    }
    // From the request until its capture is saved, the export is pending.
    let busy =
        training || export_sent || browser.export_when_idle.is_some() || exporting.0.is_some();
    if let Some(mut auto) = automation
        && auto.hold != busy
    {
        auto.hold = busy;
    }
}
