//! The control panel: transport, seed, hyperparameters, architecture and visuals.
//!
//! The panel is a plain function of what it shows and what the user is editing;
//! its clicks come out as `TrainerCommand`s, so tests can drive it headless.

use bevy_egui::egui;

use crate::app::bridge::TrainingState;
use crate::app::visual::VisualSettings;
use crate::lab::model::Activation;
use crate::lab::runner::Speed;
use crate::lab::scene::OptimizerKind;
use crate::lab::{Scene, TrainerCommand};

/// Largest hidden layer the architecture editor offers.
pub(crate) const MAX_WIDTH: usize = 1024;
/// Most hidden layers the architecture editor offers.
pub(crate) const MAX_HIDDEN_LAYERS: usize = 8;

/// What 💾 Checkpoint does, said when hovered.
#[cfg(not(target_arch = "wasm32"))]
const CHECKPOINT_HINT: &str = "Save the model and optimiser now, in the run's checkpoints/ (nnm train --resume goes on from the latest)";
/// What 💾 Checkpoint does in a page, which has no run folder.
#[cfg(target_arch = "wasm32")]
const CHECKPOINT_HINT: &str =
    "Download the shown network as a .safetensors checkpoint (nnm import reads it on a desktop)";

/// What the panel edits between frames (kept in the UI state).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ControlsEdit {
    /// The seed in the seed box.
    pub seed: u64,
    /// Hidden widths being edited, applied with the Apply button.
    pub hidden: Vec<usize>,
    /// Each edited hidden layer's activation, applied with the same button.
    pub activations: Vec<Activation>,
    /// Dropout rate on the slider.
    pub dropout: f32,
    /// Learning rate on the slider.
    pub learning_rate: f32,
    /// Batch size on the slider.
    pub batch_size: usize,
    /// How the pace is set.
    pub pace: Pace,
    /// Steps per second, for `Pace::PerSecond`.
    pub steps_per_second: f32,
    /// Steps per drawn frame, for `Pace::PerFrame`.
    pub steps_per_frame: u32,
    /// The scene these edits were initialised from (to notice a restart).
    pub synced_to: Option<Scene>,
    /// The last seed asked for, so that one edit sends one command.
    pub requested_seed: Option<u64>,
}

impl Default for ControlsEdit {
    fn default() -> Self {
        ControlsEdit {
            seed: 0,
            hidden: Vec::new(),
            activations: Vec::new(),
            dropout: 0.0,
            learning_rate: 0.01,
            batch_size: 32,
            pace: Pace::Max,
            steps_per_second: 60.0,
            steps_per_frame: 1,
            synced_to: None,
            requested_seed: None,
        }
    }
}

impl ControlsEdit {
    /// Follows the scene the trainer reports, unless it is the one already
    /// followed. Layers being edited are kept through a live edit of
    /// another setting.
    pub(crate) fn sync(&mut self, scene: &Scene) {
        if self.synced_to.as_ref() == Some(scene) {
            return;
        }
        let layers = |s: &Scene| (s.model.hidden.clone(), s.model.hidden_activations());
        if self.synced_to.as_ref().map(layers) != Some(layers(scene)) {
            (self.hidden, self.activations) = layers(scene);
        }
        self.seed = scene.seed;
        self.dropout = scene.model.dropout;
        self.learning_rate = scene.train.learning_rate;
        self.batch_size = scene.train.batch_size;
        if let Some(rate) = scene.view.steps_per_second {
            self.pace = Pace::PerSecond;
            self.steps_per_second = rate;
        }
        self.synced_to = Some(scene.clone());
    }
}

/// Draws the control panel and collects the commands it gives.
pub(crate) fn controls_ui(
    ui: &mut egui::Ui,
    state: TrainingState,
    scene: Option<&Scene>,
    edit: &mut ControlsEdit,
    visual: &mut VisualSettings,
    out: &mut Vec<TrainerCommand>,
) {
    if let Some(scene) = scene {
        edit.sync(scene);
    }
    transport_ui(ui, state, edit, out);
    ui.separator();
    seed_ui(ui, scene.map(|s| s.seed), edit, out);
    ui.separator();
    hyperparameters_ui(ui, scene, edit, out);
    ui.separator();
    architecture_ui(ui, scene, edit, out);
    ui.separator();
    visuals_ui(ui, visual);
}

