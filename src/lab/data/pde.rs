//! Differential equations for physics-informed training (PINN losses): the
//! network is trained on a PDE's residual at collocation points and on its
//! boundary values, and measured against the equation's exact solution.
//!
//! Each equation has a known analytic solution `u*`, so the error of the
//! network against it is measured on a grid (`solution_error`, the largest
//! `|u − u*|`).

use rand::RngExt;
use serde::{Deserialize, Serialize};

use super::{Dataset, InputLayout, Split, Targets, Task, at_least, range};
use crate::lab::error::{LabError, LabResult};
use crate::lab::rng::{self, Stream};

/// An equation in one variable on an interval `[a, b]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Equation1d {
    /// Poisson's equation `u″ = f` with `u = u*` at both ends, where
    /// `u*(x) = sin(k·x)` and so `f(x) = −k²·sin(k·x)`.
    Poisson {
        /// The solution's angular frequency `k`.
        frequency: f32,
    },
    /// The first-order ODE `u′ = −r·u` with `u(a) = u₀`: exponential decay,
    /// `u*(x) = u₀·e^(−r·(x − a))`.
    Decay {
        /// The rate `r`.
        rate: f32,
        /// The initial value `u₀` at the left end.
        initial: f32,
    },
}

/// An equation in two variables on a square `[a, b]²`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Equation2d {
    /// Laplace's equation `∇²u = 0` with `u = u*` on the boundary, where, with
    /// `(ξ, η)` the point scaled to the unit square,
    /// `u*(x, y) = sin(π·ξ)·sinh(π·η) / sinh(π)`.
    Laplace,
    /// Poisson's equation `∇²u = f` with `u = u*` on the boundary, where
    /// `u*(x, y) = sin(k·x)·sin(k·y)` and so `f = −2k²·u*`.
    Poisson {
        /// The solution's angular frequency `k`.
        frequency: f32,
    },
}

/// Settings of a PINN data set: collocation and boundary points, and the grid
/// the error against the exact solution is measured on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    deny_unknown_fields,
    default,
    bound(deserialize = "E: Deserialize<'de>, PdeSpec<E>: Default")
)]
pub struct PdeSpec<E> {
    /// The equation and its boundary or initial values.
    pub equation: E,
    /// Interior points where the residual is trained, drawn uniformly.
    pub collocation: usize,
    /// Points on the boundary where the values are trained (per side in 2D;
    /// in 1D the ends, or the initial point, are used whatever it is).
    pub boundary: usize,
    /// Test points where the error against the exact solution is measured:
    /// evenly spaced (a grid of about this many in 2D).
    pub test_samples: usize,
    /// The interval, or each side of the square.
    pub domain: (f32, f32),
    /// Weight of the boundary term against the residual term.
    pub boundary_weight: f32,
    /// Seed of the collocation points.
    pub seed: u64,
}

/// Settings of a 1D PINN.
pub type Pde1dSpec = PdeSpec<Equation1d>;
/// Settings of a 2D PINN.
pub type Pde2dSpec = PdeSpec<Equation2d>;

impl Default for Pde1dSpec {
    fn default() -> Self {
        PdeSpec {
            equation: Equation1d::Poisson { frequency: 2.0 },
            collocation: 128,
            boundary: 2,
            test_samples: 256,
            domain: (-std::f32::consts::PI, std::f32::consts::PI),
            boundary_weight: 1.0,
            seed: 0,
        }
    }
}

impl Default for Pde2dSpec {
    fn default() -> Self {
        PdeSpec {
            equation: Equation2d::Laplace,
            collocation: 400,
            boundary: 40,
            test_samples: 900,
            domain: (0.0, 1.0),
            boundary_weight: 1.0,
            seed: 0,
        }
    }
}

/// What a PDE data set tells the trainer: which training points are on the
/// boundary, and the equation's residual.
#[derive(Debug, Clone, PartialEq)]
pub struct PdeTask {
    /// Training samples from this index on are boundary points; before it, collocation points.
    pub boundary_start: usize,
    /// Weight of the boundary term.
    pub boundary_weight: f32,
    /// The differential operator whose residual is trained.
    pub operator: Operator,
}

/// The left-hand side of an equation, `L[u]`; the residual is `L[u] − f`,
/// with `f` the training target of a collocation point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Operator {
    /// `u″` in 1D, `∇²u = u_xx + u_yy` in 2D.
    Laplacian,
    /// `u′ + r·u` in 1D.
    Decay {
        /// The rate `r`.
        rate: f32,
    },
}

impl Equation1d {
    /// The exact solution at `x` on the interval starting at `a`.
    pub fn solution(&self, x: f32, a: f32) -> f32 {
        match *self {
            Equation1d::Poisson { frequency } => (frequency * x).sin(),
            Equation1d::Decay { rate, initial } => initial * (-rate * (x - a)).exp(),
        }
    }

