//! The browser's egui views: the runs table, parallel coordinates, curves,
//! the scatter and the landscape, each a `*_ui` function over [`Browser`].

use bevy_egui::egui::{self, Color32, Pos2, Rect, Sense, Stroke, Vec2};
use egui_plot::{
    Legend, Line, Plot, PlotBounds, PlotImage, PlotPoint, PlotPoints, PlotUi, Points, Polygon,
    VLine,
};

use super::raster::Canvas;
use super::{
    Browser, CompareTab, CurveKey, CurveSettings, CurvesImageKey, IMAGE_CURVES, IMAGE_POINTS,
    LinesKey, MAX_CURVES, MAX_LINES, MAX_POINTS, OVERLAY_POINTS, OverlayCache, Spread,
    landscape_paint,
};
use crate::app::messages::CompareRequest;
use crate::lab::compare::{Band, ColumnKind, Curve, CurveSet, Role, compact_number};
use crate::lab::sweep::map_colour;

/// Width of a table cell.
const CELL_WIDTH: f32 = 96.0;
/// Height of a table row.
const ROW_HEIGHT: f32 = 18.0;
/// Small multiples drawn at most.
const MULTIPLES: usize = 24;
/// The selected row's highlight.
const SELECTED: Color32 = Color32::from_rgb(255, 220, 60);

/// The whole browser: a bar of choices, the table on the left, a view in the centre.
pub(crate) fn compare_ui(root: &mut egui::Ui, b: &mut Browser) {
    b.refresh();
    egui::Panel::top("browser_bar").show(root, |ui| bar_ui(ui, b));
    egui::Panel::bottom("browser_status").show(root, |ui| status_ui(ui, b));
    let half = root.available_width() * 0.5;
    egui::Panel::left("browser_table")
        .resizable(true)
        .default_size(half)
        .show(root, |ui| table_ui(ui, b));
    // The height field is drawn by the 3D camera behind a see-through panel.
    let frame = match b.view.tab {
        CompareTab::Terrain => egui::Frame::NONE,
        _ => egui::Frame::central_panel(root.style()),
    };
    let centre = egui::CentralPanel::default()
        .frame(frame)
        .show(root, |ui| match b.view.tab {
            CompareTab::Parallel => parallel_ui(ui, b),
            CompareTab::Curves => curves_ui(ui, b),
            CompareTab::Scatter => scatter_ui(ui, b),
            CompareTab::Landscape => landscape_ui(ui, b),
            CompareTab::Terrain => terrain_ui(ui, b),
        });
    b.placement.view = Some(centre.response.rect);
    if b.view.tab != CompareTab::Terrain {
        b.placement.terrain = None;
    }
}

fn bar_ui(ui: &mut egui::Ui, b: &mut Browser) {
    ui.horizontal_wrapped(|ui| {
        ui.strong("Compare");
        ui.label(format!(
            "{} of {} runs · {} source{}",
            b.runs.rows.len(),
            b.runs.table.len(),
            b.runs.table.sources.len(),
            if b.runs.table.sources.len() == 1 {
                ""
            } else {
                "s"
            }
        ));
        ui.separator();
        for (tab, name) in [
            (CompareTab::Parallel, "Parallel coordinates"),
            (CompareTab::Curves, "Curves"),
            (CompareTab::Scatter, "Scatter"),
            (CompareTab::Landscape, "Landscape"),
            (CompareTab::Terrain, "Height field"),
        ] {
            if matches!(tab, CompareTab::Landscape | CompareTab::Terrain)
                && b.runs.landscape.is_none()
            {
                continue;
            }
            ui.selectable_value(&mut b.view.tab, tab, name);
        }
        ui.separator();
        column_picker_ui(ui, "colour by", &b.runs.table, &mut b.view.colour_by, true);
        if !b.runs.query.filters.is_empty() && ui.button("clear filters").clicked() {
            b.runs.query.filters.clear();
            b.runs.filter_text.iter_mut().for_each(String::clear);
        }
        if ui
            .button("export PNG")
            .on_hover_text("the centre view, as shown")
            .clicked()
        {
            b.requests
                .push(CompareRequest::Export(std::path::PathBuf::from(format!(
                    "compare-{}-{}.png",
                    b.view.tab.name(),
                    b.generation
                ))));
        }
        if ui.button("export CSV").clicked() {
            let path = std::path::PathBuf::from("compare.csv");
            b.message = Some(
                match crate::lab::sweep::write_atomic(
                    &path,
                    b.runs.table.to_csv(&b.runs.rows).as_bytes(),
                ) {
                    Ok(()) => format!("wrote {} rows to {}", b.runs.rows.len(), path.display()),
                    Err(e) => format!("export failed: {e}"),
                },
            );
        }
    });
}

fn status_ui(ui: &mut egui::Ui, b: &mut Browser) {
    ui.horizontal(|ui| {
        match b.runs.selected {
            Some(r) => {
                if ui
                    .button("open in microscope")
                    .on_hover_text(
                        "replay its recording, or train it again live (double-click a row)",
                    )
                    .clicked()
                {
                    b.requests.push(CompareRequest::Open(r));
                }
                ui.colored_label(SELECTED, b.runs.table.row_name(r as usize));
                for c in b.shown_columns() {
                    let col = &b.runs.table.columns[c];
                    if col.role != Role::Id {
                        ui.label(format!("{}={}", col.name, col.text(r as usize)));
                    }
                }
            }
            None => {
                ui.weak("click a row, a line, a point or a cell to select it");
            }
        }
        if let Some(m) = &b.message {
            ui.separator();
            ui.label(m);
        }
    });
}

/// A combo box choosing a column (numeric columns, and categories when `categories`).
fn column_picker_ui(
    ui: &mut egui::Ui,
    label: &str,
    table: &crate::lab::compare::Table,
    choice: &mut Option<usize>,
    categories: bool,
) {
    let shown = choice
        .and_then(|c| table.columns.get(c))
        .map_or("none", |c| c.name.as_str());
    egui::ComboBox::from_label(label)
        .selected_text(shown)
        .show_ui(ui, |ui| {
            ui.selectable_value(choice, None, "none");
            for (c, col) in table.columns.iter().enumerate() {
                if categories || !col.is_category() {
                    ui.selectable_value(choice, Some(c), &col.name);
                }
            }
        });
}

/// What a filter box's text means.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum FilterText {
    /// `lo..hi`, `>lo` or `<hi`.
    Range(f32, f32),
    /// Anything else: a substring.
    Text(String),
}

