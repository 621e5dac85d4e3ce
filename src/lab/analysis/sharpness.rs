//! Sharpness: the top eigenvalues of the training loss's Hessian, by Lanczos
//! iteration over Hessian-vector products.
//!
//! burn has no double backward, so a Hessian-vector product is a central
//! difference of two gradients, `H·v ≈ (∇L(θ + εv) − ∇L(θ − εv)) / 2ε`, with
//! `v` a unit vector and `ε` relative to `‖θ‖`. The error of that difference
//! is `O(ε²)` from the third derivatives plus `O(u·‖∇L‖/ε)` from rounding
//! (`u`, the float epsilon), which `ε ≈ 1e-3·(1 + ‖θ‖)` balances in `f32`.
//!
//! Lanczos keeps every vector (full reorthogonalisation, in `f64`) and stops
//! when the top Ritz value's residual estimate `β_j·|s_j|` falls below the
//! tolerance, relative to the value. Warm-started from the previous top
//! eigenvector, a measurement a few steps later converges in a few iterations.

use crate::lab::error::LabResult;
use crate::lab::rng::{self, Stream};

/// Relative step of the central difference: `ε = EPSILON_SCALE · (1 + ‖θ‖)`.
pub(super) const EPSILON_SCALE: f64 = 1e-3;
/// Lanczos stops when the top Ritz value's residual estimate, relative to the
/// value, is below this.
pub(super) const TOLERANCE: f64 = 1e-4;
/// Most Lanczos iterations (each is one Hessian-vector product: two gradients).
pub(super) const MAX_ITERATIONS: usize = 60;
/// Most eigenvalues a scene may ask for.
pub const MAX_TOP_K: usize = 20;

/// One measurement of the Hessian's top eigenvalues.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Spectrum {
    /// The top eigenvalues, largest first (`top_k` of them, or fewer).
    pub eigenvalues: Vec<f64>,
    /// The unit eigenvector of the largest, as a flat parameter vector.
    pub eigenvector: Vec<f64>,
    /// Lanczos iterations (Hessian-vector products) it took.
    pub iterations: usize,
    /// Residual estimate `‖H·v − λ·v‖ / |λ|` of the largest.
    pub residual: f64,
}

impl Spectrum {
    /// The largest eigenvalue, λ_max.
    pub fn top(&self) -> f64 {
        self.eigenvalues.first().copied().unwrap_or(f64::NAN)
    }
}

