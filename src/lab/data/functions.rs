//! Target functions for regression (NeuroScope): sin, polynomials, RBF mixtures, Chebyshev, sin·cos.

use rand::RngExt;
use serde::{Deserialize, Serialize};

use super::{
    Dataset, Function1dSpec, Function2dSpec, InputLayout, Split, TargetFunction, Targets, Task,
};
use crate::lab::error::{LabError, LabResult};
use crate::lab::rng::{self, Stream};

/// A target function of one variable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Function1d {
    /// `amplitude · sin(frequency · x)`.
    Sin {
        /// Angular frequency.
        frequency: f32,
        /// Peak value.
        amplitude: f32,
    },
    /// `Σ coefficients[k] · x^k`.
    Polynomial {
        /// Coefficients, constant term first.
        coefficients: Vec<f32>,
    },
    /// `Σ weights[k] · exp(-(x - centres[k])² / (2 widths[k]²))`.
    Rbf {
        /// Centres of the bumps.
        centres: Vec<f32>,
        /// Widths (standard deviations) of the bumps.
        widths: Vec<f32>,
        /// Heights of the bumps.
        weights: Vec<f32>,
    },
    /// The Chebyshev polynomial of the first kind, `T_n(x)`.
    Chebyshev {
        /// Degree.
        n: u32,
    },
}

impl Function1d {
    /// The value at `x`.
    pub fn eval(&self, x: f32) -> f32 {
        match self {
            Function1d::Sin {
                frequency,
                amplitude,
            } => amplitude * (frequency * x).sin(),
            Function1d::Polynomial { coefficients } => {
                coefficients.iter().rev().fold(0.0, |acc, c| acc * x + c)
            }
            Function1d::Rbf {
                centres,
                widths,
                weights,
            } => centres
                .iter()
                .zip(widths)
                .zip(weights)
                .map(|((c, w), a)| a * (-(x - c).powi(2) / (2.0 * w * w)).exp())
                .sum(),
            Function1d::Chebyshev { n } => {
                // The recurrence holds inside and outside [-1, 1] alike.
                let (mut prev, mut cur) = (1.0f32, x);
                if *n == 0 {
                    return 1.0;
                }
                for _ in 1..*n {
                    let next = 2.0 * x * cur - prev;
                    prev = cur;
                    cur = next;
                }
                cur
            }
        }
    }
}

impl TargetFunction for Function1d {
    const MIN_TEST_SAMPLES: usize = 2;

    fn validate(&self) -> LabResult<()> {
        match self {
            Function1d::Polynomial { coefficients } if coefficients.is_empty() => {
                Err(LabError::setting(
                    "data.function.coefficients",
                    "needs at least one coefficient",
                ))
            }
            Function1d::Rbf {
                centres,
                widths,
                weights,
            } => {
                if centres.is_empty()
                    || centres.len() != widths.len()
                    || centres.len() != weights.len()
                {
                    Err(LabError::setting(
                        "data.function",
                        "centres, widths and weights must be non-empty and of equal length",
                    ))
                } else if widths.iter().any(|w| *w <= 0.0) {
                    Err(LabError::setting(
                        "data.function.widths",
                        "widths must be positive",
                    ))
                } else {
                    Ok(())
                }
            }
            _ => Ok(()),
        }
    }
}

/// A target function of two variables.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Function2d {
    /// `sin(fx · x) · cos(fy · y)`.
    SinCos {
        /// Frequency along x.
        fx: f32,
        /// Frequency along y.
        fy: f32,
    },
    /// A single Gaussian bump at the origin, `exp(-(x² + y²) / (2 width²))`.
    Bump {
        /// Width of the bump.
        width: f32,
    },
}

impl Function2d {
    /// The value at `(x, y)`.
    pub fn eval(&self, x: f32, y: f32) -> f32 {
        match self {
            Function2d::SinCos { fx, fy } => (fx * x).sin() * (fy * y).cos(),
            Function2d::Bump { width } => (-(x * x + y * y) / (2.0 * width * width)).exp(),
        }
    }
}

impl TargetFunction for Function2d {
    const MIN_TEST_SAMPLES: usize = 4;