/// Reads a filter box: `0.1..1`, `>0.5`, `<3` are ranges; the rest is text.
pub(super) fn parse_filter(text: &str) -> FilterText {
    let t = text.trim();
    let num = |s: &str| s.trim().parse::<f32>().ok();
    if let Some((a, b)) = t.split_once("..")
        && let (Some(a), Some(b)) = (num(a), num(b))
    {
        return FilterText::Range(a, b);
    }
    if let Some(a) = t
        .strip_prefix(">=")
        .or_else(|| t.strip_prefix('>'))
        .and_then(num)
    {
        return FilterText::Range(a, f32::INFINITY);
    }
    if let Some(b) = t
        .strip_prefix("<=")
        .or_else(|| t.strip_prefix('<'))
        .and_then(num)
    {
        return FilterText::Range(f32::NEG_INFINITY, b);
    }
    FilterText::Text(t.to_string())
}

/// The runs table: sortable headers, a filter box per column, virtual rows.
pub(crate) fn table_ui(ui: &mut egui::Ui, b: &mut Browser) {
    ui.horizontal(|ui| {
        ui.menu_button("columns", |ui| {
            for (c, col) in b.runs.table.columns.iter().enumerate() {
                let mut shown = !b.runs.hidden[c];
                if ui.checkbox(&mut shown, &col.name).changed() {
                    b.runs.hidden[c] = !shown;
                }
            }
        });
        ui.add(
            egui::Label::new(
                egui::RichText::new("click a header to sort; filter with text, lo..hi, >x or <x")
                    .weak(),
            )
            .truncate(),
        );
    });
    let columns: Vec<usize> = b.shown_columns().collect();
    // Not shrunk to the columns: wide tables scroll inside the panel rather
    // than widening it over the centre view.
    egui::ScrollArea::horizontal()
        .auto_shrink([false, false])
        .show(ui, |ui| {
            ui.horizontal(|ui| {
                ui.add_sized([CELL_WIDTH, ROW_HEIGHT], egui::Label::new("run"));
                for &c in &columns {
                    let name = &b.runs.table.columns[c].name;
                    let arrow = match b.runs.query.sort {
                        Some(s) if s.column == c && s.descending => " ⏷",
                        Some(s) if s.column == c => " ⏶",
                        _ => "",
                    };
                    let button = egui::Button::new(format!("{name}{arrow}")).truncate();
                    if ui.add_sized([CELL_WIDTH, ROW_HEIGHT], button).clicked() {
                        b.runs.query.sort = match b.runs.query.sort {
                            Some(s) if s.column == c && !s.descending => {
                                Some(crate::lab::compare::Sort {
                                    column: c,
                                    descending: true,
                                })
                            }
                            Some(s) if s.column == c => None,
                            _ => Some(crate::lab::compare::Sort {
                                column: c,
                                descending: false,
                            }),
                        };
                    }
                }
            });
            ui.horizontal(|ui| {
                ui.add_space(CELL_WIDTH + ui.spacing().item_spacing.x);
                for &c in &columns {
                    let hint = format!("filter {}", b.runs.table.columns[c].name);
                    let edit = egui::TextEdit::singleline(&mut b.runs.filter_text[c])
                        .hint_text(hint)
                        .desired_width(CELL_WIDTH - 8.0);
                    if ui.add(edit).changed() {
                        apply_filter(b, c);
                    }
                }
            });
            ui.separator();
            let rows = b.runs.rows.len();
            egui::ScrollArea::vertical()
                .id_salt("rows")
                .auto_shrink([false, false])
                .show_rows(ui, ROW_HEIGHT, rows, |ui, range| {
                    for i in range {
                        let r = b.runs.rows[i];
                        ui.horizontal(|ui| {
                            let selected = b.runs.selected == Some(r);
                            let name = egui::Button::selectable(
                                selected,
                                b.runs.table.row_name(r as usize),
                            )
                            .truncate();
                            let clicked = ui.add_sized([CELL_WIDTH, ROW_HEIGHT], name);
                            if clicked.clicked() {
                                b.runs.selected = Some(r);
                            }
                            if clicked.double_clicked() {
                                b.requests.push(CompareRequest::Open(r));
                            }
                            for &c in &columns {
                                let text = b.runs.table.columns[c].text(r as usize);
                                ui.add_sized(
                                    [CELL_WIDTH, ROW_HEIGHT],
                                    egui::Label::new(text).truncate(),
                                );
                            }
                        });
                    }
                });
        });
}

/// Applies column `c`'s filter box to the query.
fn apply_filter(b: &mut Browser, c: usize) {
    let text = b.runs.filter_text[c].clone();
    b.runs.query.clear(c);
    if text.trim().is_empty() {
        return;
    }
    match parse_filter(&text) {
        FilterText::Range(lo, hi) if !b.runs.table.columns[c].is_category() => {
            b.runs.query.set_range(c, lo, hi)
        }
        FilterText::Range(..) => b.runs.query.set_text(c, text.trim()),
        FilterText::Text(t) => b.runs.query.set_text(c, &t),
    }
}

/// Row `r`'s colour: its value of the colour-by column on that column's scale.
pub(crate) fn value_colour(b: &Browser, r: u32) -> Color32 {
    let Some((c, col)) = b
        .view
        .colour_by
        .and_then(|c| b.runs.table.columns.get(c).map(|col| (c, col)))
    else {
        return Color32::from_rgb(110, 170, 255);
    };
    let v = col.values[r as usize];
    let range = b.range(c).unwrap_or((0.0, 1.0));
    let [red, green, blue] = match col.kind {
        ColumnKind::Number { log: true } if v > 0.0 => {
            map_colour(v.ln(), (range.0.ln(), range.1.ln()))
        }
        _ => map_colour(v, range),
    };
    Color32::from_rgb(red, green, blue)
}

/// Where parallel coordinates draw: the whole rectangle, the plot inside its
/// margins, and the room between two axes.
struct ParallelPlot {
    rect: Rect,
    plot: Rect,
    step: f32,
}

impl ParallelPlot {
    /// Lays `axes` axes out over `rect`.
    fn new(rect: Rect, axes: usize) -> Self {
        let plot = rect.shrink2(Vec2::new(40.0, 28.0));
        let step = plot.width() / (axes.max(2) - 1) as f32;
        ParallelPlot { rect, plot, step }
    }

    /// The x of axis `k`.
    fn x_of(&self, k: usize) -> f32 {
        self.plot.left() + k as f32 * self.step
    }

    /// The y of fraction `t` of an axis (0 at the bottom).
    fn y_of(&self, t: f32) -> f32 {
        self.plot.bottom() - t * self.plot.height()
    }

