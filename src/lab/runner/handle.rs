//! The app's end of a frame source: commands go in, events come out, and the
//! thread behind them is started, watched and stopped here.

use std::panic::AssertUnwindSafe;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};

use super::protocol::{TrainerCommand, TrainerEvent};
use crate::lab::error::{LabError, LabResult};

/// The app's end of a trainer (or replay) thread: commands in, events out.
pub struct TrainerHandle {
    commands: Sender<TrainerCommand>,
    events: Receiver<TrainerEvent>,
    thread: Option<JoinHandle<()>>,
}

/// The thread's end of a [`TrainerHandle`].
pub struct ThreadEnds {
    /// Commands from the app.
    pub commands: Receiver<TrainerCommand>,
    /// Events to the app.
    pub events: Sender<TrainerEvent>,
}

impl TrainerHandle {
    /// Starts a thread called `nnm-<name>` that serves `body` on a pair of
    /// channels (events bounded by `capacity`: a full channel drops frames,
    /// never blocks the app). A panic in `body` is caught and reported as
    /// [`TrainerEvent::Stopped`] with its message, so the app never waits on a
    /// dead thread.
    pub fn spawn_thread(
        name: &str,
        capacity: usize,
        body: impl FnOnce(ThreadEnds) + Send + 'static,
    ) -> LabResult<Self> {
        let (mut handle, events, commands) = Self::detached(capacity);
        let report = events.clone();
        let thread_name = name.to_string();
        let thread = std::thread::Builder::new()
            .name(format!("nnm-{name}"))
            .spawn(move || {
                let ends = ThreadEnds { commands, events };
                if let Err(panic) = std::panic::catch_unwind(AssertUnwindSafe(|| body(ends))) {
                    let why = panic
                        .downcast_ref::<&str>()
                        .map(|s| (*s).to_string())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "no message".into());
                    let _ = report.send(TrainerEvent::Stopped(format!(
                        "the {thread_name} thread stopped on an internal error: {why}"
                    )));
                }
            })
            .map_err(|e| LabError::Thread {
                name: name.to_string(),
                message: format!("cannot start: {e}"),
            })?;
        handle.thread = Some(thread);
        Ok(handle)
    }

    /// A handle on bare channels with no thread, for tests and benchmarks that
    /// feed events by hand.
    pub fn detached(capacity: usize) -> (Self, Sender<TrainerEvent>, Receiver<TrainerCommand>) {
        let (cmd_tx, cmd_rx) = crossbeam_channel::unbounded();
        let (ev_tx, ev_rx) = crossbeam_channel::bounded(capacity.max(1));
        (
            TrainerHandle {
                commands: cmd_tx,
                events: ev_rx,
                thread: None,
            },
            ev_tx,
            cmd_rx,
        )
    }

    /// Sends a command; a stopped thread ignores it.
    pub fn send(&self, command: TrainerCommand) {
        // A closed channel means the thread has ended (and said why in its
        // last event); there is nobody to tell.
        let _ = self.commands.send(command);
    }

    /// The events coming back.
    pub fn events(&self) -> &Receiver<TrainerEvent> {
        &self.events
    }
}

impl Drop for TrainerHandle {
    fn drop(&mut self) {
        let _ = self.commands.send(TrainerCommand::Shutdown);
        // Drain so that a thread blocked on a full channel can see the shutdown.
        while self.events.try_recv().is_ok() {}
        if let Some(t) = self.thread.take() {
            while !t.is_finished() {
                while self.events.try_recv().is_ok() {}
                std::thread::sleep(Duration::from_millis(1));
            }
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panicking_thread_says_why_it_stopped() {
        let handle = TrainerHandle::spawn_thread("test", 4, |_ends| {
            panic!("the data set vanished");
        })
        .unwrap();
        let event = handle
            .events()
            .recv_timeout(Duration::from_secs(10))
            .expect("an event, not silence");
        let TrainerEvent::Stopped(why) = event else {
            panic!("{event:?}")
        };
        assert!(
            why.contains("test thread") && why.contains("the data set vanished"),
            "{why}"
        );
    }
}
