//! The frame recording: an append-only, versioned, checksummed file of every
//! step's frame, with an index for seeking.
//!
//! `frames.nnmr` (all integers little-endian):
//! - header: `NNMREC` magic, `u16` version, `u32` length and `u32` CRC-32 of a
//!   RON [`RecordingHeader`], then the header itself;
//! - records, each `u32` payload length, `u32` CRC-32 of the payload, payload.
//!   A payload is a `u8` kind (keyframe or delta), a `u64` step and the frame
//!   as [`codec`](super::codec) encodes it. A delta is predicted from the
//!   records before it, back to the nearest keyframe or anchor (every
//!   [`ANCHOR_EVERY`]th record after a keyframe, predicted from the keyframe
//!   alone); up to version 3, from the keyframe alone. A reader seeking to a
//!   delta decodes the weights of the records before it from there, then
//!   reads on one record at a time.
//!
//! `frames.idx` holds one 32-byte entry per record (step, offset, length,
//! kind, batch loss and the entry's own CRC-32), so opening a recording reads
//! the index, not the recording. Both files are flushed after every record: a
//! killed process loses at most the record it was writing. A reader keeps every
//! complete record before a damaged or truncated tail, rebuilds what the index
//! lacks, and says where the damage begins.

use std::fs::File;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::codec::{self, Chain};
use crate::lab::error::{LabError, LabResult};
use crate::lab::frame::{Frame, Topology};

const MAGIC: &[u8; 6] = b"NNMREC";
const INDEX_MAGIC: &[u8; 8] = b"NNMIDX\x02\x00";
/// Version of the format this build writes. Format 6 is format 5 with its
/// byte streams entropy-coded four states at a time (mode 3 of the entropy
/// coder); its readers read both.
pub const FORMAT_VERSION: u16 = 6;
/// The oldest version this build continues: format 5 differs from 6 only in
/// how new streams are coded, so a continued format 5 recording becomes a
/// format 6 one (its header says so from then on).
const OLDEST_CONTINUED: u16 = 5;
/// The oldest version this build reads.
const OLDEST_VERSION: u16 = 2;
const KIND_KEY: u8 = 1;
const KIND_DELTA: u8 = 2;
const ENTRY_BYTES: usize = 32;
/// Bytes before a payload: length and CRC.
const RECORD_HEAD: u64 = 8;
/// Records larger than this are treated as corruption rather than allocated.
const MAX_RECORD_BYTES: u32 = 1 << 30;
/// A keyframe every this many records unless the header says otherwise.
pub const DEFAULT_KEYFRAME_EVERY: u32 = 64;
/// Every this many records after a keyframe, a delta is an anchor: predicted
/// from the keyframe alone, so that a seek decodes at most this many records
/// after the keyframe (format version 4).
pub(super) const ANCHOR_EVERY: usize = 32;

/// What a recording is about, written once at its start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordingHeader {
    /// The scene's name.
    pub scene: String,
    /// The network the frames describe.
    pub topology: Topology,
    /// A keyframe every this many records.
    pub keyframe_every: u32,
}

/// The path of the index beside a recording.
pub fn index_path(recording: &Path) -> PathBuf {
    recording.with_extension("idx")
}

/// One record, as the index describes it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IndexEntry {
    /// The frame's step.
    pub step: u64,
    /// Byte offset of the record (its length field).
    pub offset: u64,
    /// Payload length in bytes.
    pub len: u32,
    /// True for a keyframe.
    pub key: bool,
    /// The frame's mini-batch loss, for plotting without decoding frames.
    pub batch_loss: f32,
}

impl IndexEntry {
    fn to_bytes(self) -> [u8; ENTRY_BYTES] {
        let mut b = [0u8; ENTRY_BYTES];
        b[0..8].copy_from_slice(&self.step.to_le_bytes());
        b[8..16].copy_from_slice(&self.offset.to_le_bytes());
        b[16..20].copy_from_slice(&self.len.to_le_bytes());
        b[20] = if self.key { KIND_KEY } else { KIND_DELTA };
        b[24..28].copy_from_slice(&self.batch_loss.to_le_bytes());
        let crc = crc32fast::hash(&b[0..28]);
        b[28..32].copy_from_slice(&crc.to_le_bytes());
        b
    }