    /// Run `r`'s line through `axes`; a value off an axis's range sits below it.
    fn line(&self, b: &Browser, axes: &[usize], r: u32, points: &mut Vec<Pos2>) {
        points.clear();
        for (k, &c) in axes.iter().enumerate() {
            let y = match b.axis_fraction(c, b.runs.table.columns[c].values[r as usize]) {
                Some(t) => self.y_of(t),
                None => self.plot.bottom() + 14.0,
            };
            points.push(Pos2::new(self.x_of(k), y));
        }
    }
}

/// Parallel coordinates: an axis per parameter and metric, a line per run
/// (sampled evenly beyond [`MAX_LINES`]); drag on an axis to brush it.
pub(crate) fn parallel_ui(ui: &mut egui::Ui, b: &mut Browser) {
    let axes = b.parallel_axes();
    ui.horizontal(|ui| {
        let drawn = b.runs.rows.len().min(MAX_LINES);
        ui.label(format!(
            "{drawn} of {} lines; drag along an axis to brush it, double-click to clear",
            b.runs.rows.len()
        ));
    });
    let (rect, _) = ui.allocate_exact_size(ui.available_size(), Sense::hover());
    if axes.len() < 2 {
        ui.painter().text(
            rect.center(),
            egui::Align2::CENTER_CENTER,
            "parallel coordinates need two columns that vary",
            egui::FontId::proportional(14.0),
            Color32::GRAY,
        );
        return;
    }
    let geometry = ParallelPlot::new(rect, axes.len());
    let painter = ui.painter_at(rect);
    refresh_lines_texture(ui, b, &geometry, &axes);
    if let Some((_, texture)) = &b.drawn.lines_texture {
        painter.image(
            texture.id(),
            rect,
            Rect::from_min_max(Pos2::ZERO, Pos2::new(1.0, 1.0)),
            Color32::WHITE,
        );
    }
    if let Some(r) = b.runs.selected {
        let mut points = Vec::with_capacity(axes.len());
        geometry.line(b, &axes, r, &mut points);
        painter.add(egui::Shape::line(points, Stroke::new(2.5, SELECTED)));
    }
    b.drawn.axis_rects.clear();
    for (k, &c) in axes.iter().enumerate() {
        parallel_axis_ui(ui, &painter, b, &geometry, k, c);
    }
}

/// Draws every line (sampled evenly) into a texture on the CPU, once per
/// change of rows, colours, axes or size: a frame then draws one texture,
/// whatever the number of lines.
fn refresh_lines_texture(ui: &egui::Ui, b: &mut Browser, geometry: &ParallelPlot, axes: &[usize]) {
    let rect = geometry.rect;
    let ppp = ui.ctx().pixels_per_point();
    let key = LinesKey {
        colour_by: b.view.colour_by,
        axes: axes.to_vec(),
        size: [
            (rect.width() * ppp).round().max(1.0) as usize,
            (rect.height() * ppp).round().max(1.0) as usize,
        ],
    };
    if b.drawn
        .lines_texture
        .as_ref()
        .is_some_and(|(k, _)| *k == key)
    {
        return;
    }
    let stride = b.runs.rows.len().div_ceil(MAX_LINES).max(1);
    let mut canvas = Canvas::new(key.size[0], key.size[1]);
    let mut points = Vec::with_capacity(axes.len());
    let mut pixels = Vec::with_capacity(axes.len());
    for &r in b.runs.rows.iter().step_by(stride) {
        geometry.line(b, axes, r, &mut points);
        pixels.clear();
        // Pixel centres are at whole canvas coordinates.
        pixels.extend(
            points
                .iter()
                .map(|p| ((*p - rect.min) * ppp - Vec2::splat(0.5)).to_pos2()),
        );
        canvas.polyline(&pixels, value_colour(b, r), 0.35);
    }
    let texture = ui.ctx().load_texture(
        "parallel-lines",
        canvas.into_image(),
        egui::TextureOptions::LINEAR,
    );
    b.drawn.lines_texture = Some((key, texture));
}

/// Axis `k` (column `c`): its line, name, end labels and brush; a drag along
/// it sets its range, a double-click clears it.
fn parallel_axis_ui(
    ui: &egui::Ui,
    painter: &egui::Painter,
    b: &mut Browser,
    geometry: &ParallelPlot,
    k: usize,
    c: usize,
) {
    let (plot, step) = (geometry.plot, geometry.step);
    let x = geometry.x_of(k);
    let hit = Rect::from_x_y_ranges(x - 12.0..=x + 12.0, plot.top()..=plot.bottom());
    b.drawn.axis_rects.push((c, hit));
    let id = ui.id().with(("axis", c));
    let response = ui.interact(hit, id, Sense::click_and_drag());
    painter.line_segment(
        [Pos2::new(x, plot.top()), Pos2::new(x, plot.bottom())],
        Stroke::new(1.0, Color32::from_gray(170)),
    );
    let col = &b.runs.table.columns[c];
    // Each label keeps to its own axis's room, so neighbours never run together.
    fitted_text(
        painter,
        Pos2::new(x, plot.top() - 16.0),
        egui::Align2::CENTER_CENTER,
        col.name.clone(),
        (egui::FontId::proportional(11.0), Color32::WHITE),
        step - 6.0,
    );
    for t in [0.0, 1.0] {
        fitted_text(
            painter,
            Pos2::new(x + 4.0, geometry.y_of(t)),
            egui::Align2::LEFT_CENTER,
            parallel_tick_label(&col.kind, b.axis_value(c, t)),
            (egui::FontId::proportional(10.0), Color32::from_gray(160)),
            step - 10.0,
        );
    }
    if response.double_clicked() {
        b.runs.query.clear(c);
        b.runs.filter_text[c].clear();
    } else if response.dragged()
        && let (Some(start), Some(now)) = (
            ui.ctx().input(|i| i.pointer.press_origin()),
            response.interact_pointer_pos(),
        )
    {
        let t = |p: Pos2| ((plot.bottom() - p.y) / plot.height()).clamp(0.0, 1.0);
        let (a, z) = (b.axis_value(c, t(start)), b.axis_value(c, t(now)));
        b.runs.query.set_range(c, a.min(z), a.max(z));
        b.runs.filter_text[c] = format!("{}..{}", a.min(z), a.max(z));
    }
    if let Some((lo, hi)) = b.runs.query.range(c) {
        let fl = b
            .axis_fraction(c, lo.max(b.axis_value(c, 0.0)))
            .unwrap_or(0.0);
        let fh = b
            .axis_fraction(c, hi.min(b.axis_value(c, 1.0)))
            .unwrap_or(1.0);
        let brush = Rect::from_x_y_ranges(x - 6.0..=x + 6.0, geometry.y_of(fh)..=geometry.y_of(fl));
        painter.rect_filled(
            brush,
            2.0,
            Color32::from_rgba_unmultiplied(255, 220, 60, 70),
        );
        painter.rect_stroke(
            brush,
            2.0,
            Stroke::new(1.0, SELECTED),
            egui::StrokeKind::Inside,
        );
    }
}