    /// The right-hand side `f` of the equation at `x` (what `L[u]` must equal).
    pub fn source(&self, x: f32) -> f32 {
        match *self {
            Equation1d::Poisson { frequency } => -frequency * frequency * (frequency * x).sin(),
            Equation1d::Decay { .. } => 0.0,
        }
    }

    fn operator(&self) -> Operator {
        match *self {
            Equation1d::Poisson { .. } => Operator::Laplacian,
            Equation1d::Decay { rate, .. } => Operator::Decay { rate },
        }
    }

    fn validate(&self) -> LabResult<()> {
        let finite = match *self {
            Equation1d::Poisson { frequency } => frequency.is_finite(),
            Equation1d::Decay { rate, initial } => rate.is_finite() && initial.is_finite(),
        };
        if finite {
            Ok(())
        } else {
            Err(LabError::setting(
                "data.equation",
                "its parameters must be finite numbers",
            ))
        }
    }
}

impl Equation2d {
    /// The exact solution at `(x, y)` on the square `domain`².
    pub fn solution(&self, x: f32, y: f32, domain: (f32, f32)) -> f32 {
        match *self {
            Equation2d::Laplace => {
                let pi = std::f64::consts::PI;
                let span = f64::from(domain.1 - domain.0);
                let xi = f64::from(x - domain.0) / span;
                let eta = f64::from(y - domain.0) / span;
                ((pi * xi).sin() * (pi * eta).sinh() / pi.sinh()) as f32
            }
            Equation2d::Poisson { frequency } => (frequency * x).sin() * (frequency * y).sin(),
        }
    }

    /// The right-hand side `f` at `(x, y)`.
    pub fn source(&self, x: f32, y: f32) -> f32 {
        match *self {
            Equation2d::Laplace => 0.0,
            Equation2d::Poisson { frequency } => {
                -2.0 * frequency * frequency * (frequency * x).sin() * (frequency * y).sin()
            }
        }
    }

    fn validate(&self) -> LabResult<()> {
        match *self {
            Equation2d::Poisson { frequency } if !frequency.is_finite() => Err(LabError::setting(
                "data.equation.frequency",
                "must be a finite number",
            )),
            _ => Ok(()),
        }
    }
}

impl<E> PdeSpec<E> {
    fn validate_common(&self, min_boundary: usize) -> LabResult<()> {
        at_least(self.collocation, 1, "collocation")?;
        at_least(self.boundary, min_boundary, "boundary")?;
        at_least(self.test_samples, 4, "test_samples")?;
        range(self.domain, "domain")?;
        if !(self.boundary_weight.is_finite() && self.boundary_weight > 0.0) {
            return Err(LabError::setting(
                "data.boundary_weight",
                format!("must be a positive number, got {}", self.boundary_weight),
            ));
        }
        Ok(())
    }
}

impl Pde1dSpec {
    /// Checks the settings, naming the offending field.
    pub fn validate(&self) -> LabResult<()> {
        self.validate_common(1)?;
        self.equation.validate()
    }
}

impl Pde2dSpec {
    /// Checks the settings, naming the offending field.
    pub fn validate(&self) -> LabResult<()> {
        self.validate_common(2)?;
        self.equation.validate()
    }
}

/// Collocation points, then boundary points with their values; a test grid
/// with the exact solution.
pub(super) fn generate_1d(spec: &Pde1dSpec) -> Dataset {
    let mut r = rng::rng(spec.seed, Stream::Data);
    let (a, b) = spec.domain;
    let eq = &spec.equation;
    let mut x: Vec<f32> = (0..spec.collocation)
        .map(|_| r.random_range(a..=b))
        .collect();
    x.sort_by(f32::total_cmp);
    let mut targets: Vec<f32> = x.iter().map(|&v| eq.source(v)).collect();
    let boundary_start = x.len();
    let ends: &[f32] = match eq {
        // Dirichlet values at both ends.
        Equation1d::Poisson { .. } => &[a, b],
        // An initial value problem: only the left end is given.
        Equation1d::Decay { .. } => &[a],
    };
    for &e in ends {
        x.push(e);
        targets.push(eq.solution(e, a));
    }
    let m = spec.test_samples;
    let test_x: Vec<f32> = (0..m)
        .map(|i| a + (b - a) * i as f32 / (m - 1) as f32)
        .collect();
    let test_y = test_x.iter().map(|&v| eq.solution(v, a)).collect();
    Dataset {
        name: "pde1d".into(),
        inputs: 1,
        layout: InputLayout::Line { x: (a, b) },
        task: Task::Regression { outputs: 1 },
        class_names: vec!["u(x)".into()],
        train: Split {
            x,
            targets: Targets::Values(targets),
        },
        test: Split {
            x: test_x,
            targets: Targets::Values(test_y),
        },
        train_region: Some(vec![(a, b)]),
        pde: Some(PdeTask {
            boundary_start,
            boundary_weight: spec.boundary_weight,
            operator: eq.operator(),
        }),
    }
}