/// The Euclidean norm.
pub(super) fn norm(v: &[f64]) -> f64 {
    v.iter().map(|x| x * x).sum::<f64>().sqrt()
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// The Hessian-vector product `H·v` at `theta`, by a central difference of
/// `gradient` (which evaluates the training loss's gradient at a parameter vector).
pub fn hessian_vector_product(
    theta: &[f32],
    v: &[f64],
    gradient: &mut impl FnMut(&[f32]) -> LabResult<Vec<f32>>,
) -> LabResult<Vec<f64>> {
    let theta_norm = theta
        .iter()
        .map(|x| f64::from(*x).powi(2))
        .sum::<f64>()
        .sqrt();
    let v_norm = norm(v).max(f64::MIN_POSITIVE);
    let eps = EPSILON_SCALE * (1.0 + theta_norm) / v_norm;
    let shifted = |sign: f64| -> Vec<f32> {
        theta
            .iter()
            .zip(v)
            .map(|(t, d)| (f64::from(*t) + sign * eps * d) as f32)
            .collect()
    };
    let plus = gradient(&shifted(1.0))?;
    let minus = gradient(&shifted(-1.0))?;
    // The step actually taken, after rounding θ ± εv to f32, per coordinate
    // would differ slightly; the difference of the two shifts is what counts.
    Ok(plus
        .iter()
        .zip(&minus)
        .map(|(p, m)| (f64::from(*p) - f64::from(*m)) / (2.0 * eps))
        .collect())
}

/// The top `k` eigenvalues of the symmetric operator `hvp` on vectors of
/// length `n`, by Lanczos from `start` (a random vector when `None`).
pub fn lanczos(
    n: usize,
    k: usize,
    start: Option<&[f64]>,
    seed: u64,
    hvp: &mut impl FnMut(&[f64]) -> LabResult<Vec<f64>>,
) -> LabResult<Spectrum> {
    let k = k.max(1);
    let max_iter = MAX_ITERATIONS.min(n.max(1));
    let mut q = match start {
        Some(s) if s.len() == n && norm(s) > 0.0 => {
            // A touch of noise: the previous eigenvector may sit in an invariant
            // subspace of the new Hessian that misses the new top direction.
            let noise = random_unit(n, seed);
            let s_norm = norm(s);
            s.iter()
                .zip(&noise)
                .map(|(a, b)| a / s_norm + 1e-3 * b)
                .collect()
        }
        _ => random_unit(n, seed),
    };
    let q_norm = norm(&q);
    q.iter_mut().for_each(|x| *x /= q_norm);
    let mut basis: Vec<Vec<f64>> = Vec::with_capacity(max_iter);
    let mut alpha: Vec<f64> = Vec::with_capacity(max_iter);
    let mut beta: Vec<f64> = Vec::with_capacity(max_iter);
    let mut best = None;
    for j in 0..max_iter {
        let mut w = hvp(&q)?;
        let a = dot(&w, &q);
        alpha.push(a);
        basis.push(q);
        // Full reorthogonalisation, twice: it keeps the basis orthogonal in
        // floating point, at n·j operations per iteration.
        for _ in 0..2 {
            for b in &basis {
                let c = dot(&w, b);
                w.iter_mut().zip(b).for_each(|(x, y)| *x -= c * y);
            }
        }
        let b = norm(&w);
        let (values, vectors) = tridiagonal_eigen(&alpha, &beta);
        let m = alpha.len();
        // Ritz values sorted largest first; the residual of each is β·|last component|.
        let mut order: Vec<usize> = (0..m).collect();
        order.sort_by(|x, y| values[*y].total_cmp(&values[*x]));
        let top = order[0];
        let residual = b * vectors[top * m + (m - 1)].abs() / values[top].abs().max(1e-30);
        best = Some((order, values, vectors, residual, j + 1));
        let converged = j + 1 >= k && residual < TOLERANCE;
        if converged || b < 1e-12 * (1.0 + a.abs()) || j + 1 == max_iter {
            break;
        }
        beta.push(b);
        q = w.iter().map(|x| x / b).collect();
    }
    let Some((order, values, vectors, residual, iterations)) = best else {
        return Ok(Spectrum {
            eigenvalues: Vec::new(),
            eigenvector: vec![0.0; n],
            iterations: 0,
            residual: f64::NAN,
        });
    };
    let m = alpha.len();
    let top = order[0];
    let mut eigenvector = vec![0.0; n];
    for (i, b) in basis.iter().enumerate().take(m) {
        let s = vectors[top * m + i];
        eigenvector.iter_mut().zip(b).for_each(|(e, x)| *e += s * x);
    }
    let e_norm = norm(&eigenvector).max(f64::MIN_POSITIVE);
    eigenvector.iter_mut().for_each(|x| *x /= e_norm);
    Ok(Spectrum {
        eigenvalues: order.iter().take(k).map(|&i| values[i]).collect(),
        eigenvector,
        iterations,
        residual,
    })
}

/// A seeded random unit vector.
fn random_unit(n: usize, seed: u64) -> Vec<f64> {
    let mut r = rng::rng(seed, Stream::Sharpness);
    let v: Vec<f64> = (0..n).map(|_| f64::from(rng::normal(&mut r))).collect();
    let n = norm(&v).max(f64::MIN_POSITIVE);
    v.into_iter().map(|x| x / n).collect()
}

/// Eigenvalues and eigenvectors of the symmetric tridiagonal matrix with
/// diagonal `alpha` and off-diagonal `beta` (`beta.len() + 1 == alpha.len()`,
/// or shorter: missing entries are zero). Eigenvector `i` is
/// `vectors[i * m .. (i + 1) * m]`.
pub(super) fn tridiagonal_eigen(alpha: &[f64], beta: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let m = alpha.len();
    let mut a = vec![0.0; m * m];
    for i in 0..m {
        a[i * m + i] = alpha[i];
        if let Some(&b) = beta.get(i)
            && i + 1 < m
        {
            a[i * m + i + 1] = b;
            a[(i + 1) * m + i] = b;
        }
    }
    symmetric_eigen(&a, m)
}

/// Eigenvalues and eigenvectors of the symmetric `n×n` matrix `a` (row-major),
/// by cyclic Jacobi rotations. Eigenvector `i` is `vectors[i * n .. (i + 1) * n]`.
pub fn symmetric_eigen(a: &[f64], n: usize) -> (Vec<f64>, Vec<f64>) {
    let mut a = a.to_vec();
    // v holds the eigenvectors as columns while rotating.
    let mut v = vec![0.0; n * n];
    for i in 0..n {
        v[i * n + i] = 1.0;
    }
    let scale: f64 = a.iter().map(|x| x * x).sum::<f64>().sqrt().max(1e-300);
    for _sweep in 0..100 {
        let off: f64 = (0..n)
            .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i * n + j].powi(2))
            .sum::<f64>()
            .sqrt();
        if off <= 1e-15 * scale {
            break;
        }
        for p in 0..n {
            for q in (p + 1)..n {
                let apq = a[p * n + q];
                if apq.abs() <= 1e-300 {
                    continue;
                }
                let (app, aqq) = (a[p * n + p], a[q * n + q]);
                let theta = (aqq - app) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..n {
                    let (akp, akq) = (a[k * n + p], a[k * n + q]);
                    a[k * n + p] = c * akp - s * akq;
                    a[k * n + q] = s * akp + c * akq;
                }
                for k in 0..n {
                    let (apk, aqk) = (a[p * n + k], a[q * n + k]);
                    a[p * n + k] = c * apk - s * aqk;
                    a[q * n + k] = s * apk + c * aqk;
                }
                for k in 0..n {
                    let (vkp, vkq) = (v[k * n + p], v[k * n + q]);
                    v[k * n + p] = c * vkp - s * vkq;
                    v[k * n + q] = s * vkp + c * vkq;
                }
            }
        }
    }
    let values: Vec<f64> = (0..n).map(|i| a[i * n + i]).collect();
    // Columns of v to rows.
    let mut vectors = vec![0.0; n * n];
    for i in 0..n {
        for k in 0..n {
            vectors[i * n + k] = v[k * n + i];
        }
    }
    (values, vectors)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A symmetric matrix with known eigenvalues: Q·diag(λ)·Qᵀ for a seeded rotation.
    fn matrix_with(eigenvalues: &[f64], seed: u64) -> (Vec<f64>, Vec<Vec<f64>>) {
        let n = eigenvalues.len();
        // Gram-Schmidt on seeded random vectors gives an orthonormal basis.
        let mut q: Vec<Vec<f64>> = Vec::new();
        for i in 0..n {
            let mut v = random_unit(n, seed + i as u64);
            for b in &q {
                let c = dot(&v, b);
                v.iter_mut().zip(b).for_each(|(x, y)| *x -= c * y);
            }
            let nv = norm(&v);
            q.push(v.into_iter().map(|x| x / nv).collect());
        }
        let mut a = vec![0.0; n * n];
        for (k, lambda) in eigenvalues.iter().enumerate() {
            for i in 0..n {
                for j in 0..n {
                    a[i * n + j] += lambda * q[k][i] * q[k][j];
                }
            }
        }
        (a, q)
    }

    #[test]
    fn jacobi_finds_every_eigenvalue() {
        let lambdas = [5.0, -7.0, 2.0, 0.5, 0.0, 3.25];
        let (a, _) = matrix_with(&lambdas, 1);
        let (mut values, _) = symmetric_eigen(&a, lambdas.len());
        values.sort_by(f64::total_cmp);
        let mut want = lambdas.to_vec();
        want.sort_by(f64::total_cmp);
        for (v, w) in values.iter().zip(&want) {
            assert!((v - w).abs() < 1e-10, "{values:?} vs {want:?}");
        }
    }

    #[test]
    fn lanczos_finds_the_largest_not_the_largest_in_magnitude() {
        let mut lambdas: Vec<f64> = (0..80).map(|i| f64::from(i) * 0.05 - 1.0).collect();
        lambdas[3] = 12.0;
        lambdas[40] = 9.5;
        // A more negative eigenvalue than the top one: power iteration would find it.
        lambdas[7] = -30.0;
        let (a, q) = matrix_with(&lambdas, 7);
        let n = lambdas.len();
        let mut hvp = |v: &[f64]| -> LabResult<Vec<f64>> {
            Ok((0..n).map(|i| dot(&a[i * n..(i + 1) * n], v)).collect())
        };
        let s = lanczos(n, 2, None, 3, &mut hvp).unwrap();
        assert!((s.top() - 12.0).abs() < 1e-6, "{s:?}");
        assert!((s.eigenvalues[1] - 9.5).abs() < 1e-4, "{:?}", s.eigenvalues);
        let cos = dot(&s.eigenvector, &q[3]).abs();
        assert!(cos > 0.9999, "{cos}");
        assert!(s.residual < TOLERANCE);
        // Warm-started from the answer, it converges at once.
        let again = lanczos(n, 1, Some(&s.eigenvector), 4, &mut hvp).unwrap();
        assert!(again.iterations < s.iterations, "{again:?}");
        assert!((again.top() - 12.0).abs() < 1e-6);
    }

    #[test]
    fn a_central_difference_of_gradients_is_the_hessian_times_v() {
        // L(θ) = ½ θᵀAθ + Σ θ³/3: gradient Aθ + θ², Hessian A + 2 diag(θ).
        let lambdas = [3.0, 1.0, -2.0, 0.5];
        let (a, _) = matrix_with(&lambdas, 11);
        let n = 4;
        let mut gradient = |t: &[f32]| -> LabResult<Vec<f32>> {
            Ok((0..n)
                .map(|i| {
                    let ax: f64 = (0..n).map(|j| a[i * n + j] * f64::from(t[j])).sum();
                    (ax + f64::from(t[i]).powi(2)) as f32
                })
                .collect())
        };
        let theta = [0.3f32, -0.2, 0.1, 0.4];
        let v = [0.5, 0.5, -0.5, 0.5];
        let hv = hessian_vector_product(&theta, &v, &mut gradient).unwrap();
        for i in 0..n {
            let exact: f64 =
                (0..n).map(|j| a[i * n + j] * v[j]).sum::<f64>() + 2.0 * f64::from(theta[i]) * v[i];
            assert!((hv[i] - exact).abs() < 1e-3 * (1.0 + exact.abs()), "{hv:?}");
        }
    }
}