/// The text of a parallel axis's end at value `v`: a level's name, or the
/// number in at most four significant digits.
pub(crate) fn parallel_tick_label(kind: &ColumnKind, v: f32) -> String {
    match kind {
        ColumnKind::Category(levels) => levels.get(v.round() as usize).cloned().unwrap_or_default(),
        ColumnKind::Number { .. } => compact_number(v),
    }
}

/// Paints `text` on one line no wider than `max_width` points, cut with "…"
/// when it does not fit.
fn fitted_text(
    painter: &egui::Painter,
    pos: Pos2,
    align: egui::Align2,
    text: String,
    (font, colour): (egui::FontId, Color32),
    max_width: f32,
) {
    let mut job = egui::text::LayoutJob::simple_singleline(text, font, colour);
    job.wrap = egui::text::TextWrapping::truncate_at_width(max_width.max(8.0));
    let galley = painter.layout_job(job);
    let rect = align.anchor_size(pos, galley.size());
    painter.galley(rect.min, galley, colour);
}

/// Exponential smoothing of `values` with factor `alpha` (0: none).
fn smooth(values: &[f32], alpha: f32) -> Vec<f32> {
    let mut out = Vec::with_capacity(values.len());
    let mut last: Option<f32> = None;
    for &v in values {
        let s = match last {
            Some(l) if v.is_finite() => alpha * l + (1.0 - alpha) * v,
            _ => v,
        };
        last = Some(s);
        out.push(s);
    }
    out
}

/// A curve's points on the plot's axes, decimated to about `width` columns
/// (each keeps its smallest and largest value, so spikes survive).
fn curve_points(
    steps: &[u64],
    values: &[f32],
    log_x: bool,
    log_y: bool,
    width: usize,
) -> Vec<[f64; 2]> {
    let x = |s: u64| {
        if log_x {
            ((s + 1) as f64).log10()
        } else {
            s as f64
        }
    };
    let y = |v: f32| {
        if log_y {
            f64::from(v).log10()
        } else {
            f64::from(v)
        }
    };
    let pts = steps
        .iter()
        .zip(values)
        .filter(|(_, v)| v.is_finite() && (!log_y || **v > 0.0))
        .map(|(&s, &v)| [x(s), y(v)]);
    let n = values.len();
    if n <= 2 * width.max(1) {
        return pts.collect();
    }
    let per = n.div_ceil(width.max(1));
    let all: Vec<[f64; 2]> = pts.collect();
    let mut out = Vec::with_capacity(2 * width);
    for chunk in all.chunks(per) {
        let lo = chunk.iter().min_by(|a, b| a[1].total_cmp(&b[1]));
        let hi = chunk.iter().max_by(|a, b| a[1].total_cmp(&b[1]));
        if let (Some(lo), Some(hi)) = (lo, hi) {
            if lo[0] <= hi[0] {
                out.extend([*lo, *hi]);
            } else {
                out.extend([*hi, *lo]);
            }
        }
    }
    out
}

/// How one curve set is drawn: the curve settings in force and the plot's width.
struct CurveStyle<'a> {
    settings: &'a CurveSettings,
    set: &'a CurveSet,
    /// Points per curve: one per pixel of the plot's width.
    width: usize,
    /// A legend (left out when the curves are one image).
    legend: bool,
    /// The step under the pointer, marked in every plot.
    cursor: Option<u64>,
}

impl CurveStyle<'_> {
    /// The plot's x of `step`.
    fn x_of(&self, step: u64) -> f64 {
        if self.settings.log_x {
            ((step + 1) as f64).log10()
        } else {
            step as f64
        }
    }

    /// One plot, `height` points high, with what `add` puts in it and the
    /// cursor's line; returns the step under the pointer.
    fn plot(
        &self,
        ui: &mut egui::Ui,
        id: String,
        height: f32,
        add: &mut dyn FnMut(&mut PlotUi<'_>),
    ) -> Option<u64> {
        let s = self.settings;
        let mut plot = Plot::new(id).height(height);
        if self.legend {
            plot = plot.legend(Legend::default());
        }
        let cursor = self.cursor.map(|step| self.x_of(step));
        let response = plot
            .allow_scroll(false)
            .x_axis_label(if s.log_x { "log10(step + 1)" } else { "step" })
            .y_axis_label(if s.log_y {
                format!("{} (log10)", self.set.name)
            } else {
                self.set.name.clone()
            })
            .show(ui, |p| {
                add(p);
                if let Some(x) = cursor {
                    p.vline(VLine::new("step", x).color(Color32::from_gray(200)));
                }
                p.pointer_coordinate()
            });
        response.inner.map(|at| {
            let step = if s.log_x {
                10f64.powf(at.x) - 1.0
            } else {
                at.x
            };
            step.max(0.0).round() as u64
        })
    }

    /// A group's mean line over its band (min–max or ±σ).
    fn band(&self, band: &Band, colour: Color32, p: &mut PlotUi<'_>) {
        let (s, width) = (self.settings, self.width);
        let (lo, hi): (Vec<f32>, Vec<f32>) = match s.spread {
            Spread::MinMax => (band.min.clone(), band.max.clone()),
            Spread::Sigma => band
                .mean
                .iter()
                .zip(&band.std)
                .map(|(m, d)| (m - d, m + d))
                .unzip(),
        };
        let mean = smooth(&band.mean, s.smoothing);
        let upper = curve_points(&band.steps, &hi, s.log_x, s.log_y, width);
        let mut lower = curve_points(&band.steps, &lo, s.log_x, s.log_y, width);
        lower.reverse();
        let outline: Vec<[f64; 2]> = upper.into_iter().chain(lower).collect();
        if outline.len() >= 3 {
            p.polygon(
                Polygon::new(format!("{} band", band.key), PlotPoints::from(outline))
                    .fill_color(colour.gamma_multiply(0.2))
                    .stroke(Stroke::NONE),
            );
        }
        p.line(
            Line::new(
                format!("{} (n={})", band.key, band.runs),
                PlotPoints::from(curve_points(&band.steps, &mean, s.log_x, s.log_y, width)),
            )
            .color(colour)
            .width(2.0),
        );
    }

    /// One run's curve, smoothed, named `name`.
    fn curve(&self, name: String, c: &Curve, colour: Color32, w: f32, p: &mut PlotUi<'_>) {
        let s = self.settings;
        let values = smooth(&c.values, s.smoothing);
        let pts = curve_points(&c.steps, &values, s.log_x, s.log_y, self.width);
        p.line(
            Line::new(name, PlotPoints::from(pts))
                .color(colour)
                .width(w),
        );
    }
}

