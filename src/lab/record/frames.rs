//! The frame recording: an append-only, versioned, checksummed file of frames.
//!
//! Layout (all integers little-endian):
//! - header: `NNMREC` magic, `u16` version, `u32` length and `u32` CRC-32 of a
//!   RON [`RecordingHeader`], then the header itself;
//! - records, each `u32` payload length, `u32` CRC-32 of the payload, payload.
//!   A payload is a `u8` kind, a `u64` step and the encoded frame.
//!
//! A writer flushes every record, so a killed process loses at most the record
//! it was writing. A reader stops at the first incomplete or corrupt record and
//! reports where the damage begins.

use std::fs::File;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::lab::error::{LabError, LabResult};
use crate::lab::frame::{Frame, LayerFrame, Metrics, Probe, Topology};

const MAGIC: &[u8; 6] = b"NNMREC";
/// Version of the format this build writes and reads.
pub const FORMAT_VERSION: u16 = 1;
const KIND_FULL: u8 = 1;
/// Records larger than this are treated as corruption rather than allocated.
const MAX_RECORD_BYTES: u32 = 1 << 30;

/// What a recording is about, written once at its start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordingHeader {
    /// The scene's name.
    pub scene: String,
    /// The network the frames describe.
    pub topology: Topology,
}

/// Appends frames to a recording.
pub struct FrameWriter {
    path: PathBuf,
    out: BufWriter<File>,
    bytes: u64,
    records: u64,
}

impl FrameWriter {
    /// Creates a new recording at `path` (it must not exist).
    pub fn create(path: &Path, header: &RecordingHeader) -> LabResult<Self> {
        let file = File::options()
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(|e| LabError::run(path, format!("cannot create recording: {e}")))?;
        let mut out = BufWriter::new(file);
        let text = ron::to_string(header).map_err(|e| LabError::run(path, e.to_string()))?;
        let mut head = Vec::with_capacity(16 + text.len());
        head.extend_from_slice(MAGIC);
        head.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        head.extend_from_slice(&(text.len() as u32).to_le_bytes());
        head.extend_from_slice(&crc32fast::hash(text.as_bytes()).to_le_bytes());
        head.extend_from_slice(text.as_bytes());
        out.write_all(&head)
            .and_then(|_| out.flush())
            .map_err(|e| LabError::run(path, format!("cannot write recording: {e}")))?;
        Ok(FrameWriter {
            path: path.to_path_buf(),
            out,
            bytes: head.len() as u64,
            records: 0,
        })
    }

    /// Appends one frame and flushes it to the operating system.
    pub fn append(&mut self, frame: &Frame) -> LabResult<()> {
        let mut payload = Vec::with_capacity(16 + frame.value_count() * 4);
        payload.push(KIND_FULL);
        payload.extend_from_slice(&frame.step.to_le_bytes());
        encode_frame(frame, &mut payload);
        let mut head = [0u8; 8];
        head[..4].copy_from_slice(&(payload.len() as u32).to_le_bytes());
        head[4..].copy_from_slice(&crc32fast::hash(&payload).to_le_bytes());
        self.out
            .write_all(&head)
            .and_then(|_| self.out.write_all(&payload))
            .and_then(|_| self.out.flush())
            .map_err(|e| LabError::run(&self.path, format!("cannot append frame: {e}")))?;
        self.bytes += (head.len() + payload.len()) as u64;
        self.records += 1;
        Ok(())
    }

    /// Bytes written so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Frames written so far.
    pub fn records(&self) -> u64 {
        self.records
    }
}

/// Where a recording stops being readable, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Damage {
    /// Byte offset of the first unreadable record.
    pub offset: u64,
    /// What is wrong there.
    pub reason: String,
}

/// One readable record of a recording.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IndexEntry {
    /// The frame's step.
    pub step: u64,
    /// Byte offset of the record's payload.
    pub offset: u64,
    /// Payload length in bytes.
    pub len: u32,
}

/// Reads a recording, accepting a damaged tail.
pub struct FrameReader {
    path: PathBuf,
    file: File,
    header: RecordingHeader,
    index: Vec<IndexEntry>,
    damage: Option<Damage>,
    bytes: u64,
}

