//! Which rows a view shows, in which order: filters (numeric ranges, which
//! are also the parallel-coordinates brushes, and text) and a sort.

use super::{ColumnKind, Table};

/// A condition on one column.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// Values in `[lo, hi]` (category indices for a category column).
    Range {
        /// The column.
        column: usize,
        /// The lowest value kept.
        lo: f32,
        /// The highest value kept.
        hi: f32,
    },
    /// Cells whose text holds `text`, ignoring case.
    Text {
        /// The column.
        column: usize,
        /// What the cell must contain.
        text: String,
    },
}

impl Filter {
    /// The column it tests.
    pub fn column(&self) -> usize {
        match self {
            Filter::Range { column, .. } | Filter::Text { column, .. } => *column,
        }
    }
}

/// The order of rows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sort {
    /// By this column's values; rows without a value go last.
    pub column: usize,
    /// Largest first.
    pub descending: bool,
}

/// Filters (all must hold) and an order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Query {
    /// The filters.
    pub filters: Vec<Filter>,
    /// The order (row order when `None`).
    pub sort: Option<Sort>,
}

impl Query {
    /// Keeps `column`'s values in `[lo, hi]`, in place of the range it had.
    pub fn set_range(&mut self, column: usize, lo: f32, hi: f32) {
        self.filters
            .retain(|f| !matches!(f, Filter::Range { column: c, .. } if *c == column));
        self.filters.push(Filter::Range {
            column,
            lo: lo.min(hi),
            hi: lo.max(hi),
        });
    }

    /// Keeps cells of `column` that contain `text`; empty text drops the filter.
    pub fn set_text(&mut self, column: usize, text: &str) {
        self.filters
            .retain(|f| !matches!(f, Filter::Text { column: c, .. } if *c == column));
        if !text.is_empty() {
            self.filters.push(Filter::Text {
                column,
                text: text.to_string(),
            });
        }
    }

    /// `column`'s range filter, if it has one.
    pub fn range(&self, column: usize) -> Option<(f32, f32)> {
        self.filters.iter().find_map(|f| match f {
            Filter::Range { column: c, lo, hi } if *c == column => Some((*lo, *hi)),
            _ => None,
        })
    }

    /// Drops every filter on `column`.
    pub fn clear(&mut self, column: usize) {
        self.filters.retain(|f| f.column() != column);
    }

    /// The rows of `table` that pass every filter, in order, into `out`
    /// (cleared first; its allocation is reused).
    pub fn run(&self, table: &Table, out: &mut Vec<u32>) {
        out.clear();
        // Text filters on categories test each level once, not each row.
        let tests: Vec<Test> = self
            .filters
            .iter()
            .filter_map(|f| Test::new(table, f))
            .collect();
        out.extend(
            (0..table.len() as u32).filter(|&r| tests.iter().all(|t| t.keeps(table, r as usize))),
        );
        if let Some(sort) = self.sort
            && let Some(col) = table.columns.get(sort.column)
        {
            let v = &col.values;
            out.sort_by(|&a, &b| {
                let (x, y) = (v[a as usize], v[b as usize]);
                match (x.is_nan(), y.is_nan()) {
                    (true, true) => a.cmp(&b),
                    (true, false) => std::cmp::Ordering::Greater,
                    (false, true) => std::cmp::Ordering::Less,
                    _ if sort.descending => y.total_cmp(&x).then(a.cmp(&b)),
                    _ => x.total_cmp(&y).then(a.cmp(&b)),
                }
            });
        }
    }
}

/// A filter ready to test rows.
enum Test {
    Range { column: usize, lo: f32, hi: f32 },
    Levels { column: usize, keep: Vec<bool> },
    Text { column: usize, text: String },
}

impl Test {
    fn new(table: &Table, filter: &Filter) -> Option<Test> {
        let col = table.columns.get(filter.column())?;
        Some(match filter {
            Filter::Range { column, lo, hi } => Test::Range {
                column: *column,
                lo: *lo,
                hi: *hi,
            },
            Filter::Text { column, text } => {
                let text = text.to_lowercase();
                match &col.kind {
                    ColumnKind::Category(levels) => Test::Levels {
                        column: *column,
                        keep: levels
                            .iter()
                            .map(|l| l.to_lowercase().contains(&text))
                            .collect(),
                    },
                    ColumnKind::Number { .. } => Test::Text {
                        column: *column,
                        text,
                    },
                }
            }
        })
    }

    fn keeps(&self, table: &Table, row: usize) -> bool {
        match self {
            Test::Range { column, lo, hi } => {
                let v = table.columns[*column].values[row];
                v >= *lo && v <= *hi
            }
            Test::Levels { column, keep } => {
                let v = table.columns[*column].values[row];
                !v.is_nan() && keep.get(v as usize).copied().unwrap_or(false)
            }
            Test::Text { column, text } => table.columns[*column].text(row).contains(text.as_str()),
        }
    }
}
