//! Binary encoding of frames: exact keyframes, and compact deltas after a keyframe.
//!
//! A delta keeps everything exact except the two arrays that are as large as
//! the network (weights and their gradients):
//! - weights are quantised per layer on a grid of `max|ΔW| / 127`, where ΔW is
//!   the change since the keyframe: the error is at most `max|ΔW| / 254`. What
//!   is stored is each weight's correction to a prediction from the records
//!   before it (the keyframe, the previous record, or the previous record plus
//!   its change), entropy-coded: a weight that moves steadily costs a few bits;
//! - weight gradients are stored on a logarithmic scale per layer: the
//!   relative error is at most 4.5%, and values below `max|g| · 2⁻¹⁶` read back
//!   as zero. Their levels are coded losslessly against a row-plus-column
//!   expectation.
//!
//! Format version 3 stored the same grids without prediction or entropy
//! coding (`i8` and `u8` per value); those recordings still read. Format 5
//! appends each layer's stats (norms, update, activation moments, dead
//! units, exact `f32`) to every record; format 4 is format 5 without them.
//! Format 6 codes the same streams four rANS states at a time (the entropy
//! coder's mode 3); format 5's streams still read.

use super::entropy;
use crate::lab::frame::{Frame, LayerFrame, LayerStats, Probe};
use crate::lab::frame::{Metrics, RunStatus};

/// Octaves below a layer's largest gradient that the log scale covers.
pub const GRAD_OCTAVES: f32 = 16.0;
/// Largest relative error of a quantised gradient (half a log step).
pub const GRAD_RELATIVE_ERROR: f32 = 0.045;

/// How the big arrays of a record are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    /// Every value as `f32`.
    Exact,
    /// Weights as `i8` changes since a keyframe, gradients on a `u8` log scale
    /// (format version 3; read, no longer written).
    Delta,
    /// Weights as `i8` corrections to a prediction from the records before,
    /// on the grid of [`Coding::Delta`]; gradients as its log levels; both
    /// entropy-coded.
    Predicted,
}

struct Writer<'a> {
    out: &'a mut Vec<u8>,
}

impl Writer<'_> {
    fn u8(&mut self, v: u8) {
        self.out.push(v);
    }
    fn u16(&mut self, v: u16) {
        self.out.extend_from_slice(&v.to_le_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.out.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.out.extend_from_slice(&v.to_le_bytes());
    }
    fn f32(&mut self, v: f32) {
        self.out.extend_from_slice(&v.to_le_bytes());
    }
    fn opt_f32(&mut self, v: Option<f32>) {
        match v {
            Some(x) => {
                self.u8(1);
                self.f32(x);
            }
            None => self.u8(0),
        }
    }
    fn f32s(&mut self, v: &[f32]) {
        self.u32(v.len() as u32);
        // Into bytes already there, four at a time: a copy the compiler
        // vectorises (pushing each value checked the capacity every time).
        let start = self.out.len();
        self.out.resize(start + 4 * v.len(), 0);
        for (bytes, x) in self.out[start..].chunks_exact_mut(4).zip(v) {
            bytes.copy_from_slice(&x.to_le_bytes());
        }
    }
}

/// Reads what [`Writer`] wrote; every read fails softly at the end of the buffer.
struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.buf.len() < n {
            return None;
        }
        let (a, b) = self.buf.split_at(n);
        self.buf = b;
        Some(a)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u16(&mut self) -> Option<u16> {
        self.take(2)
            .and_then(|b| b.try_into().ok())
            .map(u16::from_le_bytes)
    }
    fn u32(&mut self) -> Option<u32> {
        self.take(4)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_le_bytes)
    }
    fn u64(&mut self) -> Option<u64> {
        self.take(8)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_le_bytes)
    }
    fn f32(&mut self) -> Option<f32> {
        self.take(4)
            .and_then(|b| b.try_into().ok())
            .map(f32::from_le_bytes)
    }
    fn opt_f32(&mut self) -> Option<Option<f32>> {
        match self.u8()? {
            0 => Some(None),
            _ => self.f32().map(Some),
        }
    }
    fn f32s(&mut self) -> Option<Vec<f32>> {
        let n = self.u32()? as usize;
        let bytes = self.take(n.checked_mul(4)?)?;
        Some(
            bytes
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        )
    }
    fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        self.take(n)
    }
}

/// Writes a measurement: its status and every measure, by position in
/// [`Metrics::MEASURES`] (the step is known to the reader).
fn write_measures(w: &mut Writer<'_>, m: &Metrics) {
    w.u8(match m.status {
        RunStatus::Ok => 0,
        RunStatus::Diverged => 1,
    });
    w.u16(Metrics::MEASURES.len() as u16);
    for measure in Metrics::MEASURES {
        w.opt_f32((measure.get)(m));
    }
}

/// Reads what [`write_measures`] wrote; measures this build does not know are skipped.
fn read_measures(r: &mut Reader<'_>, step: u64) -> Option<Metrics> {
    let mut m = Metrics::at(step);
    m.status = match r.u8()? {
        0 => RunStatus::Ok,
        _ => RunStatus::Diverged,
    };
    let count = usize::from(r.u16()?);
    for i in 0..count {
        let v = r.opt_f32()?;
        if let Some(measure) = Metrics::MEASURES.get(i) {
            (measure.set)(&mut m, v);
        }
    }
    Some(m)
}

/// Writes a frame's own measures and its latest evaluation. The mini-batch
/// loss comes first, so that a scan of the file finds it without decoding.
fn write_metrics(w: &mut Writer<'_>, frame: &Frame) {
    w.f32(frame.metrics.batch_loss.unwrap_or(f32::NAN));
    write_measures(w, &frame.metrics);
    match &frame.evaluation {
        Some(e) => {
            w.u8(1);
            w.u64(e.step);
            write_measures(w, e);
        }
        None => w.u8(0),
    }
}

fn read_metrics(r: &mut Reader<'_>, step: u64) -> Option<(Metrics, Option<Metrics>)> {
    let _batch_loss = r.f32()?;
    let metrics = read_measures(r, step)?;
    let evaluation = match r.u8()? {
        0 => None,
        _ => {
            let at = r.u64()?;
            Some(read_measures(r, at)?)
        }
    };
    Some((metrics, evaluation))
}

/// Reads the metrics of a version 2 recording: a fixed list of values, with
/// the latest evaluation's fields mixed in.
fn read_metrics_v2(r: &mut Reader<'_>, step: u64) -> Option<(Metrics, Option<Metrics>)> {
    let batch_loss = r.f32()?;
    let eval_step = match r.u8()? {
        0 => None,
        _ => Some(r.u64()?),
    };
    let mut eval = Metrics::at(eval_step.unwrap_or(step));
    eval.train_loss = r.opt_f32()?;
    eval.test_loss = r.opt_f32()?;
    eval.train_accuracy = r.opt_f32()?;
    eval.test_accuracy = r.opt_f32()?;
    eval.generalization_error = r.opt_f32()?;
    let metrics = Metrics {
        batch_loss: Some(batch_loss),
        learning_rate: Some(r.f32()?),
        batch_size: Some(r.u64()? as f32),
        grad_norm: Some(r.f32()?),
        ..Metrics::at(step)
    };
    Some((metrics, eval_step.map(|_| eval)))
}

