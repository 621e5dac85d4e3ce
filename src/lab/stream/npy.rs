//! numpy's formats: an `.npy` array, and an `.npz` archive of them (what
//! `np.savez` and `np.savez_compressed` write). Numbers come out as f32 in C
//! order; 0-d text arrays (`np.array("relu,relu")`) as text.

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
    Ok(NpyArray::Numbers { shape, values })
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