impl FrameReader {
    /// Opens a recording and indexes every complete record.
    pub fn open(path: &Path) -> LabResult<Self> {
        let mut file = File::open(path)
            .map_err(|e| LabError::run(path, format!("cannot open recording: {e}")))?;
        let bytes = file.metadata().map(|m| m.len()).unwrap_or(0);
        let mut fixed = [0u8; 16];
        file.read_exact(&mut fixed)
            .map_err(|_| LabError::run(path, "not a frame recording: too short for a header"))?;
        if &fixed[..6] != MAGIC {
            return Err(LabError::run(path, "not a frame recording (bad magic)"));
        }
        let version = u16::from_le_bytes([fixed[6], fixed[7]]);
        if version != FORMAT_VERSION {
            return Err(LabError::run(
                path,
                format!(
                    "recording format version {version}; this build reads version {FORMAT_VERSION}"
                ),
            ));
        }
        let len = u32::from_le_bytes(fixed[8..12].try_into().unwrap_or_default()) as usize;
        let crc = u32::from_le_bytes(fixed[12..16].try_into().unwrap_or_default());
        if len as u64 > bytes {
            return Err(LabError::run(path, "recording header is truncated"));
        }
        let mut text = vec![0u8; len];
        file.read_exact(&mut text)
            .map_err(|_| LabError::run(path, "recording header is truncated"))?;
        if crc32fast::hash(&text) != crc {
            return Err(LabError::run(
                path,
                "recording header is corrupt (checksum mismatch)",
            ));
        }
        let header: RecordingHeader = std::str::from_utf8(&text)
            .ok()
            .and_then(|t| ron::from_str(t).ok())
            .ok_or_else(|| LabError::run(path, "recording header does not parse"))?;
        let mut reader = FrameReader {
            path: path.to_path_buf(),
            file,
            header,
            index: Vec::new(),
            damage: None,
            bytes,
        };
        reader.scan(16 + len as u64)?;
        Ok(reader)
    }

    fn scan(&mut self, mut offset: u64) -> LabResult<()> {
        let mut data = Vec::new();
        self.file
            .seek(SeekFrom::Start(offset))
            .and_then(|_| self.file.read_to_end(&mut data))
            .map_err(|e| LabError::run(&self.path, format!("cannot read recording: {e}")))?;
        let mut at = 0usize;
        while at < data.len() {
            let damage = |reason: &str| Damage {
                offset,
                reason: reason.to_string(),
            };
            if data.len() - at < 8 {
                self.damage = Some(damage("truncated record header"));
                break;
            }
            let len = u32::from_le_bytes(data[at..at + 4].try_into().unwrap_or_default());
            let crc = u32::from_le_bytes(data[at + 4..at + 8].try_into().unwrap_or_default());
            if !(9..=MAX_RECORD_BYTES).contains(&len) {
                self.damage = Some(damage("corrupt record length"));
                break;
            }
            let start = at + 8;
            let end = start + len as usize;
            if end > data.len() {
                self.damage = Some(damage("truncated record"));
                break;
            }
            let payload = &data[start..end];
            if crc32fast::hash(payload) != crc {
                self.damage = Some(damage("checksum mismatch"));
                break;
            }
            let step = u64::from_le_bytes(payload[1..9].try_into().unwrap_or_default());
            self.index.push(IndexEntry {
                step,
                offset: offset + 8,
                len,
            });
            offset += 8 + u64::from(len);
            at = end;
        }
        Ok(())
    }

    /// What the recording is about.
    pub fn header(&self) -> &RecordingHeader {
        &self.header
    }

    /// Every readable record, in file order.
    pub fn index(&self) -> &[IndexEntry] {
        &self.index
    }

    /// Where the readable part ends, if the file is damaged.
    pub fn damage(&self) -> Option<&Damage> {
        self.damage.as_ref()
    }

    /// Size of the file in bytes.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Number of readable frames.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// True when no frame is readable.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Reads the `i`-th frame (in file order).
    pub fn read(&mut self, i: usize) -> LabResult<Frame> {
        let entry = *self
            .index
            .get(i)
            .ok_or_else(|| LabError::run(&self.path, format!("no frame number {i}")))?;
        let mut payload = vec![0u8; entry.len as usize];
        self.file
            .seek(SeekFrom::Start(entry.offset))
            .and_then(|_| self.file.read_exact(&mut payload))
            .map_err(|e| LabError::run(&self.path, format!("cannot read frame: {e}")))?;
        if payload[0] != KIND_FULL {
            return Err(LabError::run(
                &self.path,
                format!("unknown record kind {}", payload[0]),
            ));
        }
        let mut cur = Cursor { buf: &payload[9..] };
        decode_frame(&mut cur, entry.step).ok_or_else(|| {
            LabError::run(
                &self.path,
                format!("frame at byte {} does not decode", entry.offset),
            )
        })
    }

