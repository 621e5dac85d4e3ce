//! The egui overlay: status bar, control panel, plots, task view and inspector.

pub mod controls;
pub mod draw;
pub mod inspector;
pub mod lesson;
pub mod math;
pub mod plots;
pub mod task_view;
pub mod timeline;

use bevy::ecs::system::SystemParam;
use bevy::prelude::*;
use bevy_egui::{EguiContexts, EguiPrimaryContextPass, egui};

use crate::app::bridge::{Live, SendCommand, TrainingState};
use crate::app::camera::FrameTarget;
use crate::app::drawing::DrawnInput;
use crate::app::history::{History, Playback, Shown};
use crate::app::lesson::{LessonControl, LessonPlayer};
use crate::app::network::Selection;
use crate::app::scene_file::{PickScene, SceneFile};
use crate::app::snapshots::{Notice, SnapshotRequest, Snapshots};
use crate::app::visual::{SynapseStats, VisualSettings};
use controls::{ControlsEdit, controls_ui};
use inspector::{Inspector, inspector_ui, layer_name};
use plots::{PlotSettings, metrics_ui};
use task_view::{TaskView, task_view_ui};
use timeline::{TimelineAction, TimelineView, timeline_ui};

/// Where the overlay's panels are on screen (logical pixels), so that the
/// camera and picking leave them alone.
#[derive(Resource, Debug, Default, Clone)]
pub struct OverlayRects {
    /// (min, max) corners of each panel.
    pub rects: Vec<(Vec2, Vec2)>,
    /// The area the panels leave free for the 3D view, if they take any.
    pub free: Option<(Vec2, Vec2)>,
}

impl OverlayRects {
    /// True when `p` lies on a panel.
    pub fn contains(&self, p: Vec2) -> bool {
        self.rects
            .iter()
            .any(|(lo, hi)| p.x >= lo.x && p.y >= lo.y && p.x <= hi.x && p.y <= hi.y)
    }
}

/// What the overlay remembers between frames.
#[derive(Resource, Default)]
pub struct UiState {
    /// Edits in the control panel.
    pub controls: ControlsEdit,
    /// Plot options.
    pub plots: PlotSettings,
    /// Cached task view.
    pub task: TaskView,
    /// The inspector's history.
    pub inspector: Inspector,
    /// Hide every panel (H).
    pub hidden: bool,
    /// The latest notice for the user (where an export went, say).
    pub notice: Option<String>,
    /// The drawing pad of image tasks.
    pub draw: draw::DrawPad,
}

/// Draws the overlay.
pub struct UiPlugin;

impl Plugin for UiPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<UiState>()
            .init_resource::<OverlayRects>()
            .add_message::<Notice>()
            .add_message::<SnapshotRequest>()
            .add_message::<FrameTarget>()
            .add_message::<LessonControl>()
            .add_message::<PickScene>()
            // The overlay camera (see the camera plugin) carries the egui context.
            .insert_resource(bevy_egui::EguiGlobalSettings {
                auto_create_primary_context: false,
                ..default()
            })
            .add_systems(EguiPrimaryContextPass, overlay_ui);
    }
}

fn style(ctx: &egui::Context) {
    ctx.set_theme(egui::Theme::Dark);
    ctx.all_styles_mut(|s| {
        s.visuals = egui::Visuals::dark();
        s.visuals.panel_fill = egui::Color32::from_rgb(12, 14, 22);
        s.visuals.window_fill = egui::Color32::from_rgba_unmultiplied(12, 14, 22, 235);
        s.spacing.item_spacing = egui::vec2(6.0, 5.0);
    });
}

/// A one-line description of the training state.
pub fn status_text(state: TrainingState, step: u64) -> (String, egui::Color32) {
    match state {
        TrainingState::Starting => ("starting…".into(), egui::Color32::GRAY),
        TrainingState::Running => (
            format!("training · step {step}"),
            egui::Color32::from_rgb(120, 220, 140),
        ),
        TrainingState::Paused => (
            format!("paused · step {step}"),
            egui::Color32::from_rgb(240, 200, 90),
        ),
        TrainingState::Finished => (
            format!("finished · step {step}"),
            egui::Color32::from_rgb(140, 180, 255),
        ),
        TrainingState::Diverged { step, loss } => (
            format!("DIVERGED at step {step} (loss {loss}): lower the learning rate and reset"),
            egui::Color32::from_rgb(255, 80, 70),
        ),
    }
}

