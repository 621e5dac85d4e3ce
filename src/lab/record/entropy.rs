//! Lossless entropy coding of byte streams: static rANS with a per-stream table.
//!
//! A stream is written as `u32` symbol count, `u8` mode, then:
//! - mode 0: the symbols as they are (when coding would not make them smaller);
//! - mode 1: every symbol is the same, one byte;
//! - mode 2 (read, no longer written): `u16` number of distinct symbols,
//!   `(u8 symbol, u16 frequency)` for each (frequencies sum to 2¹⁴), `u32`
//!   length and the rANS bytes of two interleaved states renormalised a byte
//!   at a time;
//! - mode 3: the table as in mode 2, `u32` length in bytes, and the rANS
//!   words (`u16`) of four interleaved states renormalised a word at a time:
//!   at most one word per symbol and state, so that neither coder branches on
//!   the data (a mispredicted branch per symbol cost more than the coding).
//!
//! Frequencies are quantised to 14 bits, so a stream costs little more than
//! its order-0 entropy plus its table (3 bytes a distinct symbol).

/// Bits of a quantised frequency.
const PROB_BITS: u32 = 14;
const PROB_SCALE: u32 = 1 << PROB_BITS;
/// The lower end of the coder's normalised state interval.
const RANS_L: u32 = 1 << 23;

/// The lower end of the word coder's state interval: states lie in [L, 2¹⁶ L).
const WORD_L: u32 = 1 << 16;