/// The colour of the `i`th group or small multiple: hues a golden angle apart.
fn palette(i: usize) -> Color32 {
    let hue = (i as f32 * 0.618_034).fract();
    Color32::from(egui::ecolor::Hsva::new(hue, 0.7, 0.95, 1.0))
}

/// The curve view's options: which curve, grouping, smoothing, axes.
fn curve_options_ui(ui: &mut egui::Ui, b: &mut Browser) {
    ui.horizontal_wrapped(|ui| {
        let names: Vec<String> = b.runs.table.curves.iter().map(|c| c.name.clone()).collect();
        egui::ComboBox::from_label("curve")
            .selected_text(names.get(b.view.curves.set).cloned().unwrap_or_default())
            .show_ui(ui, |ui| {
                for (i, n) in names.iter().enumerate() {
                    ui.selectable_value(&mut b.view.curves.set, i, n);
                }
            });
        column_picker_ui(
            ui,
            "group by",
            &b.runs.table,
            &mut b.view.curves.group_by,
            true,
        );
        if b.view.curves.group_by.is_some() {
            ui.selectable_value(&mut b.view.curves.spread, Spread::MinMax, "min–max");
            ui.selectable_value(&mut b.view.curves.spread, Spread::Sigma, "±σ");
        }
        ui.add(egui::Slider::new(&mut b.view.curves.smoothing, 0.0..=0.99).text("smoothing"));
        ui.checkbox(&mut b.view.curves.log_y, "log y");
        ui.checkbox(&mut b.view.curves.log_x, "log x");
        ui.checkbox(&mut b.view.curves.small_multiples, "small multiples");
    });
}

/// The loss (or accuracy) curves of the shown runs: overlaid (as one image
/// beyond [`IMAGE_CURVES`]), or grouped by a column with a band, or as small
/// multiples; a shared step cursor.
pub(crate) fn curves_ui(ui: &mut egui::Ui, b: &mut Browser) {
    curve_options_ui(ui, b);
    b.refresh();
    if b.runs.table.curves.get(b.view.curves.set).is_none() {
        return;
    }
    let width = ui.available_width().max(100.0) as usize;
    let overlay = !b.view.curves.small_multiples && b.view.curves.group_by.is_none();
    let as_image = overlay && b.runs.rows.len() > IMAGE_CURVES;
    if overlay {
        let points = if as_image {
            IMAGE_POINTS
        } else {
            OVERLAY_POINTS
        };
        cache_overlay(b, width, points);
    }
    // Taken out while the plot borrows the browser, put back after.
    let mut curves_texture = b.drawn.curves_texture.take();
    let Some(set) = b.runs.table.curves.get(b.view.curves.set) else {
        return;
    };
    let style = CurveStyle {
        settings: &b.view.curves,
        set,
        width,
        legend: !as_image,
        cursor: b.runs.cursor_step,
    };
    let hovered = if b.view.curves.small_multiples {
        small_multiples_ui(ui, b, &style)
    } else {
        let height = ui.available_height();
        style.plot(ui, "overlay".into(), height, &mut |p| {
            overlay_items(p, b, &style, as_image, &mut curves_texture)
        })
    };
    b.drawn.curves_texture = curves_texture;
    if hovered.is_some() {
        b.runs.cursor_step = hovered;
    }
}

/// One small plot per group (or per run), four to a row; returns the step
/// under the pointer.
fn small_multiples_ui(ui: &mut egui::Ui, b: &Browser, style: &CurveStyle) -> Option<u64> {
    let grouped = b.view.curves.group_by.is_some();
    let shown: Vec<u32> = b.runs.rows.iter().copied().take(MAX_CURVES).collect();
    let cells = if grouped {
        b.runs.bands.len()
    } else {
        shown.len()
    }
    .min(MULTIPLES);
    let per_row = 4usize;
    let size = (ui.available_width() / per_row as f32 - 8.0).max(80.0);
    let mut hovered = None;
    egui::ScrollArea::vertical().show(ui, |ui| {
        egui::Grid::new("multiples").show(ui, |ui| {
            for i in 0..cells {
                ui.vertical(|ui| {
                    ui.set_width(size);
                    let id = format!("m{i}");
                    let at = if grouped {
                        let Some(band) = b.runs.bands.get(i) else {
                            return;
                        };
                        ui.label(&band.key);
                        style.plot(ui, id, size * 0.7, &mut |p| style.band(band, palette(i), p))
                    } else {
                        let Some(&r) = shown.get(i) else { return };
                        let name = b.runs.table.row_name(r as usize);
                        ui.label(&name);
                        let curve = &style.set.rows[r as usize];
                        style.plot(ui, id, size * 0.7, &mut |p| {
                            style.curve(name.clone(), curve, palette(i), 1.5, p)
                        })
                    };
                    hovered = hovered.or(at);
                });
                if (i + 1) % per_row == 0 {
                    ui.end_row();
                }
            }
        });
    });
    hovered
}

/// The overlay plot's items: every group's band, or every run's curve (as
/// lines, or as one image), and the selected run on top.
fn overlay_items(
    p: &mut PlotUi<'_>,
    b: &Browser,
    style: &CurveStyle,
    as_image: bool,
    texture: &mut Option<(CurvesImageKey, egui::TextureHandle)>,
) {
    if b.view.curves.group_by.is_some() {
        for (i, band) in b.runs.bands.iter().enumerate() {
            style.band(band, palette(i), p);
        }
    } else if let Some(cache) = b.drawn.curve_cache.as_ref().filter(|_| as_image) {
        overlay_image(p, b, cache, texture);
    } else if let Some(cache) = &b.drawn.curve_cache {
        for (r, points) in &cache.curves {
            p.line(
                Line::new(
                    b.runs.table.row_name(*r as usize),
                    PlotPoints::Owned(points.clone()),
                )
                .color(value_colour(b, *r).gamma_multiply(0.6))
                .width(1.0),
            );
        }
    }
    if let Some(r) = b.runs.selected {
        let name = b.runs.table.row_name(r as usize);
        style.curve(name, &style.set.rows[r as usize], SELECTED, 2.5, p);
    }
}