/// The lesson, as the overlay shows and drives it.
#[derive(SystemParam)]
struct Teaching<'w> {
    player: Option<Res<'w, LessonPlayer>>,
    controls: MessageWriter<'w, LessonControl>,
    scene_file: Option<Res<'w, SceneFile>>,
    picks: MessageWriter<'w, PickScene>,
    drawn: Option<ResMut<'w, DrawnInput>>,
    flow: Option<Res<'w, crate::app::particles::FlowPhase>>,
}

/// The VCR's state, as the overlay reads and drives it.
#[derive(SystemParam)]
struct Vcr<'w, 's> {
    history: ResMut<'w, History>,
    playback: ResMut<'w, Playback>,
    shown: Res<'w, Shown>,
    snapshots: Option<Res<'w, Snapshots>>,
    requests: MessageWriter<'w, SnapshotRequest>,
    notices: MessageReader<'w, 's, Notice>,
}

#[allow(clippy::too_many_arguments)]
fn overlay_ui(
    mut contexts: EguiContexts,
    live: Res<Live>,
    mut vcr: Vcr,
    mut visual: ResMut<VisualSettings>,
    selection: Res<Selection>,
    stats: Res<SynapseStats>,
    keys: Res<ButtonInput<KeyCode>>,
    mut state: ResMut<UiState>,
    mut rects: ResMut<OverlayRects>,
    mut send: MessageWriter<SendCommand>,
    mut targets: MessageWriter<FrameTarget>,
    mut teaching: Teaching,
    mut styled: Local<bool>,
) -> Result {
    let ctx = contexts.ctx_mut()?.clone();
    if !*styled {
        style(&ctx);
        *styled = true;
    }
    let state = &mut *state;
    if keys.just_pressed(KeyCode::KeyH) && !ctx.egui_wants_keyboard_input() {
        state.hidden = !state.hidden;
    }
    if let Some(Notice(n)) = vcr.notices.read().last() {
        state.notice = Some(n.clone());
    }
    let shown = vcr.shown.frame.clone();
    state.inspector.observe(selection.neuron, shown.as_deref());
    let mut root = egui::Ui::new(
        ctx.clone(),
        "overlay".into(),
        egui::UiBuilder::new()
            .layer_id(egui::LayerId::background())
            .max_rect(ctx.viewport_rect()),
    );
    let mut panel_rects = Vec::new();
    let mut out = Vec::new();

    let top = egui::Panel::top("status").show(&mut root, |ui| {
        status_bar_ui(ui, &live, &stats);
        if let Some(message) = state.notice.as_ref().or(live.messages.last()) {
            ui.colored_label(egui::Color32::from_rgb(255, 170, 110), message);
        }
    });
    panel_rects.push(top.response.rect);

    if let Some(player) = teaching
        .player
        .as_ref()
        .filter(|p| !p.lesson.is_empty() && !live.replay)
    {
        let lesson = egui::Panel::top("lesson").show(&mut root, |ui| lesson::lesson_ui(ui, player));
        if let Some(control) = lesson.inner {
            teaching.controls.write(control);
        }
        panel_rects.push(lesson.response.rect);
    }

    let mut actions = Vec::new();
    let timeline_view = TimelineView {
        first: vcr.history.first_step(),
        last: vcr.history.last_step(),
        live: live.frame.as_ref().map(|f| f.step),
        shown: vcr.shown.step(),
        recorded: vcr.history.reader().map_or(0, |r| r.len()),
        bytes: vcr.history.reader().map_or(0, |r| r.bytes()),
        replay: live.replay,
        recording: vcr
            .snapshots
            .as_ref()
            .is_some_and(|s| s.recording.is_some()),
    };
    let bottom = egui::Panel::bottom("timeline").show(&mut root, |ui| {
        timeline_ui(ui, &timeline_view, &mut vcr.playback, &mut actions);
    });
    panel_rects.push(bottom.response.rect);

    if !state.hidden {
        let mut v = (*visual).clone();
        let left = egui::Panel::left("controls")
            .resizable(true)
            .default_size(300.0)
            .show(&mut root, |ui| {
                egui::ScrollArea::vertical().show(ui, |ui| {
                    if let Some(file) = &teaching.scene_file
                        && let Some(pick) = scene_picker_ui(ui, file)
                    {
                        teaching.picks.write(pick);
                    }
                    if live.replay {
                        ui.label("Replay of a recorded run: there is no trainer; the timeline below moves through its history.");
                        ui.separator();
                        controls::visuals_ui(ui, &mut v);
                    } else {
                        controls_ui(ui, live.state, live.scene.as_ref(), &mut state.controls, &mut v, &mut out);
                    }
                    ui.separator();
                    camera_ui(ui, &live, selection.neuron.is_some(), &mut targets);
                });
            });
        panel_rects.push(left.response.rect);
        visual.set_if_neq(v);

        let right = egui::Panel::right("metrics")
            .resizable(true)
            .default_size(390.0)
            .show(&mut root, |ui| {
                egui::ScrollArea::vertical().show(ui, |ui| {
                    let recorded_losses = vcr.history.batch_losses();
                    let losses = recorded_losses.as_deref().unwrap_or(&live.batch_losses);
                    metrics_ui(
                        ui,
                        &live.evaluations,
                        losses,
                        vcr.shown.step(),
                        &mut state.plots,
                    );
                    ui.separator();
                    if let (Some(frame), Some(topology)) = (&shown, &live.topology) {
                        if let (Some(data), Some(drawn)) = (&live.data, teaching.drawn.as_mut())
                            && let crate::lab::data::InputLayout::Image { width, height } =
                                data.layout
                        {
                            egui::CollapsingHeader::new("Draw")
                                .default_open(false)
                                .show(ui, |ui| {
                                    let prediction = drawn
                                        .prediction
                                        .as_deref()
                                        .map(|p| (p, topology.output_names.as_slice(), drawn.step));
                                    match draw::draw_ui(
                                        ui,
                                        &mut state.draw,
                                        (&data.name, width, height),
                                        prediction,
                                    ) {
                                        Some(draw::DrawAction::Input(input)) => {
                                            drawn.set(Some(input))
                                        }
                                        Some(draw::DrawAction::Clear) => drawn.set(None),
                                        None => {}
                                    }
                                });
                            ui.separator();
                        }
                        if let Some(data) = &live.data {
                            task_view_ui(
                                ui,
                                &mut state.task,
                                data,
                                frame,
                                topology.activation,
                                topology.output,
                                &topology.output_names,
                            );
                            ui.separator();
                        }
                        inspector_ui(ui, &mut state.inspector, frame, topology);
                        ui.separator();
                        egui::CollapsingHeader::new("Math (the probe's real numbers)")
                            .default_open(false)
                            .show(ui, |ui| {
                                let phase = teaching
                                    .flow
                                    .as_ref()
                                    .filter(|f| f.active)
                                    .map(|f| f.direction);
                                math::math_ui(ui, frame, topology, selection.neuron, phase);
                            });
                    }
                });
            });
        panel_rects.push(right.response.rect);
    }

    for action in actions {
        handle_timeline_action(action, &live, &mut vcr, state);
    }
    for c in out {
        send.write(SendCommand(c));
    }
    let corners = |r: egui::Rect| (Vec2::new(r.min.x, r.min.y), Vec2::new(r.max.x, r.max.y));
    let free = root.available_rect_before_wrap();
    let new = OverlayRects {
        rects: panel_rects.into_iter().map(corners).collect(),
        free: (free.width() > 50.0 && free.height() > 50.0).then(|| corners(free)),
    };
    if rects.rects != new.rects || rects.free != new.free {
        *rects = new;
    }
    Ok(())
}