fn transport_ui(
    ui: &mut egui::Ui,
    state: TrainingState,
    edit: &mut ControlsEdit,
    out: &mut Vec<TrainerCommand>,
) {
    ui.horizontal(|ui| {
        if state == TrainingState::Running {
            if ui.button("⏸ Pause").clicked() {
                out.push(TrainerCommand::Pause);
            }
        } else {
            let diverged = matches!(state, TrainingState::Diverged { .. });
            let play = ui.add_enabled(!diverged, egui::Button::new("▶ Play"));
            if play.clicked() {
                out.push(TrainerCommand::Resume);
            }
        }
        let can_step = !matches!(
            state,
            TrainingState::Running | TrainingState::Diverged { .. }
        );
        if ui
            .add_enabled(can_step, egui::Button::new("⏭ Step"))
            .clicked()
        {
            out.push(TrainerCommand::Step(1));
        }
        if ui.button("⟲ Reset").clicked() {
            out.push(TrainerCommand::Reset);
        }
        if ui
            .button("💾 Checkpoint")
            .on_hover_text(CHECKPOINT_HINT)
            .clicked()
        {
            out.push(TrainerCommand::SaveCheckpoint);
        }
    });
    let before = edit.pace;
    egui::ComboBox::from_label("pace")
        .selected_text(edit.pace.label())
        .show_ui(ui, |ui| {
            for pace in [Pace::Max, Pace::PerSecond, Pace::PerFrame] {
                ui.selectable_value(&mut edit.pace, pace, pace.label());
            }
        });
    let slider = match edit.pace {
        Pace::Max => None,
        Pace::PerSecond => Some(
            ui.add(
                egui::Slider::new(&mut edit.steps_per_second, 0.5..=2000.0)
                    .logarithmic(true)
                    .text("steps/s"),
            ),
        ),
        Pace::PerFrame => Some(
            ui.add(
                egui::Slider::new(&mut edit.steps_per_frame, 1..=1000)
                    .logarithmic(true)
                    .text("steps/frame"),
            ),
        ),
    };
    if edit.pace != before || slider.is_some_and(|s| s.changed()) {
        out.push(TrainerCommand::SetSpeed(match edit.pace {
            Pace::Max => Speed::Max,
            Pace::PerSecond => Speed::StepsPerSecond(edit.steps_per_second),
            Pace::PerFrame => Speed::StepsPerFrame(edit.steps_per_frame),
        }));
    }
}

/// How the training pace is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pace {
    /// As fast as the machine allows.
    Max,
    /// So many steps per second.
    PerSecond,
    /// So many steps per drawn frame.
    PerFrame,
}

impl Pace {
    /// The name in the menu.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Pace::Max => "full speed",
            Pace::PerSecond => "steps per second",
            Pace::PerFrame => "steps per frame",
        }
    }
}

fn seed_ui(
    ui: &mut egui::Ui,
    current: Option<u64>,
    edit: &mut ControlsEdit,
    out: &mut Vec<TrainerCommand>,
) {
    ui.horizontal(|ui| {
        ui.label("Seed");
        if ui.button("◀").on_hover_text("previous seed").clicked() {
            edit.seed = edit.seed.saturating_sub(1);
            out.push(TrainerCommand::Reseed(edit.seed));
        }
        let field = ui.add(egui::DragValue::new(&mut edit.seed).speed(0.2));
        // Typed or dragged seeds apply once the edit ends, not at every digit.
        let ended = field.lost_focus() || field.drag_stopped();
        if ended && current != Some(edit.seed) && edit.requested_seed != Some(edit.seed) {
            edit.requested_seed = Some(edit.seed);
            out.push(TrainerCommand::Reseed(edit.seed));
        }
        if ui.button("▶").on_hover_text("next seed").clicked() {
            edit.seed = edit.seed.saturating_add(1);
            out.push(TrainerCommand::Reseed(edit.seed));
        }
        if ui.button("🎲").on_hover_text("random seed").clicked() {
            edit.seed = random_seed(edit.seed);
            out.push(TrainerCommand::Reseed(edit.seed));
        }
    });
}

/// A new seed that differs from `previous` (from the clock; reproducible once chosen).
fn random_seed(previous: u64) -> u64 {
    let nanos = crate::lab::clock::SystemTime::now()
        .duration_since(crate::lab::clock::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as u64)
        .unwrap_or(0);
    let s = (nanos ^ previous.rotate_left(17)) % 100_000;
    if s == previous { s + 1 } else { s }
}