fn write_probe(w: &mut Writer<'_>, p: &Probe) {
    w.u64(p.index as u64);
    w.f32s(&p.input);
    w.f32s(&p.target);
    match p.label {
        Some(l) => {
            w.u8(1);
            w.u32(l);
        }
        None => w.u8(0),
    }
    w.f32s(&p.output);
    w.f32(p.loss);
}

fn read_probe(r: &mut Reader<'_>) -> Option<Probe> {
    Some(Probe {
        index: r.u64()? as usize,
        input: r.f32s()?,
        target: r.f32s()?,
        label: match r.u8()? {
            0 => None,
            _ => Some(r.u32()?),
        },
        output: r.f32s()?,
        loss: r.f32()?,
    })
}

/// The weights a delta is predicted from: its keyframe's, and those of the two
/// records before it as a reader gets them back (not as they were), so that
/// writer and reader predict exactly the same values.
#[derive(Debug, Clone, Default)]
pub struct Chain {
    key: Vec<Vec<f32>>,
    prev: Vec<Vec<f32>>,
    prev2: Vec<Vec<f32>>,
    /// The next delta is an anchor: predicted from the keyframe alone.
    anchor: bool,
    scratch: Scratch,
}

/// Buffers an encoder reuses from record to record.
#[derive(Debug, Clone, Default)]
struct Scratch {
    symbols: Vec<u8>,
    read_back: Vec<f32>,
    codes: Vec<u8>,
}

impl Chain {
    /// A chain that starts at keyframe `key`.
    pub fn start(key: &Frame) -> Self {
        let weights: Vec<Vec<f32>> = key.layers.iter().map(|l| l.weights.clone()).collect();
        Chain {
            key: weights.clone(),
            prev: weights.clone(),
            prev2: weights,
            anchor: false,
            scratch: Scratch::default(),
        }
    }

    /// True when `frame`'s layers have the sizes of the chain's keyframe.
    pub fn fits(&self, frame: &Frame) -> bool {
        self.key.len() == frame.layers.len()
            && self
                .key
                .iter()
                .zip(&frame.layers)
                .all(|(k, l)| k.len() == l.weights.len())
    }

    /// Makes the next delta an anchor: every layer predicted from the
    /// keyframe alone (or exact), so that a reader can start decoding there
    /// with nothing but the keyframe.
    pub fn anchor_next(&mut self) {
        self.anchor = true;
    }

    /// The chain as a reader starting at an anchor or right after the
    /// keyframe has it: every layer back at the keyframe.
    pub fn restart(&mut self) {
        for ((p, p2), k) in self.prev.iter_mut().zip(&mut self.prev2).zip(&self.key) {
            p.clone_from(k);
            p2.clone_from(k);
        }
    }

    /// Restarts layer `l`'s chain at weights that need no history (exact, or
    /// predicted from the keyframe alone): its trend restarts too, so that a
    /// reader starting there predicts what the writer did.
    fn set(&mut self, l: usize, weights: &[f32]) {
        self.prev[l].clear();
        self.prev[l].extend_from_slice(weights);
        self.prev2[l].clone_from(&self.prev[l]);
    }

    /// Moves layer `l` on to `weights` (left with the oldest weights, for reuse).
    fn advance(&mut self, l: usize, predictor: Predictor, weights: &mut Vec<f32>) {
        std::mem::swap(&mut self.prev[l], &mut self.prev2[l]);
        std::mem::swap(&mut self.prev[l], weights);
        if predictor == Predictor::Key {
            self.prev2[l].clone_from(&self.prev[l]);
        }
    }
}

/// How a predicted delta guesses each weight before its quantised correction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Predictor {
    /// The keyframe's weight. A layer so predicted restarts its chain, as an
    /// exact one does: what comes after it needs nothing before it.
    Key = 0,
    /// The previous record's weight: the weight moved little.
    Previous = 1,
    /// The previous weight plus the previous change: the weight moves steadily
    /// (momentum, Adam).
    Trend = 2,
}

impl Predictor {
    const ALL: [Predictor; 3] = [Predictor::Key, Predictor::Previous, Predictor::Trend];

    fn from_u8(v: u8) -> Option<Self> {
        Self::ALL.get(usize::from(v)).copied()
    }

    #[inline]
    fn guess(self, key: f32, prev: f32, prev2: f32) -> f32 {
        match self {
            Predictor::Key => key,
            Predictor::Previous => prev,
            Predictor::Trend => 2.0 * prev - prev2,
        }
    }
}

/// Encodes `frame`: exactly without a chain (a keyframe), else as a delta
/// predicted from `chain`, which then moves on to this frame as read back.
pub fn encode(frame: &Frame, chain: Option<&mut Chain>, out: &mut Vec<u8>) {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: `encode_avx2` needs AVX2, which this CPU has.
        return unsafe { encode_avx2(frame, chain, out) };
    }
    encode_any(frame, chain, out);
}

/// [`encode_any`] in AVX2's 256-bit lanes, twice the baseline's: its loops
/// over every weight and gradient are written to vectorise. No fused
/// multiply-add, so every value is rounded as in the baseline and the bytes
/// are the same.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn encode_avx2(frame: &Frame, chain: Option<&mut Chain>, out: &mut Vec<u8>) {
    encode_any(frame, chain, out);
}

/// The encoder, for whatever vector instructions its caller is compiled for:
/// it and its loops inline into that caller.
#[inline(always)]
fn encode_any(frame: &Frame, mut chain: Option<&mut Chain>, out: &mut Vec<u8>) {
    let mut w = Writer { out };
    write_metrics(&mut w, frame);
    write_probe(&mut w, &frame.probe);
    w.u32(frame.layers.len() as u32);
    // The chain's buffers, reused from record to record.
    let mut scratch = chain
        .as_deref_mut()
        .map(|c| std::mem::take(&mut c.scratch))
        .unwrap_or_default();
    let Scratch {
        symbols,
        read_back,
        codes,
    } = &mut scratch;
    for (l, layer) in frame.layers.iter().enumerate() {
        w.u32(layer.inputs as u32);
        w.u32(layer.outputs as u32);
        w.f32(layer.scale);
        match chain.as_deref_mut() {
            Some(c) if c.key.get(l).is_some_and(|k| k.len() == layer.weights.len()) => {
                let start = w.out.len();
                w.u8(Coding::Predicted as u8);
                let predictor = encode_predicted(&mut w, &layer.weights, c, l, symbols, read_back);
                encode_gradients(&mut w, layer, symbols, codes);
                // A small layer's tables can cost more than its values.
                let exact_bytes = 9 + 4 * (layer.weights.len() + layer.weight_grads.len());
                if w.out.len() - start >= exact_bytes {
                    w.out.truncate(start);
                    w.u8(Coding::Exact as u8);
                    w.f32s(&layer.weights);
                    w.f32s(&layer.weight_grads);
                    c.set(l, &layer.weights);
                } else {
                    c.advance(l, predictor, read_back);
                }
            }
            _ => {
                w.u8(Coding::Exact as u8);
                w.f32s(&layer.weights);
                w.f32s(&layer.weight_grads);
            }
        }
        write_neuron_arrays(&mut w, layer);
    }
    // Format 5: the layers' health, after everything a seek decodes.
    w.u32(frame.stats.len() as u32);
    for stats in &frame.stats {
        for v in [
            stats.weight_norm,
            stats.grad_norm,
            stats.update_norm,
            stats.activation_mean,
            stats.activation_std,
            stats.dead_fraction,
        ] {
            w.f32(v);
        }
    }
    if let Some(c) = chain {
        c.scratch = scratch;
        c.anchor = false;
    }
}

