//! Heat maps of two-axis sweeps as PNG files (`map.png`), drawn and encoded by
//! hand so that headless builds need no graphics crate: cells, axes with ticks,
//! a diverging colour bar and text in a built-in 5×7 bitmap font.

use std::io::Write;

/// One axis of a map: its label, the value at each cell (in order), and whether it is logarithmic.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct MapAxis {
    /// The axis label, such as "train.learning_rates[0]".
    pub label: String,
    /// The value at each cell's centre, in cell order.
    pub values: Vec<f64>,
    /// Whether ticks are placed (and positions interpolated) in log10.
    pub log: bool,
}

/// A heat map of a two-axis grid.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct HeatMap {
    /// The line drawn at the top.
    pub title: String,
    /// Horizontal axis (cells left to right).
    pub x: MapAxis,
    /// Vertical axis (cells bottom to top: values[0] at the bottom).
    pub y: MapAxis,
    /// One value per cell, `cells[ix * y.values.len() + iy]`; None (a cell not computed) is drawn grey.
    pub cells: Vec<Option<f32>>,
    /// The colour bar's label, such as "convergence score".
    pub legend: String,
    /// The value range of the colour scale (values are clamped to it), such as (-1.0, 1.0).
    pub range: (f32, f32),
}

/// The map as PNG bytes (8-bit RGB, deterministic: the same map gives the same bytes).
pub(super) fn render_png(map: &HeatMap) -> Vec<u8> {
    let layout = Layout::of(map);
    let canvas = draw(map, &layout);
    encode_png(canvas.width, canvas.height, &canvas.pixels)
}

/// The colour of a value (exposed for tests and for the app's legend).
pub fn map_colour(value: f32, range: (f32, f32)) -> [u8; 3] {
    if value.is_nan() {
        return MISSING;
    }
    let (lo, hi) = if range.0 <= range.1 {
        range
    } else {
        (range.1, range.0)
    };
    if !(lo.is_finite() && hi.is_finite()) || lo >= hi {
        return NEUTRAL;
    }
    let v = value.clamp(lo, hi);
    if lo < 0.0 && hi > 0.0 {
        // Zero stays the neutral point even for an asymmetric range, so that
        // "converged" and "diverged" always meet at the same near-white.
        if v < 0.0 {
            ramp(&WARM, 1.0 - v / lo)
        } else {
            ramp(&COOL, v / hi)
        }
    } else if hi <= 0.0 {
        ramp(&WARM, (v - lo) / (hi - lo))
    } else {
        ramp(&COOL, (v - lo) / (hi - lo))
    }
}

const BACKGROUND: [u8; 3] = [255, 255, 255];
const INK: [u8; 3] = [28, 28, 28];
const FRAME: [u8; 3] = [48, 48, 48];
const MISSING: [u8; 3] = [150, 150, 150];
const NEUTRAL: [u8; 3] = [247, 247, 247];

// Stops from dark red (-1) to near-white (0) and from near-white (0) to dark
// blue (+1); r+g+b strictly rises along WARM and falls along COOL, so lightness
// is monotone on each side and the sign boundary is the lightest line.
const WARM: [[f32; 3]; 5] = [
    [103.0, 0.0, 13.0],
    [180.0, 20.0, 30.0],
    [230.0, 85.0, 30.0],
    [253.0, 170.0, 100.0],
    [247.0, 247.0, 247.0],
];
const COOL: [[f32; 3]; 5] = [
    [247.0, 247.0, 247.0],
    [175.0, 212.0, 235.0],
    [95.0, 162.0, 212.0],
    [35.0, 105.0, 175.0],
    [8.0, 40.0, 100.0],
];

/// The colour at `t` in [0, 1] along evenly spaced `stops`.
fn ramp(stops: &[[f32; 3]; 5], t: f32) -> [u8; 3] {
    let segments = (stops.len() - 1) as f32;
    let s = t.clamp(0.0, 1.0) * segments;
    let i = (s.floor() as usize).min(stops.len() - 2);
    let f = s - i as f32;
    let (a, b) = (stops[i], stops[i + 1]);
    let mix = |k: usize| (a[k] + (b[k] - a[k]) * f).round().clamp(0.0, 255.0) as u8;
    [mix(0), mix(1), mix(2)]
}

// Layout, in pixels.
const MARGIN: i64 = 16;
const TEXT_SCALE: i64 = 2;
/// A glyph's 5 columns and one column of spacing.
const CHAR_ADVANCE: i64 = 6 * TEXT_SCALE;
const TEXT_H: i64 = 7 * TEXT_SCALE;
const TICK: i64 = 6;
const MINOR_TICK: i64 = 3;
/// Space between a tick's end and its label.
const LABEL_GAP: i64 = 4;
/// The plot's target side: cells get an integer scale that fills about this.
const PLOT_TARGET: usize = 640;
const BAR_WIDTH: i64 = 20;
/// A colour bar shorter than this would crowd its labels (plots one cell tall).
const BAR_MIN_HEIGHT: i64 = 150;
// Long texts are cut so the image stays within about 1200 px.
const MAX_TITLE_CHARS: usize = 80;
const MAX_LABEL_CHARS: usize = 48;

/// The width of `text` drawn at the text scale.
fn text_width(text: &str) -> i64 {
    let n = text.chars().count() as i64;
    if n == 0 {
        0
    } else {
        n * CHAR_ADVANCE - TEXT_SCALE
    }
}

/// `text` cut to `max` characters, with "..." marking the cut.
fn clipped(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(3)).collect();
    out.push_str("...");
    out
}

/// A tick on an axis: its value, and whether it is a major one (labelled first).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Tick {
    value: f64,
    major: bool,
}

/// Whether an axis can be drawn in log10 (every value finite and positive).
fn is_log(axis: &MapAxis) -> bool {
    axis.log && !axis.values.is_empty() && axis.values.iter().all(|v| v.is_finite() && *v > 0.0)
}

/// The smallest and largest finite values.
fn extent(values: &[f64]) -> Option<(f64, f64)> {
    values
        .iter()
        .filter(|v| v.is_finite())
        .fold(None, |acc, &v| match acc {
            None => Some((v, v)),
            Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
        })
}

/// m·10^k, computed so that the result is the nearest double to the decimal (0.01, not 0.010000000000000002).
fn decimal(m: f64, k: i32) -> f64 {
    if k >= 0 {
        m * 10f64.powi(k)
    } else {
        m / 10f64.powi(-k)
    }
}