/// Draws the overlaid curves as one image of the part of them in view,
/// drawn again only when the curves, their colours, the view or its size
/// change: a frame then costs one texture, not a thousand tessellated lines.
fn overlay_image(
    p: &mut PlotUi<'_>,
    b: &Browser,
    cache: &OverlayCache,
    texture: &mut Option<(CurvesImageKey, egui::TextureHandle)>,
) {
    let mut data = cache.bounds;
    if !data.is_valid() {
        return;
    }
    if data.width() <= 0.0 {
        data.expand_x(0.5);
    }
    if data.height() <= 0.0 {
        data.expand_y(0.5);
    }
    // The data stay what the automatic bounds fit, whatever part the image covers.
    p.points(
        Points::new("", vec![data.min(), data.max()])
            .radius(0.0)
            .color(Color32::TRANSPARENT)
            .allow_hover(false),
    );
    let area = intersect(&data, &p.plot_bounds()).unwrap_or(data);
    let top_left = p.screen_from_plot(PlotPoint::new(area.min()[0], area.max()[1]));
    let bottom_right = p.screen_from_plot(PlotPoint::new(area.max()[0], area.min()[1]));
    let ppp = p.ctx().pixels_per_point();
    let pixels = |d: f32| (d * ppp).round().clamp(1.0, 4096.0) as usize;
    let key = CurvesImageKey {
        curves: cache.key,
        colour_by: b.view.colour_by,
        area: [
            area.min()[0].to_bits(),
            area.min()[1].to_bits(),
            area.max()[0].to_bits(),
            area.max()[1].to_bits(),
        ],
        size: [
            pixels(bottom_right.x - top_left.x),
            pixels(bottom_right.y - top_left.y),
        ],
    };
    if texture.as_ref().is_none_or(|(k, _)| *k != key) {
        let pixels = curves_image(&cache.curves, &area, key.size, |r| value_colour(b, r));
        let image = p
            .ctx()
            .load_texture("overlaid-curves", pixels, egui::TextureOptions::LINEAR);
        *texture = Some((key, image));
    }
    if let Some((_, image)) = texture {
        let centre = area.center();
        p.image(
            PlotImage::new(
                "runs",
                image.id(),
                centre,
                Vec2::new(area.width() as f32, area.height() as f32),
            )
            .allow_hover(false),
        );
    }
}

/// `curves` drawn into an image of `size` pixels covering `area` (plot
/// coordinates, y up), each in its run's `colour`.
pub(crate) fn curves_image(
    curves: &[super::DecimatedCurve],
    area: &PlotBounds,
    [w, h]: [usize; 2],
    colour: impl Fn(u32) -> Color32,
) -> egui::ColorImage {
    let (x0, y1) = (area.min()[0], area.max()[1]);
    let (sx, sy) = (w as f64 / area.width(), h as f64 / area.height());
    // The canvas's pixel centres are at whole coordinates; the image's edges
    // are the area's.
    let to_canvas = |v: f64| (v - 0.5) as f32;
    let mut canvas = Canvas::new(w, h);
    let mut line = Vec::new();
    for (r, points) in curves {
        line.clear();
        line.extend(
            points
                .iter()
                .map(|q| Pos2::new(to_canvas((q.x - x0) * sx), to_canvas((y1 - q.y) * sy))),
        );
        canvas.polyline(&line, colour(*r), 0.6);
    }
    canvas.into_image()
}

/// A run's name and its shown values, a line each (a cell's tooltip).
fn row_summary(b: &Browser, r: u32) -> String {
    let values = b
        .shown_columns()
        .filter(|&c| b.runs.table.columns[c].role != Role::Id)
        .map(|c| {
            format!(
                "{} = {}",
                b.runs.table.columns[c].name,
                b.runs.table.columns[c].text(r as usize)
            )
        })
        .collect::<Vec<_>>()
        .join("\n");
    format!("{}\n{values}", b.runs.table.row_name(r as usize))
}

/// The box both `a` and `b` hold, if they overlap.
fn intersect(a: &PlotBounds, b: &PlotBounds) -> Option<PlotBounds> {
    let min = [a.min()[0].max(b.min()[0]), a.min()[1].max(b.min()[1])];
    let max = [a.max()[0].min(b.max()[0]), a.max()[1].min(b.max()[1])];
    (min[0] < max[0] && min[1] < max[1]).then(|| PlotBounds::from_min_max(min, max))
}

/// Decimates the overlaid curves of the shown runs, unless they already are
/// for these rows and settings: each gets its share of `budget` points.
fn cache_overlay(b: &mut Browser, width: usize, budget: usize) {
    let Some(set) = b.runs.table.curves.get(b.view.curves.set) else {
        return;
    };
    let shown = b.runs.rows.len().min(MAX_CURVES);
    let columns = (budget / shown.max(1) / 2).clamp(16, width);
    let s = &b.view.curves;
    let key = CurveKey {
        set: s.set,
        smoothing: s.smoothing.to_bits(),
        log: (s.log_x, s.log_y),
        columns,
    };
    if b.drawn.curve_cache.as_ref().is_some_and(|c| c.key == key) {
        return;
    }
    let mut bounds = PlotBounds::NOTHING;
    let curves = b.runs.rows[..shown]
        .iter()
        .map(|&r| {
            let c = &set.rows[r as usize];
            let values = smooth(&c.values, s.smoothing);
            let points: Vec<PlotPoint> = curve_points(&c.steps, &values, s.log_x, s.log_y, columns)
                .into_iter()
                .map(|[x, y]| PlotPoint::new(x, y))
                .collect();
            for q in &points {
                bounds.extend_with(q);
            }
            (r, points)
        })
        .collect();
    b.drawn.curve_cache = Some(OverlayCache {
        key,
        curves,
        bounds,
    });
}