    fn from_bytes(b: &[u8]) -> Option<Self> {
        let crc = u32::from_le_bytes(b[28..32].try_into().ok()?);
        if crc32fast::hash(&b[0..28]) != crc {
            return None;
        }
        Some(IndexEntry {
            step: u64::from_le_bytes(b[0..8].try_into().ok()?),
            offset: u64::from_le_bytes(b[8..16].try_into().ok()?),
            len: u32::from_le_bytes(b[16..20].try_into().ok()?),
            key: b[20] == KIND_KEY,
            batch_loss: f32::from_le_bytes(b[24..28].try_into().ok()?),
        })
    }

    /// Where the record after this one starts.
    fn end(&self) -> u64 {
        self.offset + RECORD_HEAD + u64::from(self.len)
    }
}

/// Appends frames to a recording and its index.
pub struct FrameWriter {
    path: PathBuf,
    out: BufWriter<File>,
    index: BufWriter<File>,
    bytes: u64,
    records: u64,
    /// Position of the last record after its keyframe (0: the keyframe).
    since_key: usize,
    keyframe_every: u32,
    /// What the next delta is predicted from; `None` until a keyframe.
    chain: Option<Chain>,
    scratch: Vec<u8>,
}

impl FrameWriter {
    /// Creates a new recording at `path` (it must not exist), and its index.
    pub fn create(path: &Path, header: &RecordingHeader) -> LabResult<Self> {
        let create = |p: &Path| {
            File::options()
                .write(true)
                .create_new(true)
                .open(p)
                .map_err(|e| LabError::io(p, "cannot create recording", e))
        };
        let mut out = BufWriter::new(create(path)?);
        let mut index = BufWriter::new(create(&index_path(path))?);
        let text = ron::to_string(header).map_err(|e| LabError::run(path, e.to_string()))?;
        let mut head = Vec::with_capacity(16 + text.len());
        head.extend_from_slice(MAGIC);
        head.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        head.extend_from_slice(&(text.len() as u32).to_le_bytes());
        head.extend_from_slice(&crc32fast::hash(text.as_bytes()).to_le_bytes());
        head.extend_from_slice(text.as_bytes());
        out.write_all(&head)
            .and_then(|_| out.flush())
            .and_then(|_| index.write_all(INDEX_MAGIC))
            .and_then(|_| index.flush())
            .map_err(|e| LabError::io(path, "cannot write recording", e))?;
        Ok(FrameWriter {
            path: path.to_path_buf(),
            out,
            index,
            bytes: head.len() as u64,
            records: 0,
            since_key: 0,
            keyframe_every: header.keyframe_every.max(1),
            chain: None,
            scratch: Vec::new(),
        })
    }

    /// Reopens the recording at `path` to append to it after its records of
    /// steps before `step` (later ones are cut, with any damaged tail); the
    /// next record is a keyframe. Only a recording of this build's format can
    /// be continued.
    pub fn reopen(path: &Path, step: u64) -> LabResult<Self> {
        let reader = FrameReader::open(path)?;
        if !(OLDEST_CONTINUED..=FORMAT_VERSION).contains(&reader.version) {
            return Err(LabError::run(
                path,
                format!(
                    "is a format {} recording; only format {OLDEST_CONTINUED} to {FORMAT_VERSION} recordings can be continued",
                    reader.version
                ),
            ));
        }
        let upgrade = reader.version != FORMAT_VERSION;
        let kept: Vec<IndexEntry> = reader
            .index()
            .iter()
            .copied()
            .take_while(|e| e.step < step)
            .collect();
        let end = kept.last().map_or(reader.data_start, IndexEntry::end);
        let keyframe_every = reader.header().keyframe_every.max(1);
        drop(reader);
        let file = File::options()
            .write(true)
            .open(path)
            .map_err(|e| LabError::io(path, "cannot open recording", e))?;
        file.set_len(end)
            .map_err(|e| LabError::io(path, "cannot cut recording", e))?;
        if upgrade {
            // The version follows the magic; every record so far reads as
            // format 6 too.
            let mut file = &file;
            file.seek(SeekFrom::Start(MAGIC.len() as u64))
                .and_then(|_| file.write_all(&FORMAT_VERSION.to_le_bytes()))
                .map_err(|e| LabError::io(path, "cannot update the recording's version", e))?;
        }
        let mut index_bytes = INDEX_MAGIC.to_vec();
        for e in &kept {
            index_bytes.extend_from_slice(&e.to_bytes());
        }
        let index = index_path(path);
        std::fs::write(&index, &index_bytes)
            .map_err(|e| LabError::io(&index, "cannot write index", e))?;
        let out = File::options()
            .append(true)
            .open(path)
            .map_err(|e| LabError::io(path, "cannot open recording", e))?;
        let index_file = File::options()
            .append(true)
            .open(&index)
            .map_err(|e| LabError::io(&index, "cannot open index", e))?;
        Ok(FrameWriter {
            path: path.to_path_buf(),
            out: BufWriter::new(out),
            index: BufWriter::new(index_file),
            bytes: end,
            records: kept.len() as u64,
            since_key: 0,
            keyframe_every,
            chain: None,
            scratch: Vec::new(),
        })
    }

