//! Measurements: one type for what an evaluation finds, what a frame carries,
//! what `metrics.csv` and the exports hold, and what a replay sends back.
//!
//! Every measured quantity is declared once, in the `measures!` list below: it
//! becomes a field of [`Metrics`], a column of `metrics.csv` (named as the
//! field), a key of the JSON exports and a value of the frame recording.

use serde::{Deserialize, Serialize};

/// Whether the run was healthy when it was measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// Training normally.
    #[default]
    Ok,
    /// The loss became NaN or infinite; training stopped.
    Diverged,
}

impl RunStatus {
    /// The word `metrics.csv` uses.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Ok => "ok",
            RunStatus::Diverged => "diverged",
        }
    }

    /// Reads the word `metrics.csv` uses.
    pub fn parse(word: &str) -> Option<Self> {
        match word {
            "ok" => Some(RunStatus::Ok),
            "diverged" => Some(RunStatus::Diverged),
            _ => None,
        }
    }
}

/// One measured quantity: its name (the CSV column and JSON key) and how to
/// read and write it in a [`Metrics`].
#[derive(Clone, Copy)]
pub struct Measure {
    /// The name, such as `test_loss`.
    pub name: &'static str,
    /// Reads it.
    pub get: fn(&Metrics) -> Option<f32>,
    /// Writes it.
    pub set: fn(&mut Metrics, Option<f32>),
}

impl std::fmt::Debug for Measure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

