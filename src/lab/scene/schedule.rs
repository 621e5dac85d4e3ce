//! Learning-rate schedules: how the step size moves over a run, as a factor
//! of `train.learning_rate`, with an optional linear warm-up in front.

use serde::{Deserialize, Serialize};

use crate::lab::error::{LabError, LabResult};

/// The shape of the learning rate over the steps (before any warm-up).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
pub enum LrSchedule {
    /// The same rate at every step.
    #[default]
    Constant,
    /// Multiplied by `gamma` every `every` steps (step decay).
    Step {
        /// Steps between decays.
        every: u64,
        /// The factor each decay multiplies by.
        gamma: f32,
    },
    /// Half a cosine from the full rate after the warm-up down to `floor`
    /// times it at the last step, and `floor` after.
    Cosine {
        /// The share of the rate left at the end, 0 to 1.
        floor: f32,
    },
}

impl LrSchedule {
    /// Short name for people.
    pub fn label(self) -> &'static str {
        match self {
            LrSchedule::Constant => "constant",
            LrSchedule::Step { .. } => "step decay",
            LrSchedule::Cosine { .. } => "cosine",
        }
    }

    /// True when the rate never moves (and there is no warm-up).
    pub fn is_constant(self, warmup_steps: u64) -> bool {
        self == LrSchedule::Constant && warmup_steps == 0
    }

    /// Checks the settings, naming the offending field.
    pub fn validate(self, warmup_steps: u64, steps: u64) -> LabResult<()> {
        match self {
            LrSchedule::Constant => {}
            LrSchedule::Step { every, gamma } => {
                if every == 0 {
                    return Err(LabError::setting(
                        "train.schedule.every",
                        "must be at least 1",
                    ));
                }
                if !(gamma.is_finite() && gamma > 0.0) {
                    return Err(LabError::setting(
                        "train.schedule.gamma",
                        format!("must be a positive number, got {gamma}"),
                    ));
                }
            }
            LrSchedule::Cosine { floor } => {
                if !(0.0..=1.0).contains(&floor) {
                    return Err(LabError::setting(
                        "train.schedule.floor",
                        format!("must be between 0 and 1, got {floor}"),
                    ));
                }
            }
        }
        if warmup_steps > steps {
            return Err(LabError::setting(
                "train.warmup_steps",
                format!("must be at most train.steps ({steps}), got {warmup_steps}"),
            ));
        }
        Ok(())
    }

    /// The factor of the base rate at `step` (0-based) of a `steps`-step run
    /// whose first `warmup_steps` ramp up linearly: `(step + 1) / warmup_steps`.
    pub fn factor(self, step: u64, steps: u64, warmup_steps: u64) -> f32 {
        let warm = if step < warmup_steps {
            (step + 1) as f64 / warmup_steps as f64
        } else {
            1.0
        };
        let shape = match self {
            LrSchedule::Constant => 1.0,
            LrSchedule::Step { every, gamma } => {
                // Past 2^31 decays the factor is 0 or inf either way.
                let decays = (step / every.max(1)).min(i32::MAX as u64) as i32;
                f64::from(gamma).powi(decays)
            }
            LrSchedule::Cosine { floor } => {
                let span = steps.saturating_sub(warmup_steps).max(1) as f64;
                let t = (step.saturating_sub(warmup_steps) as f64 / span).min(1.0);
                let floor = f64::from(floor);
                floor + (1.0 - floor) * 0.5 * (1.0 + (std::f64::consts::PI * t).cos())
            }
        };
        (warm * shape) as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_is_one_everywhere() {
        for step in [0, 1, 999, 10_000] {
            assert_eq!(LrSchedule::Constant.factor(step, 1000, 0), 1.0);
        }
    }

    #[test]
    fn warmup_ramps_linearly_to_the_full_rate() {
        let s = LrSchedule::Constant;
        assert_eq!(s.factor(0, 100, 10), 0.1);
        assert_eq!(s.factor(4, 100, 10), 0.5);
        assert_eq!(s.factor(9, 100, 10), 1.0);
        assert_eq!(s.factor(50, 100, 10), 1.0);
        assert!(!s.is_constant(10));
    }

    #[test]
    fn step_decay_multiplies_by_gamma_every_interval() {
        let s = LrSchedule::Step {
            every: 100,
            gamma: 0.5,
        };
        assert_eq!(s.factor(0, 1000, 0), 1.0);
        assert_eq!(s.factor(99, 1000, 0), 1.0);
        assert_eq!(s.factor(100, 1000, 0), 0.5);
        assert_eq!(s.factor(350, 1000, 0), 0.125);
        assert_eq!(s.factor(u64::MAX, 1000, 0), 0.0);
    }

    #[test]
    fn cosine_falls_from_one_to_the_floor_after_the_warmup() {
        let s = LrSchedule::Cosine { floor: 0.1 };
        assert_eq!(s.factor(10, 110, 10), 1.0);
        assert!((s.factor(60, 110, 10) - 0.55).abs() < 1e-6);
        assert!((s.factor(110, 110, 10) - 0.1).abs() < 1e-6);
        assert!((s.factor(5000, 110, 10) - 0.1).abs() < 1e-6);
        let mut last = f32::INFINITY;
        for step in 10..=110 {
            let f = s.factor(step, 110, 10);
            assert!(f <= last, "cosine rose at step {step}");
            last = f;
        }
    }

    #[test]
    fn bad_settings_name_their_field() {
        let err = |s: LrSchedule, warmup| s.validate(warmup, 100).unwrap_err().to_string();
        assert!(
            err(
                LrSchedule::Step {
                    every: 0,
                    gamma: 0.5
                },
                0
            )
            .contains("train.schedule.every")
        );
        assert!(
            err(
                LrSchedule::Step {
                    every: 1,
                    gamma: f32::NAN
                },
                0
            )
            .contains("train.schedule.gamma")
        );
        assert!(err(LrSchedule::Cosine { floor: 1.5 }, 0).contains("train.schedule.floor"));
        assert!(err(LrSchedule::Constant, 101).contains("train.warmup_steps"));
    }
}