    /// Appends one frame (a keyframe when one is due) and flushes it.
    pub fn append(&mut self, frame: &Frame) -> LabResult<()> {
        self.append_as(frame, false)
    }

    /// Appends one frame, as a keyframe (exact) when `key` or when one is
    /// due, and flushes it.
    pub fn append_as(&mut self, frame: &Frame, key: bool) -> LabResult<()> {
        let key = key
            || self.records.is_multiple_of(u64::from(self.keyframe_every))
            || self.chain.as_ref().is_none_or(|c| !c.fits(frame));
        let payload = &mut self.scratch;
        payload.clear();
        payload.push(if key { KIND_KEY } else { KIND_DELTA });
        payload.extend_from_slice(&frame.step.to_le_bytes());
        // Taken, so that a failed write leaves no chain: the next record is
        // then a keyframe, whatever this one left in the file.
        let mut chain = if key { None } else { self.chain.take() };
        let position = if key { 0 } else { self.since_key + 1 };
        if let Some(c) = chain
            .as_mut()
            .filter(|_| position.is_multiple_of(ANCHOR_EVERY))
        {
            c.anchor_next();
        }
        codec::encode(frame, chain.as_mut(), payload);
        let entry = IndexEntry {
            step: frame.step,
            offset: self.bytes,
            len: payload.len() as u32,
            key,
            batch_loss: frame.metrics.batch_loss.unwrap_or(f32::NAN),
        };
        let mut head = [0u8; RECORD_HEAD as usize];
        head[..4].copy_from_slice(&(payload.len() as u32).to_le_bytes());
        head[4..].copy_from_slice(&crc32fast::hash(payload).to_le_bytes());
        self.out
            .write_all(&head)
            .and_then(|_| self.out.write_all(payload))
            .and_then(|_| self.out.flush())
            // The index follows the record: a crash in between leaves a record
            // that readers find by scanning.
            .and_then(|_| self.index.write_all(&entry.to_bytes()))
            .and_then(|_| self.index.flush())
            .map_err(|e| LabError::io(&self.path, "cannot append frame", e))?;
        self.bytes = entry.end();
        self.records += 1;
        self.since_key = position;
        self.chain = if key {
            Some(Chain::start(frame))
        } else {
            chain
        };
        Ok(())
    }

