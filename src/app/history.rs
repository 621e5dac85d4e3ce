//! History and playback: every recorded step within reach, and which one is shown.
//!
//! Frames come from the run's recording (live or finished) and, for what is
//! not recorded, from a bounded ring of the frames the trainer sent. The VCR
//! cursor picks the frame that the 3D view, plots, inspector and task view show.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::lab::clock::Instant;

use bevy::prelude::*;

use crate::app::AppSystems;
use crate::app::bridge::{Live, NewestFrame, Run};
use crate::lab::Frame;
use crate::lab::record::{FRAMES_FILE, FrameReader};

/// Memory kept for recent frames received live (when they are not recorded).
pub(super) const RING_BYTES: usize = 128 << 20;
/// Decoded recording frames kept, so that stepping back and forth is instant.
pub(super) const CACHE_FRAMES: usize = 8;
/// Playback at 1x shows this many steps per second.
pub(super) const BASE_STEPS_PER_SECOND: f64 = 30.0;
/// How often a recording being written is checked for new records.
const REFRESH_EVERY: Duration = Duration::from_millis(250);

/// Playback speeds offered (multiples of [`BASE_STEPS_PER_SECOND`]).
pub(super) const SPEEDS: [f32; 7] = [0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0];

/// Every frame within reach: the recording, and a ring of recent live frames.
#[derive(Resource, Default)]
pub(super) struct History {
    reader: Option<FrameReader>,
    reader_for: Option<PathBuf>,
    ring: VecDeque<Arc<Frame>>,
    ring_bytes: usize,
    cache: VecDeque<Arc<Frame>>,
    refreshed_at: Option<Instant>,
    /// The last error met while reading the recording.
    pub error: Option<String>,
}

fn frame_bytes(f: &Frame) -> usize {
    f.value_count() * 4 + 256
}

impl History {
    /// The recording, when there is one.
    pub(super) fn reader(&self) -> Option<&FrameReader> {
        self.reader.as_ref()
    }

    /// The first step within reach.
    pub(super) fn first_step(&self) -> Option<u64> {
        let recorded = self
            .reader
            .as_ref()
            .and_then(|r| r.index().first())
            .map(|e| e.step);
        let ring = self.ring.front().map(|f| f.step);
        match (recorded, ring) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The last step within reach.
    pub(super) fn last_step(&self) -> Option<u64> {
        let recorded = self
            .reader
            .as_ref()
            .and_then(|r| r.index().last())
            .map(|e| e.step);
        let ring = self.ring.back().map(|f| f.step);
        match (recorded, ring) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        }
    }

    /// Every step within reach, in order.
    pub(super) fn steps(&self) -> Vec<u64> {
        let mut steps: Vec<u64> = self
            .reader
            .as_ref()
            .map(|r| r.index().iter().map(|e| e.step).collect())
            .unwrap_or_default();
        steps.extend(self.ring.iter().map(|f| f.step));
        steps.sort_unstable();
        steps.dedup();
        steps
    }

    /// The step within reach just before `step`.
    pub(super) fn previous(&self, step: u64) -> Option<u64> {
        let steps = self.steps();
        let i = steps.partition_point(|&s| s < step);
        i.checked_sub(1).map(|i| steps[i])
    }

    /// The step within reach just after `step`.
    pub(super) fn next(&self, step: u64) -> Option<u64> {
        let steps = self.steps();
        let i = steps.partition_point(|&s| s <= step);
        steps.get(i).copied()
    }

    /// Mini-batch loss of every recorded step (for plots), oldest first.
    pub(super) fn batch_losses(&self) -> Option<Vec<(u64, f32)>> {
        self.reader
            .as_ref()
            .map(|r| r.index().iter().map(|e| (e.step, e.batch_loss)).collect())
    }

    /// The frame of `step`, or of the last step before it within reach.
    pub(super) fn get(&mut self, step: u64) -> Option<Arc<Frame>> {
        let best_ring = self.ring.iter().rev().find(|f| f.step <= step).cloned();
        let recorded_step = self
            .reader
            .as_ref()
            .and_then(|r| r.position_of(step).map(|i| r.index()[i].step));
        match (recorded_step, &best_ring) {
            (Some(rs), Some(f)) if f.step >= rs => return best_ring,
            (None, _) => return best_ring,
            _ => {}
        }
        let rs = recorded_step?;
        if let Some(f) = self.cache.iter().find(|f| f.step == rs) {
            return Some(f.clone());
        }
        let reader = self.reader.as_mut()?;
        match reader.read_step(rs) {
            Ok(frame) => {
                let frame = Arc::new(frame);
                self.cache.push_back(frame.clone());
                if self.cache.len() > CACHE_FRAMES {
                    self.cache.pop_front();
                }
                Some(frame)
            }
            Err(e) => {
                self.error = Some(e.to_string());
                best_ring
            }
        }
    }

    fn push_live(&mut self, frame: Arc<Frame>) {
        if self.ring.back().is_some_and(|f| f.step >= frame.step) {
            // A restart within the same topology: the old frames are another run's.
            if self.ring.back().is_some_and(|f| f.step > frame.step) {
                self.clear_ring();
            } else {
                return;
            }
        }
        self.ring_bytes += frame_bytes(&frame);
        self.ring.push_back(frame);
        while self.ring_bytes > RING_BYTES && self.ring.len() > 1 {
            if let Some(old) = self.ring.pop_front() {
                self.ring_bytes -= frame_bytes(&old);
            }
        }
    }

    fn clear_ring(&mut self) {
        self.ring.clear();
        self.ring_bytes = 0;
    }
}

/// What the VCR does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) enum PlayMode {
    /// Show the newest frame as it arrives.
    #[default]
    Follow,
    /// Hold the cursor's step.
    Paused,
    /// Move the cursor forward at `speed`.
    Playing,
}

