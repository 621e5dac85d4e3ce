//! The app's end of a frame source: commands go in, events come out, and the
//! thread behind them is started, watched and stopped here.

use std::panic::AssertUnwindSafe;
use std::sync::Mutex;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::lab::clock::Instant;

use crossbeam_channel::{Receiver, Sender};

use super::protocol::{TrainerCommand, TrainerEvent};
use crate::lab::error::{LabError, LabResult};

/// The app's end of a trainer (or replay) thread: commands in, events out.
pub struct TrainerHandle {
    commands: Sender<TrainerCommand>,
    events: Receiver<TrainerEvent>,
    thread: Option<JoinHandle<()>>,
    /// The trainer itself, when it runs inside the app's frames.
    pump: Option<Mutex<Box<dyn Pump>>>,
}

/// A frame source with no thread of its own, run a slice at a time.
pub trait Pump: Send {
    /// Handles the waiting commands and works for up to about `budget`;
    /// true when it did anything.
    fn pump(&mut self, budget: Duration) -> bool;
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
                pump: None,
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

    /// This handle, its events made by `pump` in the caller's time.
    pub(super) fn with_pump(mut self, pump: Box<dyn Pump>) -> Self {
        self.pump = Some(Mutex::new(pump));
        self
    }

    /// Lets a trainer with no thread of its own (see
    /// [`TrainerHandle::cooperative`]) work for up to about `budget`; a
    /// threaded one works anyway, and this returns at once. True when a
    /// cooperative trainer did anything.
    pub fn pump(&self, budget: Duration) -> bool {
        match &self.pump {
            Some(p) => p.lock().is_ok_and(|mut p| p.pump(budget)),
            None => false,
        }
    }

    /// The next event within `timeout`, pumping a cooperative trainer while
    /// it waits.
    pub fn next_event(&self, timeout: Duration) -> Option<TrainerEvent> {
        if self.pump.is_none() {
            return self.events.recv_timeout(timeout).ok();
        }
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(event) = self.events.try_recv() {
                return Some(event);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            if !self.pump(left.min(PUMP_SLICE)) {
                // Nothing to do yet (a paced step): wait a little, not spin.
                std::thread::sleep(left.min(Duration::from_millis(1)));
            }
        }
    }
}

/// How long [`TrainerHandle::next_event`] lets a cooperative trainer work
/// before it looks for the event again.
const PUMP_SLICE: Duration = Duration::from_millis(4);

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