/// One column against another, a point per shown run, the selection ringed.
pub(crate) fn scatter_ui(ui: &mut egui::Ui, b: &mut Browser) {
    ui.horizontal(|ui| {
        let (mut x, mut y) = (Some(b.view.scatter.0), Some(b.view.scatter.1));
        column_picker_ui(ui, "x", &b.runs.table, &mut x, true);
        column_picker_ui(ui, "y", &b.runs.table, &mut y, true);
        b.view.scatter = (x.unwrap_or(b.view.scatter.0), y.unwrap_or(b.view.scatter.1));
    });
    let (cx, cy) = b.view.scatter;
    let (Some(xc), Some(yc)) = (b.runs.table.columns.get(cx), b.runs.table.columns.get(cy)) else {
        return;
    };
    let axis = |c: &crate::lab::compare::Column, v: f32| -> Option<f64> {
        match c.kind {
            ColumnKind::Number { log: true } => (v > 0.0).then(|| f64::from(v).log10()),
            _ => v.is_finite().then_some(f64::from(v)),
        }
    };
    let label = |c: &crate::lab::compare::Column| match c.kind {
        ColumnKind::Number { log: true } => format!("log10 {}", c.name),
        _ => c.name.clone(),
    };
    let stride = b.runs.rows.len().div_ceil(MAX_POINTS).max(1);
    let mut by_colour: Vec<(Color32, Vec<[f64; 2]>)> = Vec::new();
    let mut targets: Vec<([f64; 2], u32)> = Vec::new();
    for &r in b.runs.rows.iter().step_by(stride) {
        let (Some(x), Some(y)) = (
            axis(xc, xc.values[r as usize]),
            axis(yc, yc.values[r as usize]),
        ) else {
            continue;
        };
        // Colours are quantised so that a few `Points` items draw them all.
        let c = value_colour(b, r);
        let key = Color32::from_rgb(c.r() & 0xF0, c.g() & 0xF0, c.b() & 0xF0);
        match by_colour.iter_mut().find(|(k, _)| *k == key) {
            Some((_, pts)) => pts.push([x, y]),
            None => by_colour.push((key, vec![[x, y]])),
        }
        targets.push(([x, y], r));
    }
    let selected = b.runs.selected.and_then(|r| {
        Some([
            axis(xc, xc.values[r as usize])?,
            axis(yc, yc.values[r as usize])?,
        ])
    });
    let response = Plot::new("scatter")
        .x_axis_label(label(xc))
        .y_axis_label(label(yc))
        .allow_scroll(false)
        .show(ui, |p| {
            for (c, pts) in by_colour.drain(..) {
                p.points(Points::new("", PlotPoints::from(pts)).color(c).radius(2.0));
            }
            if let Some(s) = selected {
                p.points(
                    Points::new("selected", PlotPoints::from(vec![s]))
                        .color(SELECTED)
                        .radius(6.0)
                        .filled(false),
                );
            }
            (
                p.response().clicked(),
                p.pointer_coordinate(),
                *p.transform(),
            )
        });
    let (clicked, at, transform) = response.inner;
    if clicked && let Some(at) = at {
        let screen = transform.position_from_point(&at);
        let nearest = targets.iter().min_by(|a, b2| {
            let d = |p: &[f64; 2]| {
                transform
                    .position_from_point(&egui_plot::PlotPoint::new(p[0], p[1]))
                    .distance(screen)
            };
            d(&a.0).total_cmp(&d(&b2.0))
        });
        if let Some((_, r)) = nearest {
            b.runs.selected = Some(*r);
        }
    }
}

/// The landscape: the chosen column over a two-axis sweep's grid, diverged
/// cells in their own colours and the boundary lit; hover shows a cell,
/// a click selects it.
pub(crate) fn landscape_ui(ui: &mut egui::Ui, b: &mut Browser) {
    let Some(land) = b.runs.landscape.clone() else {
        ui.label("no two-axis grid sweep to draw");
        return;
    };
    landscape_header_ui(ui, b, &land, "shows", ("", ""));
    let (nx, ny) = land.size();
    let column = b.view.landscape_column;
    if b.drawn.landscape.as_ref().is_none_or(|(c, _)| *c != column) {
        let image = landscape_image(b, &land, column);
        let handle = ui
            .ctx()
            .load_texture("landscape", image, egui::TextureOptions::NEAREST);
        b.drawn.landscape = Some((column, handle));
    }
    let Some((_, texture)) = &b.drawn.landscape else {
        return;
    };
    let avail = (ui.available_size() - Vec2::new(70.0, 54.0)).max(Vec2::splat(50.0));
    // Square cells when the grid is near square; a lopsided grid fills the view.
    let aspect = nx as f32 / ny.max(1) as f32;
    let size = if (1.0 / 3.0..=3.0).contains(&aspect) {
        let side = avail.x.min(avail.y * aspect);
        Vec2::new(side, side / aspect)
    } else {
        avail
    };
    let (outer, _) = ui.allocate_exact_size(size + Vec2::new(70.0, 54.0), Sense::hover());
    let rect = Rect::from_min_size(outer.min + Vec2::new(64.0, 18.0), size);
    b.drawn.landscape_rect = Some(rect);
    let painter = ui.painter().clone();
    if let Some((under, uv)) = &b.zooms.underlay {
        painter.image(under.id(), rect, *uv, Color32::WHITE);
    }
    // Row 0 of the image is the first y value; the y axis grows upwards.
    painter.image(
        texture.id(),
        rect,
        Rect::from_min_max(Pos2::new(0.0, 1.0), Pos2::new(1.0, 0.0)),
        Color32::WHITE,
    );
    axis_labels(&painter, rect, &land.x, true);
    axis_labels(&painter, rect, &land.y, false);
    let response = ui.interact(rect, ui.id().with("landscape"), Sense::click_and_drag());
    zoom_drag_ui(&painter, &response, rect, &land, b);
    let cell_at = |p: Pos2| {
        let i = ((p.x - rect.left()) / rect.width() * nx as f32).floor();
        let j = ((rect.bottom() - p.y) / rect.height() * ny as f32).floor();
        (i >= 0.0 && j >= 0.0).then_some((i as usize, j as usize))
    };
    if let Some((i, j)) = response.hover_pos().and_then(cell_at)
        && let Some(r) = land.row_at(i, j)
    {
        response.clone().on_hover_text_at_pointer(row_summary(b, r));
    }
    if response.clicked()
        && let Some((i, j)) = response.interact_pointer_pos().and_then(cell_at)
        && let Some(r) = land.row_at(i, j)
    {
        b.runs.selected = Some(r);
    }
    if let Some((i, j)) = b.runs.selected.and_then(|r| land.cell_of(r)) {
        let w = rect.width() / nx as f32;
        let h = rect.height() / ny as f32;
        let cell = Rect::from_min_size(
            Pos2::new(
                rect.left() + i as f32 * w,
                rect.bottom() - (j + 1) as f32 * h,
            ),
            Vec2::new(w, h),
        );
        painter.rect_stroke(
            cell.expand(1.5),
            0.0,
            Stroke::new(2.0, SELECTED),
            egui::StrokeKind::Outside,
        );
    }
}

/// Tick labels of a grid axis: decades on a log axis, the ends otherwise.
fn axis_labels(
    painter: &egui::Painter,
    rect: Rect,
    axis: &crate::lab::compare::GridAxis,
    horizontal: bool,
) {
    let (Some(&lo), Some(&hi)) = (axis.values.first(), axis.values.last()) else {
        return;
    };
    // The ends, and the decades between them on a log axis.
    let mut ticks: Vec<f32> = vec![lo, hi];
    if axis.log && lo > 0.0 && hi / lo >= 10.0 {
        let mut e = lo.log10().ceil() as i32;
        while 10f32.powi(e) < hi * 0.8 {
            if 10f32.powi(e) > lo * 1.25 {
                ticks.push(10f32.powi(e));
            }
            e += 1;
        }
    }
    let font = egui::FontId::proportional(10.0);
    for v in ticks {
        let t = axis.fraction(v);
        let (pos, align) = if horizontal {
            (
                Pos2::new(rect.left() + t * rect.width(), rect.bottom() + 8.0),
                egui::Align2::CENTER_TOP,
            )
        } else {
            (
                Pos2::new(rect.left() - 6.0, rect.bottom() - t * rect.height()),
                egui::Align2::RIGHT_CENTER,
            )
        };
        painter.text(
            pos,
            align,
            compact_number(v),
            font.clone(),
            Color32::from_gray(190),
        );
    }
    let name_pos = if horizontal {
        Pos2::new(rect.center().x, rect.bottom() + 22.0)
    } else {
        Pos2::new(rect.left(), rect.top() - 2.0)
    };
    let align = if horizontal {
        egui::Align2::CENTER_TOP
    } else {
        egui::Align2::LEFT_BOTTOM
    };
    painter.text(name_pos, align, &axis.name, font, Color32::WHITE);
}

