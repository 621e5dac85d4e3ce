//! One viewer of `nnm serve`'s stream: what waits for it until it asks (the
//! run's events and its newest frame), with the evaluations thinned to an
//! even sample when they come faster than it reads them.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tungstenite::Bytes;

/// Events other than evaluations a viewer may hold unread before it is
/// dropped as gone.
const MAX_PENDING_EVENTS: usize = 10_000;

/// Evaluations a viewer may hold unread (and the newest, whatever its
/// stride). Past this, every other one goes and, until it reads, one in
/// twice as many is kept: what it reads is an even sample from the first to
/// the newest, never the first ones alone.
pub(super) const MAX_PENDING_EVALUATIONS: usize = 256;

/// One connected viewer, shared between the server's loop and its thread.
#[derive(Default)]
pub(super) struct Viewer {
    mailbox: Mutex<Mailbox>,
    news: Condvar,
    gone: AtomicBool,
}

/// An event waiting for the viewer, as the JSON text it is sent as.
struct Posted {
    text: String,
    /// An evaluation (which may be thinned), not another event.
    evaluation: bool,
    /// An evaluation off the sample's stride, kept only while it is the
    /// newest: the viewer always hears the latest evaluation.
    provisional: bool,
}

#[derive(Default)]
struct Mailbox {
    events: Vec<Posted>,
    /// How many of `events` are evaluations.
    evaluations: usize,
    /// Times the waiting evaluations were halved since the viewer last
    /// read: one in `2^halvings` is kept until it reads again.
    halvings: u32,
    /// Evaluations come since the stride last changed.
    arrived: u64,
    frame: Option<Bytes>,
    dropped: u64,
    thinned: u64,
    /// Whether the viewer was told that its evaluations are thinned.
    told: bool,
}

impl Mailbox {
    /// One evaluation in this many is kept until the viewer reads.
    fn stride(&self) -> u64 {
        1u64 << self.halvings.min(63)
    }

    /// Whether the newest event is an evaluation off the stride.
    fn ends_provisional(&self) -> bool {
        self.events.last().is_some_and(|p| p.provisional)
    }

    /// Drops every other pending evaluation, counting back from the newest
    /// one on the stride (which stays, as does a provisional one after it),
    /// and doubles the stride.
    fn thin(&mut self) {
        let provisional = self.ends_provisional();
        let mut nth = 0usize;
        let mut kept: Vec<Posted> = Vec::with_capacity(self.events.len());
        for posted in std::mem::take(&mut self.events).into_iter().rev() {
            if posted.evaluation && !posted.provisional {
                nth += 1;
                if nth.is_multiple_of(2) {
                    self.thinned += 1;
                    self.evaluations -= 1;
                    continue;
                }
            }
            kept.push(posted);
        }
        kept.reverse();
        self.events = kept;
        // The next one kept comes a new stride after the newest kept.
        let stride = self.stride();
        self.arrived = if provisional {
            self.arrived % stride
        } else {
            0
        };
        self.halvings += 1;
    }
}

impl Viewer {
    fn mailbox(&self) -> MutexGuard<'_, Mailbox> {
        self.mailbox.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether the viewer left, or stopped reading long ago.
    pub(super) fn is_gone(&self) -> bool {
        self.gone.load(Ordering::Relaxed)
    }

    /// Marks the viewer gone: the server forgets it.
    pub(super) fn leave(&self) {
        self.gone.store(true, Ordering::Relaxed);
    }

    /// Queues an event (JSON text) other than an evaluation.
    pub(super) fn post(&self, text: &str) {
        let mut m = self.mailbox();
        if m.events.len() - m.evaluations >= MAX_PENDING_EVENTS {
            // It has not asked for anything in ages: it is gone.
            self.leave();
            return;
        }
        // An evaluation before another event is kept, whatever its stride:
        // the last one before a run finishes or pauses is the one to read.
        if let Some(last) = m.events.last_mut() {
            last.provisional = false;
        }
        m.events.push(Posted {
            text: text.to_string(),
            evaluation: false,
            provisional: false,
        });
        self.news.notify_one();
    }

    /// Queues an evaluation (JSON text), thinning those waiting when there
    /// are too many; the newest is always among them.
    pub(super) fn post_evaluation(&self, text: &str) {
        let mut m = self.mailbox();
        m.arrived += 1;
        let on_stride = m.arrived.is_multiple_of(m.stride());
        if m.ends_provisional() {
            m.events.pop();
            m.evaluations -= 1;
            m.thinned += 1;
        }
        m.events.push(Posted {
            text: text.to_string(),
            evaluation: true,
            provisional: !on_stride,
        });
        m.evaluations += 1;
        if m.evaluations - usize::from(m.ends_provisional()) > MAX_PENDING_EVALUATIONS {
            m.thin();
            if !m.told {
                m.told = true;
                let note = super::wire::ServerEvent::Note(
                    "the run evaluates faster than this viewer reads: it is sent an even \
                     sample of the evaluations (GET /status counts those left out)"
                        .into(),
                );
                m.events.push(Posted {
                    text: serde_json::to_string(&note).unwrap_or_default(),
                    evaluation: false,
                    provisional: false,
                });
            }
        }
        self.news.notify_one();
    }

