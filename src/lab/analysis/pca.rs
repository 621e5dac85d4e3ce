//! A 2D projection of high-dimensional samples: their first two principal
//! components, found by power iteration (the covariance is never formed).

/// The plane of the first two principal components of a set of samples.
#[derive(Debug, Clone, PartialEq)]
pub struct Pca {
    /// The samples' mean, one value per input.
    pub mean: Vec<f32>,
    /// The two unit directions, largest variance first.
    pub components: [Vec<f32>; 2],
    /// The variance along each direction.
    pub variances: [f64; 2],
    /// The samples' total variance (the sum over every input).
    pub total_variance: f64,
}

/// Power iterations per component; the start is fixed, so the result is too.
const ITERATIONS: usize = 200;

impl Pca {
    /// The principal plane of `n` samples of `d` values each (`x` row-major).
    /// `None` with fewer than two samples or inputs.
    pub fn fit(x: &[f32], d: usize) -> Option<Pca> {
        if d < 2 || x.len() < 2 * d {
            return None;
        }
        let n = x.len() / d;
        let mut mean = vec![0.0f64; d];
        for row in x.chunks_exact(d) {
            for (m, v) in mean.iter_mut().zip(row) {
                *m += f64::from(*v);
            }
        }
        mean.iter_mut().for_each(|m| *m /= n as f64);
        let centred: Vec<f64> = x
            .chunks_exact(d)
            .flat_map(|row| row.iter().zip(&mean).map(|(v, m)| f64::from(*v) - m))
            .collect();
        let total_variance = centred.iter().map(|v| v * v).sum::<f64>() / n as f64;
        // C·v = Xᵀ(X·v) / n, with earlier components projected out.
        let apply = |v: &[f64], found: &[Vec<f64>]| -> Vec<f64> {
            let mut out = vec![0.0; d];
            for row in centred.chunks_exact(d) {
                let dot: f64 = row.iter().zip(v).map(|(a, b)| a * b).sum();
                for (o, a) in out.iter_mut().zip(row) {
                    *o += dot * a;
                }
            }
            out.iter_mut().for_each(|o| *o /= n as f64);
            for f in found {
                let dot: f64 = out.iter().zip(f).map(|(a, b)| a * b).sum();
                out.iter_mut().zip(f).for_each(|(o, fv)| *o -= dot * fv);
            }
            out
        };
        let mut found: Vec<Vec<f64>> = Vec::with_capacity(2);
        let mut variances = [0.0; 2];
        for (k, variance) in variances.iter_mut().enumerate() {
            // A start with some of every direction (and not symmetric).
            let mut v: Vec<f64> = (0..d)
                .map(|i| 1.0 + ((i * 7 + k * 3) % 11) as f64 / 10.0)
                .collect();
            for f in &found {
                let dot: f64 = v.iter().zip(f).map(|(a, b)| a * b).sum();
                v.iter_mut().zip(f).for_each(|(x, fv)| *x -= dot * fv);
            }
            let mut lambda = 0.0;
            for _ in 0..ITERATIONS {
                let w = apply(&v, &found);
                let norm = w.iter().map(|a| a * a).sum::<f64>().sqrt();
                if norm == 0.0 {
                    break;
                }
                lambda = norm;
                v = w.into_iter().map(|a| a / norm).collect();
            }
            // The sign is free: make the largest entry positive, so that
            // refits of the same data agree.
            let big = v
                .iter()
                .copied()
                .max_by(|a, b| a.abs().total_cmp(&b.abs()))
                .unwrap_or(1.0);
            if big < 0.0 {
                v.iter_mut().for_each(|a| *a = -*a);
            }
            *variance = lambda;
            found.push(v);
        }
        let as_f32 = |v: &[f64]| v.iter().map(|&a| a as f32).collect::<Vec<f32>>();
        Some(Pca {
            mean: as_f32(&mean),
            components: [as_f32(&found[0]), as_f32(&found[1])],
            variances,
            total_variance,
        })
    }

    /// Where sample `row` falls in the plane.
    pub fn project(&self, row: &[f32]) -> [f32; 2] {
        let along = |c: &[f32]| -> f32 {
            row.iter()
                .zip(&self.mean)
                .zip(c)
                .map(|((x, m), c)| (x - m) * c)
                .sum()
        };
        [along(&self.components[0]), along(&self.components[1])]
    }

    /// The share of the total variance each component explains.
    pub fn explained(&self) -> [f64; 2] {
        let t = self.total_variance.max(f64::MIN_POSITIVE);
        [self.variances[0] / t, self.variances[1] / t]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::rng::{self, Stream};

    #[test]
    fn finds_the_directions_of_largest_variance() {
        // Samples spread 3 along (1, 1, 0)/√2, 1 along z, 0.1 along (1, −1, 0)/√2.
        let mut r = rng::rng(3, Stream::Data);
        let s = std::f32::consts::FRAC_1_SQRT_2;
        let mut x = Vec::new();
        for _ in 0..4000 {
            let (a, b, c) = (
                3.0 * rng::normal(&mut r),
                rng::normal(&mut r),
                0.1 * rng::normal(&mut r),
            );
            x.extend([5.0 + a * s + c * s, -2.0 + a * s - c * s, b]);
        }
        let pca = Pca::fit(&x, 3).unwrap();
        let c0 = &pca.components[0];
        let c1 = &pca.components[1];
        assert!(
            (c0[0] - s).abs() < 0.02 && (c0[1] - s).abs() < 0.02,
            "{c0:?}"
        );
        assert!(c1[2].abs() > 0.99, "{c1:?}");
        let dot: f32 = c0.iter().zip(c1).map(|(a, b)| a * b).sum();
        assert!(dot.abs() < 1e-4, "orthogonal");
        assert!((pca.variances[0] - 9.0).abs() < 0.6, "{:?}", pca.variances);
        assert!((pca.variances[1] - 1.0).abs() < 0.1, "{:?}", pca.variances);
        let [e0, e1] = pca.explained();
        assert!(e0 > 0.85 && e0 + e1 > 0.99, "{e0} {e1}");
        // The mean projects to the origin.
        let p = pca.project(&pca.mean.clone());
        assert!(p[0].abs() < 1e-5 && p[1].abs() < 1e-5);
        assert_eq!(Pca::fit(&x, 3).unwrap(), pca, "a refit is the same fit");
    }

    #[test]
    fn too_few_samples_or_inputs_have_no_plane() {
        assert!(Pca::fit(&[1.0, 2.0], 2).is_none());
        assert!(Pca::fit(&[1.0, 2.0, 3.0], 1).is_none());
    }
}
