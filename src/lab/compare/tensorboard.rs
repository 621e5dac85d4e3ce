//! TensorBoard log directories: every folder holding event files
//! (`events.out.tfevents.*`) is a run, its scalars (TensorBoard's own
//! `simple_value`, or TF2's scalar tensors) its curves, and the hparams
//! plugin's session values its parameters.
//!
//! Event files are TFRecord files of `Event` protocol buffers: each record
//! is its length, a masked CRC-32C of the length, the bytes and a masked
//! CRC-32C of the bytes. The messages are decoded with `prost`, declaring
//! only the fields read here.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use prost::Message;

use crate::lab::error::{LabError, LabResult};

/// What names an event file.
const EVENTS_PREFIX: &str = "events.out.tfevents";

/// One TensorBoard run: a folder's event files read together.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogRun {
    /// The folder.
    pub path: PathBuf,
    /// Each scalar tag's values, by step (a step written twice keeps its last value).
    pub scalars: BTreeMap<String, BTreeMap<u64, f32>>,
    /// The hyperparameters of the hparams plugin, when written.
    pub hparams: BTreeMap<String, serde_json::Value>,
}

/// Whether `dir` holds event files itself.
pub fn is_log_run(dir: &Path) -> bool {
    event_files(dir).is_ok_and(|f| !f.is_empty())
}

/// The runs under `root`: it and every folder below it that holds event
/// files, in path order.
pub fn find_log_runs(root: &Path) -> LabResult<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        if is_log_run(&dir) {
            out.push(dir.clone());
        }
        let listing = std::fs::read_dir(&dir).map_err(|e| LabError::io(&dir, "cannot list", e))?;
        stack.extend(
            listing
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_dir()),
        );
    }
    out.sort();
    Ok(out)
}

fn event_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with(EVENTS_PREFIX))
        })
        .collect();
    files.sort();
    Ok(files)
}

impl LogRun {
    /// Reads the event files of `dir`, oldest first. A record cut short at
    /// the end of a file (a writer still going, or killed) ends that file;
    /// a damaged record before the end is an error naming the file and the
    /// byte where it starts.
    pub fn read(dir: &Path) -> LabResult<LogRun> {
        let mut run = LogRun {
            path: dir.to_path_buf(),
            ..Default::default()
        };
        let files = event_files(dir).map_err(|e| LabError::io(dir, "cannot list", e))?;
        for file in files {
            let bytes = std::fs::read(&file).map_err(|e| LabError::io(&file, "cannot read", e))?;
            for (at, record) in records(&bytes, &file)? {
                let event = Event::decode(record).map_err(|e| {
                    LabError::run(
                        &file,
                        format!("the record at byte {at} is not an event: {e}"),
                    )
                })?;
                run.take(event);
            }
        }
        Ok(run)
    }

    fn take(&mut self, event: Event) {
        let Some(summary) = event.summary else { return };
        let step = u64::try_from(event.step).unwrap_or(0);
        for value in summary.value {
            let plugin = value.metadata.as_ref().and_then(|m| m.plugin_data.as_ref());
            if let Some(p) = plugin
                && p.plugin_name == "hparams"
            {
                self.take_hparams(&p.content);
                continue;
            }
            let number = value
                .simple_value
                .or_else(|| value.tensor.as_ref().and_then(TensorProto::scalar));
            if let Some(v) = number {
                self.scalars.entry(value.tag).or_default().insert(step, v);
            }
        }
    }

    fn take_hparams(&mut self, content: &[u8]) {
        let Ok(data) = HParamsPluginData::decode(content) else {
            return;
        };
        let Some(info) = data.session_start_info else {
            return;
        };
        for (name, value) in info.hparams {
            let json = match value.kind {
                Some(Kind::Number(n)) => serde_json::json!(n),
                Some(Kind::Text(t)) => serde_json::json!(t),
                Some(Kind::Bool(b)) => serde_json::json!(b),
                Some(Kind::Null(_)) | None => continue,
            };
            self.hparams.insert(name, json);
        }
    }
}