fn hyperparameters_ui(
    ui: &mut egui::Ui,
    scene: Option<&Scene>,
    edit: &mut ControlsEdit,
    out: &mut Vec<TrainerCommand>,
) {
    let lr = ui.add(
        egui::Slider::new(&mut edit.learning_rate, 1e-5..=10.0)
            .logarithmic(true)
            .text("learning rate"),
    );
    if lr.changed() {
        out.push(TrainerCommand::SetLearningRate(edit.learning_rate));
    }
    let full_batch = scene.is_some_and(|s| s.train.optimizer == OptimizerKind::Gd);
    let batch = ui.add_enabled(
        !full_batch,
        egui::Slider::new(&mut edit.batch_size, 1..=1024)
            .logarithmic(true)
            .text("batch size"),
    );
    if batch.changed() {
        out.push(TrainerCommand::SetBatchSize(edit.batch_size));
    }
    let dropout = ui
        .add(
            egui::Slider::new(&mut edit.dropout, 0.0..=0.9)
                .step_by(0.05)
                .text("dropout"),
        )
        .on_hover_text(
            "the share of hidden units each training step leaves out (kept ones are scaled by 1/(1−p)); \
             evaluation, the probe and the maps use every unit",
        );
    if dropout.changed() {
        out.push(TrainerCommand::SetDropout(edit.dropout));
    }
    if let Some(scene) = scene {
        let current = scene.train.optimizer;
        egui::ComboBox::from_label("optimizer")
            .selected_text(current.label())
            .show_ui(ui, |ui| {
                for kind in OptimizerKind::ALL {
                    if ui.selectable_label(kind == current, kind.label()).clicked()
                        && kind != current
                    {
                        out.push(TrainerCommand::SetOptimizer(kind));
                    }
                }
            });
        // One activation for every layer; "mixed" when the layers differ.
        let layers = scene.model.hidden_activations();
        let current = match layers.first() {
            Some(&first) if layers.iter().all(|&a| a == first) => Some(first),
            Some(_) => None,
            None => Some(scene.model.activation),
        };
        egui::ComboBox::from_label("activation")
            .selected_text(current.map_or("mixed", Activation::label))
            .show_ui(ui, |ui| {
                for a in Activation::ALL {
                    let selected = Some(a) == current;
                    if ui.selectable_label(selected, a.label()).clicked() && !selected {
                        out.push(TrainerCommand::SetActivation(a));
                    }
                }
            });
    }
}

fn architecture_ui(
    ui: &mut egui::Ui,
    scene: Option<&Scene>,
    edit: &mut ControlsEdit,
    out: &mut Vec<TrainerCommand>,
) {
    ui.label("Hidden layers");
    let mut remove = None;
    let fill = edit.activations.last().copied().unwrap_or(Activation::Tanh);
    edit.activations.resize(edit.hidden.len(), fill);
    for (i, (width, activation)) in edit
        .hidden
        .iter_mut()
        .zip(&mut edit.activations)
        .enumerate()
    {
        ui.horizontal(|ui| {
            let name = ui.label(format!("layer {}", i + 1));
            ui.add(
                egui::DragValue::new(width)
                    .range(1..=MAX_WIDTH)
                    .suffix(" neurons"),
            );
            egui::ComboBox::from_id_salt(("layer-activation", i))
                .selected_text(activation.label())
                .show_ui(ui, |ui| {
                    for a in Activation::ALL {
                        ui.selectable_value(activation, a, a.label());
                    }
                })
                .response
                .labelled_by(name.id)
                .on_hover_text("this layer's activation");
            if ui
                .small_button("−")
                .on_hover_text("remove this layer")
                .clicked()
            {
                remove = Some(i);
            }
        });
    }
    if let Some(i) = remove {
        edit.hidden.remove(i);
        edit.activations.remove(i);
    }
    ui.horizontal(|ui| {
        let room = edit.hidden.len() < MAX_HIDDEN_LAYERS;
        if ui.add_enabled(room, egui::Button::new("+ layer")).clicked() {
            let width = edit.hidden.last().copied().unwrap_or(8);
            edit.hidden.push(width);
            edit.activations.push(fill);
        }
        let changed = scene.is_some_and(|s| {
            s.model.hidden != edit.hidden || s.model.hidden_activations() != edit.activations
        });
        if ui
            .add_enabled(changed, egui::Button::new("Apply architecture"))
            .on_hover_text("restarts training with the new layers")
            .clicked()
        {
            out.push(TrainerCommand::SetLayers {
                hidden: edit.hidden.clone(),
                activations: edit.activations.clone(),
            });
        }
    });
}

/// The visual settings (glow, flow, synapses, antialiasing).
pub(crate) fn visuals_ui(ui: &mut egui::Ui, visual: &mut VisualSettings) {
    ui.label("Visuals");
    ui.add(egui::Slider::new(&mut visual.glow_intensity, 0.5..=3.0).text("glow"));
    ui.add(egui::Slider::new(&mut visual.flow_speed, 0.25..=3.0).text("flow speed"));
    ui.add(egui::Slider::new(&mut visual.synapse_opacity, 0.0..=1.0).text("synapse opacity"));
    ui.add(
        egui::Slider::new(&mut visual.synapse_budget, 1_000..=500_000)
            .logarithmic(true)
            .text("synapse budget"),
    );
    ui.checkbox(&mut visual.particles, "particles");
    ui.checkbox(&mut visual.neuron_cards, "neuron maps in 3D")
        .on_hover_text("on 2D tasks: each neuron's activation over the input plane, beside it");
    ui.checkbox(&mut visual.msaa, "antialiasing (MSAA 4x)")
        .on_hover_text("off by default on software renderers, where it is slow");
    ui.checkbox(&mut visual.show_batch_mean, "glow with batch mean");
    ui.checkbox(&mut visual.show_dropout, "mark units dropout leaves out")
        .on_hover_text("with dropout: the units the shown step left out of training (for its batch's first sample) are dark, ringed in red");
}
