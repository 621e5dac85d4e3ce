//! Lossless entropy coding of byte streams: static rANS with a per-stream table.
//!
//! A stream is written as `u32` symbol count, `u8` mode, then:
//! - mode 0: the symbols as they are (when coding would not make them smaller);
//! - mode 1: every symbol is the same, one byte;
//! - mode 2: `u16` number of distinct symbols, `(u8 symbol, u16 frequency)` for
//!   each (frequencies sum to 2¹⁴), `u32` length and the rANS bytes.
//!
//! Frequencies are quantised to 14 bits, so a stream costs little more than
//! its order-0 entropy plus its table (3 bytes a distinct symbol).

/// Bits of a quantised frequency.
const PROB_BITS: u32 = 14;
const PROB_SCALE: u32 = 1 << PROB_BITS;
/// The lower end of the coder's normalised state interval.
const RANS_L: u32 = 1 << 23;

const MODE_RAW: u8 = 0;
const MODE_CONSTANT: u8 = 1;
const MODE_RANS: u8 = 2;

/// Frequencies scaled to sum to `PROB_SCALE`, every present symbol at least 1.
fn normalise(counts: &[u32; 256], total: u64) -> [u32; 256] {
    let mut freq = [0u32; 256];
    let mut sum = 0u32;
    let mut largest = 0usize;
    for s in 0..256 {
        if counts[s] == 0 {
            continue;
        }
        let f = ((u64::from(counts[s]) * u64::from(PROB_SCALE)) / total).max(1) as u32;
        freq[s] = f;
        sum += f;
        if counts[s] > counts[largest] {
            largest = s;
        }
    }
    // Rounding left the sum off by a little: the most frequent symbol absorbs
    // it, or, when it is too small to, others give up what they can spare.
    if sum < PROB_SCALE {
        freq[largest] += PROB_SCALE - sum;
    } else {
        let mut excess = sum - PROB_SCALE;
        let take = excess.min(freq[largest] - 1);
        freq[largest] -= take;
        excess -= take;
        for f in freq.iter_mut() {
            if excess == 0 {
                break;
            }
            let spare = (*f).saturating_sub(1).min(excess);
            *f -= spare;
            excess -= spare;
        }
    }
    freq
}

/// A symbol's encoding constants: division by its frequency as a multiply
/// and a shift (a `u32` division per symbol costs more than all the rest).
#[derive(Debug, Clone, Copy, Default)]
struct EncodeSymbol {
    x_max: u32,
    rcp_freq: u32,
    rcp_shift: u32,
    bias: u32,
    cmpl_freq: u32,
}

impl EncodeSymbol {
    fn new(start: u32, freq: u32) -> Self {
        let cmpl_freq = PROB_SCALE - freq;
        let x_max = ((RANS_L >> PROB_BITS) << 8) * freq;
        if freq < 2 {
            // x / 1 by x·(2³²−1)/2³² = x − 1, with the 1 made up in the bias.
            EncodeSymbol {
                x_max,
                rcp_freq: u32::MAX,
                rcp_shift: 0,
                bias: start + PROB_SCALE - 1,
                cmpl_freq,
            }
        } else {
            let shift = 32 - (freq - 1).leading_zeros();
            EncodeSymbol {
                x_max,
                rcp_freq: (1u64 << (shift + 31)).div_ceil(u64::from(freq)) as u32,
                rcp_shift: shift - 1,
                bias: start,
                cmpl_freq,
            }
        }
    }

    /// The state after coding this symbol: `(x / f) · M + x mod f + start`.
    #[inline]
    fn put(&self, x: u32) -> u32 {
        let q = ((u64::from(x) * u64::from(self.rcp_freq)) >> 32) as u32 >> self.rcp_shift;
        x + self.bias + q * self.cmpl_freq
    }
}