/// The tick values of an axis, in increasing order.
fn ticks(axis: &MapAxis) -> Vec<Tick> {
    let Some((lo, hi)) = extent(&axis.values) else {
        return Vec::new();
    };
    if is_log(axis) {
        let ticks = log_ticks(lo, hi);
        if ticks.len() >= 2 {
            return ticks;
        }
    }
    linear_ticks(lo, hi)
}

/// Powers of ten in [lo, hi], with 2× and 5× values when the range spans under two decades.
fn log_ticks(lo: f64, hi: f64) -> Vec<Tick> {
    let (l0, l1) = (lo.log10(), hi.log10());
    // Tolerance so that grid ends computed as 10^x still count as 0.01 or 100.
    let first = ((l0 - 1e-9).ceil().max(-320.0)) as i32;
    let last = ((l1 + 1e-9).floor().min(310.0)) as i32;
    let inside = |v: f64| v >= lo * (1.0 - 1e-9) && v <= hi * (1.0 + 1e-9);
    let mut out: Vec<Tick> = (first..=last)
        .map(|k| Tick {
            value: decimal(1.0, k),
            major: true,
        })
        .filter(|t| inside(t.value))
        .collect();
    if l1 - l0 < 2.0 {
        for k in first.saturating_sub(1)..=last {
            for m in [2.0, 5.0] {
                let value = decimal(m, k);
                if inside(value) {
                    out.push(Tick {
                        value,
                        major: false,
                    });
                }
            }
        }
    }
    out.sort_by(|a, b| a.value.total_cmp(&b.value));
    out
}

/// About five ticks at multiples of 1, 2 or 5 × 10^k in [lo, hi].
fn linear_ticks(lo: f64, hi: f64) -> Vec<Tick> {
    let span = hi - lo;
    if !(span > 0.0 && span.is_finite()) {
        return vec![Tick {
            value: lo,
            major: true,
        }];
    }
    let raw = span / 5.0;
    let k = raw.log10().floor();
    let norm = raw / 10f64.powf(k);
    // The step nearest to the raw one on a log scale (thresholds at geometric means).
    let (m, k) = if norm < 1.414 {
        (1.0, k)
    } else if norm < 3.162 {
        (2.0, k)
    } else if norm < 7.071 {
        (5.0, k)
    } else {
        (1.0, k + 1.0)
    };
    let k = k.clamp(-320.0, 310.0) as i32;
    let step = decimal(m, k);
    let first = (lo / step - 1e-9).ceil();
    let last = (hi / step + 1e-9).floor();
    if !(first.is_finite() && last.is_finite()) || last - first > 100.0 || last < first {
        return vec![
            Tick {
                value: lo,
                major: true,
            },
            Tick {
                value: hi,
                major: true,
            },
        ];
    }
    (first as i64..=last as i64)
        .map(|i| Tick {
            value: decimal(i as f64 * m, k),
            major: true,
        })
        .collect()
}

/// A tick label: plain decimals in [1e-3, 1e4], else `1e-5` style.
fn tick_label(value: f64) -> String {
    if value == 0.0 || !value.is_finite() {
        return if value.is_nan() {
            "nan".into()
        } else if value == 0.0 {
            "0".into()
        } else {
            format!("{value}")
        };
    }
    // Twelve significant digits hide the binary noise of steps such as 0.1·3.
    let value: f64 = format!("{value:.11e}").parse().unwrap_or(value);
    let a = value.abs();
    if !(1e-3..=1e4).contains(&a) {
        format!("{value:e}")
    } else {
        format!("{value}")
    }
}

/// Where `value` falls along the axis, in cells (0.0 is the centre of cell 0),
/// interpolated between cell centres (in log10 for log axes).
fn cell_position(axis: &MapAxis, value: f64) -> Option<f64> {
    let log = is_log(axis);
    let tr = |v: f64| if log { v.log10() } else { v };
    let ts: Vec<f64> = axis.values.iter().map(|&v| tr(v)).collect();
    let t = tr(value);
    if ts.len() == 1 {
        return Some(0.0);
    }
    let (lo, hi) = extent(&ts)?;
    let eps = 1e-9 * (hi - lo).max(f64::MIN_POSITIVE);
    ts.windows(2).enumerate().find_map(|(i, w)| {
        let (a, b) = (w[0], w[1]);
        if !(a.is_finite() && b.is_finite()) || t < a.min(b) - eps || t > a.max(b) + eps {
            return None;
        }
        let f = if a == b {
            0.0
        } else {
            ((t - a) / (b - a)).clamp(0.0, 1.0)
        };
        Some(i as f64 + f)
    })
}

/// Which labels to draw, so that none overlap: major ticks first, then the
/// others where they fit. `spans` are each label's pixel interval along the axis.
fn fit_labels(spans: &[(i64, i64, bool)], gap: i64) -> Vec<bool> {
    let mut order: Vec<usize> = (0..spans.len()).collect();
    order.sort_by_key(|&i| (!spans[i].2, i));
    let mut keep = vec![false; spans.len()];
    let mut taken: Vec<(i64, i64)> = Vec::new();
    for i in order {
        let (a, b, _) = spans[i];
        if taken.iter().all(|&(c, d)| b + gap <= c || d + gap <= a) {
            taken.push((a, b));
            keep[i] = true;
        }
    }
    keep
}

/// A tick as drawn: its pixel along the axis and its label, if it has room.
#[derive(Debug, Clone)]
struct PlacedTick {
    at: i64,
    label: Option<String>,
}

/// Text at a top-left pixel.
#[derive(Debug, Clone)]
struct Text {
    x: i64,
    y: i64,
    text: String,
}

/// Where everything goes.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    pub(crate) width: usize,
    pub(crate) height: usize,
    /// Pixels per cell side.
    pub(crate) scale: i64,
    pub(crate) nx: usize,
    pub(crate) ny: usize,
    /// Top-left pixel of the cell area.
    pub(crate) plot_x0: i64,
    pub(crate) plot_y0: i64,
    title: Text,
    x_label: Text,
    y_label: Text,
    legend: Text,
    x_ticks: Vec<PlacedTick>,
    y_ticks: Vec<PlacedTick>,
    bar_x0: i64,
    bar_height: i64,
    bar_ticks: Vec<PlacedTick>,
}

impl Layout {
    /// The pixel at the centre of cell (ix, iy) (iy counted from the bottom).
    #[cfg(test)]
    pub(crate) fn cell_centre(&self, ix: usize, iy: usize) -> (i64, i64) {
        let x = self.plot_x0 + ix as i64 * self.scale + self.scale / 2;
        let y = self.plot_y1() - 1 - iy as i64 * self.scale - self.scale / 2;
        (x, y)
    }

