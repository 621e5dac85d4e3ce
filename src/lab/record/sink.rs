//! The frame recording written on its own thread, so that encoding and writing
//! overlap training instead of adding to it.

use std::path::PathBuf;
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender};

use super::frames::FrameWriter;
use crate::lab::error::{LabError, LabResult};
use crate::lab::frame::Frame;

/// A [`FrameWriter`] on a thread of its own, with at most one record in flight.
///
/// Handing over a record first waits for the one before it, so that the bytes
/// reported after each hand-over are those of every record but the newest:
/// the same for every run of the same scene, whatever the threads' timing.
/// A killed process loses at most the record in flight.
pub struct FrameSink {
    path: PathBuf,
    records: Option<Sender<(Box<Frame>, bool)>>,
    written: Receiver<LabResult<u64>>,
    in_flight: bool,
    bytes: u64,
    thread: Option<JoinHandle<()>>,
}

impl FrameSink {
    /// Moves `writer` onto a new thread.
    pub fn spawn(mut writer: FrameWriter) -> LabResult<Self> {
        let bytes = writer.bytes();
        let path = writer.path().to_path_buf();
        let (records, inbox) = crossbeam_channel::bounded::<(Box<Frame>, bool)>(1);
        let (report, written) = crossbeam_channel::bounded(1);
        let thread = std::thread::Builder::new()
            .name("nnm-recorder".into())
            .spawn(move || {
                for (frame, key) in inbox {
                    let result = writer.append_as(&frame, key).map(|()| writer.bytes());
                    let failed = result.is_err();
                    if report.send(result).is_err() || failed {
                        break;
                    }
                }
            })
            .map_err(|e| LabError::io(&path, "cannot start the recording's writer thread", e))?;
        Ok(FrameSink {
            path,
            records: Some(records),
            written,
            in_flight: false,
            bytes,
            thread: Some(thread),
        })
    }

    /// Hands `frame` to the writer once the record before it is written; with
    /// `key`, it is written as an exact keyframe.
    pub fn send(&mut self, frame: Box<Frame>, key: bool) -> LabResult<()> {
        self.settle()?;
        let sent = self.records.as_ref().map(|r| r.send((frame, key)));
        match sent {
            Some(Ok(())) => {
                self.in_flight = true;
                Ok(())
            }
            _ => Err(self.stopped()),
        }
    }

    /// Waits until every record handed over is written and flushed.
    pub fn settle(&mut self) -> LabResult<()> {
        if !self.in_flight {
            return Ok(());
        }
        self.in_flight = false;
        match self.written.recv() {
            Ok(Ok(bytes)) => {
                self.bytes = bytes;
                Ok(())
            }
            Ok(Err(e)) => {
                // The writer has stopped: later records fail instead of vanishing.
                self.records = None;
                Err(e)
            }
            Err(_) => {
                self.records = None;
                Err(self.stopped())
            }
        }
    }

    /// Bytes of the recording, as of the last record known to be written.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    fn stopped(&self) -> LabError {
        LabError::run(
            &self.path,
            "the recording's writer thread stopped: no further frames are recorded",
        )
    }
}

impl Drop for FrameSink {
    fn drop(&mut self) {
        // Closing the channel ends the thread once the record in flight is written.
        self.records = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