/// The status bar: title, training state, the newest metrics, notices.
fn status_bar_ui(ui: &mut egui::Ui, live: &Live, stats: &SynapseStats) {
    ui.horizontal(|ui| {
        let title = live
            .scene
            .as_ref()
            .map(|s| {
                if s.title.is_empty() {
                    s.name.clone()
                } else {
                    s.title.clone()
                }
            })
            .unwrap_or_else(|| "NN Microscope".into());
        ui.strong(format!("NN Microscope · {title}"));
        ui.separator();
        if live.replay {
            ui.colored_label(
                egui::Color32::from_rgb(140, 180, 255),
                format!("replay · {} steps", live.step()),
            );
        } else {
            let (text, color) = status_text(live.state, live.step());
            ui.colored_label(color, text);
        }
        if let Some(m) = live.frame.as_ref().map(|f| &f.metrics) {
            ui.separator();
            ui.label(format!("batch loss {:.4}", m.batch_loss));
            if let Some(a) = m.test_accuracy {
                ui.label(format!("test accuracy {:.1}%", a * 100.0));
            }
        }
        if stats.over_budget > 0 {
            ui.separator();
            ui.colored_label(
                egui::Color32::from_rgb(240, 200, 90),
                format!(
                    "synapse budget: showing the strongest {} of {} synapses",
                    stats.total - stats.over_budget,
                    stats.total
                ),
            )
            .on_hover_text("raise the synapse budget in Visuals to see more");
        }
        if let Some(dir) = &live.run_dir {
            ui.separator();
            let verb = if live.replay { "run" } else { "recording to" };
            ui.small(format!("{verb} {}", dir.display()));
        }
    });
}

