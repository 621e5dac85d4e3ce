//! numpy's formats: `.npy` arrays written (format 1.0, so that any other
//! tool can load a sweep's data and initial weights with `numpy.load`) and
//! read, and `.npz` archives of them read (what `np.savez` and
//! `np.savez_compressed` write). Numbers are read as f32 in C order; 0-d
//! text arrays (`np.array("relu,relu")`) as text.

use std::io::Read;

/// An array read from an `.npy`: its shape and values (row-major), or text.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum NpyArray {
    /// Numbers (floats, integers, booleans), as f32.
    Numbers {
        /// The shape (empty for a 0-d array).
        shape: Vec<usize>,
        /// The values in C order.
        values: Vec<f32>,
        /// A one-element integer array's exact value (as f32 it rounds
        /// past 2²⁴: a step of 16,777,217 would read as 16,777,216).
        integer: Option<i128>,
    },
    /// A 0-d or 1-element array of text.
    Text(String),
}

/// The element types read, as numpy's `descr` names them.
#[derive(Debug, Clone, Copy)]
enum Element {
    F4,
    F8,
    F2,
    I1,
    I2,
    I4,
    I8,
    U1,
    U2,
    U4,
    U8,
    Bool,
    /// UTF-32 text of this many characters.
    Unicode(usize),
}

impl Element {
    fn parse(descr: &str) -> Result<(Element, bool), String> {
        let (order, code) = descr.split_at(descr.len().min(1));
        let big = match order {
            "<" | "|" | "=" => false,
            ">" => true,
            _ => return Err(format!("dtype `{descr}`: no byte order")),
        };
        let element = match code {
            "f4" => Element::F4,
            "f8" => Element::F8,
            "f2" => Element::F2,
            "i1" => Element::I1,
            "i2" => Element::I2,
            "i4" => Element::I4,
            "i8" => Element::I8,
            "u1" => Element::U1,
            "u2" => Element::U2,
            "u4" => Element::U4,
            "u8" => Element::U8,
            "b1" => Element::Bool,
            c if c.starts_with('U') => Element::Unicode(
                c[1..]
                    .parse()
                    .map_err(|_| format!("dtype `{descr}` is not read"))?,
            ),
            _ => {
                return Err(format!(
                    "dtype `{descr}` is not read (floats, integers, booleans or text)"
                ));
            }
        };
        Ok((element, big))
    }

    /// The exact value of an integer element (`None` for floats, booleans
    /// and text).
    fn integer(self, b: &[u8], big: bool) -> Option<i128> {
        let mut a = [0u8; 8];
        a[..b.len()].copy_from_slice(b);
        if big {
            a[..b.len()].reverse();
        }
        Some(match self {
            Element::I1 => i128::from(a[0] as i8),
            Element::I2 => i128::from(i16::from_le_bytes([a[0], a[1]])),
            Element::I4 => i128::from(i32::from_le_bytes([a[0], a[1], a[2], a[3]])),
            Element::I8 => i128::from(i64::from_le_bytes(a)),
            Element::U1 => i128::from(a[0]),
            Element::U2 => i128::from(u16::from_le_bytes([a[0], a[1]])),
            Element::U4 => i128::from(u32::from_le_bytes([a[0], a[1], a[2], a[3]])),
            Element::U8 => i128::from(u64::from_le_bytes(a)),
            Element::F4 | Element::F8 | Element::F2 | Element::Bool | Element::Unicode(_) => {
                return None;
            }
        })
    }

    fn size(self) -> usize {
        match self {
            Element::I1 | Element::U1 | Element::Bool => 1,
            Element::F2 | Element::I2 | Element::U2 => 2,
            Element::F4 | Element::I4 | Element::U4 => 4,
            Element::F8 | Element::I8 | Element::U8 => 8,
            Element::Unicode(n) => 4 * n,
        }
    }

    fn value(self, b: &[u8], big: bool) -> f32 {
        let mut a = [0u8; 8];
        a[..b.len()].copy_from_slice(b);
        if big {
            a[..b.len()].reverse();
        }
        match self {
            Element::F4 => f32::from_le_bytes([a[0], a[1], a[2], a[3]]),
            Element::F8 => f64::from_le_bytes(a) as f32,
            Element::F2 => half_to_f32(u16::from_le_bytes([a[0], a[1]])),
            Element::I1 => f32::from(a[0] as i8),
            Element::I2 => f32::from(i16::from_le_bytes([a[0], a[1]])),
            Element::I4 => i32::from_le_bytes([a[0], a[1], a[2], a[3]]) as f32,
            Element::I8 => i64::from_le_bytes(a) as f32,
            Element::U1 | Element::Bool => f32::from(a[0]),
            Element::U2 => f32::from(u16::from_le_bytes([a[0], a[1]])),
            Element::U4 => u32::from_le_bytes([a[0], a[1], a[2], a[3]]) as f32,
            Element::U8 => u64::from_le_bytes(a) as f32,
            Element::Unicode(_) => f32::NAN,
        }
    }
}

