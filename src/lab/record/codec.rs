//! Binary encoding of frames: exact keyframes, and compact deltas against a keyframe.
//!
//! A delta keeps everything exact except the two arrays that are as large as
//! the network (weights and their gradients):
//! - weights are stored as their change since the keyframe, quantised per
//!   layer to `i8`: the error is at most `max|ΔW| / 254` for that layer;
//! - weight gradients are stored on a logarithmic `u8` scale per layer: the
//!   relative error is at most 4.5%, and values below `max|g| · 2⁻¹⁶` read back
//!   as zero.

use crate::lab::frame::{Frame, LayerFrame, Probe};
use crate::lab::metrics::{Metrics, RunStatus};

/// Octaves below a layer's largest gradient that the log scale covers.
pub const GRAD_OCTAVES: f32 = 16.0;
/// Largest relative error of a quantised gradient (half a log step).
pub const GRAD_RELATIVE_ERROR: f32 = 0.045;

/// How the big arrays of a record are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    /// Every value as `f32`.
    Exact,
    /// Weights as `i8` changes since a keyframe, gradients on a `u8` log scale.
    Delta,
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
        self.out.reserve(v.len() * 4);
        for x in v {
            self.out.extend_from_slice(&x.to_le_bytes());
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

/// Encodes `frame`; a delta needs the keyframe it is relative to.
pub fn encode(frame: &Frame, key: Option<&Frame>, out: &mut Vec<u8>) {
    let mut w = Writer { out };
    write_metrics(&mut w, frame);
    write_probe(&mut w, &frame.probe);
    w.u32(frame.layers.len() as u32);
    for (l, layer) in frame.layers.iter().enumerate() {
        w.u32(layer.inputs as u32);
        w.u32(layer.outputs as u32);
        w.f32(layer.scale);
        let key_weights = key.and_then(|k| k.layers.get(l)).map(|k| &k.weights);
        match key_weights {
            Some(kw) if kw.len() == layer.weights.len() => {
                w.u8(Coding::Delta as u8);
                encode_weight_delta(&mut w, &layer.weights, kw);
                encode_log(&mut w, &layer.weight_grads);
            }
            _ => {
                w.u8(Coding::Exact as u8);
                w.f32s(&layer.weights);
                w.f32s(&layer.weight_grads);
            }
        }
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
}

/// Decodes a frame of `step` written by recording format `version`; a delta
/// needs its keyframe.
pub fn decode(buf: &[u8], step: u64, key: Option<&Frame>, version: u16) -> Option<Frame> {
    let mut r = Reader::new(buf);
    let (metrics, evaluation) = if version <= 2 {
        read_metrics_v2(&mut r, step)?
    } else {
        read_metrics(&mut r, step)?
    };
    let probe = read_probe(&mut r)?;
    let n_layers = r.u32()? as usize;
    let mut layers = Vec::with_capacity(n_layers.min(1024));
    for l in 0..n_layers {
        let inputs = r.u32()? as usize;
        let outputs = r.u32()? as usize;
        let scale = if version <= 2 { 1.0 } else { r.f32()? };
        let (weights, weight_grads) = match r.u8()? {
            0 => (r.f32s()?, r.f32s()?),
            1 => {
                let kw = &key?.layers.get(l)?.weights;
                (decode_weight_delta(&mut r, kw)?, decode_log(&mut r)?)
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
    Some(Frame {
        step,
        metrics,
        evaluation,
        probe,
        layers,
    })
}

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

fn encode_log(w: &mut Writer<'_>, values: &[f32]) {
    let max = values
        .iter()
        .map(|v| v.abs())
        .fold(0.0f32, |m, v| if v.is_finite() { m.max(v) } else { m });
    w.f32(max);
    w.u32(values.len() as u32);
    // Level k (1..=127) stands for max·2^((k-1)/steps − OCTAVES); a value takes
    // the nearest level in log scale.
    let steps = 126.0 / GRAD_OCTAVES;
    let floor = max * (-GRAD_OCTAVES).exp2();
    let inv = if max > 0.0 { 1.0 / max } else { 0.0 };
    let table = log2_table();
    w.out.extend(values.iter().map(|&v| {
        let a = v.abs();
        if !(a >= floor && a.is_finite()) || max <= 0.0 {
            return 0u8;
        }
        let level = round_i32((fast_log2(a * inv, &table) + GRAD_OCTAVES) * steps) + 1;
        level.clamp(1, 127) as u8 | if v < 0.0 { 0x80 } else { 0 }
    }));
}

/// Rounds half away from zero without a libm call (`f32::round` is one on
/// baseline x86-64, and this runs for every weight of every recorded step).
fn round_i32(x: f32) -> i32 {
    (x + 0.5f32.copysign(x)) as i32
}

/// log2(1 + k/128) for k in 0..=128.
fn log2_table() -> [f32; 129] {
    std::array::from_fn(|k| (1.0 + k as f32 / 128.0).log2())
}

/// log2 of a positive normal float, within 2e-5: the exponent from the bits,
/// the mantissa from a table with linear interpolation (this runs for every
/// gradient of every recorded step, where `f32::log2` is the bottleneck).
fn fast_log2(x: f32, table: &[f32; 129]) -> f32 {
    let bits = x.to_bits();
    let exponent = ((bits >> 23) & 0xff) as i32 - 127;
    let k = ((bits >> 16) & 0x7f) as usize;
    let frac = (bits & 0xffff) as f32 / 65536.0;
    exponent as f32 + table[k] + (table[k + 1] - table[k]) * frac
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

    const V3: u16 = 3;

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
    fn fast_log2_is_close_to_log2() {
        let table = log2_table();
        let mut worst = 0.0f32;
        let mut x = 1e-6f32;
        while x < 4.0 {
            worst = worst.max((fast_log2(x, &table) - x.log2()).abs());
            x *= 1.0007;
        }
        assert!(worst < 2e-5, "{worst}");
    }

    #[test]
    fn exact_frames_round_trip_bit_for_bit() {
        let f = frame(vec![0.1, -0.2, 3.0e-7], vec![1e-9, -5.0, 0.0]);
        let mut buf = Vec::new();
        encode(&f, None, &mut buf);
        assert_eq!(decode(&buf, 3, None, V3).unwrap(), f);
    }

    #[test]
    fn deltas_stay_within_their_bounds() {
        let key = frame(vec![0.5, -0.5, 0.25, 0.0], vec![0.0; 4]);
        let weights = vec![0.51, -0.53, 0.25, -0.002];
        let grads = vec![0.8, -0.004, 1e-7, -0.3];
        let f = frame(weights.clone(), grads.clone());
        let mut buf = Vec::new();
        encode(&f, Some(&key), &mut buf);
        let back = decode(&buf, 3, Some(&key), V3).unwrap();
        let max_change = weights
            .iter()
            .zip(&key.layers[0].weights)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        for (a, b) in back.layers[0].weights.iter().zip(&weights) {
            assert!(
                (a - b).abs() <= weight_error_bound(max_change) + 1e-7,
                "{a} vs {b}"
            );
        }
        let max_g = 0.8f32;
        for (a, b) in back.layers[0].weight_grads.iter().zip(&grads) {
            let floor = max_g * (-GRAD_OCTAVES).exp2();
            if b.abs() < floor {
                assert!(a.abs() <= floor);
            } else {
                assert_eq!(a.signum(), b.signum());
                assert!((a - b).abs() <= GRAD_RELATIVE_ERROR * b.abs(), "{a} vs {b}");
            }
        }
        // Everything else is exact.
        assert_eq!(back.layers[0].biases, f.layers[0].biases);
        assert_eq!(back.layers[0].probe_grads, f.layers[0].probe_grads);
        // A delta is about a quarter of the exact size for its big arrays.
        let mut exact = Vec::new();
        encode(&f, None, &mut exact);
        assert!(buf.len() < exact.len());
    }

    #[test]
    fn a_delta_without_its_keyframe_does_not_decode() {
        let key = frame(vec![0.5; 4], vec![0.0; 4]);
        let mut buf = Vec::new();
        encode(&frame(vec![0.6; 4], vec![0.1; 4]), Some(&key), &mut buf);
        assert!(decode(&buf, 3, None, V3).is_none());
        assert!(decode(&buf[..buf.len() - 3], 3, Some(&key), V3).is_none());
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
