//! The egui overlay: status bar, control panel, plots, task view and inspector.

pub(super) mod controls;
pub(super) mod dashboard;
pub(super) mod draw;
pub(super) mod histograms;
pub(super) mod inspector;
pub(super) mod lesson;
pub(super) mod maps;
pub(super) mod math;
pub(super) mod pca;
pub(super) mod plots;
pub(super) mod task_view;
pub(super) mod timeline;

use bevy::ecs::system::SystemParam;
use bevy::prelude::*;
use bevy_egui::input::EguiWantsInput;
use bevy_egui::{EguiContexts, EguiPrimaryContextPass, egui};

use crate::app::AppSystems;
use crate::app::bridge::{Live, TrainingState};
use crate::app::camera::{CameraHome, OverlayRects};
use crate::app::drawing::DrawnInput;
use crate::app::histograms::DistributionHistory;
use crate::app::history::{History, Playback, Shown};
use crate::app::lesson::LessonPlayer;
use crate::app::messages::{
    ExportRequest, FrameTarget, LessonControl, Notice, PickScene, SendCommand, SnapshotRequest,
};
use crate::app::network::NeuronId;
use crate::app::network::Selection;
use crate::app::neuron_maps::NeuronMapView;
use crate::app::particles::FlowPhase;
use crate::app::scene_file::SceneFile;
use crate::app::snapshots::Snapshots;
use crate::app::visual::{SynapseStats, VisualSettings};
use crate::lab::data::InputLayout;
use crate::lab::runner::Driver;
use crate::lab::{Scene, Topology, TrainerCommand};
use controls::{ControlsEdit, controls_ui};
use inspector::{Inspector, inspector_ui, layer_name};
use maps::neuron_maps_ui;
use plots::{PlotSettings, layers_plot_ui, lr_plot_ui, metrics_ui, scalars_ui};
use task_view::{TaskView, task_view_ui};
use timeline::{TimelineAction, TimelineView, timeline_ui};

/// How the overlay arranges the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) enum UiLayout {
    /// The network in the middle, controls on the left, plots and views on the right.
    #[default]
    Microscope,
    /// NeuroScope's four panels: the fit, the loss, the sharpness, the projection.
    Dashboard,
}

impl UiLayout {
    /// What the camera frames in this layout: the dashboard looks at the
    /// surface, the microscope at the whole network.
    fn home(self) -> FrameTarget {
        match self {
            UiLayout::Dashboard => FrameTarget::Surface,
            UiLayout::Microscope => FrameTarget::All,
        }
    }
}

/// What the overlay remembers between frames.
#[derive(Resource, Default)]
pub(super) struct UiState {
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
    /// The microscope's panels, or the dashboard (D).
    pub layout: UiLayout,
    /// The latest notice for the user (where an export went, say).
    pub notice: Option<String>,
    /// The drawing pad of image tasks.
    pub draw: draw::DrawPad,
    /// The run's diagnostics (`nnm runs show --full`), as last refreshed.
    pub diagnostics: Option<String>,
    /// The neuron-maps panel's textures.
    pub maps: maps::MapTextures,
    /// The 2D projection of image data.
    pub pca: pca::PcaView,
    /// The histograms over time.
    pub histograms: histograms::HistogramView,
}

impl UiState {
    /// Switches between the microscope and the dashboard; returns what the
    /// camera should frame now.
    fn switch_layout(&mut self) -> FrameTarget {
        self.layout = match self.layout {
            UiLayout::Microscope => UiLayout::Dashboard,
            UiLayout::Dashboard => UiLayout::Microscope,
        };
        self.layout.home()
    }
}

/// What the user picked in the right panel.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
struct Picks {
    /// A neuron, on a neuron map.
    neuron: Option<NeuronId>,
    /// A test sample for the probe, in the 2D projection.
    probe: Option<usize>,
}

/// Draws the overlay.
pub(super) struct UiPlugin;

