//! A sweep's landscape: its models on the grid of its two wide axes, for a
//! heat map or a height field of any column.

use super::{Source, Table};

/// One axis of the grid.
#[derive(Debug, Clone, PartialEq)]
pub struct GridAxis {
    /// The swept field.
    pub name: String,
    /// Its values, in sweep order.
    pub values: Vec<f32>,
    /// Whether it was swept on a log scale.
    pub log: bool,
}

impl GridAxis {
    /// The index of the value nearest `v` (on the axis's scale), if `v` is a number.
    pub fn nearest(&self, v: f32) -> Option<usize> {
        if !v.is_finite() {
            return None;
        }
        let scale = |x: f32| {
            if self.log {
                x.max(f32::MIN_POSITIVE).ln()
            } else {
                x
            }
        };
        let target = scale(v);
        self.values
            .iter()
            .enumerate()
            .min_by(|(_, a), (_, b)| {
                (scale(**a) - target)
                    .abs()
                    .total_cmp(&(scale(**b) - target).abs())
            })
            .map(|(i, _)| i)
    }

    /// The position of `v` along the axis in [0, 1] (first value 0, last 1).
    pub fn fraction(&self, v: f32) -> f32 {
        let (Some(&lo), Some(&hi)) = (self.values.first(), self.values.last()) else {
            return 0.0;
        };
        let scale = |x: f32| {
            if self.log {
                x.max(f32::MIN_POSITIVE).ln()
            } else {
                x
            }
        };
        let span = scale(hi) - scale(lo);
        if span == 0.0 {
            0.5
        } else {
            (scale(v) - scale(lo)) / span
        }
    }

    /// The value at fraction `t` of the axis (the inverse of [`GridAxis::fraction`]).
    pub fn at_fraction(&self, t: f32) -> f32 {
        let (Some(&lo), Some(&hi)) = (self.values.first(), self.values.last()) else {
            return 0.0;
        };
        if self.log {
            (lo.ln() + t * (hi.ln() - lo.ln())).exp()
        } else {
            lo + t * (hi - lo)
        }
    }
}

/// The models of one sweep on its two-axis grid.
#[derive(Debug, Clone, PartialEq)]
pub struct Landscape {
    /// The sweep's index in [`Table::sources`].
    pub source: usize,
    /// The horizontal axis (the sweep's first wide axis).
    pub x: GridAxis,
    /// The vertical axis.
    pub y: GridAxis,
    /// The table row in each cell, row-major from the first y value:
    /// cell `(i, j)` at `j * x.values.len() + i`.
    pub cells: Vec<Option<u32>>,
}

impl Landscape {
    /// The landscape of source `source`, when it is a grid sweep over two
    /// numeric axes.
    pub fn of(table: &Table, source: usize) -> Option<Landscape> {
        let Source::Sweep { sweep, .. } = table.sources.get(source)? else {
            return None;
        };
        let (ax, ay) = sweep.map_axes()?;
        let axis = |a: usize| -> Option<GridAxis> {
            let values = sweep
                .axis_values(a)
                .iter()
                .map(|v| v.as_f64().map(|f| f as f32))
                .collect::<Option<Vec<f32>>>()?;
            Some(GridAxis {
                name: sweep.spec.axes.get(a)?.field.clone(),
                values,
                log: sweep.axis_is_log(a),
            })
        };
        let (x, y) = (axis(ax)?, axis(ay)?);
        let (cx, cy) = (table.column(&x.name)?, table.column(&y.name)?);
        let mut cells = vec![None; x.values.len() * y.values.len()];
        for (r, id) in table.ids.iter().enumerate() {
            if id.source != source {
                continue;
            }
            let i = x.nearest(table.columns[cx].values[r]);
            let j = y.nearest(table.columns[cy].values[r]);
            if let (Some(i), Some(j)) = (i, j) {
                cells[j * x.values.len() + i] = Some(r as u32);
            }
        }
        Some(Landscape {
            source,
            x,
            y,
            cells,
        })
    }

    /// Cells across and down.
    pub fn size(&self) -> (usize, usize) {
        (self.x.values.len(), self.y.values.len())
    }

    /// The row in cell `(i, j)`.
    pub fn row_at(&self, i: usize, j: usize) -> Option<u32> {
        let (nx, ny) = self.size();
        if i >= nx || j >= ny {
            return None;
        }
        self.cells[j * nx + i]
    }

    /// The cell of row `row`, if it is on this landscape.
    pub fn cell_of(&self, row: u32) -> Option<(usize, usize)> {
        let nx = self.x.values.len();
        let at = self.cells.iter().position(|c| *c == Some(row))?;
        Some((at % nx, at / nx))
    }

    /// Column `column`'s value in every cell (`NaN` for an empty cell).
    pub fn values(&self, table: &Table, column: usize) -> Vec<f32> {
        let Some(col) = table.columns.get(column) else {
            return vec![f32::NAN; self.cells.len()];
        };
        self.cells
            .iter()
            .map(|c| c.map_or(f32::NAN, |r| col.values[r as usize]))
            .collect()
    }
}