    fn validate(&self) -> LabResult<()> {
        match self {
            Function2d::Bump { width } if !(width.is_finite() && *width > 0.0) => Err(
                LabError::setting("data.function.width", "must be a positive number"),
            ),
            _ => Ok(()),
        }
    }
}

pub(super) fn generate_1d(spec: &Function1dSpec) -> Dataset {
    let mut r = rng::rng(spec.seed, Stream::Data);
    let (lo, hi) = spec.train_range;
    let mut train_x: Vec<f32> = (0..spec.samples).map(|_| r.random_range(lo..=hi)).collect();
    train_x.sort_by(f32::total_cmp);
    let train_y = train_x
        .iter()
        .map(|&x| spec.function.eval(x) + rng::normal(&mut r) * spec.noise)
        .collect();
    let (tlo, thi) = spec.test_range;
    let m = spec.test_samples;
    let test_x: Vec<f32> = (0..m)
        .map(|i| tlo + (thi - tlo) * i as f32 / (m - 1) as f32)
        .collect();
    let test_y = test_x.iter().map(|&x| spec.function.eval(x)).collect();
    Dataset {
        name: "function1d".into(),
        inputs: 1,
        layout: InputLayout::Line {
            x: (tlo.min(lo), thi.max(hi)),
        },
        task: Task::Regression { outputs: 1 },
        class_names: vec!["f(x)".into()],
        train: Split {
            x: train_x,
            targets: Targets::Values(train_y),
        },
        test: Split {
            x: test_x,
            targets: Targets::Values(test_y),
        },
        train_region: Some(vec![(lo, hi)]),
        pde: None,
    }
}

pub(super) fn generate_2d(spec: &Function2dSpec) -> Dataset {
    let mut r = rng::rng(spec.seed, Stream::Data);
    let (lo, hi) = spec.train_range;
    let mut train_x = Vec::with_capacity(spec.samples * 2);
    let mut train_y = Vec::with_capacity(spec.samples);
    for _ in 0..spec.samples {
        let (x, y) = (r.random_range(lo..=hi), r.random_range(lo..=hi));
        train_x.extend([x, y]);
        train_y.push(spec.function.eval(x, y) + rng::normal(&mut r) * spec.noise);
    }
    let (tlo, thi) = spec.test_range;
    let side = (spec.test_samples as f32).sqrt().ceil().max(2.0) as usize;
    let mut test_x = Vec::with_capacity(side * side * 2);
    let mut test_y = Vec::with_capacity(side * side);
    for j in 0..side {
        for i in 0..side {
            let x = tlo + (thi - tlo) * i as f32 / (side - 1) as f32;
            let y = tlo + (thi - tlo) * j as f32 / (side - 1) as f32;
            test_x.extend([x, y]);
            test_y.push(spec.function.eval(x, y));
        }
    }
    let span = (tlo.min(lo), thi.max(hi));
    Dataset {
        name: "function2d".into(),
        inputs: 2,
        layout: InputLayout::Plane { x: span, y: span },
        task: Task::Regression { outputs: 1 },
        class_names: vec!["f(x, y)".into()],
        train: Split {
            x: train_x,
            targets: Targets::Values(train_y),
        },
        test: Split {
            x: test_x,
            targets: Targets::Values(test_y),
        },
        train_region: Some(vec![(lo, hi), (lo, hi)]),
        pde: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chebyshev_matches_cosine_form() {
        for n in 0..7 {
            let f = Function1d::Chebyshev { n };
            for x in [-0.9f32, -0.3, 0.0, 0.5, 0.99] {
                let exact = (n as f32 * x.acos()).cos();
                assert!((f.eval(x) - exact).abs() < 1e-4, "T_{n}({x})");
            }
        }
    }

    #[test]
    fn polynomial_and_rbf_evaluate() {
        let p = Function1d::Polynomial {
            coefficients: vec![1.0, -2.0, 0.5],
        };
        assert_eq!(p.eval(2.0), 1.0 - 4.0 + 2.0);
        let rbf = Function1d::Rbf {
            centres: vec![0.0, 3.0],
            widths: vec![1.0, 1.0],
            weights: vec![2.0, 1.0],
        };
        assert!((rbf.eval(0.0) - (2.0 + (-4.5f32).exp())).abs() < 1e-6);
    }
}
