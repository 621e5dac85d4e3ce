//! Dropout: the seeded masks that leave hidden units out of training steps.
//!
//! A mask depends on the seed, the step, the layer and the rate alone, so
//! every trainer draws the same one for the same step (a resumed run, a
//! re-run with its edits, the view showing which units a step left out)
//! without carrying any generator state.

use rand::RngExt;

use crate::lab::rng::{self, Stream};

/// The largest dropout rate: beyond it, the units kept would be scaled by
/// more than 100.
pub const MAX_DROPOUT: f32 = 0.99;

/// The dropout mask of hidden layer `layer` at step `step`, for `rows`
/// samples of `width` units (row-major): 0 where a unit is left out (with
/// probability `p`), `1/(1 − p)` where it is kept, so that a unit's expected
/// output is the same in training and in evaluation. Row `r` of a mask is
/// the same whatever `rows` is, for every `r` both have.
pub fn dropout_mask(
    seed: u64,
    step: u64,
    layer: usize,
    rows: usize,
    width: usize,
    p: f32,
) -> Vec<f32> {
    let kept = 1.0 / (1.0 - p);
    let mut r = rng::rng_at(seed, Stream::Dropout, step, layer as u64);
    (0..rows * width)
        .map(|_| if r.random::<f32>() < p { 0.0 } else { kept })
        .collect()
}

/// Which of the `width` units of hidden layer `layer` the first sample of
/// step `step`'s batch kept: what the view shows as the network in training.
pub fn kept_units(seed: u64, step: u64, layer: usize, width: usize, p: f32) -> Vec<bool> {
    dropout_mask(seed, step, layer, 1, width, p)
        .into_iter()
        .map(|m| m != 0.0)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_drop_about_p_and_keep_the_expected_value() {
        for p in [0.1f32, 0.5, 0.8] {
            let m = dropout_mask(3, 17, 1, 200, 100, p);
            let dropped = m.iter().filter(|v| **v == 0.0).count() as f32 / m.len() as f32;
            assert!((dropped - p).abs() < 0.02, "p {p}: dropped {dropped}");
            let mean = m.iter().map(|v| f64::from(*v)).sum::<f64>() / m.len() as f64;
            assert!((mean - 1.0).abs() < 0.05, "p {p}: mean {mean}");
            assert!(m.iter().all(|v| *v == 0.0 || *v == 1.0 / (1.0 - p)));
        }
    }

    #[test]
    fn masks_are_fixed_by_seed_step_and_layer() {
        let m = |seed, step, layer| dropout_mask(seed, step, layer, 8, 16, 0.5);
        assert_eq!(m(1, 2, 0), m(1, 2, 0));
        assert_ne!(m(1, 2, 0), m(2, 2, 0));
        assert_ne!(m(1, 2, 0), m(1, 3, 0));
        assert_ne!(m(1, 2, 0), m(1, 2, 1));
        // A longer batch starts with the same rows.
        assert_eq!(dropout_mask(1, 2, 0, 3, 16, 0.5)[..16], m(1, 2, 0)[..16]);
        let kept = kept_units(1, 2, 0, 16, 0.5);
        let first: Vec<bool> = m(1, 2, 0)[..16].iter().map(|v| *v != 0.0).collect();
        assert_eq!(kept, first);
    }

    #[test]
    fn a_rate_of_zero_keeps_everything_as_it_is() {
        assert!(dropout_mask(9, 0, 0, 4, 4, 0.0).iter().all(|v| *v == 1.0));
    }
}