/// An IEEE half as f32.
fn half_to_f32(h: u16) -> f32 {
    let sign = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = i32::from((h >> 10) & 0x1f);
    let frac = f32::from(h & 0x3ff);
    match exp {
        0 => sign * frac * 2f32.powi(-24),
        31 if frac == 0.0 => sign * f32::INFINITY,
        31 => f32::NAN,
        e => sign * (1.0 + frac / 1024.0) * 2f32.powi(e - 15),
    }
}

/// The value of `key` in numpy's header dict (`{'descr': '<f4', ...}`).
fn header_field<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let at = header.find(&format!("'{key}'"))? + key.len() + 2;
    let rest = header[at..].trim_start().strip_prefix(':')?.trim_start();
    let end = match rest.chars().next()? {
        '\'' => rest[1..].find('\'')? + 2,
        '(' => rest.find(')')? + 1,
        _ => rest.find([',', '}']).unwrap_or(rest.len()),
    };
    Some(rest[..end].trim())
}

/// Reads one `.npy` array.
pub(crate) fn read_npy(bytes: &[u8]) -> Result<NpyArray, String> {
    let rest = bytes
        .strip_prefix(b"\x93NUMPY")
        .ok_or("not a .npy array (no \\x93NUMPY magic)")?;
    let (major, rest) = rest.split_first().ok_or("cut short")?;
    let rest = rest.get(1..).ok_or("cut short")?;
    let (len, rest) = match major {
        1 => {
            let l = rest.get(..2).ok_or("cut short")?;
            (usize::from(u16::from_le_bytes([l[0], l[1]])), &rest[2..])
        }
        2 | 3 => {
            let l = rest.get(..4).ok_or("cut short")?;
            (
                u32::from_le_bytes([l[0], l[1], l[2], l[3]]) as usize,
                &rest[4..],
            )
        }
        v => return Err(format!("format version {v} is not read")),
    };
    let header = std::str::from_utf8(rest.get(..len).ok_or("the header is cut short")?)
        .map_err(|_| "the header is not text")?;
    let data = &rest[len..];
    let descr = header_field(header, "descr").ok_or("the header has no `descr`")?;
    let (element, big) = Element::parse(descr.trim_matches('\''))?;
    let fortran = header_field(header, "fortran_order") == Some("True");
    let shape_text = header_field(header, "shape").ok_or("the header has no `shape`")?;
    let shape = shape_text
        .trim_matches(|c| c == '(' || c == ')')
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| {
            t.parse::<usize>()
                .map_err(|_| format!("shape `{shape_text}`"))
        })
        .collect::<Result<Vec<usize>, String>>()?;
    let count: usize = shape.iter().product();
    let size = element.size();
    let needed = count.checked_mul(size).ok_or("the shape is too big")?;
    let data = data.get(..needed).ok_or_else(|| {
        format!(
            "the data is cut short: shape {shape:?} needs {needed} bytes, {} are there",
            data.len()
        )
    })?;
    if let Element::Unicode(_) = element {
        if count != 1 {
            return Err("only a single text value is read".into());
        }
        let text: String = data
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .take_while(|&c| c != 0)
            .filter_map(char::from_u32)
            .collect();
        return Ok(NpyArray::Text(text));
    }
    let mut values: Vec<f32> = data
        .chunks_exact(size)
        .map(|b| element.value(b, big))
        .collect();
    if fortran && shape.len() > 1 {
        values = fortran_to_c(&values, &shape);
    }
    let integer = match data {
        [_, ..] if count == 1 => element.integer(data, big),
        _ => None,
    };
    Ok(NpyArray::Numbers {
        shape,
        values,
        integer,
    })
}

/// Column-major `values` of `shape` in row-major order.
fn fortran_to_c(values: &[f32], shape: &[usize]) -> Vec<f32> {
    let n = values.len();
    let mut out = vec![0.0; n];
    let mut index = vec![0usize; shape.len()];
    for (c, slot) in out.iter_mut().enumerate() {
        // `c`'s multi-index in C order, then its place in Fortran order.
        let mut rest = c;
        for d in (0..shape.len()).rev() {
            index[d] = rest % shape[d];
            rest /= shape[d];
        }
        let mut f = 0;
        for d in (0..shape.len()).rev() {
            f = f * shape[d] + index[d];
        }
        *slot = values[f];
    }
    out
}

