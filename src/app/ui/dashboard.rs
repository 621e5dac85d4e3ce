//! The NeuroScope dashboard: four panels over the whole view. The fit (the
//! curve, or for a 2D regression the 3D surface, which the camera draws in
//! its quadrant), the loss with the error measured outside the training data,
//! the sharpness against 2/η, and each update's projection |Δθ·v_max|.

use bevy_egui::egui;

use crate::app::bridge::Live;
use crate::app::layout::NetworkLayout;
use crate::app::ui::plots::{
    PlotSettings, error_plot_ui, has_sharpness, loss_plot_ui, projection_plot_ui, sharpness_plot_ui,
};
use crate::app::ui::task_view::{TaskInput, TaskView, ViewKey, task_view_ui};
use crate::lab::{Frame, Metrics};

/// What the dashboard shows.
pub(crate) struct DashboardInput<'a> {
    /// Every evaluation of the run.
    pub evaluations: &'a [Metrics],
    /// Mini-batch losses, for the loss plot.
    pub batch_losses: &'a [(u64, f32)],
    /// The step shown (a line on every plot).
    pub cursor: Option<u64>,
    /// The shown frame and its run, for the fit; `None` before the first frame.
    pub task: Option<TaskInput<'a>>,
    /// True when the fit is the 3D surface: its quadrant is left to the camera.
    pub surface: bool,
}

impl<'a> DashboardInput<'a> {
    /// The dashboard of the run `live` knows, showing `shown` (whose serial is
    /// `shown_serial`); `recorded_losses` are the recording's mini-batch
    /// losses, when there is a recording.
    pub(crate) fn new(
        live: &'a Live<'_>,
        shown: Option<&'a Frame>,
        shown_serial: u64,
        recorded_losses: Option<&'a [(u64, f32)]>,
    ) -> Self {
        DashboardInput {
            evaluations: &live.log.evaluations,
            batch_losses: recorded_losses.unwrap_or(&live.log.batch_losses),
            cursor: shown.map(|f| f.step),
            task: task_input(live, shown, shown_serial),
            surface: live
                .topology()
                .is_some_and(|t| NetworkLayout::new(t).surface.is_some()),
        }
    }
}

/// What the task view needs to draw `shown`, once the run's shape and data are known.
pub(crate) fn task_input<'a>(
    live: &'a Live<'_>,
    shown: Option<&'a Frame>,
    shown_serial: u64,
) -> Option<TaskInput<'a>> {
    match (shown, live.topology(), &live.run.data) {
        (Some(frame), Some(topology), Some(data)) => Some(TaskInput {
            key: ViewKey {
                run: live.run_tick(),
                frame: shown_serial,
            },
            data,
            frame,
            topology,
        }),
        _ => None,
    }
}

/// The four quadrants of `area`: fit, loss, sharpness, projection.
pub(crate) fn quadrants(area: egui::Rect) -> [egui::Rect; 4] {
    let mid = area.center();
    [
        egui::Rect::from_min_max(area.min, mid),
        egui::Rect::from_min_max(egui::pos2(mid.x, area.min.y), egui::pos2(area.max.x, mid.y)),
        egui::Rect::from_min_max(egui::pos2(area.min.x, mid.y), egui::pos2(mid.x, area.max.y)),
        egui::Rect::from_min_max(mid, area.max),
    ]
}

/// One dashboard panel: a title, then `body` given the height left for a plot.
fn panel_ui(
    ui: &mut egui::Ui,
    rect: egui::Rect,
    title: &str,
    opaque: bool,
    body: impl FnOnce(&mut egui::Ui, f32),
) {
    let inner = rect.shrink(4.0);
    let mut child = ui.new_child(egui::UiBuilder::new().max_rect(inner));
    let fill = if opaque {
        egui::Color32::from_rgb(12, 14, 22)
    } else {
        egui::Color32::TRANSPARENT
    };
    egui::Frame::new()
        .fill(fill)
        .stroke(egui::Stroke::new(1.0, egui::Color32::from_gray(50)))
        .corner_radius(4.0)
        .inner_margin(6.0)
        .show(&mut child, |ui| {
            ui.set_min_size(inner.size() - egui::vec2(12.0, 12.0));
            ui.strong(title);
            // Room for the title, a plot's own label line and margins.
            let height = (inner.height() - 56.0).max(40.0);
            body(ui, height);
        });
}

/// Draws the dashboard over `area`. Returns the quadrant left to the 3D view
/// when the fit is the surface.
pub(crate) fn dashboard_ui(
    ui: &mut egui::Ui,
    area: egui::Rect,
    input: &DashboardInput<'_>,
    task: &mut TaskView,
    settings: &PlotSettings,
) -> Option<egui::Rect> {
    let [fit, loss, sharpness, projection] = quadrants(area);
    panel_ui(ui, fit, "The fit", !input.surface, |ui, height| {
        if input.surface {
            ui.label("the network's output over the input square (the wireframe is the target)");
        } else {
            match &input.task {
                Some(t) => task_view_ui(ui, task, t, height - 20.0),
                None => {
                    ui.label("waiting for the first frame");
                }
            }
        }
    });
    let error_name = if input.evaluations.iter().any(|e| e.solution_error.is_some()) {
        "Loss, and the error against the exact solution"
    } else {
        "Loss, and the error outside the training range"
    };
    panel_ui(ui, loss, error_name, true, |ui, height| {
        loss_plot_ui(
            ui,
            input.evaluations,
            input.batch_losses,
            input.cursor,
            settings,
            height * 0.55,
        );
        error_plot_ui(ui, input.evaluations, input.cursor, settings, height * 0.4);
    });
    let measured = has_sharpness(input.evaluations);
    panel_ui(
        ui,
        sharpness,
        "Sharpness λ_max against 2/η",
        true,
        |ui, height| {
            if measured {
                sharpness_plot_ui(ui, input.evaluations, input.cursor, settings, height);
            } else {
                ui.label("not measured: set measure: (sharpness_every: N) in the scene");
            }
        },
    );
    panel_ui(
        ui,
        projection,
        "|Δθ·v_max|: each update along the sharpest direction",
        true,
        |ui, height| {
            if measured {
                projection_plot_ui(ui, input.evaluations, input.cursor, settings, height);
            } else {
                ui.label("not measured: set measure: (sharpness_every: N) in the scene");
            }
        },
    );
    input.surface.then_some(fit)
}