/// Collocation points in the square, then `boundary` points on each side; a
/// test grid with the exact solution.
pub(super) fn generate_2d(spec: &Pde2dSpec) -> Dataset {
    let mut r = rng::rng(spec.seed, Stream::Data);
    let (a, b) = spec.domain;
    let eq = &spec.equation;
    let mut x = Vec::with_capacity(2 * (spec.collocation + 4 * spec.boundary));
    let mut targets = Vec::with_capacity(spec.collocation + 4 * spec.boundary);
    for _ in 0..spec.collocation {
        let (px, py) = (r.random_range(a..=b), r.random_range(a..=b));
        x.extend([px, py]);
        targets.push(eq.source(px, py));
    }
    let boundary_start = targets.len();
    let n = spec.boundary;
    for k in 0..n {
        let t = a + (b - a) * k as f32 / n as f32;
        // Four sides, each from one corner towards the next.
        let reversed = b - (t - a);
        for (px, py) in [(t, a), (b, t), (reversed, b), (a, reversed)] {
            x.extend([px, py]);
            targets.push(eq.solution(px, py, spec.domain));
        }
    }
    let side = (spec.test_samples as f32).sqrt().ceil().max(2.0) as usize;
    let mut test_x = Vec::with_capacity(side * side * 2);
    let mut test_y = Vec::with_capacity(side * side);
    for j in 0..side {
        for i in 0..side {
            let px = a + (b - a) * i as f32 / (side - 1) as f32;
            let py = a + (b - a) * j as f32 / (side - 1) as f32;
            test_x.extend([px, py]);
            test_y.push(eq.solution(px, py, spec.domain));
        }
    }
    Dataset {
        name: "pde2d".into(),
        inputs: 2,
        layout: InputLayout::Plane {
            x: (a, b),
            y: (a, b),
        },
        task: Task::Regression { outputs: 1 },
        class_names: vec!["u(x, y)".into()],
        train: Split {
            x,
            targets: Targets::Values(targets),
        },
        test: Split {
            x: test_x,
            targets: Targets::Values(test_y),
        },
        train_region: Some(vec![(a, b), (a, b)]),
        pde: Some(PdeTask {
            boundary_start,
            boundary_weight: spec.boundary_weight,
            operator: Operator::Laplacian,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exact_solutions_solve_their_equations() {
        // Second differences of u* against the source term (a step large enough
        // for f32 rounding, small enough for the truncation error).
        let h = 1e-2f32;
        let p = Equation1d::Poisson { frequency: 2.0 };
        for x in [-2.0f32, -0.5, 0.3, 1.7] {
            let u = |v: f32| f64::from(p.solution(v, 0.0));
            let d2 = (u(x + h) - 2.0 * u(x) + u(x - h)) / f64::from(h * h);
            assert!((d2 - f64::from(p.source(x))).abs() < 2e-2, "{x}: {d2}");
        }
        let decay = Equation1d::Decay {
            rate: 1.5,
            initial: 2.0,
        };
        assert_eq!(decay.solution(-1.0, -1.0), 2.0);
        let u = |v: f32| f64::from(decay.solution(v, -1.0));
        let d1 = (u(0.5 + h) - u(0.5 - h)) / f64::from(2.0 * h);
        assert!((d1 + 1.5 * u(0.5)).abs() < 1e-3, "u' = -r·u");
        for eq in [Equation2d::Laplace, Equation2d::Poisson { frequency: 3.0 }] {
            let d = (0.0, 1.0);
            let u = |x: f32, y: f32| f64::from(eq.solution(x, y, d));
            for (x, y) in [(0.3f32, 0.6f32), (0.8, 0.2)] {
                let lap = (u(x + h, y) + u(x - h, y) + u(x, y + h) + u(x, y - h) - 4.0 * u(x, y))
                    / f64::from(h * h);
                assert!(
                    (lap - f64::from(eq.source(x, y))).abs() < 5e-2,
                    "{eq:?} at {x},{y}: {lap}"
                );
            }
        }
        // Laplace's boundary values: zero on three sides, a sine on the top.
        let l = Equation2d::Laplace;
        assert!(l.solution(0.0, 0.5, (0.0, 1.0)).abs() < 1e-6);
        assert!((l.solution(0.5, 1.0, (0.0, 1.0)) - 1.0).abs() < 1e-6);
    }

    #[test]
    fn collocation_then_boundary_points() {
        let d = generate_2d(&Pde2dSpec::default());
        let pde = d.pde.clone().unwrap();
        assert_eq!(pde.boundary_start, 400);
        assert_eq!(d.train.len(), 400 + 4 * 40);
        for i in pde.boundary_start..d.train.len() {
            let (x, y) = (d.train.x[2 * i], d.train.x[2 * i + 1]);
            assert!(
                [x, y].iter().any(|v| *v == 0.0 || *v == 1.0),
                "({x}, {y}) is not on the boundary"
            );
        }
        let d1 = generate_1d(&Pde1dSpec::default());
        assert_eq!(d1.train.len(), 128 + 2);
    }
}