    fn plot_x1(&self) -> i64 {
        self.plot_x0 + self.nx as i64 * self.scale
    }

    fn plot_y1(&self) -> i64 {
        self.plot_y0 + self.ny as i64 * self.scale
    }

    /// Lays out `map`.
    pub(crate) fn of(map: &HeatMap) -> Layout {
        // An empty axis still gets one (grey) cell, so nothing divides by zero.
        let nx = map.x.values.len().max(1);
        let ny = map.y.values.len().max(1);
        let scale = (PLOT_TARGET / nx.max(ny)).max(1) as i64;
        let pw = nx as i64 * scale;
        let ph = ny as i64 * scale;

        let title = clipped(&map.title, MAX_TITLE_CHARS);
        let x_label = clipped(&map.x.label, MAX_LABEL_CHARS);
        let y_label = clipped(&map.y.label, MAX_LABEL_CHARS);
        let legend = clipped(&map.legend, MAX_LABEL_CHARS);

        let title_y = MARGIN;
        let header_y = title_y + TEXT_H + DESCENT + 8;
        // Room for the header's descenders above the top y tick label.
        let plot_y0 = header_y + TEXT_H + DESCENT + 14;
        let plot_y1 = plot_y0 + ph;

        // The y tick labels sit left of the plot, so their width sets its left edge.
        let y_candidates: Vec<(Tick, String)> = ticks(&map.y)
            .into_iter()
            .map(|t| (t, tick_label(t.value)))
            .collect();
        let y_label_width = y_candidates
            .iter()
            .map(|(_, s)| text_width(s))
            .max()
            .unwrap_or(0);
        let plot_x0 = MARGIN + y_label_width + LABEL_GAP + TICK + 1;
        let plot_x1 = plot_x0 + pw;

        let centre_px = |f: f64| ((f + 0.5) * scale as f64).floor() as i64;
        let y_ticks = fit_ticks(
            y_candidates
                .into_iter()
                .filter_map(|(t, s)| {
                    let f = cell_position(&map.y, t.value)?;
                    Some((plot_y1 - 1 - centre_px(f), s, t.major))
                })
                .collect(),
            |at, _| (at - TEXT_H / 2, at + TEXT_H / 2),
            4,
        );
        let x_ticks = fit_ticks(
            ticks(&map.x)
                .into_iter()
                .filter_map(|t| {
                    let f = cell_position(&map.x, t.value)?;
                    Some((plot_x0 + centre_px(f), tick_label(t.value), t.major))
                })
                .collect(),
            |at, s| {
                let w = text_width(s);
                (at - w / 2, at - w / 2 + w)
            },
            10,
        );
        let x_ticks_right = x_ticks
            .iter()
            .filter_map(|t| {
                t.label
                    .as_ref()
                    .map(|s| t.at - text_width(s) / 2 + text_width(s))
            })
            .max()
            .unwrap_or(plot_x1);

        // The colour bar, right of the plot and clear of the last x tick label.
        let bar_x0 = (plot_x1 + 1 + 30).max(x_ticks_right + 20);
        let bar_height = ph.max(BAR_MIN_HEIGHT);
        let (bar_ticks, bar_right) = bar_labels(map.range, bar_x0, bar_height);

        let plot_cx = (plot_x0 + plot_x1) / 2;
        let y_label = Text {
            x: MARGIN,
            y: header_y,
            text: y_label,
        };
        let y_label_right = y_label.x + text_width(&y_label.text);
        let legend = legend_text(legend, header_y, (bar_x0, bar_right), &y_label);
        let title = Text {
            x: (plot_cx - text_width(&title) / 2).max(MARGIN),
            y: title_y,
            text: title,
        };

        // A colour bar taller than the plot reaches down beside the x label.
        let bar_bottom = plot_y0 + bar_height + TEXT_H / 2;
        let x_label = x_label_text(x_label, plot_cx, plot_y1, (bar_x0, bar_bottom));
        let right = [
            bar_right,
            legend.x + text_width(&legend.text),
            title.x + text_width(&title.text),
            x_label.x + text_width(&x_label.text),
            y_label_right,
            x_ticks_right,
        ]
        .into_iter()
        .max()
        .unwrap_or(bar_right);
        let bottom = (x_label.y + TEXT_H + DESCENT).max(bar_bottom);
        Layout {
            width: (right + MARGIN).max(1) as usize,
            height: (bottom + MARGIN).max(1) as usize,
            scale,
            nx,
            ny,
            plot_x0,
            plot_y0,
            title,
            x_label,
            y_label,
            legend,
            x_ticks,
            y_ticks,
            bar_x0,
            bar_height,
            bar_ticks,
        }
    }
}

/// Ticks at their pixels, each `(at, label, major)`, labelled where the
/// labels fit: `span` is a label's extent along the axis, `gap` the room
/// between two (major ticks keep theirs first).
fn fit_ticks(
    placed: Vec<(i64, String, bool)>,
    span: impl Fn(i64, &str) -> (i64, i64),
    gap: i64,
) -> Vec<PlacedTick> {
    let spans: Vec<(i64, i64, bool)> = placed
        .iter()
        .map(|(at, s, major)| {
            let (lo, hi) = span(*at, s);
            (lo, hi, *major)
        })
        .collect();
    let keep = fit_labels(&spans, gap);
    placed
        .into_iter()
        .zip(keep)
        .map(|((at, s, _), k)| PlacedTick {
            at,
            label: k.then_some(s),
        })
        .collect()
}

/// The colour bar's ticks at `bar_x0`, `height` pixels tall, and where its
/// labels end on the right.
fn bar_labels(range: (f32, f32), bar_x0: i64, height: i64) -> (Vec<PlacedTick>, i64) {
    let labels_x = bar_x0 + BAR_WIDTH + 1 + TICK + LABEL_GAP;
    let ticks = bar_ticks(range, height);
    let right = ticks
        .iter()
        .filter_map(|t| t.label.as_ref().map(|s| labels_x + text_width(s)))
        .max()
        .unwrap_or(bar_x0 + BAR_WIDTH);
    (ticks, right)
}

/// The x axis's label, centred under the plot (`plot_cx`, its bottom at
/// `plot_y1`) below the tick labels, and lower still where it would run
/// into a colour bar (`bar`: its left edge and bottom) that reaches down
/// beside it.
fn x_label_text(
    text: String,
    plot_cx: i64,
    plot_y1: i64,
    (bar_x0, bar_bottom): (i64, i64),
) -> Text {
    let width = text_width(&text);
    let x = (plot_cx - width / 2).max(MARGIN);
    let x_ticks_y = plot_y1 + 1 + TICK + LABEL_GAP;
    let mut y = x_ticks_y + TEXT_H + 10;
    if x + width + 16 > bar_x0 && y < bar_bottom + 8 {
        y = bar_bottom + 8;
    }
    Text { x, y, text }
}