/// The VCR: where the cursor is and how it moves.
#[derive(Resource, Debug, Clone, PartialEq)]
pub(super) struct Playback {
    /// Follow live, paused or playing.
    pub mode: PlayMode,
    /// The step asked for.
    pub cursor: u64,
    /// Fractional position while playing.
    pub position: f64,
    /// Multiple of [`BASE_STEPS_PER_SECOND`].
    pub speed: f32,
    /// Start again from the first step at the end.
    pub looping: bool,
}

impl Default for Playback {
    fn default() -> Self {
        Playback {
            mode: PlayMode::Follow,
            cursor: 0,
            position: 0.0,
            speed: 1.0,
            looping: false,
        }
    }
}

impl Playback {
    /// Holds `step`.
    pub(super) fn seek(&mut self, step: u64) {
        self.mode = PlayMode::Paused;
        self.cursor = step;
        self.position = step as f64;
    }
}

/// Asks the VCR to play from the first step at this speed once there is history.
#[derive(Resource, Debug, Clone, Copy, PartialEq)]
pub(super) struct StartPlaying(pub f32);

/// The frame everything shows: the newest, or the one the VCR picked.
#[derive(Resource, Debug, Default)]
pub(super) struct Shown {
    /// The frame.
    pub frame: Option<Arc<Frame>>,
    /// Bumped whenever `frame` changes.
    pub serial: u64,
}

impl Shown {
    /// The step shown.
    pub(super) fn step(&self) -> Option<u64> {
        self.frame.as_ref().map(|f| f.step)
    }

    fn show(&mut self, frame: Arc<Frame>) {
        if self.frame.as_ref().is_none_or(|f| !Arc::ptr_eq(f, &frame)) {
            self.frame = Some(frame);
            self.serial += 1;
        }
    }
}

/// Keeps the history and moves the VCR.
pub(super) struct HistoryPlugin;

impl Plugin for HistoryPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<History>()
            .init_resource::<Playback>()
            .init_resource::<Shown>()
            .add_systems(Update, track_history.in_set(AppSystems::History))
            .add_systems(Update, play.in_set(AppSystems::Playback));
    }
}

/// Opens and follows the recording, and keeps recent live frames.
fn track_history(
    run: Res<Run>,
    newest: Res<NewestFrame>,
    mut history: ResMut<History>,
    mut playback: ResMut<Playback>,
    mut shown: ResMut<Shown>,
) {
    let h = &mut *history;
    if run.is_changed() {
        h.reader = None;
        h.reader_for = None;
        h.cache.clear();
        h.clear_ring();
        h.error = None;
        *playback = Playback {
            speed: playback.speed,
            looping: playback.looping,
            ..default()
        };
        shown.frame = None;
        shown.serial += 1;
    }
    let recording = run.run_dir.as_ref().map(|d| d.join(FRAMES_FILE));
    if h.reader_for != recording {
        h.reader = None;
        h.cache.clear();
        h.reader_for = recording.clone();
    }
    let due = h.refreshed_at.is_none_or(|t| t.elapsed() >= REFRESH_EVERY);
    if let (Some(path), true) = (recording, due) {
        h.refreshed_at = Some(Instant::now());
        match &mut h.reader {
            Some(r) => {
                if let Err(e) = r.refresh() {
                    h.error = Some(e.to_string());
                }
            }
            // A live run creates its recording just after it starts.
            None if path.exists() => match FrameReader::open(&path) {
                Ok(r) => h.reader = Some(r),
                Err(e) => h.error = Some(e.to_string()),
            },
            None => {}
        }
    }
    if newest.is_changed()
        && let Some(f) = &newest.0
    {
        h.push_live(f.clone());
    }
}

/// Moves the cursor and picks the frame to show.
fn play(
    mut commands: Commands,
    time: Res<Time<Real>>,
    live: Live,
    start: Option<Res<StartPlaying>>,
    mut history: ResMut<History>,
    mut playback: ResMut<Playback>,
    mut shown: ResMut<Shown>,
) {
    if let (Some(start), Some(first)) = (start, history.first_step()) {
        playback.seek(first);
        playback.speed = start.0;
        playback.mode = PlayMode::Playing;
        commands.remove_resource::<StartPlaying>();
    }
    match playback.mode {
        PlayMode::Follow => {
            if let Some(f) = live.frame() {
                shown.show(f.clone());
                if playback.cursor != f.step {
                    playback.cursor = f.step;
                    playback.position = f.step as f64;
                }
            }
        }
        PlayMode::Paused => show_cursor(&mut history, &playback, &mut shown),
        PlayMode::Playing => {
            let (Some(first), Some(last)) = (history.first_step(), history.last_step()) else {
                return;
            };
            let p = &mut *playback;
            p.position += time.delta_secs_f64() * BASE_STEPS_PER_SECOND * f64::from(p.speed);
            if p.position > last as f64 {
                if p.looping {
                    p.position = first as f64;
                } else if !live.run.replay() {
                    // Caught up with a live run: follow it again.
                    p.mode = PlayMode::Follow;
                    return;
                } else {
                    p.position = last as f64;
                    p.mode = PlayMode::Paused;
                }
            }
            p.position = p.position.max(first as f64);
            p.cursor = p.position as u64;
            show_cursor(&mut history, &playback, &mut shown);
        }
    }
}

fn show_cursor(history: &mut History, playback: &Playback, shown: &mut Shown) {
    if shown.step() == Some(playback.cursor) {
        return;
    }
    if let Some(frame) = history.get(playback.cursor)
        && shown.frame.as_ref().is_none_or(|f| f.step != frame.step)
    {
        shown.show(frame);
    }
}