/// Writes a layer's per-neuron arrays, exact in every format.
#[inline(always)]
fn write_neuron_arrays(w: &mut Writer<'_>, layer: &LayerFrame) {
    for v in [
        &layer.biases,
        &layer.bias_grads,
        &layer.pre_activations,
        &layer.activations,
        &layer.mean_activations,
        &layer.probe_grads,
    ] {
        w.f32s(v);
    }
}

/// Reads the layers' stats a format 5 record ends with.
fn read_stats(r: &mut Reader<'_>) -> Option<Vec<LayerStats>> {
    let n = r.u32()? as usize;
    // Each takes 24 bytes: a count past the record's end is damage.
    if n.checked_mul(24)? > r.buf.len() {
        return None;
    }
    let mut stats = Vec::with_capacity(n);
    for _ in 0..n {
        stats.push(LayerStats {
            weight_norm: r.f32()?,
            grad_norm: r.f32()?,
            update_norm: r.f32()?,
            activation_mean: r.f32()?,
            activation_std: r.f32()?,
            dead_fraction: r.f32()?,
        });
    }
    Some(stats)
}

/// Decodes a frame of `step` written by recording format `version`. A delta
/// needs the chain of its keyframe and the records before it, and moves the
/// chain on to itself; a keyframe needs none (start a chain from it).
pub fn decode(buf: &[u8], step: u64, mut chain: Option<&mut Chain>, version: u16) -> Option<Frame> {
    let mut r = Reader::new(buf);
    let (metrics, evaluation) = if version <= 2 {
        read_metrics_v2(&mut r, step)?
    } else {
        read_metrics(&mut r, step)?
    };
    let probe = read_probe(&mut r)?;
    let n_layers = r.u32()? as usize;
    let mut layers = Vec::with_capacity(n_layers.min(1024));
    let mut symbols = Vec::new();
    for l in 0..n_layers {
        let inputs = r.u32()? as usize;
        let outputs = r.u32()? as usize;
        let scale = if version <= 2 { 1.0 } else { r.f32()? };
        let (weights, weight_grads) = match r.u8()? {
            0 => {
                let weights = r.f32s()?;
                if let Some(c) = chain.as_deref_mut().filter(|c| l < c.prev.len()) {
                    if c.prev[l].len() != weights.len() {
                        return None;
                    }
                    c.set(l, &weights);
                }
                (weights, r.f32s()?)
            }
            1 => {
                let kw = chain.as_deref()?.key.get(l)?;
                (decode_weight_delta(&mut r, kw)?, decode_log(&mut r)?)
            }
            2 => {
                let c = chain.as_deref_mut()?;
                decode_predicted(&mut r, c, l, &mut symbols)?;
                (c.prev[l].clone(), decode_gradients(&mut r, &mut symbols)?)
            }
            _ => return None,
        };
        layers.push(LayerFrame {
            inputs,
            outputs,
            weights,
            weight_grads,
            biases: r.f32s()?,
            bias_grads: r.f32s()?,
            pre_activations: r.f32s()?,
            activations: r.f32s()?,
            mean_activations: r.f32s()?,
            probe_grads: r.f32s()?,
            scale,
        });
    }
    let stats = if version >= 5 {
        read_stats(&mut r)?
    } else {
        Vec::new()
    };
    Some(Frame {
        step,
        metrics,
        evaluation,
        probe,
        layers,
        stats,
    })
}

/// Writes layer `l`'s weights as quantised corrections to the best of the
/// predictors, on the grid a keyframe-relative delta would use (so the error
/// bound is that of [`weight_error_bound`]); `read_back` gets what a reader
/// will decode.
#[inline(always)]
fn encode_predicted(
    w: &mut Writer<'_>,
    weights: &[f32],
    chain: &Chain,
    l: usize,
    symbols: &mut Vec<u8>,
    read_back: &mut Vec<f32>,
) -> Predictor {
    let (key, prev, prev2) = (&chain.key[l], &chain.prev[l], &chain.prev2[l]);
    let step = largest_change(weights, key) / 127.0;
    // The predictor with the smallest corrections on a sample of the layer;
    // the keyframe's if any of its corrections would not fit in an i8 (the
    // keyframe's always do).
    let mut best = (Predictor::Key, f32::INFINITY);
    if step > 0.0 {
        let mut sums = [0.0f32; 3];
        for i in (0..weights.len()).step_by(7) {
            for p in Predictor::ALL {
                sums[p as usize] += (weights[i] - p.guess(key[i], prev[i], prev2[i])).abs();
            }
        }
        for p in Predictor::ALL {
            if sums[p as usize] < best.1 {
                best = (p, sums[p as usize]);
            }
        }
    }
    let mut predictor = if chain.anchor { Predictor::Key } else { best.0 };
    if !correct(weights, chain, l, step, predictor, symbols, read_back) {
        predictor = Predictor::Key;
        correct(weights, chain, l, step, predictor, symbols, read_back);
    }
    w.f32(step);
    w.u8(predictor as u8);
    entropy::encode(symbols, w.out);
    predictor
}

/// Quantises layer `l`'s weights as corrections to `predictor`'s guesses on
/// a grid of `step`; false if a correction did not fit in an i8.
#[inline(always)]
fn correct(
    weights: &[f32],
    chain: &Chain,
    l: usize,
    step: f32,
    predictor: Predictor,
    symbols: &mut Vec<u8>,
    read_back: &mut Vec<f32>,
) -> bool {
    let inv = if step > 0.0 { 1.0 / step } else { 0.0 };
    let (key, prev, prev2) = (&chain.key[l], &chain.prev[l], &chain.prev2[l]);
    // One loop per predictor, so that none has a branch per weight, over
    // slices that the compiler vectorises.
    fn run(
        guess: impl Fn(f32, f32, f32) -> f32,
        (weights, key, prev, prev2): (&[f32], &[f32], &[f32], &[f32]),
        (inv, step): (f32, f32),
        symbols: &mut [u8],
        read_back: &mut [f32],
    ) -> bool {
        let mut over = 0u8;
        let out = symbols.iter_mut().zip(read_back.iter_mut());
        let inputs = weights.iter().zip(key).zip(prev).zip(prev2);
        for ((s, r), (((&w, &k), &a), &b)) in out.zip(inputs) {
            let g = guess(k, a, b);
            let x = (w - g) * inv;
            over |= u8::from(x.abs() >= 127.5);
            let q = round_i32(x.clamp(-127.0, 127.0)) as i8;
            *s = q as u8;
            *r = g + f32::from(q) * step;
        }
        over == 0
    }
    symbols.clear();
    symbols.resize(weights.len(), 0);
    read_back.clear();
    read_back.resize(weights.len(), 0.0);
    let arrays = (weights, key.as_slice(), prev.as_slice(), prev2.as_slice());
    let grid = (inv, step);
    match predictor {
        Predictor::Key => run(
            |k, _, _| Predictor::Key.guess(k, 0.0, 0.0),
            arrays,
            grid,
            symbols,
            read_back,
        ),
        Predictor::Previous => run(
            |_, a, _| Predictor::Previous.guess(0.0, a, 0.0),
            arrays,
            grid,
            symbols,
            read_back,
        ),
        Predictor::Trend => run(
            |_, a, b| Predictor::Trend.guess(0.0, a, b),
            arrays,
            grid,
            symbols,
            read_back,
        ),
    }
}