/// Reads every array of an `.npz` archive, by name (without `.npy`).
pub(crate) fn read_npz(bytes: &[u8]) -> Result<Vec<(String, NpyArray)>, String> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes))
        .map_err(|e| format!("not an .npz archive ({e})"))?;
    let mut out = Vec::new();
    for i in 0..archive.len() {
        let mut file = archive
            .by_index(i)
            .map_err(|e| format!("entry {i} cannot be read ({e})"))?;
        let name = file.name().trim_end_matches(".npy").to_string();
        let mut data = Vec::new();
        file.read_to_end(&mut data)
            .map_err(|e| format!("`{name}` cannot be read ({e})"))?;
        let array = read_npy(&data).map_err(|e| format!("`{name}`: {e}"))?;
        out.push((name, array));
    }
    Ok(out)
}

/// An array's element type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dtype {
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
pub(crate) fn f32s(shape: &[usize], values: &[f32]) -> Vec<u8> {
    let data: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    npy(Dtype::F32, shape, &data)
}

/// An `.npy` file of integers with `shape`.
pub(crate) fn i64s(shape: &[usize], values: &[i64]) -> Vec<u8> {
    let data: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    npy(Dtype::I64, shape, &data)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn npy(descr: &str, fortran: bool, shape: &str, data: &[u8]) -> Vec<u8> {
        let order = if fortran { "True" } else { "False" };
        let header =
            format!("{{'descr': '{descr}', 'fortran_order': {order}, 'shape': {shape}, }}\n");
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend((header.len() as u16).to_le_bytes());
        out.extend(header.as_bytes());
        out.extend(data);
        out
    }

    #[test]
    fn orders_types_and_text_read_as_numpy_wrote_them() {
        // [[1, 2, 3], [4, 5, 6]] in Fortran order is 1 4 2 5 3 6.
        let f: Vec<u8> = [1.0f64, 4.0, 2.0, 5.0, 3.0, 6.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let a = read_npy(&npy("<f8", true, "(2, 3)", &f)).unwrap();
        assert_eq!(
            a,
            NpyArray::Numbers {
                shape: vec![2, 3],
                values: vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
                integer: None,
            }
        );
        let big: Vec<u8> = [1.5f32, -2.0]
            .iter()
            .flat_map(|v| v.to_be_bytes())
            .collect();
        let NpyArray::Numbers { values, .. } = read_npy(&npy(">f4", false, "(2,)", &big)).unwrap()
        else {
            unreachable!()
        };
        assert_eq!(values, [1.5, -2.0]);
        let text: Vec<u8> = "relu"
            .chars()
            .flat_map(|c| (c as u32).to_le_bytes())
            .chain([0u8; 8])
            .collect();
        assert_eq!(
            read_npy(&npy("<U6", false, "()", &text)).unwrap(),
            NpyArray::Text("relu".into())
        );
    }

    #[test]
    fn bad_arrays_say_what_is_wrong() {
        assert!(read_npy(b"PK\x03\x04").unwrap_err().contains("magic"));
        let err = read_npy(&npy("<c8", false, "(1,)", &[0; 8])).unwrap_err();
        assert!(err.contains("dtype `<c8`"), "{err}");
        let err = read_npy(&npy("<f4", false, "(3,)", &[0; 8])).unwrap_err();
        assert!(err.contains("cut short"), "{err}");
        for n in 0..20 {
            let whole = npy("<f4", false, "(3,)", &[0; 12]);
            let _ = read_npy(&whole[..n]);
        }
    }

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

    #[test]
    fn what_is_written_reads_back() {
        let values = [1.5f32, -2.0, 0.25, 8.0, 3.0, -0.5];
        let read = read_npy(&f32s(&[3, 2], &values)).unwrap();
        assert_eq!(
            read,
            NpyArray::Numbers {
                shape: vec![3, 2],
                values: values.to_vec(),
                integer: None,
            }
        );
        let NpyArray::Numbers {
            shape,
            values,
            integer,
        } = read_npy(&i64s(&[3], &[7, -1, 2])).unwrap()
        else {
            unreachable!()
        };
        assert_eq!(
            (shape, values, integer),
            (vec![3], vec![7.0, -1.0, 2.0], None)
        );
        // One integer past 2²⁴ is kept exactly beside its rounded f32.
        let NpyArray::Numbers {
            values, integer, ..
        } = read_npy(&i64s(&[], &[16_777_217])).unwrap()
        else {
            unreachable!()
        };
        assert_eq!((values, integer), (vec![16_777_216.0], Some(16_777_217)));
    }
}