impl Plugin for UiPlugin {
    fn build(&self, app: &mut App) {
        // The egui context rides on an overlay camera that the app's (or a
        // film's) camera setup spawns.
        app.init_resource::<UiState>()
            .init_resource::<OverlayRects>()
            .add_systems(
                Update,
                (
                    panel_hotkeys,
                    follow_layout_home.run_if(resource_exists::<CameraHome>),
                )
                    .chain()
                    .in_set(AppSystems::Input),
            )
            .add_systems(EguiPrimaryContextPass, overlay_ui);
    }
}

/// The app's dark look.
pub(crate) fn style(ctx: &egui::Context) {
    ctx.set_theme(egui::Theme::Dark);
    ctx.all_styles_mut(|s| {
        s.visuals = egui::Visuals::dark();
        s.visuals.panel_fill = egui::Color32::from_rgb(12, 14, 22);
        s.visuals.window_fill = egui::Color32::from_rgba_unmultiplied(12, 14, 22, 235);
        s.spacing.item_spacing = egui::vec2(6.0, 5.0);
    });
}

/// A one-line description of the training state; `message` is the newest
/// thing the trainer said (why it stopped, or why it has not started).
pub(super) fn status_text(
    state: TrainingState,
    step: u64,
    message: Option<&str>,
) -> (String, egui::Color32) {
    let red = egui::Color32::from_rgb(255, 80, 70);
    match state {
        TrainingState::Starting => match message {
            Some(why) => (format!("not started: {why}"), red),
            None => ("starting…".into(), egui::Color32::GRAY),
        },
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
            red,
        ),
        TrainingState::Stopped => (
            format!(
                "stopped at step {step}: {}",
                message.unwrap_or("no reason given")
            ),
            red,
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
    flow: Option<Res<'w, FlowPhase>>,
}

/// The VCR's state, as the overlay reads and drives it.
#[derive(SystemParam)]
struct Vcr<'w> {
    history: ResMut<'w, History>,
    playback: ResMut<'w, Playback>,
    shown: Res<'w, Shown>,
    snapshots: Option<Res<'w, Snapshots>>,
}

/// The 3D view, as the overlay reads and drives it.
#[derive(SystemParam)]
struct View<'w> {
    visual: ResMut<'w, VisualSettings>,
    selection: ResMut<'w, Selection>,
    stats: Res<'w, SynapseStats>,
    maps: Option<Res<'w, NeuronMapView>>,
    distributions: Option<Res<'w, DistributionHistory>>,
}

/// The overlay's own state and where its panels are.
#[derive(SystemParam)]
struct Panels<'w, 's> {
    state: ResMut<'w, UiState>,
    rects: ResMut<'w, OverlayRects>,
    styled: Local<'s, bool>,
}

/// What the overlay asks of other plugins.
#[derive(SystemParam)]
struct Requests<'w, 's> {
    send: MessageWriter<'w, SendCommand>,
    targets: MessageWriter<'w, FrameTarget>,
    snapshots: MessageWriter<'w, SnapshotRequest>,
    exports: MessageWriter<'w, ExportRequest>,
    notices: MessageReader<'w, 's, Notice>,
}

fn overlay_ui(
    mut contexts: EguiContexts,
    live: Live,
    mut vcr: Vcr,
    mut view: View,
    mut teaching: Teaching,
    mut requests: Requests,
    mut panels: Panels,
) -> Result {
    let ctx = contexts.ctx_mut()?.clone();
    if !*panels.styled {
        style(&ctx);
        *panels.styled = true;
    }
    let state = &mut *panels.state;
    if let Some(Notice(n)) = requests.notices.read().last() {
        state.notice = Some(n.clone());
    }
    state.inspector.observe(
        view.selection.neuron,
        vcr.shown.frame.as_deref(),
        live.run_tick(),
    );
    // egui 0.36 panels share one parent Ui, so every panel of the window is
    // drawn by this one system: each panel is a function of its own.
    let mut root = egui::Ui::new(
        ctx.clone(),
        "overlay".into(),
        egui::UiBuilder::new()
            .layer_id(egui::LayerId::background())
            .max_rect(ctx.viewport_rect()),
    );
    let mut drawn = vec![(
        "status",
        status_panel_ui(&mut root, &live, &view.stats, state, &mut requests),
    )];
    if let Some(rect) = lesson_panel_ui(&mut root, &live, &mut teaching) {
        drawn.push(("lesson", rect));
    }
    drawn.push((
        "timeline",
        timeline_panel_ui(&mut root, &live, &mut vcr, &mut requests),
    ));
    let free = match (state.hidden, state.layout) {
        (true, _) => None,
        (false, UiLayout::Dashboard) => Some(dashboard_panels_ui(
            &mut root, &live, &vcr, state, &mut drawn,
        )),
        (false, UiLayout::Microscope) => {
            microscope_panels_ui(
                &mut root,
                &live,
                &vcr,
                state,
                &mut view,
                &mut teaching,
                &mut requests,
                &mut drawn,
            );
            None
        }
    };
    let free = free.unwrap_or_else(|| root.available_rect_before_wrap());
    publish_rects(&mut panels.rects, drawn, free);
    Ok(())
}