/// Reads layer `l`'s predicted weights and moves the chain on to them (in
/// place: each new weight overwrites the oldest one it was predicted from).
fn decode_predicted(
    r: &mut Reader<'_>,
    chain: &mut Chain,
    l: usize,
    symbols: &mut Vec<u8>,
) -> Option<()> {
    let step = r.f32()?;
    let predictor = Predictor::from_u8(r.u8()?)?;
    let (key, prev, prev2) = (
        chain.key.get(l)?,
        chain.prev.get(l)?,
        chain.prev2.get_mut(l)?,
    );
    entropy::decode(&mut r.buf, key.len(), symbols)?;
    if symbols.len() != key.len() || prev.len() != key.len() || prev2.len() != key.len() {
        return None;
    }
    for (((old, &k), &a), &q) in prev2.iter_mut().zip(key).zip(prev).zip(symbols.iter()) {
        *old = predictor.guess(k, a, *old) + f32::from(q as i8) * step;
    }
    std::mem::swap(&mut chain.prev[l], &mut chain.prev2[l]);
    if predictor == Predictor::Key {
        chain.prev2[l].clone_from(&chain.prev[l]);
    }
    Some(())
}

/// Steps over a gradient section that [`encode_gradients`] wrote.
fn skip_gradients(r: &mut Reader<'_>) -> Option<()> {
    r.take(4 + 4 + 4 + 1)?;
    // Row means, column means, column signs, levels, escapes.
    for _ in 0..5 {
        entropy::skip(&mut r.buf)?;
    }
    Some(())
}

fn skip_f32s(r: &mut Reader<'_>) -> Option<()> {
    let n = r.u32()? as usize;
    r.take(n.checked_mul(4)?).map(|_| ())
}

/// Moves `chain` on past a delta of format `version` ≥ 4, decoding only its
/// weights: what a reader does for the records between a keyframe and the
/// one it seeks.
pub fn advance(buf: &[u8], chain: &mut Chain, version: u16) -> Option<()> {
    let mut r = Reader::new(buf);
    let _ = if version <= 2 {
        read_metrics_v2(&mut r, 0)?
    } else {
        read_metrics(&mut r, 0)?
    };
    read_probe(&mut r)?;
    let n_layers = r.u32()? as usize;
    let mut symbols = Vec::new();
    for l in 0..n_layers {
        r.take(if version <= 2 { 8 } else { 12 })?;
        match r.u8()? {
            0 => {
                let weights = r.f32s()?;
                if chain.prev.get(l)?.len() != weights.len() {
                    return None;
                }
                chain.set(l, &weights);
                skip_f32s(&mut r)?;
            }
            2 => {
                decode_predicted(&mut r, chain, l, &mut symbols)?;
                skip_gradients(&mut r)?;
            }
            _ => return None,
        }
        for _ in 0..6 {
            skip_f32s(&mut r)?;
        }
    }
    Some(())
}

/// The largest finite `|a − b|` (0 for none), in lanes that vectorise: this
/// runs over every weight of every recorded step.
#[inline(always)]
fn largest_change(a: &[f32], b: &[f32]) -> f32 {
    const LANES: usize = 8;
    let mut lanes = [0.0f32; LANES];
    let add = |lane: &mut f32, d: f32| *lane = lane.max(if d.is_finite() { d } else { 0.0 });
    for (x, y) in a.chunks_exact(LANES).zip(b.chunks_exact(LANES)) {
        for j in 0..LANES {
            add(&mut lanes[j], (x[j] - y[j]).abs());
        }
    }
    let tail = a.len() / LANES * LANES;
    for (x, y) in a.iter().zip(b).skip(tail) {
        add(&mut lanes[0], (x - y).abs());
    }
    lanes.iter().fold(0.0f32, |m, &v| m.max(v))
}

/// The largest finite `|v|` (0 for none), as [`largest_change`] does it.
#[inline(always)]
fn largest_abs(values: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 8];
    for chunk in values.chunks(8) {
        for (lane, &v) in lanes.iter_mut().zip(chunk) {
            *lane = lane.max(if v.is_finite() { v.abs() } else { 0.0 });
        }
    }
    lanes.iter().fold(0.0f32, |m, &v| m.max(v))
}

/// Undoes the encoder's zigzag (0, -1, 1, -2, ... as 0, 1, 2, 3, ...).
fn unzigzag(z: u8) -> i32 {
    let z = i32::from(z);
    if z % 2 == 0 { z / 2 } else { -(z + 1) / 2 }
}

/// Rounded mean of the nonzero levels summed in `(sum, count)`; 0 for none.
fn mean_level((sum, count): (u64, u64)) -> u8 {
    (sum + count / 2)
        .checked_div(count)
        .map_or(0, |mean| mean.clamp(1, 127) as u8)
}

/// The level a gradient is expected at, from its row's and column's means
/// (a gradient is a sum of outer products: its log magnitude is roughly a
/// row term plus a column term).
#[inline]
fn expected_level(row: u8, col: u8, all: u8) -> i32 {
    let col = if col == 0 { all } else { col };
    (i32::from(row) + i32::from(col) - i32::from(all)).clamp(1, 127)
}