    /// Makes `frame` the one sent next, replacing one not sent yet.
    pub(super) fn post_frame(&self, frame: &Bytes) {
        let mut m = self.mailbox();
        if m.frame.replace(frame.clone()).is_some() {
            m.dropped += 1;
        }
        self.news.notify_one();
    }

    /// What is new (events in order, then the newest frame), waiting up to
    /// `wait` for something; evaluations are kept at full rate again after.
    pub(super) fn take(&self, wait: Duration) -> (Vec<String>, Option<Bytes>) {
        let m = self.mailbox();
        let (mut m, _) = self
            .news
            .wait_timeout_while(m, wait, |m| m.events.is_empty() && m.frame.is_none())
            .unwrap_or_else(PoisonError::into_inner);
        m.evaluations = 0;
        m.halvings = 0;
        m.arrived = 0;
        let events = std::mem::take(&mut m.events)
            .into_iter()
            .map(|p| p.text)
            .collect();
        (events, m.frame.take())
    }

    /// Frames replaced before the viewer asked for them.
    pub(super) fn dropped(&self) -> u64 {
        self.mailbox().dropped
    }

    /// Evaluations left out of what the viewer was sent.
    pub(super) fn thinned(&self) -> u64 {
        self.mailbox().thinned
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::frame::Metrics;
    use crate::lab::net::ServerEvent;

    fn evaluation(step: u64) -> String {
        let e = Metrics {
            train_loss: Some(1.0 / (step as f32 + 1.0)),
            ..Metrics::at(step)
        };
        serde_json::to_string(&ServerEvent::Evaluated(e)).unwrap()
    }

    fn read(texts: &[String]) -> Vec<ServerEvent> {
        texts
            .iter()
            .map(|t| serde_json::from_str(t).unwrap())
            .collect()
    }

    fn steps(events: &[ServerEvent]) -> Vec<u64> {
        events
            .iter()
            .filter_map(|e| match e {
                ServerEvent::Evaluated(m) => Some(m.step),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_viewer_reading_slowly_gets_an_even_sample_of_evaluations_with_the_newest_and_every_other_event()
     {
        let viewer = Viewer::default();
        let arrived = 10_000u64;
        for i in 1..=arrived {
            viewer.post_evaluation(&evaluation(i * 10));
            if i == 5_000 {
                viewer.post(&serde_json::to_string(&ServerEvent::Running(false)).unwrap());
            }
        }
        assert!(!viewer.is_gone(), "a slow viewer is thinned, not dropped");
        let (texts, frame) = viewer.take(Duration::ZERO);
        assert!(frame.is_none());
        let events = read(&texts);
        let got = steps(&events);
        assert!(
            got.len() <= MAX_PENDING_EVALUATIONS + 1 && got.len() > MAX_PENDING_EVALUATIONS / 2,
            "{} evaluations kept",
            got.len()
        );
        assert_eq!(got.last(), Some(&(arrived * 10)), "the newest is kept");
        assert_eq!(viewer.thinned(), arrived - got.len() as u64);
        // Evenly spaced: one stride nearly throughout (the evaluation just
        // before the pause is kept off it, and the last gap, to the newest,
        // may be shorter), from the very first evaluation.
        let gaps: Vec<u64> = got.windows(2).map(|w| w[1] - w[0]).collect();
        let stride = *gaps.iter().max().unwrap();
        let on_stride = gaps.iter().filter(|&&g| g == stride).count();
        assert!(on_stride + 3 >= gaps.len(), "uneven: {gaps:?}");
        assert_eq!(got[0], 10, "the sample starts at {}", got[0]);
        // The pause stays in its place among them, and the viewer is told once.
        let paused = events
            .iter()
            .position(|e| *e == ServerEvent::Running(false))
            .unwrap();
        let before = steps(&events[..paused]);
        assert!(before.iter().all(|&s| s <= 50_000), "{before:?}");
        assert!(steps(&events[paused..]).iter().all(|&s| s > 50_000));
        let notes = events
            .iter()
            .filter(|e| matches!(e, ServerEvent::Note(n) if n.contains("even sample")))
            .count();
        assert_eq!(notes, 1);

        // Once it has read, it gets every evaluation again.
        for i in 1..=10 {
            viewer.post_evaluation(&evaluation(arrived * 10 + i));
        }
        let (texts, _) = viewer.take(Duration::ZERO);
        assert_eq!(
            steps(&read(&texts)),
            (1..=10).map(|i| arrived * 10 + i).collect::<Vec<_>>()
        );
    }

    #[test]
    fn a_viewer_that_leaves_other_events_unread_is_gone() {
        let viewer = Viewer::default();
        for _ in 0..MAX_PENDING_EVENTS {
            viewer.post("{\"note\":\"x\"}");
        }
        assert!(!viewer.is_gone());
        viewer.post("{\"note\":\"x\"}");
        assert!(viewer.is_gone());
    }
}