const MODE_RAW: u8 = 0;
const MODE_CONSTANT: u8 = 1;
const MODE_RANS: u8 = 2;
const MODE_RANS_WORDS: u8 = 3;
/// Interleaved states of mode 3.
const LANES: usize = 4;

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
    /// The constants of a symbol at `start` with `freq` slots, for a coder
    /// whose states lie in [`lower`, 2^`out_bits` · `lower`).
    fn new(start: u32, freq: u32, lower: u32, out_bits: u32) -> Self {
        let cmpl_freq = PROB_SCALE - freq;
        let x_max = ((lower >> PROB_BITS) << out_bits) * freq;
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

/// The symbols' frequencies scaled to [`PROB_SCALE`], and how many are present.
#[inline(always)]
fn frequencies(symbols: &[u8]) -> ([u32; 256], usize) {
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
    let freq = match distinct {
        0 | 1 => counts,
        _ => normalise(&counts, symbols.len() as u64),
    };
    (freq, distinct)
}

/// The encoding constants of every symbol of `freq`.
fn encode_table(freq: &[u32; 256], lower: u32, out_bits: u32) -> [EncodeSymbol; 256] {
    let mut table = [EncodeSymbol::default(); 256];
    let mut c = 0;
    for s in 0..256 {
        if freq[s] > 0 {
            table[s] = EncodeSymbol::new(c, freq[s], lower, out_bits);
        }
        c += freq[s];
    }
    table
}

/// Writes the mode and the frequency table; true when the stream is done
/// (empty or one symbol repeated).
fn write_head(
    symbols: &[u8],
    freq: &[u32; 256],
    distinct: usize,
    mode: u8,
    out: &mut Vec<u8>,
) -> bool {
    out.extend_from_slice(&(symbols.len() as u32).to_le_bytes());
    match distinct {
        0 => out.push(MODE_RAW),
        1 => out.extend_from_slice(&[MODE_CONSTANT, symbols[0]]),
        _ => {
            out.push(mode);
            out.extend_from_slice(&(distinct as u16).to_le_bytes());
            for (s, &f) in freq.iter().enumerate().filter(|(_, f)| **f > 0) {
                out.push(s as u8);
                out.extend_from_slice(&(f as u16).to_le_bytes());
            }
            return false;
        }
    }
    true
}

/// Stores `symbols` as they are instead of the coded stream begun at `head`
/// when coding did not make them smaller.
fn fall_back_to_raw(symbols: &[u8], head: usize, out: &mut Vec<u8>) {
    if out.len() - head > 4 + 1 + symbols.len() {
        out.truncate(head + 4);
        out.push(MODE_RAW);
        out.extend_from_slice(symbols);
    }
}

/// Appends `symbols`, entropy-coded (mode 3), to `out`.
#[inline(always)]
pub(super) fn encode(symbols: &[u8], out: &mut Vec<u8>) {
    let head = out.len();
    let (freq, distinct) = frequencies(symbols);
    if write_head(symbols, &freq, distinct, MODE_RANS_WORDS, out) {
        return;
    }
    let table = encode_table(&freq, WORD_L, 16);
    // The coder runs backwards: symbol i goes through state i % LANES, last
    // symbol first, and the words come out in reverse. A state emits its low
    // word when the next symbol would overflow it; the word is written
    // always and kept only then, so that no branch depends on the data.
    let mut words = vec![0u16; symbols.len() + 2 * LANES];
    let mut at = 0usize;
    let mut x = [WORD_L; LANES];
    let mut put = |x: &mut u32, s: u8, words: &mut [u16]| {
        let e = &table[usize::from(s)];
        let over = *x >= e.x_max;
        words[at] = *x as u16;
        at += usize::from(over);
        *x = e.put(if over { *x >> 16 } else { *x });
    };
    let whole = symbols.len() / LANES * LANES;
    for (i, &s) in symbols.iter().enumerate().skip(whole).rev() {
        put(&mut x[i % LANES], s, &mut words);
    }
    for chunk in symbols[..whole].chunks_exact(LANES).rev() {
        for lane in (0..LANES).rev() {
            put(&mut x[lane], chunk[lane], &mut words);
        }
    }
    for state in x.iter().rev() {
        words[at] = *state as u16;
        words[at + 1] = (*state >> 16) as u16;
        at += 2;
    }
    out.extend_from_slice(&((2 * at) as u32).to_le_bytes());
    out.reserve(2 * at);
    for w in words[..at].iter().rev() {
        out.extend_from_slice(&w.to_le_bytes());
    }
    fall_back_to_raw(symbols, head, out);
}

/// Appends `symbols` in mode 2 (two states, byte renormalisation), as
/// recordings of format 5 and before hold them, to test that they still read.
#[cfg(test)]
pub(super) fn encode_bytes(symbols: &[u8], out: &mut Vec<u8>) {
    let head = out.len();
    let (freq, distinct) = frequencies(symbols);
    if write_head(symbols, &freq, distinct, MODE_RANS, out) {
        return;
    }
    let table = encode_table(&freq, RANS_L, 8);
    let len_at = out.len();
    out.extend_from_slice(&[0; 4]);
    let start = out.len();
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
    out[len_at..start].copy_from_slice(&(coded as u32).to_le_bytes());
    fall_back_to_raw(symbols, head, out);
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

/// A stream's decoding table: each slot's symbol, and each symbol's
/// frequency and first slot.
struct DecodeTable {
    slots: Vec<u8>,
    freq: [u32; 256],
    cum: [u32; 256],
}

impl DecodeTable {
    /// Reads the table that [`write_head`] wrote.
    fn read(buf: &mut &[u8]) -> Option<Self> {
        let distinct = usize::from(take_u16(buf)?);
        let mut t = DecodeTable {
            slots: vec![0u8; PROB_SCALE as usize],
            freq: [0; 256],
            cum: [0; 256],
        };
        let mut c = 0u32;
        for _ in 0..distinct {
            let s = usize::from(take(buf, 1)?[0]);
            let f = u32::from(take_u16(buf)?);
            if f == 0 || c + f > PROB_SCALE || t.freq[s] != 0 {
                return None;
            }
            t.freq[s] = f;
            t.cum[s] = c;
            t.slots[c as usize..(c + f) as usize].fill(s as u8);
            c += f;
        }
        (c == PROB_SCALE).then_some(t)
    }

    /// The symbol state `x` holds, and the state without it (before
    /// renormalisation).
    #[inline]
    fn get(&self, x: u32) -> (u8, u32) {
        let slot = x & (PROB_SCALE - 1);
        let s = self.slots[slot as usize];
        let si = usize::from(s);
        (s, self.freq[si] * (x >> PROB_BITS) + slot - self.cum[si])
    }
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
            let table = DecodeTable::read(buf)?;
            let len = take_u32(buf)? as usize;
            decode_bytes(&table, take(buf, len)?, n, out)?;
        }
        MODE_RANS_WORDS => {
            let table = DecodeTable::read(buf)?;
            let len = take_u32(buf)? as usize;
            decode_words(&table, take(buf, len)?, n, out)?;
        }
        _ => return None,
    }
    Some(())
}