/// Writes weight gradients on the log scale of [`encode_log`], losslessly
/// coded: levels as their difference from a row-plus-column expectation,
/// signs as agreement with their column's usual sign; rows that are all zero
/// (inputs that were zero for the whole batch) cost one byte.
#[inline(always)]
fn encode_gradients(
    w: &mut Writer<'_>,
    layer: &LayerFrame,
    symbols: &mut Vec<u8>,
    codes: &mut Vec<u8>,
) {
    let values = &layer.weight_grads;
    let (rows, cols) = if layer.inputs * layer.outputs == values.len() && layer.outputs > 0 {
        (layer.inputs, layer.outputs)
    } else {
        (1, values.len())
    };
    let max = largest_abs(values);
    log_codes(values, max, codes);
    // Sums of nonzero levels and their counts, without a branch per value,
    // in `u32` lanes (narrow lanes vectorise four times wider) gathered into
    // `u64` totals every block of rows, before a lane could overflow.
    const BLOCK_ROWS: usize = (u32::MAX / 127) as usize;
    let mut row_sums = vec![(0u64, 0u64); rows];
    let mut col_level = vec![0u64; cols];
    let mut col_count = vec![0u64; cols];
    let mut col_negative = vec![0u64; cols];
    let (mut block_level, mut block_count, mut block_negative) =
        (vec![0u32; cols], vec![0u32; cols], vec![0u32; cols]);
    for (b, block) in codes.chunks(cols.max(1) * BLOCK_ROWS).enumerate() {
        for (r, row) in block.chunks_exact(cols.max(1)).enumerate() {
            let n = row.len().min(cols);
            let (bl, bc, bn) = (
                &mut block_level[..n],
                &mut block_count[..n],
                &mut block_negative[..n],
            );
            let (mut level_sum, mut count) = (0u32, 0u32);
            for j in 0..n {
                let c = row[j];
                let level = u32::from(c & 0x7f);
                let nonzero = u32::from(level > 0);
                level_sum += level;
                count += nonzero;
                bl[j] += level;
                bc[j] += nonzero;
                bn[j] += u32::from(c >> 7);
            }
            row_sums[b * BLOCK_ROWS + r] = (u64::from(level_sum), u64::from(count));
        }
        for (total, part) in [
            (&mut col_level, &mut block_level),
            (&mut col_count, &mut block_count),
            (&mut col_negative, &mut block_negative),
        ] {
            for (t, p) in total.iter_mut().zip(part.iter_mut()) {
                *t += u64::from(std::mem::take(p));
            }
        }
    }
    let col_sums: Vec<(u64, u64)> = col_level
        .into_iter()
        .zip(col_count.iter().copied())
        .collect();
    let all = mean_level(
        row_sums
            .iter()
            .fold((0, 0), |(s, n), &(a, b)| (s + a, n + b)),
    );
    let row_means: Vec<u8> = row_sums.iter().copied().map(mean_level).collect();
    let col_means: Vec<u8> = col_sums.iter().copied().map(mean_level).collect();
    // A column's usual sign: negative when most of its nonzero values are.
    let col_signs: Vec<u8> = col_negative
        .iter()
        .zip(&col_count)
        .map(|(&n, &c)| u8::from(2 * n > c))
        .collect();
    w.f32(max);
    w.u32(rows as u32);
    w.u32(cols as u32);
    w.u8(all);
    entropy::encode(&row_means, w.out);
    entropy::encode(&col_means, w.out);
    entropy::encode(&col_signs, w.out);
    symbols.clear();
    // Each column's part of `expected_level`, its mean or the layer's.
    let col_at: Vec<u8> = col_means
        .iter()
        .map(|&c| if c == 0 { all } else { c })
        .collect();
    // Rare large surprises go to a second stream, so that a level's surprise
    // and its sign share one symbol.
    let mut escapes = Vec::new();
    for (row, &row_mean) in codes.chunks_exact(cols.max(1)).zip(&row_means) {
        if row_mean == 0 {
            continue;
        }
        // Every value's symbol is computed and selected, with no branch on
        // the data (zeros and signs are unpredictable): 0 for a zero, the
        // escape for a large surprise (whose details follow in a second pass).
        let start = symbols.len();
        let n = row.len().min(cols);
        symbols.resize(start + n, 0);
        let (out, cols_at, signs) = (&mut symbols[start..], &col_at[..n], &col_signs[..n]);
        // `expected_level` in i16 lanes: the row's part is one constant.
        let row_part = i16::from(row_mean) - i16::from(all);
        // How far a value's level is from the expected one, zigzagged
        // (0, -1, 1, -2, ...): 0..=252.
        let surprise_of = |c: u8, col: u8| -> u16 {
            let d = i16::from(c & 0x7f) - (i16::from(col) + row_part).clamp(1, 127);
            ((d << 1) ^ (d >> 15)) as u16
        };
        let symbol = |c: u8, col: u8, sign: u8| -> (u8, u8) {
            let level = c & 0x7f;
            let surprise = surprise_of(c, col);
            let flipped = u16::from((c >> 7) != sign);
            let fits = u16::from(surprise < u16::from(ESCAPE_SURPRISE)).wrapping_neg();
            let coded = ((1 + 2 * surprise + flipped) & fits) | (u16::from(ESCAPE) & !fits);
            let nonzero = u8::from(level != 0);
            (
                coded as u8 & nonzero.wrapping_neg(),
                nonzero & !(fits as u8) & 1,
            )
        };
        // Fixed lanes, so that the loop vectorises.
        const LANES: usize = 16;
        let mut escaped = 0u8;
        let mut outs = out.chunks_exact_mut(LANES);
        let mut ins = row[..n].chunks_exact(LANES);
        let mut at = cols_at.chunks_exact(LANES);
        let mut sg = signs.chunks_exact(LANES);
        for (((o, c), col), sign) in (&mut outs).zip(&mut ins).zip(&mut at).zip(&mut sg) {
            for j in 0..LANES {
                let (coded, escape) = symbol(c[j], col[j], sign[j]);
                o[j] = coded;
                escaped |= escape;
            }
        }
        let tail = ins
            .remainder()
            .iter()
            .zip(at.remainder())
            .zip(sg.remainder());
        for (o, ((&c, &col), &sign)) in outs.into_remainder().iter_mut().zip(tail) {
            let (coded, escape) = symbol(c, col, sign);
            *o = coded;
            escaped |= escape;
        }
        if escaped != 0 {
            for ((&c, &col), &sign) in row[..n].iter().zip(cols_at).zip(signs) {
                let surprise = surprise_of(c, col);
                if c & 0x7f != 0 && surprise >= u16::from(ESCAPE_SURPRISE) {
                    escapes.extend([surprise as u8, u8::from((c >> 7) != sign)]);
                }
            }
        }
    }
    entropy::encode(symbols, w.out);
    entropy::encode(&escapes, w.out);
}

/// Surprises (zigzagged level differences) from this one on are escaped.
const ESCAPE_SURPRISE: u8 = 127;
/// The symbol of an escaped gradient.
const ESCAPE: u8 = 255;

fn decode_gradients(r: &mut Reader<'_>, symbols: &mut Vec<u8>) -> Option<Vec<f32>> {
    let max = r.f32()?;
    let rows = r.u32()? as usize;
    let cols = r.u32()? as usize;
    let n = rows.checked_mul(cols)?;
    // Nothing is allocated for more values than the record could describe.
    if n > r.buf.len().saturating_mul(8).saturating_add(1 << 20) {
        return None;
    }
    let all = r.u8()?;
    let (mut row_means, mut col_means, mut col_signs, mut escapes) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    entropy::decode(&mut r.buf, rows, &mut row_means)?;
    entropy::decode(&mut r.buf, cols, &mut col_means)?;
    entropy::decode(&mut r.buf, cols, &mut col_signs)?;
    entropy::decode(&mut r.buf, n, symbols)?;
    entropy::decode(&mut r.buf, n.saturating_mul(2), &mut escapes)?;
    if row_means.len() != rows || col_means.len() != cols || col_signs.len() != cols {
        return None;
    }
    let steps = 126.0 / GRAD_OCTAVES;
    let magnitudes: [f32; 128] = std::array::from_fn(|level| {
        max * (((level as i32 - 1) as f32 / steps) - GRAD_OCTAVES).exp2()
    });
    let mut values = vec![0.0f32; n];
    let mut symbols = symbols.iter();
    let mut escapes = escapes.chunks_exact(2);
    for (i, row) in values.chunks_exact_mut(cols.max(1)).enumerate() {
        if row_means[i] == 0 {
            continue;
        }
        for (j, v) in row.iter_mut().enumerate() {
            let (surprise, flipped) = match *symbols.next()? {
                0 => continue,
                ESCAPE => {
                    let e = escapes.next()?;
                    (e[0], e[1] != 0)
                }
                s => ((s - 1) / 2, (s - 1) % 2 != 0),
            };
            let level = expected_level(row_means[i], col_means[j], all) + unzigzag(surprise);
            if !(1..=127).contains(&level) {
                return None;
            }
            let magnitude = magnitudes[level as usize];
            *v = if flipped != (col_signs[j] != 0) {
                -magnitude
            } else {
                magnitude
            };
        }
    }
    (symbols.next().is_none() && escapes.next().is_none() && escapes.remainder().is_empty())
        .then_some(values)
}

