//! How a landscape's cells look, shared by the image and the height field:
//! a colour per cell on the column's scale, diverged cells in warm colours
//! by how soon they diverged, a height, and whether a cell is on the
//! boundary between converged and diverged.

use super::Browser;
use crate::lab::compare::{ColumnKind, Landscape};
use crate::lab::sweep::map_colour;

/// One trained cell's look.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct CellPaint {
    /// Its colour (sRGB).
    pub rgb: [u8; 3],
    /// Its height in the height field, 0 to 1.
    pub height: f32,
    /// Whether its model diverged.
    pub diverged: bool,
    /// Whether a neighbour's model diverged and its did not, or the reverse.
    pub edge: bool,
}

/// The look of every cell of `land` showing column `column` (`None` where
/// no model has been trained yet), row-major from the first y value.
pub(crate) fn landscape_paint(
    b: &Browser,
    land: &Landscape,
    column: usize,
) -> Vec<Option<CellPaint>> {
    let (nx, ny) = land.size();
    let table = &b.runs.table;
    let values = land.values(table, column);
    let status = table.column("status");
    let score = table.column("convergence_score");
    let diverged: Vec<bool> = land
        .cells
        .iter()
        .map(|c| match (c, status) {
            (Some(r), Some(s)) => table.columns[s].values[*r as usize] == 1.0,
            _ => false,
        })
        .collect();
    let Some(col) = table.columns.get(column) else {
        return vec![None; land.cells.len()];
    };
    let log = matches!(col.kind, ColumnKind::Number { log: true });
    let scale = |v: f32| {
        if log {
            v.max(f32::MIN_POSITIVE).ln()
        } else {
            v
        }
    };
    let (mut lo, mut hi) = (f32::INFINITY, f32::NEG_INFINITY);
    for (v, d) in values.iter().zip(&diverged) {
        if v.is_finite() && !d {
            lo = lo.min(scale(*v));
            hi = hi.max(scale(*v));
        }
    }
    let score_column = col.name == "convergence_score";
    let mut out = Vec::with_capacity(nx * ny);
    for j in 0..ny {
        for i in 0..nx {
            let k = j * nx + i;
            let Some(row) = land.cells[k] else {
                out.push(None);
                continue;
            };
            let (rgb, height) = if score_column {
                let v = values[k];
                (
                    map_colour(v, (-1.0, 1.0)),
                    ((v + 1.0) / 2.0).clamp(0.0, 1.0),
                )
            } else if diverged[k] {
                // By how soon: the convergence score is −1 for at once. An
                // infinite loss stands above every finite one.
                let soon = score.map_or(-0.5, |s| table.columns[s].values[row as usize]);
                (map_colour(soon, (-1.0, 0.0)), 1.0)
            } else {
                let t = if hi > lo {
                    (scale(values[k]) - lo) / (hi - lo)
                } else {
                    0.5
                };
                let t = if t.is_finite() {
                    t.clamp(0.0, 1.0)
                } else {
                    0.0
                };
                (map_colour(scale(values[k]), (lo, hi)), t)
            };
            let edge = [(1i64, 0i64), (-1, 0), (0, 1), (0, -1)]
                .iter()
                .any(|(di, dj)| {
                    let (a, z) = (i as i64 + di, j as i64 + dj);
                    a >= 0
                        && z >= 0
                        && (a as usize) < nx
                        && (z as usize) < ny
                        && land.cells[z as usize * nx + a as usize].is_some()
                        && diverged[z as usize * nx + a as usize] != diverged[k]
                });
            out.push(Some(CellPaint {
                rgb,
                height,
                diverged: diverged[k],
                edge,
            }));
        }
    }
    out
}