/// Mode 3: `n` symbols from the words of four interleaved states.
fn decode_words(table: &DecodeTable, bytes: &[u8], n: usize, out: &mut Vec<u8>) -> Option<()> {
    if !bytes.len().is_multiple_of(2) || bytes.len() < 4 * LANES {
        return None;
    }
    let words: Vec<u16> = bytes
        .chunks_exact(2)
        .map(|w| u16::from_le_bytes([w[0], w[1]]))
        .collect();
    let mut x = [0u32; LANES];
    for (lane, state) in x.iter_mut().enumerate() {
        *state = u32::from(words[2 * lane + 1]) | (u32::from(words[2 * lane]) << 16);
        // Every state the coder leaves lies in [L, 2¹⁶ L).
        if *state < WORD_L {
            return None;
        }
    }
    let mut at = 2 * LANES;
    // A word is read always (0 past the end) and kept only when the state
    // needs it; running past the end is caught below.
    let mut get = |x: &mut u32| -> u8 {
        let (s, next) = table.get(*x);
        let under = next < WORD_L;
        let w = u32::from(words.get(at).copied().unwrap_or(0));
        *x = if under { (next << 16) | w } else { next };
        at += usize::from(under);
        s
    };
    out.resize(n, 0);
    let whole = n / LANES * LANES;
    for chunk in out[..whole].chunks_exact_mut(LANES) {
        for (lane, s) in chunk.iter_mut().enumerate() {
            *s = get(&mut x[lane]);
        }
    }
    for (i, s) in out.iter_mut().enumerate().skip(whole) {
        *s = get(&mut x[i % LANES]);
    }
    // A whole stream ends with every word read and every state back where
    // the coder started.
    (at == words.len() && x == [WORD_L; LANES]).then_some(())
}

/// Mode 2: `n` symbols from the bytes of two interleaved states.
fn decode_bytes(table: &DecodeTable, mut bytes: &[u8], n: usize, out: &mut Vec<u8>) -> Option<()> {
    let mut read_state = || {
        let head = take(&mut bytes, 4)?;
        let x = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
        // Every state the coder leaves lies in [L, 256 L); outside it
        // the arithmetic below could overflow.
        (RANS_L..RANS_L << 8).contains(&x).then_some(x)
    };
    let (mut x0, mut x1) = (read_state()?, read_state()?);
    let get = |x: &mut u32, bytes: &mut &[u8]| -> Option<u8> {
        let (s, next) = table.get(*x);
        *x = next;
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
    Some(())
}

/// Steps over a stream that [`encode`] wrote at the front of `buf`.
pub(super) fn skip(buf: &mut &[u8]) -> Option<()> {
    let n = take_u32(buf)? as usize;
    match take(buf, 1)?[0] {
        MODE_RAW => take(buf, n)?,
        MODE_CONSTANT => take(buf, 1)?,
        MODE_RANS | MODE_RANS_WORDS => {
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
    fn streams_of_format_5_two_byte_states_still_decode() {
        let mut r = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(5);
        for len in [2usize, 3, 17, 1000, 65_537] {
            let symbols: Vec<u8> = (0..len)
                .map(|_| (r.random::<f64>().powi(3) * 40.0) as u8)
                .collect();
            let mut buf = Vec::new();
            encode_bytes(&symbols, &mut buf);
            // Short streams are cheaper stored as they are.
            assert_eq!(buf[4], if len < 100 { MODE_RAW } else { MODE_RANS });
            let (mut rest, mut back) = (buf.as_slice(), Vec::new());
            decode(&mut rest, len, &mut back).expect("decodes");
            assert_eq!(back, symbols);
            let mut rest = buf.as_slice();
            skip(&mut rest).expect("skips");
            assert!(rest.is_empty());
        }
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