/// The top bar: the status line, the layout switch and the newest notice.
fn status_panel_ui(
    root: &mut egui::Ui,
    live: &Live<'_>,
    stats: &SynapseStats,
    state: &mut UiState,
    requests: &mut Requests,
) -> egui::Rect {
    let top = egui::Panel::top("status").show(root, |ui| {
        ui.horizontal(|ui| {
            status_bar_ui(ui, live, stats);
            let label = match state.layout {
                UiLayout::Microscope => "Dashboard (D)",
                UiLayout::Dashboard => "Microscope (D)",
            };
            if ui.small_button(label).clicked() {
                requests.targets.write(state.switch_layout());
            }
        });
        if let Some(message) = state.notice.as_ref().or(live.last_message()) {
            ui.colored_label(egui::Color32::from_rgb(255, 170, 110), message);
        }
    });
    top.response.rect
}

/// The lesson's bar, when the scene carries a lesson and a trainer runs it.
fn lesson_panel_ui(
    root: &mut egui::Ui,
    live: &Live<'_>,
    teaching: &mut Teaching,
) -> Option<egui::Rect> {
    let player = teaching
        .player
        .as_ref()
        .filter(|p| !p.lesson.is_empty() && !live.run.replay())?;
    let lesson = egui::Panel::top("lesson").show(root, |ui| lesson::lesson_ui(ui, player));
    if let Some(control) = lesson.inner {
        teaching.controls.write(control);
    }
    Some(lesson.response.rect)
}

/// The VCR bar at the bottom, and what its buttons asked for.
fn timeline_panel_ui(
    root: &mut egui::Ui,
    live: &Live<'_>,
    vcr: &mut Vcr,
    requests: &mut Requests,
) -> egui::Rect {
    let mut actions = Vec::new();
    let timeline_view = TimelineView {
        first: vcr.history.first_step(),
        last: vcr.history.last_step(),
        live: live.frame().map(|f| f.step),
        shown: vcr.shown.step(),
        recorded: vcr.history.reader().map_or(0, |r| r.len()),
        bytes: vcr.history.reader().map_or(0, |r| r.bytes()),
        replay: live.run.replay(),
        recording: vcr
            .snapshots
            .as_ref()
            .is_some_and(|s| s.recording.is_some()),
    };
    let bottom = egui::Panel::bottom("timeline").show(root, |ui| {
        timeline_ui(ui, &timeline_view, &mut vcr.playback, &mut actions);
    });
    for action in actions {
        handle_timeline_action(action, vcr, requests);
    }
    bottom.response.rect
}