/// The records of a TFRecord file, with the byte each starts at.
fn records<'a>(bytes: &'a [u8], file: &Path) -> LabResult<Vec<(usize, &'a [u8])>> {
    let mut out = Vec::new();
    let mut at = 0usize;
    while at < bytes.len() {
        let Some(header) = bytes.get(at..at + 12) else {
            break;
        };
        let (len_bytes, len_crc) = header.split_at(8);
        let len_crc = u32::from_le_bytes([len_crc[0], len_crc[1], len_crc[2], len_crc[3]]);
        if masked_crc(len_bytes) != len_crc {
            return Err(LabError::run(
                file,
                format!("the record at byte {at} is damaged (its length fails its checksum)"),
            ));
        }
        let mut len = [0u8; 8];
        len.copy_from_slice(len_bytes);
        let Ok(len) = usize::try_from(u64::from_le_bytes(len)) else {
            break;
        };
        let start = at + 12;
        let Some(end) = start.checked_add(len) else {
            break;
        };
        let (Some(data), Some(crc)) = (bytes.get(start..end), bytes.get(end..end + 4)) else {
            // Cut short: the writer had not finished it.
            break;
        };
        if masked_crc(data) != u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]) {
            return Err(LabError::run(
                file,
                format!("the record at byte {at} is damaged (its data fails its checksum)"),
            ));
        }
        out.push((at, data));
        at = end + 4;
    }
    Ok(out)
}

/// TFRecord's masked CRC-32C.
fn masked_crc(data: &[u8]) -> u32 {
    const CASTAGNOLI: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISCSI);
    let crc = CASTAGNOLI.checksum(data);
    crc.rotate_right(15).wrapping_add(0xa282_ead8)
}

/// `tensorflow.Event`, the fields read here.
#[derive(Clone, PartialEq, Message)]
struct Event {
    #[prost(int64, tag = "2")]
    step: i64,
    #[prost(message, optional, tag = "5")]
    summary: Option<Summary>,
}

/// `tensorflow.Summary`.
#[derive(Clone, PartialEq, Message)]
struct Summary {
    #[prost(message, repeated, tag = "1")]
    value: Vec<SummaryValue>,
}

/// `tensorflow.Summary.Value`.
#[derive(Clone, PartialEq, Message)]
struct SummaryValue {
    #[prost(string, tag = "1")]
    tag: String,
    #[prost(float, optional, tag = "2")]
    simple_value: Option<f32>,
    #[prost(message, optional, tag = "8")]
    tensor: Option<TensorProto>,
    #[prost(message, optional, tag = "9")]
    metadata: Option<SummaryMetadata>,
}

/// `tensorflow.SummaryMetadata`.
#[derive(Clone, PartialEq, Message)]
struct SummaryMetadata {
    #[prost(message, optional, tag = "1")]
    plugin_data: Option<PluginData>,
}

/// `tensorflow.SummaryMetadata.PluginData`.
#[derive(Clone, PartialEq, Message)]
struct PluginData {
    #[prost(string, tag = "1")]
    plugin_name: String,
    #[prost(bytes = "vec", tag = "2")]
    content: Vec<u8>,
}

/// `tensorflow.TensorProto`: a scalar's fields.
#[derive(Clone, PartialEq, Message)]
struct TensorProto {
    #[prost(int32, tag = "1")]
    dtype: i32,
    #[prost(bytes = "vec", tag = "4")]
    tensor_content: Vec<u8>,
    #[prost(float, repeated, tag = "5")]
    float_val: Vec<f32>,
    #[prost(double, repeated, tag = "6")]
    double_val: Vec<f64>,
}

/// `DT_FLOAT` and `DT_DOUBLE`.
const DT_FLOAT: i32 = 1;
const DT_DOUBLE: i32 = 2;

impl TensorProto {
    /// The value of a one-number float tensor.
    fn scalar(&self) -> Option<f32> {
        match self.dtype {
            DT_FLOAT => self.float_val.first().copied().or_else(|| {
                let b = self.tensor_content.get(..4)?;
                Some(f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            }),
            DT_DOUBLE => self.double_val.first().map(|&v| v as f32).or_else(|| {
                let b: [u8; 8] = self.tensor_content.get(..8)?.try_into().ok()?;
                Some(f64::from_le_bytes(b) as f32)
            }),
            _ => None,
        }
    }
}

/// `tensorboard.hparams.HParamsPluginData`.
#[derive(Clone, PartialEq, Message)]
struct HParamsPluginData {
    #[prost(message, optional, tag = "3")]
    session_start_info: Option<SessionStartInfo>,
}

/// `tensorboard.hparams.SessionStartInfo`.
#[derive(Clone, PartialEq, Message)]
struct SessionStartInfo {
    #[prost(map = "string, message", tag = "1")]
    hparams: HashMap<String, ProtoValue>,
}

/// `google.protobuf.Value`, the kinds hparams take.
#[derive(Clone, PartialEq, Message)]
struct ProtoValue {
    #[prost(oneof = "Kind", tags = "1, 2, 3, 4")]
    kind: Option<Kind>,
}

/// `google.protobuf.Value.kind`.
#[derive(Clone, PartialEq, prost::Oneof)]
enum Kind {
    #[prost(int32, tag = "1")]
    Null(i32),
    #[prost(double, tag = "2")]
    Number(f64),
    #[prost(string, tag = "3")]
    Text(String),
    #[prost(bool, tag = "4")]
    Bool(bool),
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One TFRecord of `event`.
    fn record(event: &Event) -> Vec<u8> {
        let data = event.encode_to_vec();
        let len = (data.len() as u64).to_le_bytes();
        let mut out = len.to_vec();
        out.extend(masked_crc(&len).to_le_bytes());
        out.extend(&data);
        out.extend(masked_crc(&data).to_le_bytes());
        out
    }

