//! The messages the app's plugins send each other, declared and registered in
//! one place, so that each has one owner and any plugin can write one without
//! depending on the plugin that acts on it.

use bevy::prelude::*;

use crate::lab::TrainerCommand;
use crate::lab::scene::Pose;

/// A command for the trainer, from the UI, hotkeys or lessons (the bridge sends it).
#[derive(Message, Debug, Clone, PartialEq)]
pub(super) struct SendCommand(pub TrainerCommand);

/// A sentence for the user, such as where a file went (the overlay shows the latest).
#[derive(Message, Debug, Clone, PartialEq, Eq)]
pub(super) struct Notice(pub String);

/// Where the camera should look, set by hotkeys and the UI.
#[derive(Message, Debug, Clone, Copy, PartialEq)]
pub(super) enum FrameTarget {
    /// The whole network.
    All,
    /// One layer of neurons (0 = inputs).
    Layer(usize),
    /// The selected neuron.
    Selected,
    /// The surface of a 2D regression (the whole network without one).
    Surface,
}

/// Asks the camera to move to a pose (lessons and scripts).
#[derive(Message, Debug, Clone, Copy, PartialEq)]
pub(super) struct CameraPose(pub Pose);

/// A screenshot or recording of the window, from a hotkey or the UI.
#[derive(Message, Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SnapshotRequest {
    /// Save the window as a PNG.
    Screenshot,
    /// Start or stop saving every frame.
    ToggleRecording,
}

/// What to export into the run directory's `exports/`.
#[derive(Message, Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ExportRequest {
    /// Every metrics row, as CSV.
    MetricsCsv,
    /// Every metrics row, as JSON.
    MetricsJson,
    /// The shown frame, as JSON.
    FrameJson,
    /// The shown network, as a checkpoint in the stream format (safetensors:
    /// `nnm import` reads it, and so does Python's `safetensors`). A page's
    /// 💾 Checkpoint downloads this, having no run folder to save into.
    Weights,
}

/// The user's hand on the lesson.
#[derive(Message, Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum LessonControl {
    /// Continue, or go to the next step.
    Next,
    /// Show the previous step again.
    Back,
}

/// Asks to switch to the preset of this name.
#[derive(Message, Debug, Clone, PartialEq, Eq)]
pub(super) struct PickScene(pub String);

/// What the compare view asks of the app (its views write them; the zoom,
/// export and open systems carry them out).
#[derive(Message, Debug, Clone, PartialEq)]
pub(super) enum CompareRequest {
    /// Open this row in the microscope, as a process of its own.
    Open(u32),
    /// Zoom into this window of the landscape's sweep.
    Zoom(crate::lab::sweep::ZoomWindow),
    /// Go back to the table zoomed from.
    BackOut,
    /// Export the centre view, as shown, to this PNG.
    Export(std::path::PathBuf),
}

/// Registers every message above.
pub(super) struct MessagesPlugin;

impl Plugin for MessagesPlugin {
    fn build(&self, app: &mut App) {
        app.add_message::<SendCommand>()
            .add_message::<Notice>()
            .add_message::<FrameTarget>()
            .add_message::<CameraPose>()
            .add_message::<SnapshotRequest>()
            .add_message::<ExportRequest>()
            .add_message::<LessonControl>()
            .add_message::<PickScene>()
            .add_message::<CompareRequest>();
    }
}