    /// Reads the frame recorded for `step`, or the last one before it.
    pub fn read_step(&mut self, step: u64) -> LabResult<Frame> {
        let i = match self.index.binary_search_by_key(&step, |e| e.step) {
            Ok(i) => i,
            Err(0) => {
                return Err(LabError::run(
                    &self.path,
                    format!("no frame at or before step {step}"),
                ));
            }
            Err(i) => i - 1,
        };
        self.read(i)
    }
}

fn put_f32s(out: &mut Vec<u8>, v: &[f32]) {
    out.extend_from_slice(&(v.len() as u32).to_le_bytes());
    for x in v {
        out.extend_from_slice(&x.to_le_bytes());
    }
}

fn put_opt(out: &mut Vec<u8>, v: Option<f32>) {
    match v {
        Some(x) => {
            out.push(1);
            out.extend_from_slice(&x.to_le_bytes());
        }
        None => out.push(0),
    }
}

fn encode_frame(f: &Frame, out: &mut Vec<u8>) {
    let m = &f.metrics;
    out.extend_from_slice(&m.batch_loss.to_le_bytes());
    match m.eval_step {
        Some(s) => {
            out.push(1);
            out.extend_from_slice(&s.to_le_bytes());
        }
        None => out.push(0),
    }
    for v in [
        m.train_loss,
        m.test_loss,
        m.train_accuracy,
        m.test_accuracy,
        m.generalization_error,
    ] {
        put_opt(out, v);
    }
    out.extend_from_slice(&m.learning_rate.to_le_bytes());
    out.extend_from_slice(&(m.batch_size as u64).to_le_bytes());
    out.extend_from_slice(&m.grad_norm.to_le_bytes());
    let p = &f.probe;
    out.extend_from_slice(&(p.index as u64).to_le_bytes());
    put_f32s(out, &p.input);
    put_f32s(out, &p.target);
    match p.label {
        Some(l) => {
            out.push(1);
            out.extend_from_slice(&l.to_le_bytes());
        }
        None => out.push(0),
    }
    put_f32s(out, &p.output);
    out.extend_from_slice(&p.loss.to_le_bytes());
    out.extend_from_slice(&(f.layers.len() as u32).to_le_bytes());
    for l in &f.layers {
        out.extend_from_slice(&(l.inputs as u32).to_le_bytes());
        out.extend_from_slice(&(l.outputs as u32).to_le_bytes());
        for v in [
            &l.weights,
            &l.biases,
            &l.weight_grads,
            &l.bias_grads,
            &l.pre_activations,
            &l.activations,
            &l.mean_activations,
            &l.probe_grads,
        ] {
            put_f32s(out, v);
        }
    }
}

struct Cursor<'a> {
    buf: &'a [u8],
}

impl Cursor<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
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
}

fn decode_frame(c: &mut Cursor<'_>, step: u64) -> Option<Frame> {
    let batch_loss = c.f32()?;
    let eval_step = match c.u8()? {
        0 => None,
        _ => Some(c.u64()?),
    };
    let metrics = Metrics {
        batch_loss,
        eval_step,
        train_loss: c.opt_f32()?,
        test_loss: c.opt_f32()?,
        train_accuracy: c.opt_f32()?,
        test_accuracy: c.opt_f32()?,
        generalization_error: c.opt_f32()?,
        learning_rate: c.f32()?,
        batch_size: c.u64()? as usize,
        grad_norm: c.f32()?,
    };
    let probe = Probe {
        index: c.u64()? as usize,
        input: c.f32s()?,
        target: c.f32s()?,
        label: match c.u8()? {
            0 => None,
            _ => Some(c.u32()?),
        },
        output: c.f32s()?,
        loss: c.f32()?,
    };
    let n_layers = c.u32()? as usize;
    let mut layers = Vec::with_capacity(n_layers.min(1024));
    for _ in 0..n_layers {
        layers.push(LayerFrame {
            inputs: c.u32()? as usize,
            outputs: c.u32()? as usize,
            weights: c.f32s()?,
            biases: c.f32s()?,
            weight_grads: c.f32s()?,
            bias_grads: c.f32s()?,
            pre_activations: c.f32s()?,
            activations: c.f32s()?,
            mean_activations: c.f32s()?,
            probe_grads: c.f32s()?,
        });
    }
    Some(Frame {
        step,
        metrics,
        probe,
        layers,
    })
}