/// Declares the measures: each becomes an `Option<f32>` field of [`Metrics`]
/// and an entry of [`Metrics::MEASURES`], in this order. New measures go at
/// the end (recordings store them by position).
macro_rules! measures {
    ($($(#[doc = $doc:literal])+ $field:ident,)+) => {
        /// One measurement of a run at a step. Missing values (the accuracy of
        /// a regression, a loss not yet evaluated) are `None`.
        #[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
        pub struct Metrics {
            /// Updates applied before the measurement.
            pub step: u64,
            /// Healthy or diverged.
            pub status: RunStatus,
            $($(#[doc = $doc])+ pub $field: Option<f32>,)+
        }

        impl Metrics {
            /// Every measure, in column order.
            pub const MEASURES: &'static [Measure] = &[$(Measure {
                name: stringify!($field),
                get: |m| m.$field,
                set: |m, v| m.$field = v,
            }),+];
        }
    };
}

measures! {
    /// Data loss on the whole training set.
    train_loss,
    /// Data loss on the test set.
    test_loss,
    /// Accuracy on the training set (classification).
    train_accuracy,
    /// Accuracy on the test set (classification).
    test_accuracy,
    /// Loss on test points outside the training region (regression).
    generalization_error,
    /// Loss of the latest mini-batch, penalties included.
    batch_loss,
    /// Learning rate in use.
    learning_rate,
    /// Mini-batch size in use.
    batch_size,
    /// L2 norm of the latest mini-batch gradient (penalties included).
    grad_norm,
    /// The top eigenvalue of the training loss's Hessian, λ_max.
    sharpness,
    /// The optimiser's stability threshold: 2/η for gradient descent, (2 + 2β)/η with momentum.
    sharpness_threshold,
    /// λ_max over the threshold: 1 is the edge of stability.
    sharpness_ratio,
    /// Lanczos iterations (Hessian-vector products) the sharpness took.
    sharpness_iterations,
    /// The sharpness's residual estimate ‖Hv − λv‖ / |λ|.
    sharpness_residual,
    /// |Δθ·v_max|: the length of the update projected onto the top eigenvector.
    update_projection,
    /// The largest error |u − u*| against the exact solution of a PDE (PINN data).
    solution_error,
    /// A signed summary of the run so far (see [`convergence_score`]):
    /// positive when it converges, negative when it diverged.
    convergence_score,
}

/// A signed summary of a run's convergence, in [−1, 1]. A run that diverged
/// at step `t` of `steps` scores `−(1 − t/(steps + 1))`: the sooner, the
/// closer to −1. Otherwise it scores `1 − mean(min(1, L_k / L_0))` over its
/// training losses `L_k` after the first: near 1 when the loss falls fast and
/// far, 0 when it does not fall. `losses` are the training losses at the
/// evaluation steps, the first at step 0.
pub fn convergence_score(losses: &[f32], diverged_at: Option<u64>, steps: u64) -> f32 {
    if let Some(t) = diverged_at {
        return -(1.0 - t as f64 / (steps as f64 + 1.0)) as f32;
    }
    let Some((&first, rest)) = losses.split_first() else {
        return 0.0;
    };
    if rest.is_empty() || !(first.is_finite() && first > 0.0) {
        return 0.0;
    }
    let mean = rest
        .iter()
        .map(|l| f64::from(l / first).min(1.0))
        .sum::<f64>()
        / rest.len() as f64;
    (1.0 - mean) as f32
}

impl Metrics {
    /// A measurement at `step`, with nothing measured yet.
    pub fn at(step: u64) -> Self {
        Metrics {
            step,
            ..Default::default()
        }
    }

    /// The row marking divergence at `step`, with the loss that blew up.
    pub fn diverged(step: u64, batch_loss: f32, learning_rate: f32) -> Self {
        Metrics {
            step,
            status: RunStatus::Diverged,
            batch_loss: Some(batch_loss),
            learning_rate: Some(learning_rate),
            ..Default::default()
        }
    }

    /// The measure called `name`.
    pub fn measure(name: &str) -> Option<Measure> {
        Self::MEASURES.iter().copied().find(|m| m.name == name)
    }

    /// The names of `metrics.csv`'s columns, in order.
    pub fn columns() -> impl Iterator<Item = &'static str> {
        std::iter::once("step")
            .chain(Self::MEASURES.iter().map(|m| m.name))
            .chain(std::iter::once("status"))
    }

    /// True when training diverged: the full training set's loss is NaN or
    /// infinite. A test loss that overflows while the training loss is finite
    /// (an extrapolation blowing up) is a measurement, not a divergence: the
    /// batched sweep kernel and the microscope agree on this.
    pub fn is_diverged(&self) -> bool {
        self.status == RunStatus::Diverged || self.train_loss.is_some_and(|v| !v.is_finite())
    }

    /// Copies every measure that `other` has into `self` (the step and status stay).
    pub fn fill_from(&mut self, other: &Metrics) {
        for m in Self::MEASURES {
            if let Some(v) = (m.get)(other) {
                (m.set)(self, Some(v));
            }
        }
    }

    /// The training loss, when it is not finite (the run diverged).
    pub fn blown_up_loss(&self) -> Option<f32> {
        self.train_loss.filter(|v| !v.is_finite())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_measure_reads_and_writes_its_own_field() {
        let mut m = Metrics::at(3);
        for (i, measure) in Metrics::MEASURES.iter().enumerate() {
            (measure.set)(&mut m, Some(i as f32 + 0.5));
        }
        for (i, measure) in Metrics::MEASURES.iter().enumerate() {
            assert_eq!((measure.get)(&m), Some(i as f32 + 0.5), "{}", measure.name);
        }
        assert_eq!(m.test_loss, Some(1.5));
        assert_eq!(m.grad_norm, Some(8.5));
        let names: Vec<&str> = Metrics::columns().collect();
        assert_eq!(names.first(), Some(&"step"));
        assert_eq!(names.last(), Some(&"status"));
        assert_eq!(names.len(), Metrics::MEASURES.len() + 2);
    }

    #[test]
    fn the_convergence_score_is_signed_and_says_how_fast() {
        let fast = convergence_score(&[1.0, 0.1, 0.01, 0.001], None, 30);
        let slow = convergence_score(&[1.0, 0.9, 0.8, 0.7], None, 30);
        let stuck = convergence_score(&[1.0, 1.5, 2.0], None, 20);
        assert!(fast > slow && slow > 0.0, "{fast} {slow}");
        assert_eq!(stuck, 0.0);
        let early = convergence_score(&[1.0, 10.0], Some(3), 100);
        let late = convergence_score(&[1.0, 10.0], Some(90), 100);
        assert!(early < late && late < 0.0, "{early} {late}");
        assert!((-1.0..=1.0).contains(&early));
    }

    #[test]
    fn a_non_finite_training_loss_is_divergence_a_non_finite_test_loss_is_not() {
        let mut m = Metrics::at(0);
        assert!(!m.is_diverged());
        m.train_loss = Some(1.0);
        m.test_loss = Some(f32::INFINITY);
        assert!(!m.is_diverged());
        assert_eq!(m.blown_up_loss(), None);
        m.train_loss = Some(f32::NAN);
        assert!(m.is_diverged());
        assert!(m.blown_up_loss().is_some_and(f32::is_nan));
    }
}
