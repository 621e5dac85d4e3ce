//! The egui overlay: status bar, control panel, plots, task view and inspector.

pub mod controls;
pub mod inspector;
pub mod plots;
pub mod task_view;

use bevy::prelude::*;
use bevy_egui::{EguiContexts, EguiPrimaryContextPass, egui};

use crate::app::bridge::{Live, SendCommand, TrainingState};
use crate::app::camera::FrameTarget;
use crate::app::network::Selection;
use crate::app::visual::{SynapseStats, VisualSettings};
use controls::{ControlsEdit, controls_ui};
use inspector::{Inspector, inspector_ui, layer_name};
use plots::{PlotSettings, metrics_ui};
use task_view::{TaskView, task_view_ui};

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
}

/// Draws the overlay.
pub struct UiPlugin;

impl Plugin for UiPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<UiState>()
            .init_resource::<OverlayRects>()
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

#[allow(clippy::too_many_arguments)]
fn overlay_ui(
    mut contexts: EguiContexts,
    live: Res<Live>,
    mut visual: ResMut<VisualSettings>,
    selection: Res<Selection>,
    stats: Res<SynapseStats>,
    keys: Res<ButtonInput<KeyCode>>,
    mut state: ResMut<UiState>,
    mut rects: ResMut<OverlayRects>,
    mut send: MessageWriter<SendCommand>,
    mut targets: MessageWriter<FrameTarget>,
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
    state
        .inspector
        .observe(selection.neuron, live.frame.as_deref());
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
            let (text, color) = status_text(live.state, live.step());
            ui.colored_label(color, text);
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
                ui.small(format!("recording to {}", dir.display()));
            }
        });
        if let Some(message) = live.messages.last() {
            ui.colored_label(egui::Color32::from_rgb(255, 120, 100), message);
        }
    });
    panel_rects.push(top.response.rect);

    if !state.hidden {
        let mut v = (*visual).clone();
        let left = egui::Panel::left("controls")
            .resizable(true)
            .default_size(300.0)
            .show(&mut root, |ui| {
                egui::ScrollArea::vertical().show(ui, |ui| {
                    controls_ui(
                        ui,
                        live.state,
                        live.scene.as_ref(),
                        &mut state.controls,
                        &mut v,
                        &mut out,
                    );
                    ui.separator();
                    ui.label("Camera (drag to orbit, right-drag to pan, scroll to zoom)");
                    ui.horizontal_wrapped(|ui| {
                        if ui.button("Frame all (F)").clicked() {
                            targets.write(FrameTarget::All);
                        }
                        if ui
                            .add_enabled(
                                selection.neuron.is_some(),
                                egui::Button::new("Selected (G)"),
                            )
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
                });
            });
        panel_rects.push(left.response.rect);
        visual.set_if_neq(v);

        let right = egui::Panel::right("metrics")
            .resizable(true)
            .default_size(390.0)
            .show(&mut root, |ui| {
                egui::ScrollArea::vertical().show(ui, |ui| {
                    let cursor = live.frame.as_ref().map(|f| f.step);
                    metrics_ui(
                        ui,
                        &live.evaluations,
                        &live.batch_losses,
                        cursor,
                        &mut state.plots,
                    );
                    ui.separator();
                    if let (Some(data), Some(frame), Some(topology)) =
                        (&live.data, &live.frame, &live.topology)
                    {
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
                        inspector_ui(ui, &mut state.inspector, frame, topology);
                    }
                });
            });
        panel_rects.push(right.response.rect);
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

#[cfg(test)]
mod tests;
