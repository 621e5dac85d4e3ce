//! The lesson player: feeds training's signals to the scene's lesson, pauses, moves the camera, highlights.

use bevy::prelude::*;

use crate::app::AppSystems;
use crate::app::bridge::Live;
use crate::app::messages::{CameraPose, LessonControl, SendCommand};
use crate::app::particles::{Direction, FlowPhase};
use crate::app::visual::HighlightState;
use crate::lab::TrainerCommand;
use crate::lab::scene::{Lesson, LessonEvent, LessonProgress, PausePoint, Signal};

/// The lesson in force and where the class is in it.
#[derive(Resource, Debug, Default)]
pub(super) struct LessonPlayer {
    /// The lesson (from the scene in force).
    pub lesson: Lesson,
    /// Where the class is.
    pub progress: LessonProgress,
    seen_losses: usize,
    seen_evaluations: usize,
    last_direction: Option<Direction>,
    pause_sent: Option<Option<PausePoint>>,
}

impl LessonPlayer {
    /// The step on screen, with its index.
    pub(super) fn current(&self) -> Option<(usize, &crate::lab::scene::LessonStep)> {
        let i = self.progress.viewing?;
        self.lesson.steps.get(i).map(|s| (i, s))
    }
}

/// Plays the scene's lesson.
pub(super) struct LessonPlugin;

impl Plugin for LessonPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<LessonPlayer>()
            .add_systems(Update, play_lesson.in_set(AppSystems::Playback));
    }
}

fn play_lesson(
    live: Live,
    flow: Option<Res<FlowPhase>>,
    mut player: ResMut<LessonPlayer>,
    mut controls: MessageReader<LessonControl>,
    mut highlight: ResMut<HighlightState>,
    mut send: MessageWriter<SendCommand>,
    mut poses: MessageWriter<CameraPose>,
) {
    let p = &mut *player;
    if live.run.replay() {
        return;
    }
    // Compared in place: cloning the lesson every frame cost more than the
    // rest of this system.
    let lesson = live.scene().map(|s| &s.lesson);
    let changed = match lesson {
        Some(lesson) => p.lesson != *lesson,
        None => !p.lesson.is_empty(),
    };
    // A new run, or an edited lesson, starts the lesson over.
    if live.run.is_changed() || changed {
        p.lesson = lesson.cloned().unwrap_or_default();
        p.progress = LessonProgress::default();
        p.seen_losses = 0;
        p.seen_evaluations = 0;
        p.last_direction = None;
        p.pause_sent = None;
        highlight.set_if_neq(HighlightState(None));
    }
    if p.lesson.is_empty() {
        return;
    }
    let mut signals = Vec::new();
    for control in controls.read() {
        match control {
            LessonControl::Next => signals.push(Signal::Next),
            LessonControl::Back => {
                p.progress.back();
                show_step(p, &mut highlight, &mut poses);
            }
        }
    }
    // In training order, an evaluation before the frames after it: a
    // trigger on it fires at its step, however many frames came with it.
    let mut frames = live
        .log
        .batch_losses
        .iter()
        .skip(p.seen_losses)
        .map(|&(step, batch_loss)| Signal::Frame { step, batch_loss })
        .peekable();
    for e in live.log.evaluations.iter().skip(p.seen_evaluations) {
        while let Some(f) =
            frames.next_if(|f| matches!(f, Signal::Frame { step, .. } if *step < e.step))
        {
            signals.push(f);
        }
        signals.push(Signal::Evaluation(*e));
    }
    signals.extend(frames);
    p.seen_losses = live.log.batch_losses.len();
    p.seen_evaluations = live.log.evaluations.len();
    // The particles show the passes: a lesson about them waits for them.
    if let Some(flow) = flow
        && flow.active
        && live.frame().is_some()
        && p.last_direction != Some(flow.direction)
    {
        p.last_direction = Some(flow.direction);
        signals.push(match flow.direction {
            Direction::Forward => Signal::Forward,
            Direction::Backward => Signal::Backward,
        });
    }
    let mut resume = false;
    for signal in signals {
        let events = p.progress.observe(&p.lesson, signal);
        for event in events {
            match event {
                LessonEvent::Show { pause, .. } => {
                    if pause {
                        send.write(SendCommand(TrainerCommand::Pause));
                    }
                    show_step(p, &mut highlight, &mut poses);
                }
                LessonEvent::Continue => resume = true,
            }
        }
    }
    // Tell the trainer where the next pausing step is, so it stops exactly
    // there; before it resumes, or it may run past the point first.
    let due = p.progress.pause_due(&p.lesson);
    if p.pause_sent != Some(due) {
        p.pause_sent = Some(due);
        send.write(SendCommand(TrainerCommand::PauseAt(due)));
    }
    if resume {
        send.write(SendCommand(TrainerCommand::Resume));
    }
}

/// Applies the camera move and highlight of the step on screen.
fn show_step(
    p: &LessonPlayer,
    highlight: &mut ResMut<HighlightState>,
    poses: &mut MessageWriter<CameraPose>,
) {
    let Some((_, step)) = p.current() else { return };
    highlight.set_if_neq(HighlightState(step.highlight));
    if let Some(pose) = step.camera {
        poses.write(CameraPose(pose));
    }
}