/// NeuroScope's four quadrants; returns the fit's quadrant, where the 3D view draws.
fn dashboard_panels_ui(
    root: &mut egui::Ui,
    live: &Live<'_>,
    vcr: &Vcr,
    state: &mut UiState,
    drawn: &mut Vec<(&'static str, egui::Rect)>,
) -> egui::Rect {
    let area = root.available_rect_before_wrap();
    let recorded_losses = vcr.history.batch_losses();
    let input = dashboard::DashboardInput::new(
        live,
        vcr.shown.frame.as_deref(),
        vcr.shown.serial,
        recorded_losses.as_deref(),
    );
    let three_d = dashboard::dashboard_ui(root, area, &input, &mut state.task, &state.plots);
    let [fit, rest @ ..] = dashboard::quadrants(area);
    drawn.extend(rest.into_iter().map(|q| ("dashboard", q)));
    if three_d.is_none() {
        drawn.push(("dashboard", fit));
    }
    // The 3D view draws in the fit's quadrant (behind its panel when the fit is a curve).
    fit
}

/// The microscope's side panels: controls on the left, plots and views on the right.
#[allow(
    clippy::too_many_arguments,
    reason = "the panels draw from the state of several plugins, each passed on its own"
)]
fn microscope_panels_ui(
    root: &mut egui::Ui,
    live: &Live<'_>,
    vcr: &Vcr,
    state: &mut UiState,
    view: &mut View,
    teaching: &mut Teaching,
    requests: &mut Requests,
    drawn: &mut Vec<(&'static str, egui::Rect)>,
) {
    let mut visual = (*view.visual).clone();
    let has_selection = view.selection.neuron.is_some();
    let left = egui::Panel::left("controls")
        .resizable(true)
        .default_size(300.0)
        .show(root, |ui| {
            egui::ScrollArea::vertical().show(ui, |ui| {
                controls_panel_ui(
                    ui,
                    live,
                    state,
                    &mut visual,
                    teaching,
                    requests,
                    has_selection,
                );
            });
        });
    drawn.push(("controls", left.response.rect));
    view.visual.set_if_neq(visual);

    let right = egui::Panel::right("metrics")
        .resizable(true)
        .default_size(390.0)
        .show(root, |ui| {
            egui::ScrollArea::vertical().show(ui, |ui| {
                let picked = insight_panel_ui(
                    ui,
                    live,
                    vcr,
                    state,
                    teaching,
                    view.selection.neuron,
                    view.maps.as_deref(),
                    view.distributions.as_deref(),
                );
                if picked.neuron.is_some() {
                    view.selection.neuron = picked.neuron;
                }
                if let (Some(i), Some(scene)) = (picked.probe, live.scene()) {
                    let mut scene = scene.clone();
                    scene.view.probe = i;
                    requests
                        .send
                        .write(SendCommand(TrainerCommand::SetPresentation(Box::new(
                            scene,
                        ))));
                }
            });
        });
    drawn.push(("metrics", right.response.rect));
}

/// Tells the camera and picking where the panels are, when that changed.
fn publish_rects(
    rects: &mut OverlayRects,
    drawn: Vec<(&'static str, egui::Rect)>,
    free: egui::Rect,
) {
    let corners = |r: egui::Rect| (Vec2::new(r.min.x, r.min.y), Vec2::new(r.max.x, r.max.y));
    let new = OverlayRects {
        rects: drawn
            .into_iter()
            .map(|(name, r)| {
                let (lo, hi) = corners(r);
                (name, lo, hi)
            })
            .collect(),
        free: (free.width() > 50.0 && free.height() > 50.0).then(|| corners(free)),
    };
    if rects.rects != new.rects || rects.free != new.free {
        *rects = new;
    }
}

/// H hides the panels and D switches between the microscope and the
/// dashboard, unless egui has the keyboard.
fn panel_hotkeys(
    keys: Res<ButtonInput<KeyCode>>,
    wants: Option<Res<EguiWantsInput>>,
    mut state: ResMut<UiState>,
    mut targets: MessageWriter<FrameTarget>,
) {
    if wants.is_some_and(|w| w.wants_any_keyboard_input()) {
        return;
    }
    if keys.just_pressed(KeyCode::KeyH) {
        state.hidden = !state.hidden;
    }
    if keys.just_pressed(KeyCode::KeyD) {
        targets.write(state.switch_layout());
    }
}

/// The camera's home follows the layout: the surface in the dashboard, the
/// whole network in the microscope.
fn follow_layout_home(state: Res<UiState>, mut home: ResMut<CameraHome>) {
    home.set_if_neq(CameraHome(state.layout.home()));
}

/// The left panel: scene picker, controls (or a replay's note), camera buttons.
fn controls_panel_ui(
    ui: &mut egui::Ui,
    live: &Live<'_>,
    state: &mut UiState,
    visual: &mut VisualSettings,
    teaching: &mut Teaching,
    requests: &mut Requests,
    has_selection: bool,
) {
    if let Some(file) = &teaching.scene_file
        && let Some(pick) = scene_picker_ui(ui, file)
    {
        teaching.picks.write(pick);
    }
    if let (Some(scene), false) = (live.scene(), live.run.replay())
        && let Some(notice) = save_scene_ui(ui, scene, teaching.scene_file.as_deref())
    {
        state.notice = Some(notice);
    }
    let driven_elsewhere = match live.run.driver {
        Driver::Trainer => None,
        Driver::Replay => Some(
            "Replay of a recorded run: there is no trainer; the timeline below moves through its history.",
        ),
        Driver::Stream => Some(
            "Streamed from a training loop elsewhere: that loop sets its own learning rate, network and pace, so there are no training controls here. The timeline below pauses and scrubs the view; what arrives meanwhile is still recorded.",
        ),
    };
    if let Some(why) = driven_elsewhere {
        ui.label(why);
        ui.separator();
        controls::visuals_ui(ui, visual);
    } else {
        let mut commands = Vec::new();
        controls_ui(
            ui,
            *live.state,
            live.scene(),
            &mut state.controls,
            visual,
            &mut commands,
        );
        for c in commands {
            requests.send.write(SendCommand(c));
        }
    }
    ui.separator();
    camera_ui(ui, live, has_selection, &mut requests.targets);
}

/// The right panel: plots, drawing pad, task view, inspector and math view,
/// all of the shown frame. Returns what was picked on a neuron map or in
/// the 2D projection.
#[allow(
    clippy::too_many_arguments,
    reason = "the panel draws from the state of several plugins, each passed on its own"
)]
fn insight_panel_ui(
    ui: &mut egui::Ui,
    live: &Live<'_>,
    vcr: &Vcr,
    state: &mut UiState,
    teaching: &mut Teaching,
    selected: Option<NeuronId>,
    maps: Option<&NeuronMapView>,
    distributions: Option<&DistributionHistory>,
) -> Picks {
    let recorded_losses = vcr.history.batch_losses();
    let losses = recorded_losses.as_deref().unwrap_or(&live.log.batch_losses);
    metrics_ui(
        ui,
        &live.log.evaluations,
        losses,
        vcr.shown.step(),
        &mut state.plots,
    );
    if !live.log.scalars.is_empty() {
        egui::CollapsingHeader::new("Scalars sent")
            .default_open(true)
            .show(ui, |ui| {
                scalars_ui(ui, &live.log.scalars, vcr.shown.step(), &state.plots, 70.0);
            });
    }
    if let Some(scene) = live.scene() {
        let train = &scene.train;
        egui::CollapsingHeader::new("Learning rate")
            .default_open(!train.schedule.is_constant(train.warmup_steps))
            .show(ui, |ui| {
                lr_plot_ui(ui, train, vcr.shown.step(), &state.plots, 90.0);
            });
    }
    if let Some(history) = distributions {
        egui::CollapsingHeader::new("Histograms over time")
            .default_open(false)
            .show(ui, |ui| {
                histograms::histograms_ui(
                    ui,
                    &mut state.histograms,
                    history,
                    vcr.shown.step(),
                    &state.plots,
                    70.0,
                );
            });
    }
    egui::CollapsingHeader::new("Layers: gradient flow")
        .default_open(true)
        .show(ui, |ui| {
            layers_plot_ui(
                ui,
                &live.log.layer_stats,
                vcr.shown.step(),
                &mut state.plots,
                110.0,
            );
        });
    ui.separator();
    let (Some(frame), Some(topology)) = (vcr.shown.frame.as_deref(), live.topology()) else {
        return Picks::default();
    };
    let mut picked = Picks::default();
    if let Some(view) = maps.filter(|m| m.maps.is_some()) {
        egui::CollapsingHeader::new("Neuron maps")
            .default_open(true)
            .show(ui, |ui| {
                picked.neuron = neuron_maps_ui(ui, &mut state.maps, view, topology, selected, 44.0);
            });
        ui.separator();
    }
    if let (Some(data), Some(drawn)) = (&live.run.data, teaching.drawn.as_mut()) {
        draw_panel_ui(ui, state, data, topology, drawn);
    }
    if let Some(input) = dashboard::task_input(live, Some(frame), vcr.shown.serial) {
        task_view_ui(ui, &mut state.task, &input, 210.0);
        ui.separator();
        let high_dimensional = matches!(
            input.data.layout,
            InputLayout::Image { .. } | InputLayout::Features
        );
        if high_dimensional && input.data.is_classification() {
            egui::CollapsingHeader::new("2D projection (PCA)")
                .default_open(true)
                .show(ui, |ui| {
                    let probe = live.scene().map(|s| s.view.probe);
                    picked.probe = pca::pca_view_ui(ui, &mut state.pca, &input, probe, 220.0);
                });
            ui.separator();
        }
    }
    let blame_input = match (&live.run.data, live.scene()) {
        (Some(data), Some(scene)) => Some(inspector::BlameInput {
            data,
            loss: scene.loss(),
        }),
        _ => None,
    };
    inspector_ui(ui, &mut state.inspector, frame, topology, blame_input);
    ui.separator();
    if let Some(dir) = &live.run.run_dir {
        diagnostics_ui(ui, dir, frame.step, &mut state.diagnostics);
    }
    egui::CollapsingHeader::new("Math (the probe's real numbers)")
        .default_open(false)
        .show(ui, |ui| {
            let phase = teaching
                .flow
                .as_ref()
                .filter(|f| f.active)
                .map(|f| f.direction);
            math::math_ui(ui, frame, topology, selected, phase);
        });
    picked
}

