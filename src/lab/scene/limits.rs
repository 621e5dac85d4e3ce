//! Limits on what a scene may ask for, checked before anything is allocated.
//!
//! A scene (or sweep, or CSV file) that asks for more than these gets an
//! error naming the field, what it would need and the limit, instead of an
//! aborted process on a failed allocation. Sizes are counted in `u128`, so
//! that no product of user numbers can wrap.

use crate::lab::error::{LabError, LabResult};

/// Neurons in one layer.
pub const MAX_WIDTH: usize = 1 << 20;
/// Hidden layers in one network.
pub const MAX_HIDDEN_LAYERS: usize = 256;
/// Parameters (weights and biases) of one network: 1 GiB as `f32`, about
/// 5 GiB with its gradients, optimiser state and a frame's copy.
pub const MAX_PARAMETERS: u128 = 1 << 28;
/// Samples in one split (training or test) of a data set.
pub const MAX_SAMPLES: u128 = 1 << 24;
/// Numbers (inputs and targets) in one split: 1 GiB as `f32`.
pub const MAX_DATA_VALUES: u128 = 1 << 28;
/// Activations of one training batch across every layer: 1 GiB as `f32`,
/// kept once more for the backward pass.
pub const MAX_BATCH_ACTIVATIONS: u128 = 1 << 28;

/// Bytes of `values` `f32` numbers, for people ("1.5 GiB").
pub fn bytes_text(values: u128) -> String {
    let bytes = values.saturating_mul(4) as f64;
    const UNITS: [&str; 7] = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut size = bytes;
    let mut unit = 0;
    while size >= 1024.0 && unit + 1 < UNITS.len() {
        size /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} bytes")
    } else {
        format!("{size:.1} {}", UNITS[unit])
    }
}

/// `n` with thousands separators: 4,294,967,296.
pub fn count_text(n: u128) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Fails on `field` when `count` of `what` passes `limit`.
pub fn check(field: &str, what: &str, count: u128, limit: u128) -> LabResult<()> {
    if count <= limit {
        return Ok(());
    }
    Err(LabError::setting(
        field,
        format!(
            "{} {what} is over the limit of {}",
            count_text(count),
            count_text(limit)
        ),
    ))
}

/// Fails on `field` when `values` numbers (`what`) pass `limit`, saying the
/// memory they would need.
pub fn check_memory(field: &str, what: &str, values: u128, limit: u128) -> LabResult<()> {
    if values <= limit {
        return Ok(());
    }
    Err(LabError::setting(
        field,
        format!(
            "{what} would need {} numbers ({}), over the limit of {} ({})",
            count_text(values),
            bytes_text(values),
            count_text(limit),
            bytes_text(limit)
        ),
    ))
}

/// The checks of one network: widths, depth, parameters and the activations
/// of a batch of `batch` samples. `sizes` runs from inputs to outputs.
pub fn check_network(sizes: &[u128], bias: bool, batch: u128) -> LabResult<()> {
    check(
        "model.hidden",
        "hidden layers",
        sizes.len().saturating_sub(2) as u128,
        MAX_HIDDEN_LAYERS as u128,
    )?;
    for (i, &w) in sizes.iter().enumerate() {
        let field = match i {
            0 => "data (inputs)".to_string(),
            i if i + 1 == sizes.len() => "data (outputs)".to_string(),
            i => format!("model.hidden[{}]", i - 1),
        };
        check(&field, "neurons in one layer", w, MAX_WIDTH as u128)?;
    }
    let parameters: u128 = sizes
        .windows(2)
        .map(|w| w[0] * w[1] + if bias { w[1] } else { 0 })
        .sum();
    check_memory(
        "model.hidden",
        "the network's parameters",
        parameters,
        MAX_PARAMETERS,
    )?;
    let neurons: u128 = sizes.iter().sum();
    check_memory(
        "train.batch_size",
        "one batch's activations",
        batch.saturating_mul(neurons),
        MAX_BATCH_ACTIVATIONS,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_are_for_people() {
        assert_eq!(count_text(4_294_967_296), "4,294,967,296");
        assert_eq!(count_text(999), "999");
        assert_eq!(count_text(1000), "1,000");
        assert_eq!(bytes_text(3), "12 bytes");
        assert_eq!(bytes_text(1 << 28), "1.0 GiB");
    }

    #[test]
    fn a_huge_layer_is_refused_with_what_it_needs() {
        let err = check_network(&[2, 4_294_967_296, 2], true, 32)
            .unwrap_err()
            .to_string();
        assert!(err.contains("model.hidden[0]"), "{err}");
        assert!(err.contains("4,294,967,296"), "{err}");
        assert!(err.contains("1,048,576"), "{err}");
        let err = check_network(&[784, 60_000, 60_000, 10], true, 32)
            .unwrap_err()
            .to_string();
        assert!(err.contains("parameters") && err.contains("GiB"), "{err}");
        check_network(&[784, 128, 10], true, 8000).unwrap();
    }
}