/// The legend on the header row at `y`: over the colour bar (`bar`: its
/// left edge and its labels' right), or ending with the bar's labels when
/// longer, and never onto the y label that shares the row.
fn legend_text(legend: String, y: i64, (bar_x0, bar_right): (i64, i64), y_label: &Text) -> Text {
    let legend_width = text_width(&legend);
    let legend_x = if legend_width <= bar_right - bar_x0 {
        bar_x0
    } else {
        bar_right - legend_width
    };
    let legend_x = if y_label.text.is_empty() {
        legend_x
    } else {
        legend_x.max(y_label.x + text_width(&y_label.text) + 24)
    };
    Text {
        x: legend_x.max(MARGIN),
        y,
        text: legend,
    }
}

/// The colour bar's ticks (pixels down from its top): the range's ends, zero
/// or the midpoint, and the halves between.
fn bar_ticks(range: (f32, f32), height: i64) -> Vec<PlacedTick> {
    let (lo, hi) = if range.0 <= range.1 {
        range
    } else {
        (range.1, range.0)
    };
    let (lo, hi) = (lo as f64, hi as f64);
    if !(lo.is_finite() && hi.is_finite()) || lo >= hi {
        let label = if lo.is_finite() {
            tick_label(lo)
        } else {
            "?".into()
        };
        return vec![PlacedTick {
            at: height / 2,
            label: Some(label),
        }];
    }
    let values: [(f64, bool); 5] = if lo < 0.0 && hi > 0.0 {
        [
            (lo, true),
            (lo / 2.0, false),
            (0.0, true),
            (hi / 2.0, false),
            (hi, true),
        ]
    } else {
        let mid = lo + (hi - lo) / 2.0;
        [
            (lo, true),
            (lo + (hi - lo) / 4.0, false),
            (mid, true),
            (hi - (hi - lo) / 4.0, false),
            (hi, true),
        ]
    };
    let placed: Vec<(i64, String, bool)> = values
        .iter()
        .map(|&(v, major)| (bar_row(v, lo, hi, height), tick_label(v), major))
        .collect();
    fit_ticks(placed, |at, _| (at - TEXT_H / 2, at + TEXT_H / 2), 4)
}

/// The bar row of value `v` (top row = `hi`).
fn bar_row(v: f64, lo: f64, hi: f64, height: i64) -> i64 {
    let f = ((v - lo) / (hi - lo)).clamp(0.0, 1.0);
    height - 1 - (f * (height - 1) as f64).round() as i64
}

/// An RGB image in memory.
struct Canvas {
    width: usize,
    height: usize,
    pixels: Vec<u8>,
}

impl Canvas {
    fn new(width: usize, height: usize) -> Canvas {
        let mut pixels = Vec::with_capacity(width.saturating_mul(height).saturating_mul(3));
        for _ in 0..width.saturating_mul(height) {
            pixels.extend_from_slice(&BACKGROUND);
        }
        Canvas {
            width,
            height,
            pixels,
        }
    }

    /// Fills a rectangle, clipped to the canvas.
    fn fill(&mut self, x: i64, y: i64, w: i64, h: i64, c: [u8; 3]) {
        let x0 = x.clamp(0, self.width as i64) as usize;
        let x1 = x.saturating_add(w).clamp(0, self.width as i64) as usize;
        let y0 = y.clamp(0, self.height as i64) as usize;
        let y1 = y.saturating_add(h).clamp(0, self.height as i64) as usize;
        for row in y0..y1 {
            let start = (row * self.width + x0) * 3;
            let end = (row * self.width + x1) * 3;
            for px in self.pixels[start..end].chunks_exact_mut(3) {
                px.copy_from_slice(&c);
            }
        }
    }

    /// Draws `text` with its top-left corner at (x, y).
    fn text(&mut self, x: i64, y: i64, text: &str) {
        for (i, ch) in text.chars().enumerate() {
            let gx = x + i as i64 * CHAR_ADVANCE;
            let gy = y + if DESCENDERS.contains(ch) { DESCENT } else { 0 };
            for (row, bits) in glyph(ch).iter().enumerate() {
                for col in 0..5 {
                    if bits & (0x10 >> col) != 0 {
                        let (px, py) = (gx + col * TEXT_SCALE, gy + row as i64 * TEXT_SCALE);
                        self.fill(px, py, TEXT_SCALE, TEXT_SCALE, INK);
                    }
                }
            }
        }
    }
}

/// Paints the map as laid out.
fn draw(map: &HeatMap, layout: &Layout) -> Canvas {
    let mut canvas = Canvas::new(layout.width, layout.height);
    let (s, nx, ny) = (layout.scale, layout.nx, layout.ny);
    let (x0, y0, x1, y1) = (
        layout.plot_x0,
        layout.plot_y0,
        layout.plot_x1(),
        layout.plot_y1(),
    );
    let real_ny = map.y.values.len();
    for ix in 0..nx {
        for iy in 0..ny {
            let value = if real_ny == 0 {
                None
            } else {
                ix.checked_mul(real_ny)
                    .and_then(|i| i.checked_add(iy))
                    .and_then(|i| map.cells.get(i))
                    .copied()
                    .flatten()
            };
            let c = value.map_or(MISSING, |v| map_colour(v, map.range));
            canvas.fill(x0 + ix as i64 * s, y1 - (iy as i64 + 1) * s, s, s, c);
        }
    }
    frame(&mut canvas, x0 - 1, y0 - 1, x1 + 1, y1 + 1);

    for t in &layout.x_ticks {
        let len = if t.label.is_some() { TICK } else { MINOR_TICK };
        canvas.fill(t.at, y1 + 1, 1, len, FRAME);
        if let Some(label) = &t.label {
            canvas.text(
                t.at - text_width(label) / 2,
                y1 + 1 + TICK + LABEL_GAP,
                label,
            );
        }
    }
    for t in &layout.y_ticks {
        let len = if t.label.is_some() { TICK } else { MINOR_TICK };
        canvas.fill(x0 - 1 - len, t.at, len, 1, FRAME);
        if let Some(label) = &t.label {
            canvas.text(
                x0 - 1 - TICK - LABEL_GAP - text_width(label),
                t.at - TEXT_H / 2,
                label,
            );
        }
    }

    let (bx, by, bh) = (layout.bar_x0, y0, layout.bar_height);
    let (lo, hi) = if map.range.0 <= map.range.1 {
        map.range
    } else {
        (map.range.1, map.range.0)
    };
    for row in 0..bh {
        // Row values run from hi at the top to lo at the bottom, as on the bar's labels.
        let f = if bh > 1 {
            (bh - 1 - row) as f32 / (bh - 1) as f32
        } else {
            0.5
        };
        let c = map_colour(lo + (hi - lo) * f, map.range);
        canvas.fill(bx, by + row, BAR_WIDTH, 1, c);
    }
    frame(&mut canvas, bx - 1, by - 1, bx + BAR_WIDTH + 1, by + bh + 1);
    for t in &layout.bar_ticks {
        canvas.fill(bx + BAR_WIDTH + 1, by + t.at, TICK, 1, FRAME);
        if let Some(label) = &t.label {
            canvas.text(
                bx + BAR_WIDTH + 1 + TICK + LABEL_GAP,
                by + t.at - TEXT_H / 2,
                label,
            );
        }
    }

    for t in [
        &layout.title,
        &layout.x_label,
        &layout.y_label,
        &layout.legend,
    ] {
        canvas.text(t.x, t.y, &t.text);
    }
    canvas
}