/// Appends `symbols`, entropy-coded, to `out`.
pub(super) fn encode(symbols: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(&(symbols.len() as u32).to_le_bytes());
    // Four tables, so that runs of one symbol do not wait on one counter.
    let mut tables = [[0u32; 256]; 4];
    let mut quads = symbols.chunks_exact(4);
    for q in &mut quads {
        for (t, &s) in tables.iter_mut().zip(q) {
            t[usize::from(s)] += 1;
        }
    }
    for &s in quads.remainder() {
        tables[0][usize::from(s)] += 1;
    }
    let counts: [u32; 256] = std::array::from_fn(|s| tables.iter().map(|t| t[s]).sum());
    let distinct = counts.iter().filter(|&&c| c > 0).count();
    if distinct == 1 {
        out.push(MODE_CONSTANT);
        out.push(symbols[0]);
        return;
    }
    if distinct == 0 {
        out.push(MODE_RAW);
        return;
    }
    let freq = normalise(&counts, symbols.len() as u64);
    let mut table = [EncodeSymbol::default(); 256];
    let mut c = 0;
    for s in 0..256 {
        if freq[s] > 0 {
            table[s] = EncodeSymbol::new(c, freq[s]);
        }
        c += freq[s];
    }
    // Written as if coding pays, then undone if it does not.
    let head = out.len();
    out.push(MODE_RANS);
    out.extend_from_slice(&(distinct as u16).to_le_bytes());
    for (s, &f) in freq.iter().enumerate().filter(|(_, f)| **f > 0) {
        out.push(s as u8);
        out.extend_from_slice(&(f as u16).to_le_bytes());
    }
    let len_at = out.len();
    out.extend_from_slice(&[0; 4]);
    let start = out.len();
    // Two interleaved states: symbol i goes through state i % 2, so that a
    // decoder's two dependency chains overlap. The coder runs backwards and
    // its bytes are reversed at the end.
    let (mut x0, mut x1) = (RANS_L, RANS_L);
    let put = |x: &mut u32, s: u8, bytes: &mut Vec<u8>| {
        let e = &table[usize::from(s)];
        while *x >= e.x_max {
            bytes.push(*x as u8);
            *x >>= 8;
        }
        *x = e.put(*x);
    };
    let pairs = symbols.len() / 2;
    if symbols.len() % 2 == 1 {
        put(&mut x0, symbols[symbols.len() - 1], out);
    }
    for pair in symbols[..2 * pairs].chunks_exact(2).rev() {
        put(&mut x1, pair[1], out);
        put(&mut x0, pair[0], out);
    }
    out.extend_from_slice(&x1.to_le_bytes());
    out.extend_from_slice(&x0.to_le_bytes());
    out[start..].reverse();
    let coded = out.len() - start;
    if out.len() - head > symbols.len() {
        out.truncate(head);
        out.push(MODE_RAW);
        out.extend_from_slice(symbols);
        return;
    }
    out[len_at..start].copy_from_slice(&(coded as u32).to_le_bytes());
}

/// Splits `n` bytes off the front of `buf`.
fn take<'a>(buf: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    if buf.len() < n {
        return None;
    }
    let (a, b) = buf.split_at(n);
    *buf = b;
    Some(a)
}

fn take_u16(buf: &mut &[u8]) -> Option<u16> {
    take(buf, 2).map(|b| u16::from_le_bytes([b[0], b[1]]))
}

