//! Distributions of a layer's weights, gradients and activations at a step,
//! kept as quantiles: enough to draw TensorBoard's histograms over time (a
//! step × value heatmap) on any common value axis.

use crate::lab::Frame;

/// Quantiles kept per distribution: the minimum, the maximum and 63 between.
pub(super) const QUANTILES: usize = 65;

/// Values a distribution is measured on at most: sorting MNIST's 100,000
/// first-layer weights for every frame would cost the app its frame rate.
pub(super) const MAX_SAMPLED: usize = 8192;

/// What a distribution is of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Quantity {
    /// The layer's weights.
    Weights,
    /// The mini-batch gradients of its weights.
    Gradients,
    /// Its neurons' activations, each averaged over the mini-batch.
    Activations,
}

impl Quantity {
    /// Every quantity, for menus.
    pub const ALL: [Quantity; 3] = [
        Quantity::Weights,
        Quantity::Gradients,
        Quantity::Activations,
    ];

    /// Its name for people.
    pub fn label(self) -> &'static str {
        match self {
            Quantity::Weights => "weights",
            Quantity::Gradients => "gradients",
            Quantity::Activations => "activations (batch means)",
        }
    }
}

/// One distribution as its quantiles, from the minimum to the maximum.
#[derive(Debug, Clone, PartialEq)]
pub struct Quantiles(pub Vec<f32>);

impl Quantiles {
    /// The quantiles of the finite values of `values` (an evenly strided
    /// sample of [`MAX_SAMPLED`] of them when there are more); `None` when
    /// there are none.
    pub fn of(values: &[f32]) -> Option<Quantiles> {
        let stride = values.len().div_ceil(MAX_SAMPLED).max(1);
        let mut v: Vec<f32> = values
            .iter()
            .step_by(stride)
            .copied()
            .filter(|x| x.is_finite())
            .collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f32::total_cmp);
        let last = (v.len() - 1) as f64;
        Some(Quantiles(
            (0..QUANTILES)
                .map(|k| {
                    // Linear interpolation between order statistics.
                    let at = last * k as f64 / (QUANTILES - 1) as f64;
                    let (i, t) = (at.floor() as usize, at.fract() as f32);
                    let next = v[(i + 1).min(v.len() - 1)];
                    v[i] + (next - v[i]) * t
                })
                .collect(),
        ))
    }

    /// The smallest and largest value.
    pub fn range(&self) -> (f32, f32) {
        (
            self.0.first().copied().unwrap_or(0.0),
            self.0.last().copied().unwrap_or(0.0),
        )
    }

    /// The share of the values in each of `bins` equal bins over `lo..hi`:
    /// each gap between neighbouring quantiles holds `1/(QUANTILES−1)` of
    /// them, spread evenly over the gap (a gap of zero width, a point mass,
    /// falls in one bin).
    pub fn density(&self, lo: f32, hi: f32, bins: usize) -> Vec<f32> {
        let mut out = vec![0.0f32; bins];
        if bins == 0 || hi.partial_cmp(&lo) != Some(std::cmp::Ordering::Greater) {
            return out;
        }
        let width = (hi - lo) / bins as f32;
        let bin = |x: f32| (((x - lo) / width).floor().max(0.0) as usize).min(bins - 1);
        let share = 1.0 / (self.0.len().max(2) - 1) as f32;
        for gap in self.0.windows(2) {
            let (a, b) = (gap[0], gap[1]);
            if b - a <= width * 1e-3 {
                out[bin(a)] += share;
                continue;
            }
            // The part of [a, b] inside each bin it touches.
            for (k, o) in out.iter_mut().enumerate().take(bin(b) + 1).skip(bin(a)) {
                let (l, r) = (lo + k as f32 * width, lo + (k + 1) as f32 * width);
                let overlap = (b.min(r) - a.max(l)).max(0.0);
                *o += share * overlap / (b - a);
            }
        }
        out
    }
}

/// One layer's distributions at a step.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerDistributions {
    /// The weights.
    pub weights: Option<Quantiles>,
    /// The weight gradients.
    pub gradients: Option<Quantiles>,
    /// The neurons' batch-mean activations.
    pub activations: Option<Quantiles>,
}

impl LayerDistributions {
    /// The distribution of `quantity`.
    pub fn get(&self, quantity: Quantity) -> Option<&Quantiles> {
        match quantity {
            Quantity::Weights => self.weights.as_ref(),
            Quantity::Gradients => self.gradients.as_ref(),
            Quantity::Activations => self.activations.as_ref(),
        }
    }
}

/// Every weight layer's distributions in `frame`.
pub fn distributions(frame: &Frame) -> Vec<LayerDistributions> {
    frame
        .layers
        .iter()
        .map(|l| LayerDistributions {
            weights: Quantiles::of(&l.weights),
            gradients: Quantiles::of(&l.weight_grads),
            activations: Quantiles::of(&l.mean_activations),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_run_from_the_minimum_to_the_maximum_through_the_median() {
        let values: Vec<f32> = (0..=1000).map(|i| i as f32).rev().collect();
        let q = Quantiles::of(&values).unwrap();
        assert_eq!(q.0.len(), QUANTILES);
        assert_eq!(q.range(), (0.0, 1000.0));
        assert_eq!(q.0[QUANTILES / 2], 500.0);
        assert!(q.0.windows(2).all(|w| w[0] <= w[1]));
        assert!(Quantiles::of(&[f32::NAN]).is_none());
    }

    #[test]
    fn density_puts_the_mass_where_the_values_are() {
        // Uniform on [0, 1): each of 4 bins over [0, 2) holds its share.
        let values: Vec<f32> = (0..10_000).map(|i| i as f32 / 10_000.0).collect();
        let d = Quantiles::of(&values).unwrap().density(0.0, 2.0, 4);
        assert!(
            (d[0] - 0.5).abs() < 0.01 && (d[1] - 0.5).abs() < 0.01,
            "{d:?}"
        );
        assert!(d[2] == 0.0 && d[3] == 0.0, "{d:?}");
        // A point mass lands in one bin; the shares sum to one.
        let d = Quantiles::of(&[0.3; 10]).unwrap().density(0.0, 1.0, 10);
        assert!((d[3] - 1.0).abs() < 1e-5, "{d:?}");
        assert!((d.iter().sum::<f32>() - 1.0).abs() < 1e-5);
    }
}