/// The landscape of `column` as an image (row 0 the first y value): its values
/// on the colour scale, diverged cells in warm colours by how soon they
/// diverged, and cells on the boundary between the two lit.
pub(super) fn landscape_image(
    b: &Browser,
    land: &crate::lab::compare::Landscape,
    column: usize,
) -> egui::ColorImage {
    let (nx, ny) = land.size();
    let pixels = landscape_paint(b, land, column)
        .into_iter()
        .map(|cell| match cell {
            // Not trained yet: what is under it shows through.
            None => Color32::TRANSPARENT,
            Some(c) => {
                let lit = |v: u8| if c.edge { v / 2 + 128 } else { v };
                Color32::from_rgb(lit(c.rgb[0]), lit(c.rgb[1]), lit(c.rgb[2]))
            }
        })
        .collect();
    egui::ColorImage::new([nx, ny], pixels)
}

/// The column a landscape shows, its grid and axes (`sides` say where each
/// axis runs), the zoom's state and the way back.
fn landscape_header_ui(
    ui: &mut egui::Ui,
    b: &mut Browser,
    land: &crate::lab::compare::Landscape,
    label: &str,
    sides: (&str, &str),
) {
    ui.horizontal_wrapped(|ui| {
        let mut choice = Some(b.view.landscape_column);
        column_picker_ui(ui, label, &b.runs.table, &mut choice, false);
        if let Some(c) = choice {
            b.view.landscape_column = c;
        }
        ui.label(format!(
            "{} × {} · x {}{} · y {}{}",
            land.x.values.len(),
            land.y.values.len(),
            land.x.name,
            sides.0,
            land.y.name,
            sides.1
        ));
        zoom_status_ui(ui, b);
    });
}

/// The zoom's state and the way back, beside the landscape's title.
fn zoom_status_ui(ui: &mut egui::Ui, b: &mut Browser) {
    if !b.zooms.back.is_empty()
        && ui
            .button("⏴ back out")
            .on_hover_text("return to the sweep zoomed from")
            .clicked()
    {
        b.requests.push(CompareRequest::BackOut);
    }
    match &b.zooms.zoom {
        Some(z) if !z.finished => {
            if !b.view.still {
                ui.add(egui::Spinner::new());
            }
            ui.label(format!(
                "zoom level {}/{}: {}×{}, {} of {} models",
                z.level + 1,
                z.levels,
                z.n,
                z.n,
                z.done,
                z.total
            ));
        }
        _ => {
            ui.weak("drag a rectangle to zoom in");
        }
    }
}

/// A drag on the landscape draws a rectangle; letting go zooms into it.
fn zoom_drag_ui(
    painter: &egui::Painter,
    response: &egui::Response,
    rect: Rect,
    land: &crate::lab::compare::Landscape,
    b: &mut Browser,
) {
    let id = response.id.with("zoom_drag");
    if response.dragged() {
        let from = response.ctx.input(|i| i.pointer.press_origin());
        if let (Some(from), Some(to)) = (from, response.interact_pointer_pos()) {
            let drawn = Rect::from_two_pos(from, to).intersect(rect);
            painter.rect_stroke(
                drawn,
                0.0,
                Stroke::new(1.5, SELECTED),
                egui::StrokeKind::Middle,
            );
            response.ctx.data_mut(|d| d.insert_temp(id, drawn));
        }
        return;
    }
    if !response.drag_stopped() {
        return;
    }
    let Some(drawn) = response.ctx.data_mut(|d| d.get_temp::<Rect>(id)) else {
        return;
    };
    response.ctx.data_mut(|d| d.remove::<Rect>(id));
    // A shaky click is not a zoom.
    if drawn.width() < 4.0 || drawn.height() < 4.0 {
        return;
    }
    let (nx, ny) = land.size();
    // Image fraction to axis value: cell centres sit half a cell in.
    let value = |axis: &crate::lab::compare::GridAxis, n: usize, u: f32| {
        let f = (u * n as f32 - 0.5) / (n.max(2) - 1) as f32;
        axis.at_fraction(f) as f64
    };
    let ux = |x: f32| ((x - rect.left()) / rect.width()).clamp(0.0, 1.0);
    let uy = |y: f32| ((rect.bottom() - y) / rect.height()).clamp(0.0, 1.0);
    b.requests
        .push(CompareRequest::Zoom(crate::lab::sweep::ZoomWindow {
            x: (
                value(&land.x, nx, ux(drawn.left())),
                value(&land.x, nx, ux(drawn.right())),
            ),
            y: (
                value(&land.y, ny, uy(drawn.bottom())),
                value(&land.y, ny, uy(drawn.top())),
            ),
        }));
}

/// The height field's tab: the column it shows and the zoom above; the rest
/// of the panel is left clear for the 3D view.
pub(super) fn terrain_ui(ui: &mut egui::Ui, b: &mut Browser) {
    let Some(land) = b.runs.landscape.clone() else {
        ui.label("no two-axis grid sweep to draw");
        return;
    };
    // The 3D view fills the whole centre, under the header: it does not move
    // when the header's text grows a line (a zoom's progress, say).
    let view = ui.max_rect();
    b.placement.terrain = Some(view);
    let header = egui::Frame::central_panel(ui.style()).show(ui, |ui| {
        let sides = (" (left to right)", " (near to far)");
        landscape_header_ui(ui, b, &land, "height and colour", sides);
        ui.weak("drag to orbit, right-drag to pan, scroll to zoom; the boundary between converged and diverged glows");
    });
    let input = egui::Rect::from_min_max(
        egui::pos2(
            view.left(),
            header.response.rect.bottom().min(view.bottom()),
        ),
        view.max,
    );
    b.placement.terrain_input = Some(input);
    // The column under the pointer, found by the height field's picking.
    if let Some(r) = b.runs.terrain_hover {
        ui.interact(input, ui.id().with("terrain-hover"), Sense::hover())
            .on_hover_text_at_pointer(row_summary(b, r));
    }
}