/// The scene picker, and the error of a broken edit of the open file.
fn scene_picker_ui(ui: &mut egui::Ui, file: &SceneFile) -> Option<PickScene> {
    let mut pick = None;
    let stem = |p: &std::path::Path| {
        p.file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    ui.horizontal(|ui| {
        ui.label("Scene");
        let current = file.path.as_deref().map(stem).unwrap_or_default();
        egui::ComboBox::from_id_salt("scene-picker")
            .selected_text(&current)
            .show_ui(ui, |ui| {
                for path in file.presets() {
                    let name = stem(&path);
                    if ui.selectable_label(name == current, &name).clicked() && name != current {
                        pick = Some(PickScene(path));
                    }
                }
            })
            .response
            .on_hover_text("the presets in scenes/; editing the open file reloads it");
    });
    if let Some(error) = &file.error {
        ui.colored_label(egui::Color32::from_rgb(255, 90, 80), format!("⚠ {error}"));
        ui.small("Fix the file and save it: the last good scene keeps running.");
    }
    ui.separator();
    pick
}

/// Buttons that frame the camera.
fn camera_ui(
    ui: &mut egui::Ui,
    live: &Live,
    has_selection: bool,
    targets: &mut MessageWriter<FrameTarget>,
) {
    ui.label("Camera (drag to orbit, right-drag to pan, scroll to zoom)");
    ui.horizontal_wrapped(|ui| {
        if ui.button("Frame all (F)").clicked() {
            targets.write(FrameTarget::All);
        }
        if ui
            .add_enabled(has_selection, egui::Button::new("Selected (G)"))
            .clicked()
        {
            targets.write(FrameTarget::Selected);
        }
        let layers = live.topology.as_ref().map_or(0, |t| t.sizes.len());
        for l in 0..layers.min(10) {
            if ui
                .small_button(format!("{l}"))
                .on_hover_text(layer_name(l, layers))
                .clicked()
            {
                targets.write(FrameTarget::Layer(l));
            }
        }
    });
    ui.small("Space play/pause · . step · H hide panels");
}

/// Carries out what the timeline asked for: stepping and exports.
fn handle_timeline_action(action: TimelineAction, live: &Live, vcr: &mut Vcr, state: &mut UiState) {
    let shown_step = vcr.shown.step().unwrap_or(0);
    match action {
        TimelineAction::StepBack => {
            if let Some(s) = vcr.history.previous(shown_step) {
                vcr.playback.seek(s);
            }
        }
        TimelineAction::StepForward => {
            if let Some(s) = vcr.history.next(shown_step) {
                vcr.playback.seek(s);
            }
        }
        TimelineAction::Screenshot => {
            vcr.requests.write(SnapshotRequest::Screenshot);
        }
        TimelineAction::ToggleRecording => {
            vcr.requests.write(SnapshotRequest::ToggleRecording);
        }
        TimelineAction::ExportMetricsCsv
        | TimelineAction::ExportMetricsJson
        | TimelineAction::ExportFrameJson => {
            state.notice = Some(match export(action, live, vcr.shown.frame.as_deref()) {
                Ok(path) => format!("exported to {}", path.display()),
                Err(e) => format!("export failed: {e}"),
            });
        }
    }
}

/// Writes an export into the run directory's `exports/` (or `./exports`).
fn export(
    action: TimelineAction,
    live: &Live,
    frame: Option<&crate::lab::Frame>,
) -> Result<std::path::PathBuf, String> {
    use crate::lab::record::{METRICS_FILE, MetricsRow, export, read_metrics};
    let dir = live
        .run_dir
        .clone()
        .unwrap_or_else(|| std::path::PathBuf::from("."))
        .join("exports");
    let rows = || -> Vec<MetricsRow> {
        live.run_dir
            .as_ref()
            .and_then(|d| read_metrics(&d.join(METRICS_FILE)).ok())
            .unwrap_or_else(|| {
                let lr = live
                    .scene
                    .as_ref()
                    .map_or(f32::NAN, |s| s.train.learning_rate);
                live.evaluations
                    .iter()
                    .map(|e| MetricsRow::from_eval(e, f32::NAN, lr))
                    .collect()
            })
    };
    let (name, text) = match action {
        TimelineAction::ExportMetricsCsv => {
            ("metrics.csv".to_string(), export::metrics_csv(&rows()))
        }
        TimelineAction::ExportMetricsJson => {
            ("metrics.json".to_string(), export::metrics_json(&rows()))
        }
        TimelineAction::ExportFrameJson => {
            let frame = frame.ok_or("no frame to export")?;
            (
                format!("frame_{:06}.json", frame.step),
                export::frame_json(frame),
            )
        }
        _ => return Err("not an export".into()),
    };
    export::write_export(&dir, &name, &text).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests;