/// A one-pixel rectangle outline with corners (x0, y0) and (x1, y1) exclusive.
fn frame(canvas: &mut Canvas, x0: i64, y0: i64, x1: i64, y1: i64) {
    canvas.fill(x0, y0, x1 - x0, 1, FRAME);
    canvas.fill(x0, y1 - 1, x1 - x0, 1, FRAME);
    canvas.fill(x0, y0, 1, y1 - y0, FRAME);
    canvas.fill(x1 - 1, y0, 1, y1 - y0, FRAME);
}

/// PNG bytes of 8-bit RGB `pixels`: one IDAT, filter 0 on every row.
#[expect(
    clippy::expect_used,
    reason = "compressing into a Vec cannot fail: a Vec accepts every write"
)]
fn encode_png(width: usize, height: usize, pixels: &[u8]) -> Vec<u8> {
    let stride = width.saturating_mul(3).max(1);
    let mut raw = Vec::with_capacity(pixels.len() + height);
    for row in pixels.chunks_exact(stride) {
        raw.push(0);
        raw.extend_from_slice(row);
    }
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    let data = z
        .write_all(&raw)
        .and_then(|()| z.finish())
        .expect("zlib into memory");

    let mut out = Vec::with_capacity(data.len() + 64);
    out.extend_from_slice(b"\x89PNG\r\n\x1a\n");
    let mut ihdr = Vec::with_capacity(13);
    ihdr.extend_from_slice(&u32::try_from(width).unwrap_or(u32::MAX).to_be_bytes());
    ihdr.extend_from_slice(&u32::try_from(height).unwrap_or(u32::MAX).to_be_bytes());
    // Bit depth 8, colour type 2 (RGB), deflate, adaptive filtering, no interlace.
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(&mut out, b"IDAT", &data);
    chunk(&mut out, b"IEND", &[]);
    out
}

/// Appends a PNG chunk: length, type, data, CRC of type and data.
fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&u32::try_from(data.len()).unwrap_or(u32::MAX).to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let mut crc = crc32fast::Hasher::new();
    crc.update(kind);
    crc.update(data);
    out.extend_from_slice(&crc.finalize().to_be_bytes());
}

// Seven rows leave no room below the baseline, so these glyphs are drawn two
// rows lower: their bowls sit on the x-height and their tails hang below.
const DESCENDERS: &str = "gpqy";
/// How far below the text box a descender reaches.
const DESCENT: i64 = 2 * TEXT_SCALE;

/// Drawn for characters outside printable ASCII.
const BOX: [u8; 7] = [
    0b00000, 0b11111, 0b10001, 0b10001, 0b10001, 0b11111, 0b00000,
];

/// The 5×7 glyph of `c`: seven rows, top first, bit 4 the leftmost column.
fn glyph(c: char) -> [u8; 7] {
    let code = c as u32;
    if (32..=126).contains(&code) {
        FONT.get((code - 32) as usize).copied().unwrap_or(BOX)
    } else {
        BOX
    }
}

