//! Curves grouped by a field and aggregated over the others (a learning
//! rate's runs over their seeds, say): the mean with its min–max and ±σ bands.

use std::collections::BTreeMap;

use super::{CurveSet, Table};

/// One group's aggregated curve.
#[derive(Debug, Clone, PartialEq)]
pub struct Band {
    /// The group's value of the grouping column, as text (`all` without one).
    pub key: String,
    /// That value (the level index for categories), for ordering and colour.
    pub value: f32,
    /// Rows in the group.
    pub runs: usize,
    /// The steps any of its curves has.
    pub steps: Vec<u64>,
    /// The mean over the group's finite values at each step.
    pub mean: Vec<f32>,
    /// The smallest value at each step.
    pub min: Vec<f32>,
    /// The largest value at each step.
    pub max: Vec<f32>,
    /// The (population) standard deviation at each step.
    pub std: Vec<f32>,
    /// How many curves had a finite value at each step.
    pub count: Vec<u32>,
}

/// Sums of one step's values.
#[derive(Clone, Copy)]
struct Acc {
    n: u32,
    sum: f64,
    sum_sq: f64,
    min: f32,
    max: f32,
}

impl Acc {
    const EMPTY: Acc = Acc {
        n: 0,
        sum: 0.0,
        sum_sq: 0.0,
        min: f32::INFINITY,
        max: f32::NEG_INFINITY,
    };
}

/// The curves of `rows` grouped by column `by` (all together when `None`),
/// in ascending order of the group's value; non-finite points (a diverged
/// run's last) are left out of the aggregates.
pub fn group_curves(
    table: &Table,
    curves: &CurveSet,
    rows: &[u32],
    by: Option<usize>,
) -> Vec<Band> {
    let column = by.and_then(|c| table.columns.get(c));
    // Keyed by the value's bits; NaN (no value) is a group of its own.
    let mut groups: BTreeMap<u32, (f32, usize, BTreeMap<u64, Acc>)> = BTreeMap::new();
    for &r in rows {
        let value = column.map_or(0.0, |c| c.values[r as usize]);
        let key = if value.is_nan() {
            u32::MAX
        } else {
            value.to_bits()
        };
        let (_, runs, steps) = groups
            .entry(key)
            .or_insert_with(|| (value, 0, BTreeMap::new()));
        *runs += 1;
        let Some(curve) = curves.rows.get(r as usize) else {
            continue;
        };
        for (step, v) in curve.points() {
            if !v.is_finite() {
                continue;
            }
            let a = steps.entry(step).or_insert(Acc::EMPTY);
            a.n += 1;
            a.sum += f64::from(v);
            a.sum_sq += f64::from(v) * f64::from(v);
            a.min = a.min.min(v);
            a.max = a.max.max(v);
        }
    }
    let mut out: Vec<Band> = groups
        .into_values()
        .map(|(value, runs, steps)| {
            let key = match column {
                None => "all".to_string(),
                Some(_) if value.is_nan() => "(none)".to_string(),
                Some(c) => {
                    let row = rows
                        .iter()
                        .find(|&&r| c.values[r as usize].to_bits() == value.to_bits());
                    row.map(|&r| c.text(r as usize)).unwrap_or_default()
                }
            };
            let mut band = Band {
                key,
                value,
                runs,
                steps: Vec::with_capacity(steps.len()),
                mean: Vec::with_capacity(steps.len()),
                min: Vec::with_capacity(steps.len()),
                max: Vec::with_capacity(steps.len()),
                std: Vec::with_capacity(steps.len()),
                count: Vec::with_capacity(steps.len()),
            };
            for (step, a) in steps {
                let n = f64::from(a.n);
                let mean = a.sum / n;
                band.steps.push(step);
                band.mean.push(mean as f32);
                band.min.push(a.min);
                band.max.push(a.max);
                band.std
                    .push((a.sum_sq / n - mean * mean).max(0.0).sqrt() as f32);
                band.count.push(a.n);
            }
            band
        })
        .collect();
    out.sort_by(|a, b| match (a.value.is_nan(), b.value.is_nan()) {
        (false, false) => a.value.total_cmp(&b.value),
        (x, y) => x.cmp(&y),
    });
    out
}
