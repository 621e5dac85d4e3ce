//! The lesson player: feeds training's signals to the scene's lesson, pauses, moves the camera, highlights.

use bevy::prelude::*;

use crate::app::AppSystems;
use crate::app::bridge::Live;
use crate::app::messages::{CameraPose, LessonControl, SendCommand};
use crate::app::particles::{Direction, FlowPhase};
use crate::app::visual::HighlightState;
use crate::lab::TrainerCommand;
use crate::lab::lesson::{Lesson, LessonEvent, LessonProgress, Signal};

/// The lesson in force and where the class is in it.
#[derive(Resource, Debug, Default)]
pub struct LessonPlayer {
    /// The lesson (from the scene in force).
    pub lesson: Lesson,
    /// Where the class is.
    pub progress: LessonProgress,
    seen_topology: u64,
    seen_losses: usize,
    seen_evaluations: usize,
    last_direction: Option<Direction>,
    pause_sent: Option<Option<u64>>,
}

impl LessonPlayer {
    /// The step on screen, with its index.
    pub fn current(&self) -> Option<(usize, &crate::lab::lesson::LessonStep)> {
        let i = self.progress.viewing?;
        self.lesson.steps.get(i).map(|s| (i, s))
    }
}

/// Plays the scene's lesson.
pub struct LessonPlugin;

impl Plugin for LessonPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<LessonPlayer>()
            .add_systems(Update, play_lesson.in_set(AppSystems::Playback));
    }
}

fn play_lesson(
    live: Res<Live>,
    flow: Option<Res<FlowPhase>>,
    mut player: ResMut<LessonPlayer>,
    mut controls: MessageReader<LessonControl>,
    mut highlight: ResMut<HighlightState>,
    mut send: MessageWriter<SendCommand>,
    mut poses: MessageWriter<CameraPose>,
) {
    let p = &mut *player;
    if live.replay {
        return;
    }
    let lesson = live
        .scene
        .as_ref()
        .map(|s| s.lesson.clone())
        .unwrap_or_default();
    // A new run, or an edited lesson, starts the lesson over.
    if p.seen_topology != live.topology_serial || p.lesson != lesson {
        p.seen_topology = live.topology_serial;
        p.lesson = lesson;
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
    signals.extend(
        live.batch_losses
            .iter()
            .skip(p.seen_losses)
            .map(|&(step, batch_loss)| Signal::Frame { step, batch_loss }),
    );
    p.seen_losses = live.batch_losses.len();
    signals.extend(
        live.evaluations
            .iter()
            .skip(p.seen_evaluations)
            .map(|e| Signal::Evaluation(*e)),
    );
    p.seen_evaluations = live.evaluations.len();
    // The particles show the passes: a lesson about them waits for them.
    if let Some(flow) = flow
        && flow.active
        && live.frame.is_some()
        && p.last_direction != Some(flow.direction)
    {
        p.last_direction = Some(flow.direction);
        signals.push(match flow.direction {
            Direction::Forward => Signal::Forward,
            Direction::Backward => Signal::Backward,
        });
    }
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
                LessonEvent::Continue => {
                    send.write(SendCommand(TrainerCommand::Resume));
                }
            }
        }
    }
    // Tell the trainer where the next pausing step is, so it stops exactly there.
    let due = p.progress.pause_due(&p.lesson);
    if p.pause_sent != Some(due) {
        p.pause_sent = Some(due);
        send.write(SendCommand(TrainerCommand::PauseAt(due)));
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