/// A frame as format version 3 wrote it (a delta when `key` is given), to
/// test that such recordings still read.
#[cfg(test)]
pub(super) fn encode_v3(frame: &Frame, key: Option<&Frame>, out: &mut Vec<u8>) {
    let mut w = Writer { out };
    write_metrics(&mut w, frame);
    write_probe(&mut w, &frame.probe);
    w.u32(frame.layers.len() as u32);
    for (l, layer) in frame.layers.iter().enumerate() {
        w.u32(layer.inputs as u32);
        w.u32(layer.outputs as u32);
        w.f32(layer.scale);
        match key.map(|k| &k.layers[l].weights) {
            Some(kw) => {
                w.u8(Coding::Delta as u8);
                encode_weight_delta(&mut w, &layer.weights, kw);
                encode_log(&mut w, &layer.weight_grads);
            }
            None => {
                w.u8(Coding::Exact as u8);
                w.f32s(&layer.weights);
                w.f32s(&layer.weight_grads);
            }
        }
        write_neuron_arrays(&mut w, layer);
    }
}

/// Version 3's weight coding, kept to test that its recordings still read.
#[cfg(test)]
fn encode_weight_delta(w: &mut Writer<'_>, weights: &[f32], key: &[f32]) {
    let max = weights
        .iter()
        .zip(key)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, |m, d| if d.is_finite() { m.max(d) } else { m });
    let scale = max / 127.0;
    w.f32(scale);
    w.u32(weights.len() as u32);
    let inv = if scale > 0.0 { 1.0 / scale } else { 0.0 };
    w.out.extend(
        weights
            .iter()
            .zip(key)
            .map(|(a, b)| round_i32(((a - b) * inv).clamp(-127.0, 127.0)) as i8 as u8),
    );
}

fn decode_weight_delta(r: &mut Reader<'_>, key: &[f32]) -> Option<Vec<f32>> {
    let scale = r.f32()?;
    let n = r.u32()? as usize;
    if n != key.len() {
        return None;
    }
    let q = r.bytes(n)?;
    Some(
        key.iter()
            .zip(q)
            .map(|(k, &q)| k + f32::from(q as i8) * scale)
            .collect(),
    )
}

/// The largest error a delta allows for a layer whose weights moved at most
/// `max_change` since its keyframe.
pub fn weight_error_bound(max_change: f32) -> f32 {
    max_change / 254.0
}

/// Version 3's gradient coding, kept to test that its recordings still read.
#[cfg(test)]
fn encode_log(w: &mut Writer<'_>, values: &[f32]) {
    let max = values
        .iter()
        .map(|v| v.abs())
        .fold(0.0f32, |m, v| if v.is_finite() { m.max(v) } else { m });
    w.f32(max);
    w.u32(values.len() as u32);
    let mut codes = Vec::new();
    log_codes(values, max, &mut codes);
    w.out.extend(codes);
}

/// Each value as a `u8`: a sign bit and a level on a log scale below `max`.
/// Level k (1..=127) stands for max·2^((k-1)/steps − OCTAVES); a value takes
/// the nearest level in log scale, and 0 stands for values below the scale.
#[inline(always)]
fn log_codes(values: &[f32], max: f32, codes: &mut Vec<u8>) {
    codes.clear();
    codes.resize(values.len(), 0);
    if !(max > 0.0 && max.is_finite()) {
        return;
    }
    let steps = 126.0 / GRAD_OCTAVES;
    let floor = max * (-GRAD_OCTAVES).exp2();
    let inv = 1.0 / max;
    // Computed for every value and selected, in fixed lanes, with no branch
    // and no short-circuit, so that the loop vectorises: a branch per value
    // (zero or not, finite or not) cost more than the logarithm.
    let code = |v: f32| -> u8 {
        let bits = v.to_bits();
        let a = f32::from_bits(bits & 0x7fff_ffff);
        let level = round_i32((fast_log2(a * inv) + GRAD_OCTAVES) * steps) + 1;
        let code = level.clamp(1, 127) as u32 | ((bits >> 31) << 7);
        let keep = (a >= floor) & (a <= max);
        code as u8 * u8::from(keep)
    };
    const LANES: usize = 16;
    let mut out = codes.chunks_exact_mut(LANES);
    let mut ins = values.chunks_exact(LANES);
    for (o, v) in (&mut out).zip(&mut ins) {
        for j in 0..LANES {
            o[j] = code(v[j]);
        }
    }
    for (o, &v) in out.into_remainder().iter_mut().zip(ins.remainder()) {
        *o = code(v);
    }
}

/// Rounds to the nearest integer (ties to even), for |x| < 2²²: adding
/// 1.5·2²³ leaves the rounded integer in the sum's low mantissa bits. No
/// libm call (`f32::round` is one on baseline x86-64) and none of `as i32`'s
/// saturating checks (a compare and branch per value, which kept the loops
/// over every weight and gradient of every recorded step from vectorising).
/// Callers clamp or bound `x`; outside the range the result is garbage,
/// never undefined.
#[inline(always)]
fn round_i32(x: f32) -> i32 {
    const MAGIC: f32 = 12_582_912.0;
    (x + MAGIC).to_bits() as i32 - MAGIC.to_bits() as i32
}

/// log2 of a positive normal float, within 2e-6: the exponent from the bits,
/// and log2 of the mantissa m ∈ [1, 2) as 2·atanh((m−1)/(m+1))/ln 2 to its
/// t⁹ term. No table and no libm call, so a loop over it vectorises (this
/// runs for every gradient of every recorded step).
#[inline(always)]
fn fast_log2(x: f32) -> f32 {
    let bits = x.to_bits();
    let exponent = ((bits >> 23) & 0xff) as i32 - 127;
    let m = f32::from_bits((bits & 0x007f_ffff) | 0x3f80_0000);
    let t = (m - 1.0) / (m + 1.0);
    let t2 = t * t;
    let series = t * (1.0 + t2 * (1.0 / 3.0 + t2 * (1.0 / 5.0 + t2 * (1.0 / 7.0 + t2 / 9.0))));
    exponent as f32 + series * (2.0 / std::f32::consts::LN_2)
}