    /// Bytes written so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The recording's path.
    pub fn path(&self) -> &Path {
        &self.path
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

/// Reads a recording, accepting a damaged tail; follows a growing one.
pub struct FrameReader {
    path: PathBuf,
    file: File,
    version: u16,
    header: RecordingHeader,
    data_start: u64,
    index: Vec<IndexEntry>,
    damage: Option<Damage>,
    bytes: u64,
    index_read: u64,
    /// The chain after the last delta or keyframe read, and its position:
    /// reading on from there decodes one record, not the run from a keyframe.
    chain: Option<(usize, Chain)>,
}

impl FrameReader {
    /// Opens a recording: reads the header and index, and recovers complete
    /// records the index does not list.
    pub fn open(path: &Path) -> LabResult<Self> {
        let mut file =
            File::open(path).map_err(|e| LabError::io(path, "cannot open recording", e))?;
        let mut fixed = [0u8; 16];
        file.read_exact(&mut fixed)
            .map_err(|_| LabError::run(path, "not a frame recording: too short for a header"))?;
        if &fixed[..6] != MAGIC {
            return Err(LabError::run(path, "not a frame recording (bad magic)"));
        }
        let version = u16::from_le_bytes([fixed[6], fixed[7]]);
        if !(OLDEST_VERSION..=FORMAT_VERSION).contains(&version) {
            return Err(LabError::run(
                path,
                format!(
                    "recording format version {version}; this build reads versions {OLDEST_VERSION} to {FORMAT_VERSION}"
                ),
            ));
        }
        let len = u32::from_le_bytes([fixed[8], fixed[9], fixed[10], fixed[11]]) as usize;
        let crc = u32::from_le_bytes([fixed[12], fixed[13], fixed[14], fixed[15]]);
        let mut text = vec![0u8; len.min(1 << 20)];
        file.read_exact(&mut text)
            .map_err(|_| LabError::run(path, "recording header is truncated"))?;
        if text.len() != len || crc32fast::hash(&text) != crc {
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
            version,
            header,
            data_start: 16 + len as u64,
            index: Vec::new(),
            damage: None,
            bytes: 0,
            index_read: INDEX_MAGIC.len() as u64,
            chain: None,
        };
        reader.refresh()?;
        Ok(reader)
    }

    /// Picks up records appended since the last look (for a run still training).
    pub fn refresh(&mut self) -> LabResult<usize> {
        let before = self.index.len();
        self.bytes = self.file.metadata().map(|m| m.len()).unwrap_or(0);
        self.damage = None;
        self.read_index();
        self.scan_tail()?;
        Ok(self.index.len() - before)
    }

    /// Reads new, valid index entries that point inside the recording.
    fn read_index(&mut self) {
        let Ok(mut f) = File::open(index_path(&self.path)) else {
            return;
        };
        let mut magic = [0u8; 8];
        if f.read_exact(&mut magic).is_err() || &magic != INDEX_MAGIC {
            return;
        }
        let mut rest = Vec::new();
        if f.seek(SeekFrom::Start(self.index_read)).is_err() || f.read_to_end(&mut rest).is_err() {
            return;
        }
        let mut expected = self.index.last().map_or(self.data_start, IndexEntry::end);
        for chunk in rest.chunks_exact(ENTRY_BYTES) {
            match IndexEntry::from_bytes(chunk) {
                // Entries must chain and fit in the file; anything else ends the index.
                Some(e)
                    if e.offset == expected
                        && e.end() <= self.bytes
                        && e.len <= MAX_RECORD_BYTES =>
                {
                    expected = e.end();
                    self.index.push(e);
                    self.index_read += ENTRY_BYTES as u64;
                }
                _ => break,
            }
        }
    }

    /// Scans records after the last indexed one, checking each checksum.
    fn scan_tail(&mut self) -> LabResult<()> {
        let mut offset = self.index.last().map_or(self.data_start, IndexEntry::end);
        // The last indexed record is checked too: its index entry may have
        // survived a crash that its payload did not.
        if let Some(last) = self.index.last().copied()
            && self.payload_at(last.offset, last.len).is_err()
        {
            self.index.pop();
            offset = last.offset;
        }
        while offset < self.bytes {
            let damage = |reason: &str| Damage {
                offset,
                reason: reason.to_string(),
            };
            if self.bytes - offset < RECORD_HEAD {
                self.damage = Some(damage("truncated record header"));
                break;
            }
            let mut head = [0u8; RECORD_HEAD as usize];
            self.file
                .seek(SeekFrom::Start(offset))
                .and_then(|_| self.file.read_exact(&mut head))
                .map_err(|e| LabError::io(&self.path, "cannot read recording", e))?;
            let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
            if !(9..=MAX_RECORD_BYTES).contains(&len) {
                self.damage = Some(damage("corrupt record length"));
                break;
            }
            if offset + RECORD_HEAD + u64::from(len) > self.bytes {
                self.damage = Some(damage("truncated record"));
                break;
            }
            let payload = match self.payload_at(offset, len) {
                Ok(p) => p,
                Err(reason) => {
                    self.damage = Some(damage(&reason));
                    break;
                }
            };
            let step = u64::from_le_bytes(payload[1..9].try_into().unwrap_or_default());
            // A frame's encoding begins with its batch loss.
            let batch_loss = payload
                .get(9..13)
                .and_then(|b| b.try_into().ok())
                .map_or(f32::NAN, f32::from_le_bytes);
            let entry = IndexEntry {
                step,
                offset,
                len,
                key: payload[0] == KIND_KEY,
                batch_loss,
            };
            offset = entry.end();
            self.index.push(entry);
        }
        Ok(())
    }

    /// The payload of the record at `offset`, checksum verified.
    fn payload_at(&mut self, offset: u64, len: u32) -> Result<Vec<u8>, String> {
        let mut head = [0u8; RECORD_HEAD as usize];
        let mut payload = vec![0u8; len as usize];
        self.file
            .seek(SeekFrom::Start(offset))
            .and_then(|_| self.file.read_exact(&mut head))
            .and_then(|_| self.file.read_exact(&mut payload))
            .map_err(|_| "truncated record".to_string())?;
        let stored_len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
        let crc = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
        if stored_len != len {
            return Err("record length disagrees with the index".into());
        }
        if crc32fast::hash(&payload) != crc {
            return Err("checksum mismatch".into());
        }
        if payload.len() < 9 || !(payload[0] == KIND_KEY || payload[0] == KIND_DELTA) {
            return Err("unknown record kind".into());
        }
        Ok(payload)
    }

    /// The format version the recording was written in.
    pub fn version(&self) -> u16 {
        self.version
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

    /// Size of the recording in bytes.
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
        if entry.key {
            let frame = self.decode_entry(i, None)?;
            self.chain = Some((i, Chain::start(&frame)));
            return Ok(frame);
        }
        let k = self.index[..i].iter().rposition(|e| e.key).ok_or_else(|| {
            LabError::run(&self.path, format!("frame {i} has no keyframe before it"))
        })?;
        // Version 4 predicts each delta from the records before it, back to
        // the last anchor or the keyframe; older versions' deltas need only
        // the keyframe.
        let anchor = if self.version >= 4 {
            k + (i - k) / ANCHOR_EVERY * ANCHOR_EVERY
        } else {
            k
        };
        let same_key = |at: usize| at >= k && (at < i || self.index[i..=at].iter().all(|e| !e.key));
        let cached = self.chain.take().filter(|(at, _)| same_key(*at));
        let (from, mut chain) = match cached {
            Some((_, chain)) if self.version <= 3 => (i, chain),
            Some((at, chain)) if at >= anchor && at < i => (at + 1, chain),
            Some((_, mut chain)) => {
                chain.restart();
                (anchor.max(k + 1), chain)
            }
            None => (
                anchor.max(k + 1),
                Chain::start(&self.decode_entry(k, None)?),
            ),
        };
        // Older versions' deltas need nothing but their keyframe.
        let from = if self.version <= 3 { i } else { from };
        let mut at = from.saturating_sub(1);
        while at + 1 < i {
            at += 1;
            let e = self.index[at];
            let payload = self.payload_at(e.offset, e.len).map_err(|reason| {
                LabError::run(&self.path, format!("record at byte {}: {reason}", e.offset))
            })?;
            codec::advance(&payload[9..], &mut chain, self.version).ok_or_else(|| {
                LabError::run(
                    &self.path,
                    format!("record at byte {} does not decode", e.offset),
                )
            })?;
        }
        let frame = self.decode_entry(i, Some(&mut chain))?;
        self.chain = Some((i, chain));
        Ok(frame)
    }

    fn decode_entry(&mut self, i: usize, chain: Option<&mut Chain>) -> LabResult<Frame> {
        let e = self.index[i];
        let payload = self.payload_at(e.offset, e.len).map_err(|reason| {
            LabError::run(&self.path, format!("record at byte {}: {reason}", e.offset))
        })?;
        codec::decode(&payload[9..], e.step, chain, self.version).ok_or_else(|| {
            LabError::run(
                &self.path,
                format!("record at byte {} does not decode", e.offset),
            )
        })
    }

    /// The position of the frame recorded for `step`, or of the last one before it.
    pub fn position_of(&self, step: u64) -> Option<usize> {
        match self.index.binary_search_by_key(&step, |e| e.step) {
            Ok(i) => Some(i),
            Err(0) => None,
            Err(i) => Some(i - 1),
        }
    }

    /// Reads the frame recorded for `step`, or the last one before it when
    /// the recording skipped it (a stride). A step outside the recorded
    /// range is an error that names the range: the last frame is not
    /// another step's answer.
    pub fn read_step(&mut self, step: u64) -> LabResult<Frame> {
        let (Some(first), Some(last)) = (self.index.first(), self.index.last()) else {
            return Err(LabError::run(&self.path, "holds no frame yet"));
        };
        let (first, last) = (first.step, last.step);
        if step < first || step > last {
            return Err(LabError::run(
                &self.path,
                format!("step {step} is outside the recorded steps {first}..={last}"),
            ));
        }
        let i = self.position_of(step).ok_or_else(|| {
            LabError::run(&self.path, format!("no frame at or before step {step}"))
        })?;
        self.read(i)
    }

    /// Checks every record's checksum; returns the first damage, if any.
    pub fn verify(&mut self) -> Option<Damage> {
        for i in 0..self.index.len() {
            let e = self.index[i];
            if let Err(reason) = self.payload_at(e.offset, e.len) {
                return Some(Damage {
                    offset: e.offset,
                    reason,
                });
            }
        }
        self.damage.clone()
    }
}