/// The drawing pad of image tasks; a drawing takes the probe's place.
fn draw_panel_ui(
    ui: &mut egui::Ui,
    state: &mut UiState,
    data: &crate::lab::data::Dataset,
    topology: &Topology,
    drawn: &mut DrawnInput,
) {
    let InputLayout::Image { width, height } = data.layout else {
        return;
    };
    egui::CollapsingHeader::new("Draw")
        .default_open(false)
        .show(ui, |ui| {
            let prediction = drawn
                .prediction
                .as_deref()
                .map(|p| (p, topology.output_names.as_slice(), drawn.step));
            match draw::draw_ui(ui, &mut state.draw, (&data.name, width, height), prediction) {
                Some(draw::DrawAction::Input(input)) => drawn.set(Some(input)),
                Some(draw::DrawAction::Clear) => drawn.set(None),
                None => {}
            }
        });
    ui.separator();
}

/// The status bar: title, training state, the newest metrics, notices.
fn status_bar_ui(ui: &mut egui::Ui, live: &Live<'_>, stats: &SynapseStats) {
    ui.horizontal(|ui| {
        let title = live.scene().map_or("NN Microscope", |s| s.display_title());
        ui.strong(format!("NN Microscope · {title}"));
        ui.separator();
        if live.run.replay() && *live.state != TrainingState::Stopped {
            ui.colored_label(
                egui::Color32::from_rgb(140, 180, 255),
                format!("replay · {} steps", live.step()),
            );
        } else {
            let (text, color) = status_text(
                *live.state,
                live.step(),
                live.last_message().map(String::as_str),
            );
            ui.colored_label(color, text);
        }
        if let Some(frame) = live.frame() {
            ui.separator();
            ui.label(format!(
                "batch loss {}",
                crate::lab::format_value(frame.metrics.batch_loss, Some(4))
            ));
            if let Some(a) = frame.evaluation.and_then(|e| e.test_accuracy) {
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
        if let Some(dir) = &live.run.run_dir {
            ui.separator();
            let verb = if live.run.replay() {
                "run"
            } else {
                "recording to"
            };
            ui.small(format!("{verb} {}", dir.display()));
        }
    });
}

/// The run's full diagnostics (what `nnm runs show --full` prints) at the
/// shown step, read from its directory when *Refresh* is pressed.
fn diagnostics_ui(ui: &mut egui::Ui, dir: &std::path::Path, step: u64, text: &mut Option<String>) {
    egui::CollapsingHeader::new("Diagnostics (runs show --full)")
        .default_open(false)
        .show(ui, |ui| {
            if ui.button("Refresh").clicked() || text.is_none() {
                *text = Some(match crate::lab::record::diagnose(dir, Some(step)) {
                    Ok(t) => t,
                    Err(e) => format!("cannot read the run: {e}"),
                });
            }
            if let Some(t) = text {
                ui.label(egui::RichText::new(t.as_str()).monospace().small());
            }
        });
}

/// *Save as scene*: writes the settings in force (data, model, training with
/// the changes made since the start, view) as a new file in the presets
/// folder; returns what happened, for the status bar.
fn save_scene_ui(ui: &mut egui::Ui, scene: &Scene, file: Option<&SceneFile>) -> Option<String> {
    let clicked = ui
        .button("💾 Save as scene")
        .on_hover_text(
            "write the current settings as a new scene file in scenes/, to share or teach from",
        )
        .clicked();
    if !clicked {
        return None;
    }
    Some(save_scene(scene, file))
}

/// Writes `scene` as a new file in the presets folder; returns what happened.
#[cfg(not(target_arch = "wasm32"))]
fn save_scene(scene: &Scene, file: Option<&SceneFile>) -> String {
    let dir = file
        .and_then(|f| f.presets.dir.clone())
        .unwrap_or_else(|| std::path::PathBuf::from(crate::lab::scene::LOCAL_DIR));
    match crate::lab::scene::save_scene(scene, &dir) {
        Ok(path) => format!("scene saved as {}", path.display()),
        Err(e) => format!("cannot save the scene: {e}"),
    }
}

/// Downloads `scene` as a file (a page has no scenes folder); returns what happened.
#[cfg(target_arch = "wasm32")]
fn save_scene(scene: &Scene, _file: Option<&SceneFile>) -> String {
    let name = format!("{}.ron", scene.name);
    let saved = scene.resolved().to_ron().map_err(|e| e.to_string());
    match saved.and_then(|text| crate::app::web::download(&name, text.as_bytes(), "text/plain")) {
        Ok(()) => format!("scene downloaded as {name}"),
        Err(why) => format!("cannot save the scene: {why}"),
    }
}

/// The scene picker (every preset, built in or from the presets folder), and
/// the error of a broken edit of the open file.
fn scene_picker_ui(ui: &mut egui::Ui, file: &SceneFile) -> Option<PickScene> {
    let mut pick = None;
    let (choices, unreadable) = file.choices();
    ui.horizontal(|ui| {
        ui.label("Scene");
        egui::ComboBox::from_id_salt("scene-picker")
            .selected_text(&file.current)
            .show_ui(ui, |ui| {
                for preset in choices {
                    let label = if preset.is_built_in() {
                        preset.name.clone()
                    } else {
                        format!("{} (file)", preset.name)
                    };
                    let current = preset.name == file.current;
                    if ui.selectable_label(current, label).clicked() && !current {
                        pick = Some(PickScene(preset.name));
                    }
                }
            })
            .response
            .on_hover_text("the presets; editing the open scene file reloads it");
        // A page opens files from this computer as uploads.
        #[cfg(target_arch = "wasm32")]
        if ui
            .button("📂 Open…")
            .on_hover_text(
                "open a .ron scene, and the .csv or .npy data it names, from this computer",
            )
            .clicked()
        {
            crate::app::web::choose_files();
        }
    });
    if let Some(error) = &file.error {
        ui.colored_label(egui::Color32::from_rgb(255, 90, 80), format!("⚠ {error}"));
        ui.small("Fix the file and save it: the last good scene keeps running.");
    }
    if let Some(error) = unreadable {
        ui.colored_label(
            egui::Color32::from_rgb(255, 90, 80),
            format!("⚠ {error} (only the built-in presets are listed)"),
        );
    }
    ui.separator();
    pick
}

/// Buttons that frame the camera.
fn camera_ui(
    ui: &mut egui::Ui,
    live: &Live<'_>,
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
        let layers = live.topology().map_or(0, |t| t.network.sizes.len());
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

/// Carries out what the timeline asked for: stepping, snapshots and exports.
fn handle_timeline_action(action: TimelineAction, vcr: &mut Vcr, requests: &mut Requests) {
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
        TimelineAction::Snapshot(request) => {
            requests.snapshots.write(request);
        }
        TimelineAction::Export(request) => {
            requests.exports.write(request);
        }
    }
}

#[cfg(test)]
mod tests;
