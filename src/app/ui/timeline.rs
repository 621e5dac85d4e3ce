//! The timeline: a VCR over the training history (scrub, play, step, speed,
//! loop, jump, follow live) and the export buttons.

use bevy_egui::egui;

use crate::app::history::{PlayMode, Playback, SPEEDS};
use crate::app::messages::{ExportRequest, SnapshotRequest};

/// What the timeline shows.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct TimelineView {
    /// First step within reach.
    pub first: Option<u64>,
    /// Last step within reach.
    pub last: Option<u64>,
    /// Where training is now (the newest frame), when a trainer runs.
    pub live: Option<u64>,
    /// The step shown.
    pub shown: Option<u64>,
    /// Frames recorded on disk.
    pub recorded: usize,
    /// Bytes of the recording.
    pub bytes: u64,
    /// True for a replay (no trainer).
    pub replay: bool,
    /// True while the window's frames are being saved.
    pub recording: bool,
}

/// Requests the timeline cannot carry out itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TimelineAction {
    /// Show the step before the shown one.
    StepBack,
    /// Show the step after the shown one.
    StepForward,
    /// Export metrics or the shown frame.
    Export(ExportRequest),
    /// A screenshot, or start or stop saving every frame of the window.
    Snapshot(SnapshotRequest),
}

/// Draws the timeline; changes go to `playback`, other requests to `actions`.
pub(crate) fn timeline_ui(
    ui: &mut egui::Ui,
    view: &TimelineView,
    playback: &mut Playback,
    actions: &mut Vec<TimelineAction>,
) {
    let (Some(first), Some(last)) = (view.first, view.last) else {
        ui.label("No history yet.");
        return;
    };
    ui.horizontal(|ui| {
        transport_ui(ui, view, first, last, playback, actions);
        ui.separator();
        capture_ui(ui, view, actions);
    });
    scrubber_ui(ui, view, first, last, playback);
    ui.small(position_text(view));
}

/// Play, step, speed, loop, follow and jump: moving through the history.
fn transport_ui(
    ui: &mut egui::Ui,
    view: &TimelineView,
    first: u64,
    last: u64,
    playback: &mut Playback,
    actions: &mut Vec<TimelineAction>,
) {
    if ui.button("⏮").on_hover_text("first step").clicked() {
        playback.seek(first);
    }
    if ui.button("◀|").on_hover_text("step back").clicked() {
        actions.push(TimelineAction::StepBack);
    }
    let playing = playback.mode == PlayMode::Playing;
    if ui
        .button(if playing { "⏸ replay" } else { "▶ replay" })
        .clicked()
    {
        if playing {
            playback.mode = PlayMode::Paused;
        } else {
            if playback.cursor >= last {
                playback.seek(first);
            }
            playback.position = playback.cursor as f64;
            playback.mode = PlayMode::Playing;
        }
    }
    if ui.button("|▶").on_hover_text("step forward").clicked() {
        actions.push(TimelineAction::StepForward);
    }
    if ui.button("⏭").on_hover_text("last step").clicked() {
        playback.seek(last);
    }
    egui::ComboBox::from_label("speed")
        .selected_text(format!("{}x", playback.speed))
        .width(64.0)
        .show_ui(ui, |ui| {
            for s in SPEEDS {
                ui.selectable_value(&mut playback.speed, s, format!("{s}x"));
            }
        });
    ui.checkbox(&mut playback.looping, "loop");
    let following = playback.mode == PlayMode::Follow;
    let label = if view.replay {
        "newest"
    } else {
        "● follow live"
    };
    if ui
        .selectable_label(following, label)
        .on_hover_text("show each new step as it comes")
        .clicked()
    {
        playback.mode = PlayMode::Follow;
    }
    ui.separator();
    ui.label("step");
    let mut jump = playback.cursor;
    let field = ui.add(
        egui::DragValue::new(&mut jump)
            .range(first..=last)
            .speed(1.0),
    );
    if field.changed() && jump != playback.cursor {
        playback.seek(jump);
    }
}

/// Screenshot, recording and export: what leaves the window.
fn capture_ui(ui: &mut egui::Ui, view: &TimelineView, actions: &mut Vec<TimelineAction>) {
    if ui
        .button("screenshot")
        .on_hover_text("save a screenshot into the run's captures (F12)")
        .clicked()
    {
        actions.push(TimelineAction::Snapshot(SnapshotRequest::Screenshot));
    }
    let rec = if view.recording {
        "⏹ stop recording"
    } else {
        "⏺ record"
    };
    if ui
        .selectable_label(view.recording, rec)
        .on_hover_text("save every frame of the window into the run's captures")
        .clicked()
    {
        actions.push(TimelineAction::Snapshot(SnapshotRequest::ToggleRecording));
    }
    ui.menu_button("Export", |ui| {
        if ui.button("metrics → CSV").clicked() {
            actions.push(TimelineAction::Export(ExportRequest::MetricsCsv));
            ui.close();
        }
        if ui.button("metrics → JSON").clicked() {
            actions.push(TimelineAction::Export(ExportRequest::MetricsJson));
            ui.close();
        }
        if ui.button("shown frame → JSON").clicked() {
            actions.push(TimelineAction::Export(ExportRequest::FrameJson));
            ui.close();
        }
        if ui
            .button("shown network → .safetensors")
            .on_hover_text("a checkpoint of the weights and biases shown: nnm import reads it, and so does Python's safetensors")
            .clicked()
        {
            actions.push(TimelineAction::Export(ExportRequest::Weights));
            ui.close();
        }
    });
}

/// Where the view and the trainer are, and how much is recorded.
fn position_text(view: &TimelineView) -> String {
    let mut info = format!(
        "showing step {}",
        view.shown.map_or("-".into(), |s| s.to_string())
    );
    if let Some(live) = view.live
        && !view.replay
    {
        info.push_str(&format!(" · training at step {live}"));
    }
    if view.recorded > 0 {
        info.push_str(&format!(
            " · {} frames recorded, {:.1} MB",
            view.recorded,
            view.bytes as f64 / 1e6
        ));
    }
    info
}

/// The scrubber: a slider over every step, with the live position marked.
fn scrubber_ui(
    ui: &mut egui::Ui,
    view: &TimelineView,
    first: u64,
    last: u64,
    playback: &mut Playback,
) {
    let width = ui.available_width();
    ui.spacing_mut().slider_width = (width - 70.0).max(100.0);
    let mut at = playback.cursor.clamp(first, last);
    let slider = ui.add(
        egui::Slider::new(&mut at, first..=last.max(first + 1))
            .show_value(false)
            .text("history"),
    );
    if slider.changed() {
        playback.seek(at);
    }
    // The trainer's position: a green mark under the rail.
    if let Some(live) = view.live
        && !view.replay
        && last > first
    {
        let rail = slider.rect;
        let rail_width = ui.spacing().slider_width;
        let x =
            rail.left() + rail_width * (live.saturating_sub(first)) as f32 / (last - first) as f32;
        let y = rail.bottom();
        ui.painter().add(egui::Shape::convex_polygon(
            vec![
                egui::pos2(x, y - 6.0),
                egui::pos2(x - 5.0, y + 2.0),
                egui::pos2(x + 5.0, y + 2.0),
            ],
            egui::Color32::from_rgb(90, 220, 120),
            egui::Stroke::NONE,
        ));
    }
}