/// Printable ASCII, 32 (space) to 126 (~), in the style of classic LCD character ROMs.
#[rustfmt::skip]
const FONT: [[u8; 7]; 95] = [
    [0b00000, 0b00000, 0b00000, 0b00000, 0b00000, 0b00000, 0b00000], // ' '
    [0b00100, 0b00100, 0b00100, 0b00100, 0b00100, 0b00000, 0b00100], // !
    [0b01010, 0b01010, 0b01010, 0b00000, 0b00000, 0b00000, 0b00000], // "
    [0b01010, 0b01010, 0b11111, 0b01010, 0b11111, 0b01010, 0b01010], // #
    [0b00100, 0b01111, 0b10100, 0b01110, 0b00101, 0b11110, 0b00100], // $
    [0b11000, 0b11001, 0b00010, 0b00100, 0b01000, 0b10011, 0b00011], // %
    [0b01100, 0b10010, 0b10100, 0b01000, 0b10101, 0b10010, 0b01101], // &
    [0b00100, 0b00100, 0b01000, 0b00000, 0b00000, 0b00000, 0b00000], // '
    [0b00010, 0b00100, 0b01000, 0b01000, 0b01000, 0b00100, 0b00010], // (
    [0b01000, 0b00100, 0b00010, 0b00010, 0b00010, 0b00100, 0b01000], // )
    [0b00000, 0b00100, 0b10101, 0b01110, 0b10101, 0b00100, 0b00000], // *
    [0b00000, 0b00100, 0b00100, 0b11111, 0b00100, 0b00100, 0b00000], // +
    [0b00000, 0b00000, 0b00000, 0b00000, 0b01100, 0b00100, 0b01000], // ,
    [0b00000, 0b00000, 0b00000, 0b11111, 0b00000, 0b00000, 0b00000], // -
    [0b00000, 0b00000, 0b00000, 0b00000, 0b00000, 0b01100, 0b01100], // .
    [0b00000, 0b00001, 0b00010, 0b00100, 0b01000, 0b10000, 0b00000], // /
    [0b01110, 0b10001, 0b10011, 0b10101, 0b11001, 0b10001, 0b01110], // 0
    [0b00100, 0b01100, 0b00100, 0b00100, 0b00100, 0b00100, 0b01110], // 1
    [0b01110, 0b10001, 0b00001, 0b00010, 0b00100, 0b01000, 0b11111], // 2
    [0b11111, 0b00010, 0b00100, 0b00010, 0b00001, 0b10001, 0b01110], // 3
    [0b00010, 0b00110, 0b01010, 0b10010, 0b11111, 0b00010, 0b00010], // 4
    [0b11111, 0b10000, 0b11110, 0b00001, 0b00001, 0b10001, 0b01110], // 5
    [0b00110, 0b01000, 0b10000, 0b11110, 0b10001, 0b10001, 0b01110], // 6
    [0b11111, 0b00001, 0b00010, 0b00100, 0b01000, 0b01000, 0b01000], // 7
    [0b01110, 0b10001, 0b10001, 0b01110, 0b10001, 0b10001, 0b01110], // 8
    [0b01110, 0b10001, 0b10001, 0b01111, 0b00001, 0b00010, 0b01100], // 9
    [0b00000, 0b01100, 0b01100, 0b00000, 0b01100, 0b01100, 0b00000], // :
    [0b00000, 0b01100, 0b01100, 0b00000, 0b01100, 0b00100, 0b01000], // ;
    [0b00010, 0b00100, 0b01000, 0b10000, 0b01000, 0b00100, 0b00010], // <
    [0b00000, 0b00000, 0b11111, 0b00000, 0b11111, 0b00000, 0b00000], // =
    [0b01000, 0b00100, 0b00010, 0b00001, 0b00010, 0b00100, 0b01000], // >
    [0b01110, 0b10001, 0b00001, 0b00010, 0b00100, 0b00000, 0b00100], // ?
    [0b01110, 0b10001, 0b00001, 0b01101, 0b10101, 0b10101, 0b01110], // @
    [0b01110, 0b10001, 0b10001, 0b10001, 0b11111, 0b10001, 0b10001], // A
    [0b11110, 0b10001, 0b10001, 0b11110, 0b10001, 0b10001, 0b11110], // B
    [0b01110, 0b10001, 0b10000, 0b10000, 0b10000, 0b10001, 0b01110], // C
    [0b11100, 0b10010, 0b10001, 0b10001, 0b10001, 0b10010, 0b11100], // D
    [0b11111, 0b10000, 0b10000, 0b11110, 0b10000, 0b10000, 0b11111], // E
    [0b11111, 0b10000, 0b10000, 0b11110, 0b10000, 0b10000, 0b10000], // F
    [0b01110, 0b10001, 0b10000, 0b10111, 0b10001, 0b10001, 0b01111], // G
    [0b10001, 0b10001, 0b10001, 0b11111, 0b10001, 0b10001, 0b10001], // H
    [0b01110, 0b00100, 0b00100, 0b00100, 0b00100, 0b00100, 0b01110], // I
    [0b00111, 0b00010, 0b00010, 0b00010, 0b00010, 0b10010, 0b01100], // J
    [0b10001, 0b10010, 0b10100, 0b11000, 0b10100, 0b10010, 0b10001], // K
    [0b10000, 0b10000, 0b10000, 0b10000, 0b10000, 0b10000, 0b11111], // L
    [0b10001, 0b11011, 0b10101, 0b10101, 0b10001, 0b10001, 0b10001], // M
    [0b10001, 0b10001, 0b11001, 0b10101, 0b10011, 0b10001, 0b10001], // N
    [0b01110, 0b10001, 0b10001, 0b10001, 0b10001, 0b10001, 0b01110], // O
    [0b11110, 0b10001, 0b10001, 0b11110, 0b10000, 0b10000, 0b10000], // P
    [0b01110, 0b10001, 0b10001, 0b10001, 0b10101, 0b10010, 0b01101], // Q
    [0b11110, 0b10001, 0b10001, 0b11110, 0b10100, 0b10010, 0b10001], // R
    [0b01111, 0b10000, 0b10000, 0b01110, 0b00001, 0b00001, 0b11110], // S
    [0b11111, 0b00100, 0b00100, 0b00100, 0b00100, 0b00100, 0b00100], // T
    [0b10001, 0b10001, 0b10001, 0b10001, 0b10001, 0b10001, 0b01110], // U
    [0b10001, 0b10001, 0b10001, 0b10001, 0b10001, 0b01010, 0b00100], // V
    [0b10001, 0b10001, 0b10001, 0b10101, 0b10101, 0b10101, 0b01010], // W
    [0b10001, 0b10001, 0b01010, 0b00100, 0b01010, 0b10001, 0b10001], // X
    [0b10001, 0b10001, 0b10001, 0b01010, 0b00100, 0b00100, 0b00100], // Y
    [0b11111, 0b00001, 0b00010, 0b00100, 0b01000, 0b10000, 0b11111], // Z
    [0b01110, 0b01000, 0b01000, 0b01000, 0b01000, 0b01000, 0b01110], // [
    [0b00000, 0b10000, 0b01000, 0b00100, 0b00010, 0b00001, 0b00000], // \
    [0b01110, 0b00010, 0b00010, 0b00010, 0b00010, 0b00010, 0b01110], // ]
    [0b00100, 0b01010, 0b10001, 0b00000, 0b00000, 0b00000, 0b00000], // ^
    [0b00000, 0b00000, 0b00000, 0b00000, 0b00000, 0b00000, 0b11111], // _
    [0b01000, 0b00100, 0b00010, 0b00000, 0b00000, 0b00000, 0b00000], // `
    [0b00000, 0b00000, 0b01110, 0b00001, 0b01111, 0b10001, 0b01111], // a
    [0b10000, 0b10000, 0b10110, 0b11001, 0b10001, 0b10001, 0b11110], // b
    [0b00000, 0b00000, 0b01110, 0b10000, 0b10000, 0b10001, 0b01110], // c
    [0b00001, 0b00001, 0b01101, 0b10011, 0b10001, 0b10001, 0b01111], // d
    [0b00000, 0b00000, 0b01110, 0b10001, 0b11111, 0b10000, 0b01110], // e
    [0b00110, 0b01001, 0b01000, 0b11100, 0b01000, 0b01000, 0b01000], // f
    [0b01111, 0b10001, 0b10001, 0b10001, 0b01111, 0b00001, 0b01110], // g (drawn lower)
    [0b10000, 0b10000, 0b10110, 0b11001, 0b10001, 0b10001, 0b10001], // h
    [0b00100, 0b00000, 0b01100, 0b00100, 0b00100, 0b00100, 0b01110], // i
    [0b00010, 0b00000, 0b00110, 0b00010, 0b00010, 0b10010, 0b01100], // j
    [0b10000, 0b10000, 0b10010, 0b10100, 0b11000, 0b10100, 0b10010], // k
    [0b01100, 0b00100, 0b00100, 0b00100, 0b00100, 0b00100, 0b01110], // l
    [0b00000, 0b00000, 0b11010, 0b10101, 0b10101, 0b10001, 0b10001], // m
    [0b00000, 0b00000, 0b10110, 0b11001, 0b10001, 0b10001, 0b10001], // n
    [0b00000, 0b00000, 0b01110, 0b10001, 0b10001, 0b10001, 0b01110], // o
    [0b11110, 0b10001, 0b10001, 0b10001, 0b11110, 0b10000, 0b10000], // p (drawn lower)
    [0b01111, 0b10001, 0b10001, 0b10001, 0b01111, 0b00001, 0b00001], // q (drawn lower)
    [0b00000, 0b00000, 0b10110, 0b11001, 0b10000, 0b10000, 0b10000], // r
    [0b00000, 0b00000, 0b01110, 0b10000, 0b01110, 0b00001, 0b11110], // s
    [0b01000, 0b01000, 0b11100, 0b01000, 0b01000, 0b01001, 0b00110], // t
    [0b00000, 0b00000, 0b10001, 0b10001, 0b10001, 0b10011, 0b01101], // u
    [0b00000, 0b00000, 0b10001, 0b10001, 0b10001, 0b01010, 0b00100], // v
    [0b00000, 0b00000, 0b10001, 0b10001, 0b10101, 0b10101, 0b01010], // w
    [0b00000, 0b00000, 0b10001, 0b01010, 0b00100, 0b01010, 0b10001], // x
    [0b10001, 0b10001, 0b10001, 0b10001, 0b01111, 0b00001, 0b01110], // y (drawn lower)
    [0b00000, 0b00000, 0b11111, 0b00010, 0b00100, 0b01000, 0b11111], // z
    [0b00010, 0b00100, 0b00100, 0b01000, 0b00100, 0b00100, 0b00010], // {
    [0b00100, 0b00100, 0b00100, 0b00100, 0b00100, 0b00100, 0b00100], // |
    [0b01000, 0b00100, 0b00100, 0b00010, 0b00100, 0b00100, 0b01000], // }
    [0b00000, 0b00000, 0b01000, 0b10101, 0b00010, 0b00000, 0b00000], // ~
];

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` values from `lo` to `hi`, evenly spaced in log10.
    fn logspace(lo: f64, hi: f64, n: usize) -> Vec<f64> {
        let (a, b) = (lo.log10(), hi.log10());
        (0..n)
            .map(|i| 10f64.powf(a + (b - a) * i as f64 / (n - 1).max(1) as f64))
            .collect()
    }

    fn axis(label: &str, values: Vec<f64>, log: bool) -> MapAxis {
        MapAxis {
            label: label.into(),
            values,
            log,
        }
    }

    /// An nx×ny map over log rates 0.01..100 with cells from `f(ix, iy)`.
    fn map_of(nx: usize, ny: usize, f: impl Fn(usize, usize) -> Option<f32>) -> HeatMap {
        let mut cells = Vec::with_capacity(nx * ny);
        for ix in 0..nx {
            for iy in 0..ny {
                cells.push(f(ix, iy));
            }
        }
        HeatMap {
            title: "Trainability fractal".into(),
            x: axis("train.learning_rates[0]", logspace(0.01, 100.0, nx), true),
            y: axis("train.learning_rates[1]", logspace(0.01, 100.0, ny), true),
            cells,
            legend: "convergence score".into(),
            range: (-1.0, 1.0),
        }
    }

    /// The fractal-like sample: the sign pattern of sin(x·y), with a few cells missing.
    fn fractal(n: usize) -> HeatMap {
        let v = logspace(0.01, 100.0, n);
        let (vx, vy) = (v.clone(), v);
        map_of(n, n, move |ix, iy| {
            let s = (vx[ix] * vy[iy]).sin() as f32;
            if ix % 37 == 5 && iy % 41 == 7 {
                None
            } else {
                Some(s.signum() * s.abs().sqrt())
            }
        })
    }

    fn decode(png: &[u8]) -> image::RgbImage {
        image::load_from_memory(png).expect("a valid PNG").to_rgb8()
    }

    fn pixel(img: &image::RgbImage, (x, y): (i64, i64)) -> [u8; 3] {
        img.get_pixel(x as u32, y as u32).0
    }

    #[test]
    fn cells_have_their_colour_where_the_layout_says() {
        let map = map_of(64, 48, |ix, iy| {
            Some((ix as f32 / 63.0) * 2.0 - 1.0 + iy as f32 * 0.001)
        });
        let layout = Layout::of(&map);
        let img = decode(&render_png(&map));
        assert_eq!(
            (img.width() as usize, img.height() as usize),
            (layout.width, layout.height)
        );
        assert_eq!(layout.scale, 10);
        let (right, bottom) = (layout.plot_x0 + 640, layout.plot_y0 + 480);
        assert!(layout.plot_x0 > MARGIN && layout.plot_y0 > MARGIN + TEXT_H);
        assert!(right + BAR_WIDTH < layout.width as i64 && bottom + TEXT_H < layout.height as i64);
        assert!(layout.width <= 1200 && layout.height <= 1200);
        for (ix, iy) in [(0, 0), (63, 47), (10, 20), (40, 5), (0, 47), (63, 0)] {
            let want = map_colour(map.cells[ix * 48 + iy].unwrap(), map.range);
            assert_eq!(
                pixel(&img, layout.cell_centre(ix, iy)),
                want,
                "cell ({ix}, {iy})"
            );
        }
        // The frame sits just outside the cells.
        assert_eq!(
            pixel(&img, (layout.plot_x0 - 1, layout.plot_y0 + 100)),
            FRAME
        );
    }

    #[test]
    fn halves_show_dark_red_and_dark_blue_and_missing_cells_grey() {
        let map = map_of(10, 6, |ix, iy| match (ix, iy) {
            (2, 3) | (7, 1) => None,
            (ix, _) if ix < 5 => Some(-1.0),
            _ => Some(1.0),
        });
        let layout = Layout::of(&map);
        let img = decode(&render_png(&map));
        let red = pixel(&img, layout.cell_centre(1, 1));
        let blue = pixel(&img, layout.cell_centre(8, 4));
        assert_eq!(red, map_colour(-1.0, map.range));
        assert_eq!(blue, map_colour(1.0, map.range));
        let (red, blue) = (red.map(u32::from), blue.map(u32::from));
        assert!(
            red[0] > 80 && red[0] > 4 * red[1] && red[0] > 4 * red[2],
            "{red:?}"
        );
        assert!(blue[2] > 80 && blue[2] > 2 * blue[0], "{blue:?}");
        for cell in [(2, 3), (7, 1)] {
            assert_eq!(pixel(&img, layout.cell_centre(cell.0, cell.1)), MISSING);
        }
        assert_eq!(map_colour(f32::NAN, map.range), MISSING);
    }

    #[test]
    fn colour_is_monotone_in_lightness_on_each_side() {
        let light = |v: f32| {
            map_colour(v, (-1.0, 1.0))
                .iter()
                .map(|&c| c as u32)
                .sum::<u32>()
        };
        let steps: Vec<f32> = (0..=20).map(|i| i as f32 / 20.0).collect();
        for w in steps.windows(2) {
            assert!(
                light(-1.0 + w[0]) < light(-1.0 + w[1]),
                "warm side at {}",
                w[0]
            );
            assert!(light(w[0]) > light(w[1]), "cool side at {}", w[0]);
        }
        let (red, blue) = (map_colour(-1.0, (-1.0, 1.0)), map_colour(1.0, (-1.0, 1.0)));
        assert!(red[0] > red[2] && blue[2] > blue[0]);
        // Out-of-range values clamp; zero stays neutral in an asymmetric range.
        assert_eq!(map_colour(-5.0, (-1.0, 1.0)), red);
        assert_eq!(map_colour(0.0, (-1.0, 3.0)), map_colour(0.0, (-1.0, 1.0)));
        assert_eq!(map_colour(3.0, (-1.0, 3.0)), blue);
        // A range without zero inside is one ramp.
        assert!(map_colour(0.2, (0.0, 1.0))[2] > map_colour(0.2, (0.0, 1.0))[0]);
        assert_eq!(map_colour(-1.0, (-1.0, -0.2)), red);
        assert_eq!(map_colour(-0.2, (-1.0, -0.2)), map_colour(0.0, (-1.0, 1.0)));
    }

    #[test]
    fn renders_are_deterministic_and_follow_the_cells() {
        let map = fractal(32);
        let a = render_png(&map);
        assert_eq!(a, render_png(&map));
        let mut other = map.clone();
        other.cells[100] = Some(-other.cells[100].unwrap_or(0.5));
        assert_ne!(a, render_png(&other));
    }

    #[test]
    fn text_is_drawn_in_a_complete_font() {
        let map = fractal(16);
        let layout = Layout::of(&map);
        let img = decode(&render_png(&map));
        let dark = |x: u32, y: u32| img.get_pixel(x, y).0.iter().all(|&c| c < 100);
        let title = &layout.title;
        let inked = (title.y..title.y + TEXT_H)
            .flat_map(|y| (0..layout.width as i64).map(move |x| (x, y)))
            .filter(|&(x, y)| dark(x as u32, y as u32))
            .count();
        assert!(inked > 50, "{inked} dark pixels in the title");
        // Nothing but text above the plot's top edge, and nothing drawn before the title's left.
        assert!(!(0..MARGIN).any(|y| (0..layout.width as u32).any(|x| dark(x, y as u32))));

        let chars: Vec<char> = ('A'..='Z').chain('a'..='z').chain('0'..='9').collect();
        for (i, &a) in chars.iter().enumerate() {
            assert!(glyph(a).iter().any(|&row| row != 0), "{a} is blank");
            assert!(glyph(a).iter().all(|&row| row < 32), "{a} is wider than 5");
            for &b in &chars[i + 1..] {
                assert_ne!(glyph(a), glyph(b), "{a} and {b} look the same");
            }
        }
        assert_eq!(glyph('é'), BOX);
        assert_eq!(glyph(' '), [0; 7]);
    }

    #[test]
    fn ticks_fall_on_decades_or_nice_steps() {
        let values = |ticks: Vec<Tick>| ticks.into_iter().map(|t| t.value).collect::<Vec<_>>();
        let lr = axis("lr", logspace(0.01, 100.0, 256), true);
        assert_eq!(values(ticks(&lr)), [0.01, 0.1, 1.0, 10.0, 100.0]);
        let narrow = axis("lr", logspace(0.1, 5.0, 64), true);
        assert_eq!(values(ticks(&narrow)), [0.1, 0.2, 0.5, 1.0, 2.0, 5.0]);
        let linear = axis(
            "width",
            (0..50).map(|i| 0.03 + i as f64 * 0.02).collect(),
            false,
        );
        assert_eq!(values(ticks(&linear)), [0.2, 0.4, 0.6, 0.8, 1.0]);
        assert_eq!(values(ticks(&axis("one", vec![3.0], true))), [3.0]);
        // Positions interpolate between cell centres, in log10 for log axes.
        assert_eq!(cell_position(&lr, 0.01), Some(0.0));
        assert!((cell_position(&lr, 1.0).unwrap() - 127.5).abs() < 1e-6);
        assert_eq!(
            [
                1e-5,
                0.01,
                0.1,
                1.0,
                100.0,
                1e4,
                2e5,
                -0.5,
                0.30000000000000004
            ]
            .map(tick_label),
            [
                "1e-5", "0.01", "0.1", "1", "100", "10000", "2e5", "-0.5", "0.3"
            ]
        );
    }

    #[test]
    fn large_and_degenerate_grids_render() {
        for (n, scale) in [(64, 10), (256, 2), (512, 1), (1024, 1)] {
            let map = map_of(n, n, |ix, iy| {
                Some(if (ix + iy) % 3 == 0 { 1.0 } else { -0.5 })
            });
            let layout = Layout::of(&map);
            let img = decode(&render_png(&map));
            assert_eq!(layout.scale, scale);
            assert_eq!(
                (img.width() as usize, img.height() as usize),
                (layout.width, layout.height)
            );
            assert!(
                img.width() <= 1250 && img.height() <= 1250,
                "{n}: {}×{}",
                img.width(),
                img.height()
            );
            let (x, y) = layout.cell_centre(n - 1, n - 1);
            assert_eq!(
                pixel(&img, (x, y)),
                map_colour(map.cells[n * n - 1].unwrap(), map.range)
            );
        }
        for (nx, ny) in [(1, 5), (5, 1), (1, 1), (0, 3)] {
            let map = map_of(nx, ny, |ix, _| Some(ix as f32 - 2.0));
            let img = decode(&render_png(&map));
            let layout = Layout::of(&map);
            assert_eq!(
                (img.width() as usize, img.height() as usize),
                (layout.width, layout.height)
            );
        }
        let mut odd = fractal(8);
        odd.range = (f32::NAN, 1.0);
        odd.cells.truncate(3);
        odd.x.values[2] = f64::NAN;
        odd.y.values[0] = -1.0;
        decode(&render_png(&odd));
    }
}