fn decode_log(r: &mut Reader<'_>) -> Option<Vec<f32>> {
    let max = r.f32()?;
    let n = r.u32()? as usize;
    let codes = r.bytes(n)?;
    let steps = 126.0 / GRAD_OCTAVES;
    Some(
        codes
            .iter()
            .map(|&c| {
                let level = c & 0x7f;
                if level == 0 {
                    return 0.0;
                }
                let magnitude = max * ((f32::from(level - 1) / steps) - GRAD_OCTAVES).exp2();
                if c & 0x80 != 0 { -magnitude } else { magnitude }
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const CURRENT: u16 = crate::lab::record::frames::FORMAT_VERSION;

    fn layer(weights: Vec<f32>, grads: Vec<f32>) -> LayerFrame {
        LayerFrame {
            inputs: weights.len(),
            outputs: 1,
            weights,
            weight_grads: grads,
            biases: vec![0.5],
            bias_grads: vec![-0.25],
            pre_activations: vec![1.0],
            activations: vec![0.7],
            mean_activations: vec![0.6],
            probe_grads: vec![0.01],
            scale: 0.25,
        }
    }

    fn frame(weights: Vec<f32>, grads: Vec<f32>) -> Frame {
        Frame {
            step: 3,
            metrics: Metrics {
                batch_loss: Some(0.75),
                learning_rate: Some(0.1),
                ..Metrics::at(3)
            },
            evaluation: Some(Metrics {
                test_loss: Some(0.5),
                test_accuracy: Some(0.9),
                ..Metrics::at(2)
            }),
            layers: vec![layer(weights, grads)],
            ..Default::default()
        }
    }

    #[test]
    fn round_i32_rounds_to_the_nearest_integer_ties_to_even() {
        for i in -16_000..=16_000 {
            let x = i as f32 * 0.125 + 0.01 * (i as f32 * 0.7).sin();
            assert_eq!(round_i32(x), x.round_ties_even() as i32, "{x}");
        }
        for x in [0.5f32, 1.5, -0.5, -2.5, 126.5, -127.0, 4_000_000.0] {
            assert_eq!(round_i32(x), x.round_ties_even() as i32, "{x}");
        }
    }

    #[test]
    fn fast_log2_is_close_to_log2() {
        let mut worst = 0.0f32;
        let mut x = 1e-6f32;
        while x < 4.0 {
            worst = worst.max((fast_log2(x) - x.log2()).abs());
            x *= 1.0007;
        }
        assert!(worst < 5e-6, "{worst}");
    }

    #[test]
    fn exact_frames_round_trip_bit_for_bit() {
        let f = frame(vec![0.1, -0.2, 3.0e-7], vec![1e-9, -5.0, 0.0]);
        let mut buf = Vec::new();
        encode(&f, None, &mut buf);
        assert_eq!(decode(&buf, 3, None, CURRENT).unwrap(), f);
    }

    #[test]
    fn layer_stats_round_trip_and_a_format_4_record_reads_without_them() {
        let mut f = frame(vec![0.1, -0.2, 3.0e-7], vec![1e-9, -5.0, 0.0]);
        f.stats = vec![LayerStats {
            weight_norm: 1.5,
            grad_norm: 2.0e-7,
            update_norm: f32::NAN,
            activation_mean: -0.25,
            activation_std: 0.75,
            dead_fraction: 0.5,
        }];
        let mut buf = Vec::new();
        encode(&f, None, &mut buf);
        let back = decode(&buf, 3, None, CURRENT).unwrap();
        assert_eq!(format!("{:?}", back.stats), format!("{:?}", f.stats));
        assert_eq!(back.layers, f.layers);
        // Format 4 is format 5 without the stats at the end.
        let v4 = &buf[..buf.len() - 4 - 24];
        let old = decode(v4, 3, None, 4).unwrap();
        assert!(old.stats.is_empty());
        assert_eq!(old.layers, f.layers);
        assert!(
            decode(v4, 3, None, CURRENT).is_none(),
            "a cut record is damage"
        );
    }

    /// Checks `back` against `f` within the stated bounds for a layer whose
    /// weights moved at most `max_change` since the keyframe.
    fn assert_within_bounds(back: &Frame, f: &Frame, key: &Frame) {
        for ((b, l), k) in back.layers.iter().zip(&f.layers).zip(&key.layers) {
            let max_change = l
                .weights
                .iter()
                .zip(&k.weights)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            for (a, b) in b.weights.iter().zip(&l.weights) {
                assert!(
                    (a - b).abs() <= weight_error_bound(max_change) * 1.0001 + 1e-7,
                    "{a} vs {b}"
                );
            }
            let max_g = l.weight_grads.iter().fold(0.0f32, |m, g| m.max(g.abs()));
            let floor = max_g * (-GRAD_OCTAVES).exp2();
            for (a, b) in b.weight_grads.iter().zip(&l.weight_grads) {
                if b.abs() < floor {
                    assert!(a.abs() <= floor);
                } else {
                    assert_eq!(a.signum(), b.signum(), "{a} vs {b}");
                    assert!((a - b).abs() <= GRAD_RELATIVE_ERROR * b.abs(), "{a} vs {b}");
                }
            }
            // Everything else is exact.
            assert_eq!(b.biases, l.biases);
            assert_eq!(b.probe_grads, l.probe_grads);
        }
    }

    /// A keyframe of four weights, and a frame a little after it.
    fn key_and_later() -> (Frame, Frame) {
        let key = frame(vec![0.5, -0.5, 0.25, 0.0], vec![0.0; 4]);
        let f = frame(
            vec![0.51, -0.53, 0.25, -0.002],
            vec![0.8, -0.004, 1e-7, -0.3],
        );
        (key, f)
    }

    #[test]
    fn deltas_stay_within_their_bounds() {
        let (key, f) = key_and_later();
        let mut buf = Vec::new();
        encode(&f, Some(&mut Chain::start(&key)), &mut buf);
        let back = decode(&buf, 3, Some(&mut Chain::start(&key)), CURRENT).unwrap();
        assert_within_bounds(&back, &f, &key);
        // Four weights are cheaper exact than with the tables of a delta.
        let mut exact = Vec::new();
        encode(&f, None, &mut exact);
        assert_eq!(buf.len(), exact.len());
        assert_eq!(back, f);
    }

    /// A layer of `inputs` x `outputs` weights that drift steadily (as under
    /// momentum) with noise, and gradients shaped like a batch's outer
    /// products: rows of zero inputs, a sign per column.
    fn drifting(t: usize, inputs: usize, outputs: usize) -> Frame {
        let mut weights = Vec::new();
        let mut grads = Vec::new();
        for i in 0..inputs {
            for j in 0..outputs {
                let k = (i * outputs + j) as f32;
                let noise = ((k * 12.9898 + t as f32 * 78.233).sin() * 43758.547).fract();
                weights.push((k * 0.37).sin() + t as f32 * 1e-3 * (k * 0.11).cos() + noise * 1e-5);
                let x = if i % 3 == 0 {
                    0.0
                } else {
                    (i as f32 * 0.3).cos().abs()
                };
                let d = (j as f32 * 0.7 + t as f32).sin();
                grads.push(x * d * (1.0 + 0.3 * noise));
            }
        }
        let mut f = frame(weights, grads);
        f.layers[0].inputs = inputs;
        f.layers[0].outputs = outputs;
        f.step = t as u64;
        f
    }

    #[test]
    fn gradients_of_every_surprise_and_an_odd_width_read_back_within_bounds() {
        // 37 columns: two lanes of the symbol loop and a tail. Magnitudes
        // spread over 20 octaves make surprises too large for one symbol
        // (the escape stream), zeros and both signs everywhere.
        let (inputs, outputs) = (9, 37);
        let key = drifting(0, inputs, outputs);
        let mut f = drifting(1, inputs, outputs);
        for (k, g) in f.layers[0].weight_grads.iter_mut().enumerate() {
            let h = (k as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 40;
            let sign = if h & 1 == 0 { 1.0 } else { -1.0 };
            *g = match h % 7 {
                0 => 0.0,
                _ => sign * (-(((h >> 3) % 20) as f32)).exp2(),
            };
        }
        // A loud row with one faint value: far below what its row and
        // column lead the coder to expect, so it is escaped.
        let row = &mut f.layers[0].weight_grads[4 * outputs..5 * outputs];
        for (j, g) in row.iter_mut().enumerate() {
            *g = if j == 6 { -(-15.0f32).exp2() } else { 1.0 };
        }
        let mut buf = Vec::new();
        encode(&f, Some(&mut Chain::start(&key)), &mut buf);
        let back = decode(&buf, 1, Some(&mut Chain::start(&key)), CURRENT).unwrap();
        assert_within_bounds(&back, &f, &key);
    }

    #[test]
    fn the_vector_encoder_writes_the_baselines_bytes() {
        // 61 columns: every loop's lanes and a tail, on whichever vector
        // instructions `encode` picks on this CPU.
        let key = drifting(0, 45, 61);
        let (mut fast, mut plain) = (Chain::start(&key), Chain::start(&key));
        for t in 0..12 {
            let f = drifting(t, 45, 61);
            let (mut a, mut b) = (Vec::new(), Vec::new());
            let chains = (t > 0).then_some((&mut fast, &mut plain));
            match chains {
                Some((x, y)) => {
                    encode(&f, Some(x), &mut a);
                    encode_any(&f, Some(y), &mut b);
                }
                None => {
                    encode(&f, None, &mut a);
                    encode_any(&f, None, &mut b);
                }
            }
            assert_eq!(a, b, "step {t}");
            assert_eq!(fast.prev, plain.prev);
        }
    }

    #[test]
    fn a_chain_of_predicted_deltas_reads_back_within_bounds_and_small() {
        let key = drifting(0, 60, 20);
        let (mut writer, mut reader) = (Chain::start(&key), Chain::start(&key));
        let mut skimmer = Chain::start(&key);
        let mut exact_bytes = 0;
        let mut delta_bytes = 0;
        for t in 1..40 {
            let f = drifting(t, 60, 20);
            let mut buf = Vec::new();
            if t == 20 {
                writer.anchor_next();
            }
            encode(&f, Some(&mut writer), &mut buf);
            let back = decode(&buf, f.step, Some(&mut reader), CURRENT).unwrap();
            assert_within_bounds(&back, &f, &key);
            if t == 20 {
                // An anchor reads the same with nothing but the keyframe.
                let mut fresh = Chain::start(&key);
                assert_eq!(
                    decode(&buf, f.step, Some(&mut fresh), CURRENT).unwrap(),
                    back
                );
                assert_eq!((&fresh.prev, &fresh.prev2), (&reader.prev, &reader.prev2));
            }
            // The reader's chain follows the writer's exactly.
            assert_eq!(reader.prev, writer.prev);
            assert_eq!(reader.prev2, writer.prev2);
            // So does one that decodes only the weights.
            advance(&buf, &mut skimmer, CURRENT).unwrap();
            assert_eq!(skimmer.prev, writer.prev);
            let mut exact = Vec::new();
            encode(&f, None, &mut exact);
            exact_bytes += exact.len();
            delta_bytes += buf.len();
        }
        // 8 bytes per weight exactly; a steady drift costs well under 1
        // (with format 5's 4 bytes a record for its empty stats).
        let weights = 39 * 1200;
        assert!(
            (delta_bytes as f64) < 0.105 * exact_bytes as f64,
            "{delta_bytes} of {exact_bytes} bytes for {weights} weights"
        );
        // A reader without the chain's history gets nothing, not wrong values.
        let mut buf = Vec::new();
        encode(&drifting(40, 60, 20), Some(&mut writer), &mut buf);
        assert!(decode(&buf, 40, None, CURRENT).is_none());
        assert!(decode(&buf[..buf.len() - 3], 40, Some(&mut reader), CURRENT).is_none());
    }

    #[test]
    fn weights_that_jump_fall_back_to_the_keyframe_grid() {
        // Large enough a layer that a delta is smaller than exact values.
        let tile = |w: [f32; 4]| w.repeat(100);
        let key = frame(tile([0.0; 4]), tile([0.0; 4]));
        let mut writer = Chain::start(&key);
        let mut reader = Chain::start(&key);
        // A steady trend, then a reversal far beyond what the trend allows.
        for (t, w) in [
            [0.0, 0.1, 0.0, 0.0],
            [0.0, 0.2, 0.0, 0.0],
            [0.0, -1.0, 0.5, f32::NAN],
        ]
        .into_iter()
        .enumerate()
        {
            let f = frame(tile(w), tile([0.1, -0.2, 0.0, 1.0]));
            let mut buf = Vec::new();
            encode(&f, Some(&mut writer), &mut buf);
            let mut exact = Vec::new();
            encode(&f, None, &mut exact);
            assert!(buf.len() < exact.len() / 2);
            let back = decode(&buf, t as u64, Some(&mut reader), CURRENT).unwrap();
            let max_change = w
                .iter()
                .filter(|v| v.is_finite())
                .fold(0.0f32, |m, v| m.max(v.abs()));
            let weights = back.layers[0].weights.iter().zip(&f.layers[0].weights);
            for (a, b) in weights.filter(|(_, b)| b.is_finite()) {
                assert!(
                    (a - b).abs() <= weight_error_bound(max_change) + 1e-7,
                    "{a} vs {b}"
                );
            }
        }
    }

    #[test]
    fn a_version_3_delta_still_reads() {
        let (key, f) = key_and_later();
        // The frame as version 3 wrote it: the same but for its big arrays.
        let mut v3 = Vec::new();
        encode_v3(&f, Some(&key), &mut v3);
        let back = decode(&v3, 3, Some(&mut Chain::start(&key)), 3).unwrap();
        assert_within_bounds(&back, &f, &key);
        assert_eq!(back.evaluation, f.evaluation);
    }

    #[test]
    fn version_2_recordings_still_read() {
        let f = frame(vec![0.1, -0.2], vec![0.01, 0.02]);
        let mut v3 = Vec::new();
        encode(&f, None, &mut v3);
        let mut v3_metrics = Vec::new();
        write_metrics(
            &mut Writer {
                out: &mut v3_metrics,
            },
            &f,
        );
        // The same frame as version 2 wrote it: a fixed list of metrics.
        let mut v2 = Vec::new();
        let mut w = Writer { out: &mut v2 };
        w.f32(0.75);
        w.u8(1);
        w.u64(2);
        for v in [None, Some(0.5), None, Some(0.9), None] {
            w.opt_f32(v);
        }
        w.f32(0.1);
        w.u64(16);
        w.f32(2.5);
        // Then the probe and layers, as version 3 writes them less each layer's scale.
        let mut probe = Vec::new();
        write_probe(&mut Writer { out: &mut probe }, &f.probe);
        let scale_at = v3_metrics.len() + probe.len() + 4 + 8;
        v2.extend_from_slice(&v3[v3_metrics.len()..scale_at]);
        v2.extend_from_slice(&v3[scale_at + 4..]);
        let back = decode(&v2, 3, None, 2).unwrap();
        // Version 2 knew no scales: its layers read as unscaled.
        let mut expected = f.layers.clone();
        expected[0].scale = 1.0;
        assert_eq!(back.layers, expected);
        assert_eq!(back.evaluation, f.evaluation);
        assert_eq!(back.metrics.batch_loss, Some(0.75));
        assert_eq!(back.metrics.batch_size, Some(16.0));
        assert_eq!(back.metrics.grad_norm, Some(2.5));
    }
}
