//! NumPy `.npy` files (format 1.0), so that any other tool can load a
//! sweep's data and initial weights with `numpy.load`.

/// An array's element type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Dtype {
    /// Little-endian 32-bit floats (`<f4`).
    F32,
    /// Little-endian 64-bit signed integers (`<i8`).
    I64,
}

/// The bytes of an `.npy` file holding `shape` elements of `dtype`, C order;
/// `data` is their little-endian bytes.
fn npy(dtype: Dtype, shape: &[usize], data: &[u8]) -> Vec<u8> {
    let descr = match dtype {
        Dtype::F32 => "<f4",
        Dtype::I64 => "<i8",
    };
    let dims = match shape {
        [one] => format!("({one},)"),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {dims}, }}");
    // Magic (6) + version (2) + length (2) + header + newline, padded to 64 bytes.
    let used = 10 + header.len() + 1;
    header.push_str(&" ".repeat(used.next_multiple_of(64) - used));
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + data.len());
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

/// An `.npy` file of f32 values with `shape`.
pub(super) fn f32s(shape: &[usize], values: &[f32]) -> Vec<u8> {
    let data: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    npy(Dtype::F32, shape, &data)
}

/// An `.npy` file of integers with `shape`.
pub(super) fn i64s(shape: &[usize], values: &[i64]) -> Vec<u8> {
    let data: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    npy(Dtype::I64, shape, &data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_is_aligned_and_describes_the_array() {
        let bytes = f32s(&[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        assert_eq!(&bytes[..8], b"\x93NUMPY\x01\x00");
        let len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
        assert_eq!((10 + len) % 64, 0);
        let header = std::str::from_utf8(&bytes[10..10 + len]).unwrap();
        assert!(header.starts_with("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"));
        assert!(header.ends_with('\n'));
        assert_eq!(bytes.len(), 10 + len + 24);
        assert_eq!(&bytes[10 + len..10 + len + 4], &1.0f32.to_le_bytes());
        let ints = i64s(&[3], &[7, -1, 2]);
        let len = u16::from_le_bytes([ints[8], ints[9]]) as usize;
        assert!(
            std::str::from_utf8(&ints[10..10 + len])
                .unwrap()
                .contains("'<i8'")
        );
        assert!(
            std::str::from_utf8(&ints[10..10 + len])
                .unwrap()
                .contains("(3,)")
        );
        assert_eq!(&ints[10 + len + 8..10 + len + 16], &(-1i64).to_le_bytes());
    }
}