    fn scalar(step: i64, tag: &str, v: f32) -> Event {
        Event {
            step,
            summary: Some(Summary {
                value: vec![SummaryValue {
                    tag: tag.into(),
                    simple_value: Some(v),
                    tensor: None,
                    metadata: None,
                }],
            }),
        }
    }

    fn tf2_scalar(step: i64, tag: &str, v: f32) -> Event {
        Event {
            step,
            summary: Some(Summary {
                value: vec![SummaryValue {
                    tag: tag.into(),
                    simple_value: None,
                    tensor: Some(TensorProto {
                        dtype: DT_FLOAT,
                        tensor_content: v.to_le_bytes().to_vec(),
                        float_val: Vec::new(),
                        double_val: Vec::new(),
                    }),
                    metadata: None,
                }],
            }),
        }
    }

    #[test]
    fn scalars_of_both_styles_are_read_and_a_cut_record_ends_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = Vec::new();
        for s in 0..5 {
            bytes.extend(record(&scalar(s, "loss", 1.0 / (s + 1) as f32)));
            bytes.extend(record(&tf2_scalar(s, "reward", s as f32 * 2.0)));
        }
        let last = record(&scalar(5, "loss", 9.0));
        bytes.extend(&last[..last.len() - 3]);
        std::fs::write(dir.path().join("events.out.tfevents.1.host"), &bytes).unwrap();
        assert!(is_log_run(dir.path()));
        let run = LogRun::read(dir.path()).unwrap();
        let loss: Vec<(u64, f32)> = run.scalars["loss"].iter().map(|(s, v)| (*s, *v)).collect();
        assert_eq!(loss.len(), 5, "the cut record is left out");
        assert_eq!(loss[3], (3, 0.25));
        assert_eq!(run.scalars["reward"][&4], 8.0);
    }

    #[test]
    fn a_damaged_record_is_an_error_naming_the_file_and_byte() {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = record(&scalar(0, "loss", 1.0));
        let second = bytes.len();
        bytes.extend(record(&scalar(1, "loss", 0.5)));
        bytes[second + 14] ^= 0xff;
        let file = dir.path().join("events.out.tfevents.2.host");
        std::fs::write(&file, &bytes).unwrap();
        let err = LogRun::read(dir.path()).unwrap_err().to_string();
        assert!(err.contains("events.out.tfevents.2.host"), "{err}");
        assert!(err.contains(&format!("at byte {second}")), "{err}");
    }

    #[test]
    fn hparams_come_from_the_session_start_info() {
        let mut hparams = HashMap::new();
        hparams.insert(
            "lr".to_string(),
            ProtoValue {
                kind: Some(Kind::Number(0.01)),
            },
        );
        hparams.insert(
            "optimizer".to_string(),
            ProtoValue {
                kind: Some(Kind::Text("adam".into())),
            },
        );
        let content = HParamsPluginData {
            session_start_info: Some(SessionStartInfo { hparams }),
        }
        .encode_to_vec();
        let event = Event {
            step: 0,
            summary: Some(Summary {
                value: vec![SummaryValue {
                    tag: "_hparams_/session_start_info".into(),
                    simple_value: None,
                    tensor: None,
                    metadata: Some(SummaryMetadata {
                        plugin_data: Some(PluginData {
                            plugin_name: "hparams".into(),
                            content,
                        }),
                    }),
                }],
            }),
        };
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("events.out.tfevents.3.h"), record(&event)).unwrap();
        let run = LogRun::read(dir.path()).unwrap();
        assert_eq!(run.hparams["lr"], serde_json::json!(0.01));
        assert_eq!(run.hparams["optimizer"], serde_json::json!("adam"));
        assert!(run.scalars.is_empty());
    }
}
