//! Elementary functions in f32 made of arithmetic and bit operations only, so
//! that a loop over them vectorises (libm's calls do not). Each is accurate to
//! a few units in the last place (the tests bound them against f64).
//!
//! The exponential and logarithm are Cephes' (S. Moshier) single-precision
//! polynomials; tanh is the rational approximation Eigen and XLA use.

/// e^x, for x in about [−87, 88] (clamped outside).
#[inline(always)]
pub(super) fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const C1: f32 = 0.693_359_4;
    const C2: f32 = -2.121_944_4e-4;
    let x = x.clamp(-87.336_54, 88.376_26);
    let n = (x * LOG2E).round();
    let r = x - n * C1 - n * C2;
    let mut p = 1.987_569_1e-4f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 0.5;
    let y = p * r * r + r + 1.0;
    // 2^n, built in the exponent bits.
    let bits = ((n as i32 + 127).clamp(1, 254) as u32) << 23;
    y * f32::from_bits(bits)
}

/// The natural logarithm, for positive normal x (non-positive gives −∞ or NaN).
#[inline(always)]
pub(super) fn ln(x: f32) -> f32 {
    const SQRTHF: f32 = std::f32::consts::FRAC_1_SQRT_2;
    let bits = x.to_bits();
    let mut e = ((bits >> 23) & 0xff) as i32 - 126;
    // The mantissa in [0.5, 1).
    let mut m = f32::from_bits((bits & 0x007f_ffff) | 0x3f00_0000);
    if m < SQRTHF {
        e -= 1;
        m = m + m - 1.0;
    } else {
        m -= 1.0;
    }
    let z = m * m;
    let mut p = 7.037_683_6e-2f32;
    p = p * m - 1.151_461e-1;
    p = p * m + 1.167_699_9e-1;
    p = p * m - 1.242_014_1e-1;
    p = p * m + 1.424_932_3e-1;
    p = p * m - 1.666_805_8e-1;
    p = p * m + 2.000_071_4e-1;
    p = p * m - 2.499_999_4e-1;
    p = p * m + 3.333_333e-1;
    let mut y = p * m * z;
    let ef = e as f32;
    y += -2.121_944_4e-4 * ef;
    y += -0.5 * z;
    let r = m + y + 0.693_359_4 * ef;
    if x > 0.0 {
        r
    } else if x == 0.0 {
        f32::NEG_INFINITY
    } else {
        f32::NAN
    }
}

/// tanh(x): Eigen's rational approximation on [−7.9, 7.9] (±1 beyond).
#[inline(always)]
pub(super) fn tanh(x: f32) -> f32 {
    const CLAMP: f32 = 7.905_311;
    let xc = x.clamp(-CLAMP, CLAMP);
    let x2 = xc * xc;
    let mut p = -2.760_768_5e-16f32;
    p = p * x2 + 2.000_188e-13;
    p = p * x2 - 8.604_672e-11;
    p = p * x2 + 5.122_297e-8;
    p = p * x2 + 1.485_722_4e-5;
    p = p * x2 + 6.372_619_3e-4;
    p = p * x2 + 4.893_524_6e-3;
    p *= xc;
    let mut q = 1.198_258_4e-6f32;
    q = q * x2 + 1.185_347_1e-4;
    q = q * x2 + 2.268_434_6e-3;
    q = q * x2 + 4.893_525e-3;
    let t = p / q;
    // Tiny inputs: tanh(x) = x to float precision (and NaN stays NaN).
    if xc.abs() < 4e-4 { xc } else { t }
}

/// The logistic function 1 / (1 + e^(−x)).
#[inline(always)]
pub(super) fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
}

/// erfc(x) for x ≥ 0: the Chebyshev fit of Numerical Recipes (§6.2), whose
/// relative error is below 1.2e-7 everywhere, so tails keep their digits.
#[inline(always)]
fn erfc_positive(z: f32) -> f32 {
    let t = 1.0 / (1.0 + 0.5 * z);
    let mut p = 0.170_872_77f32;
    p = p * t - 0.822_152_23;
    p = p * t + 1.488_515_9;
    p = p * t - 1.135_204;
    p = p * t + 0.278_868_07;
    p = p * t - 0.186_288_06;
    p = p * t + 0.096_784_18;
    p = p * t + 0.374_091_96;
    p = p * t + 1.000_023_7;
    p = p * t - 1.265_512_2;
    t * exp(p - z * z)
}

/// The standard normal CDF Φ(x), from the tail that does not cancel.
#[inline(always)]
fn normal_cdf(x: f32) -> f32 {
    let tail = 0.5 * erfc_positive(x.abs() * std::f32::consts::FRAC_1_SQRT_2);
    if x < 0.0 { tail } else { 1.0 - tail }
}

/// GELU, exact form: x·Φ(x).
#[inline(always)]
pub(super) fn gelu(x: f32) -> f32 {
    x * normal_cdf(x)
}

/// GELU's derivative: Φ(x) + x·φ(x).
#[inline(always)]
pub(super) fn gelu_derivative(x: f32) -> f32 {
    let pdf = exp(-0.5 * x * x) * 0.398_942_3;
    normal_cdf(x) + x * pdf
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The largest error of `f` against `exact` over `xs`, relative to
    /// `max(|exact|, floor)`.
    fn worst(
        xs: impl Iterator<Item = f32>,
        f: fn(f32) -> f32,
        exact: fn(f64) -> f64,
        floor: f64,
    ) -> f64 {
        xs.map(|x| {
            let e = exact(f64::from(x));
            (f64::from(f(x)) - e).abs() / e.abs().max(floor)
        })
        .fold(0.0, f64::max)
    }

    fn grid(lo: f32, hi: f32, n: usize) -> impl Iterator<Item = f32> {
        (0..=n).map(move |i| lo + (hi - lo) * i as f32 / n as f32)
    }

    #[test]
    fn every_function_is_accurate_to_a_few_ulp() {
        let e = worst(grid(-80.0, 80.0, 100_000), exp, f64::exp, 0.0);
        assert!(e < 3e-7, "exp {e}");
        let l = worst(grid(1e-6, 1e6, 100_000), ln, f64::ln, 1e-3);
        assert!(l < 3e-7, "ln {l}");
        let t = worst(grid(-10.0, 10.0, 100_000), tanh, f64::tanh, 1e-3);
        assert!(t < 1e-6, "tanh {t}");
        let s = worst(
            grid(-30.0, 30.0, 100_000),
            sigmoid,
            |x| 1.0 / (1.0 + (-x).exp()),
            1e-3,
        );
        assert!(s < 1e-6, "sigmoid {s}");
        let g = worst(
            grid(-6.0, 6.0, 100_000),
            gelu,
            |x| 0.5 * x * (1.0 + libm::erf(x / std::f64::consts::SQRT_2)),
            1e-2,
        );
        assert!(g < 2e-6, "gelu {g}");
        let gd = worst(
            grid(-6.0, 6.0, 100_000),
            gelu_derivative,
            |x| {
                0.5 * (1.0 + libm::erf(x / std::f64::consts::SQRT_2))
                    + x * (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt()
            },
            // GELU' crosses zero near −0.75 as a difference of two O(0.3)
            // terms, so only absolute accuracy is possible there.
            0.3,
        );
        assert!(gd < 1e-6, "gelu' {gd}");
        assert_eq!(tanh(100.0), 1.0);
        assert!(tanh(f32::NAN).is_nan());
        assert_eq!(ln(0.0), f32::NEG_INFINITY);
    }
}