fn take_u32(buf: &mut &[u8]) -> Option<u32> {
    take(buf, 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// Reads a stream that [`encode`] wrote from the front of `buf` into `out`
/// (cleared first), leaving `buf` after it; `None` if it is malformed or
/// holds more than `max_symbols`.
pub(super) fn decode(buf: &mut &[u8], max_symbols: usize, out: &mut Vec<u8>) -> Option<()> {
    out.clear();
    let n = take_u32(buf)? as usize;
    if n > max_symbols {
        return None;
    }
    match take(buf, 1)?[0] {
        MODE_RAW => out.extend_from_slice(take(buf, n)?),
        MODE_CONSTANT => out.resize(n, take(buf, 1)?[0]),
        MODE_RANS => {
            let distinct = usize::from(take_u16(buf)?);
            let mut freq = [0u32; 256];
            let mut cum = [0u32; 256];
            let mut slots = vec![0u8; PROB_SCALE as usize];
            let mut c = 0u32;
            for _ in 0..distinct {
                let s = usize::from(take(buf, 1)?[0]);
                let f = u32::from(take_u16(buf)?);
                if f == 0 || c + f > PROB_SCALE || freq[s] != 0 {
                    return None;
                }
                freq[s] = f;
                cum[s] = c;
                slots[c as usize..(c + f) as usize].fill(s as u8);
                c += f;
            }
            if c != PROB_SCALE {
                return None;
            }
            let len = take_u32(buf)? as usize;
            let mut bytes = take(buf, len)?;
            let mut read_state = || {
                let head = take(&mut bytes, 4)?;
                let x = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
                // Every state the coder leaves lies in [L, 256 L); outside it
                // the arithmetic below could overflow.
                (RANS_L..RANS_L << 8).contains(&x).then_some(x)
            };
            let (mut x0, mut x1) = (read_state()?, read_state()?);
            let get = |x: &mut u32, bytes: &mut &[u8]| -> Option<u8> {
                let slot = *x & (PROB_SCALE - 1);
                let s = slots[slot as usize];
                let si = usize::from(s);
                *x = freq[si] * (*x >> PROB_BITS) + slot - cum[si];
                while *x < RANS_L {
                    let (&b, rest) = bytes.split_first()?;
                    *bytes = rest;
                    *x = (*x << 8) | u32::from(b);
                }
                Some(s)
            };
            out.reserve(n);
            for _ in 0..n / 2 {
                let a = get(&mut x0, &mut bytes)?;
                let b = get(&mut x1, &mut bytes)?;
                out.extend_from_slice(&[a, b]);
            }
            if n % 2 == 1 {
                let a = get(&mut x0, &mut bytes)?;
                out.push(a);
            }
        }
        _ => return None,
    }
    Some(())
}

/// Steps over a stream that [`encode`] wrote at the front of `buf`.
pub(super) fn skip(buf: &mut &[u8]) -> Option<()> {
    let n = take_u32(buf)? as usize;
    match take(buf, 1)?[0] {
        MODE_RAW => take(buf, n)?,
        MODE_CONSTANT => take(buf, 1)?,
        MODE_RANS => {
            let distinct = usize::from(take_u16(buf)?);
            take(buf, 3 * distinct)?;
            let len = take_u32(buf)? as usize;
            take(buf, len)?
        }
        _ => return None,
    };
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng};

    fn round_trip(symbols: &[u8]) -> usize {
        let mut buf = Vec::new();
        encode(symbols, &mut buf);
        let mut rest = buf.as_slice();
        let mut back = Vec::new();
        decode(&mut rest, symbols.len(), &mut back).expect("decodes");
        assert_eq!(back, symbols);
        assert!(rest.is_empty());
        let mut rest = buf.as_slice();
        skip(&mut rest).expect("skips");
        assert!(rest.is_empty());
        buf.len()
    }

    #[test]
    fn streams_round_trip_and_skewed_ones_shrink_to_near_their_entropy() {
        let mut r = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(3);
        assert_eq!(round_trip(&[]), 5);
        assert_eq!(round_trip(&[7; 1000]), 6);
        let uniform: Vec<u8> = (0..10_000).map(|_| r.random()).collect();
        // Incompressible: stored as it is.
        assert_eq!(round_trip(&uniform), 10_005);
        // Mostly zeros, some small values, rare large ones.
        let skewed: Vec<u8> = (0..100_000)
            .map(|_| match r.random_range(0..1000) {
                0..700 => 0,
                700..990 => r.random_range(1..4),
                _ => r.random(),
            })
            .collect();
        let mut counts = [0f64; 256];
        for &s in &skewed {
            counts[usize::from(s)] += 1.0;
        }
        let n = skewed.len() as f64;
        let entropy_bytes: f64 = counts
            .iter()
            .filter(|&&c| c > 0.0)
            .map(|&c| -c * (c / n).log2())
            .sum::<f64>()
            / 8.0;
        let coded = round_trip(&skewed) as f64;
        assert!(
            coded < entropy_bytes * 1.02 + 800.0,
            "{coded} bytes for {entropy_bytes:.0} bytes of entropy"
        );
        // Odd lengths end on the first of the two states.
        round_trip(&skewed[..99_999]);
        // Random alphabets and lengths, frequencies down to one slot.
        for _ in 0..300 {
            let alphabet = r.random_range(2..=256usize);
            let len = r.random_range(2..3000);
            let power = r.random_range(1.0..8.0f64);
            let stream: Vec<u8> = (0..len)
                .map(|_| (r.random::<f64>().powf(power) * alphabet as f64) as u8)
                .collect();
            round_trip(&stream);
        }
        // A symbol seen once among many still gets a slot.
        let mut rare = vec![1u8; 50_000];
        rare[123] = 200;
        round_trip(&rare);
    }

    #[test]
    fn damaged_streams_fail_softly() {
        let symbols: Vec<u8> = (0..5000u32)
            .map(|i| (i % 7) as u8 * (i % 3) as u8)
            .collect();
        let mut buf = Vec::new();
        encode(&symbols, &mut buf);
        let mut out = Vec::new();
        for cut in [0, 3, 5, 9, buf.len() / 2, buf.len() - 1] {
            let mut rest = &buf[..cut];
            assert!(
                decode(&mut rest, symbols.len(), &mut out).is_none(),
                "{cut}"
            );
        }
        // More symbols than the caller allows is refused before allocating.
        let mut rest = buf.as_slice();
        assert!(decode(&mut rest, 10, &mut out).is_none());
        // Garbage decodes to something or to nothing, never panics.
        let mut r = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(9);
        for _ in 0..200 {
            let mut bad = buf.clone();
            let i = r.random_range(0..bad.len());
            bad[i] ^= r.random_range(1..=255u8);
            let mut rest = bad.as_slice();
            let _ = decode(&mut rest, symbols.len(), &mut out);
        }
    }
}
