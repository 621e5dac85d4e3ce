//! The control panel driven headless with egui_kittest: clicks become trainer commands.

use bevy_egui::egui;
use egui::accesskit::Role;
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT, Queryable};

use crate::app::bridge::TrainingState;
use crate::app::ui::controls::{ControlsEdit, controls_ui};
use crate::app::visual::VisualSettings;
use crate::lab::model::Activation;
use crate::lab::runner::Speed;
use crate::lab::scene::OptimizerKind;
use crate::lab::{Scene, TrainerCommand};

/// Runs the harness until `done` holds of its state (work the panel waits
/// for runs off the UI thread); panics after 60 s.
fn run_until<S>(h: &mut Harness<'_, S>, what: &str, done: impl Fn(&S) -> bool) {
    let start = std::time::Instant::now();
    while !done(h.state()) {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(60),
            "timed out waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(2));
        h.run();
    }
}

/// Every label and value a harness shows, in tree order.
fn texts_of<S>(h: &Harness<'_, S>) -> Vec<String> {
    h.query_all_by(|n| n.label().is_some() || n.value().is_some())
        .filter_map(|n| {
            n.accesskit_node()
                .label()
                .or_else(|| n.accesskit_node().value())
        })
        .collect()
}

/// What the panel shows and what it has sent.
struct Panel {
    state: TrainingState,
    scene: Scene,
    edit: ControlsEdit,
    visual: VisualSettings,
    sent: Vec<TrainerCommand>,
}

fn harness(state: TrainingState) -> Harness<'static, Panel> {
    let scene = Scene::parse(
        "Scene(name: \"t\", seed: 42, data: Xor(samples: 50), model: (hidden: [8, 4], activation: Tanh),
               train: (optimizer: Adam, learning_rate: 0.01, batch_size: 16))",
        std::path::Path::new("t.ron"),
    )
    .unwrap();
    Harness::builder()
        .with_size(egui::vec2(360.0, 900.0))
        .build_ui_state(
            |ui, p: &mut Panel| {
                controls_ui(
                    ui,
                    p.state,
                    Some(&p.scene),
                    &mut p.edit,
                    &mut p.visual,
                    &mut p.sent,
                )
            },
            Panel {
                state,
                scene,
                edit: ControlsEdit::default(),
                visual: VisualSettings::default(),
                sent: Vec::new(),
            },
        )
}

#[test]
fn pause_and_play_reach_the_trainer() {
    let mut h = harness(TrainingState::Running);
    h.run();
    h.get_by_label("⏸ Pause").click();
    h.run();
    assert_eq!(h.state().sent, vec![TrainerCommand::Pause]);
    h.state_mut().state = TrainingState::Paused;
    h.run();
    h.get_by_label("▶ Play").click();
    h.run();
    assert_eq!(h.state().sent.last(), Some(&TrainerCommand::Resume));
}

#[test]
fn the_checkpoint_button_asks_the_trainer_for_one() {
    let mut h = harness(TrainingState::Running);
    h.run();
    h.get_by_label("💾 Checkpoint").click();
    h.run();
    assert_eq!(h.state().sent, vec![TrainerCommand::SaveCheckpoint]);
}

#[test]
fn step_works_only_when_paused() {
    let mut h = harness(TrainingState::Paused);
    h.run();
    h.get_by_label("⏭ Step").click();
    h.run();
    assert_eq!(h.state().sent, vec![TrainerCommand::Step(1)]);
    h.state_mut().state = TrainingState::Running;
    h.state_mut().sent.clear();
    h.run();
    h.get_by_label("⏭ Step").click();
    h.run();
    assert!(
        h.state().sent.is_empty(),
        "stepping while running does nothing"
    );
}

#[test]
fn seed_buttons_and_typing_reseed() {
    let mut h = harness(TrainingState::Paused);
    h.run();
    h.get_by_label("▶").click();
    h.run();
    assert_eq!(h.state().sent, vec![TrainerCommand::Reseed(43)]);
    h.get_by_label("◀").click();
    h.run();
    assert_eq!(h.state().sent.last(), Some(&TrainerCommand::Reseed(42)));
    h.get_by_label("🎲").click();
    h.run();
    let Some(TrainerCommand::Reseed(random)) = h.state().sent.last().cloned() else {
        panic!("{:?}", h.state().sent)
    };
    assert_ne!(random, 42);
    // Type a seed: it applies when the edit ends, once.
    h.state_mut().sent.clear();
    h.get_by(|n| n.role() == Role::SpinButton && n.numeric_value() == Some(random as f64))
        .focus();
    h.run();
    h.get_by(|n| n.is_focused()).type_text("1234");
    h.key_press(egui::Key::Enter);
    h.run();
    assert_eq!(h.state().sent, vec![TrainerCommand::Reseed(1234)]);
}

#[test]
fn learning_rate_batch_size_and_optimizer_reach_the_trainer() {
    let mut h = harness(TrainingState::Running);
    h.run();
    h.get_by_role_and_label(Role::Slider, "learning rate")
        .focus();
    h.run();
    h.key_press(egui::Key::ArrowRight);
    h.run();
    let lr = h.state().sent.iter().find_map(|c| match c {
        TrainerCommand::SetLearningRate(lr) => Some(*lr),
        _ => None,
    });
    assert!(lr.is_some_and(|lr| lr > 0.01), "{:?}", h.state().sent);
    h.state_mut().sent.clear();
    h.get_by_role_and_label(Role::Slider, "batch size").focus();
    h.run();
    h.key_press(egui::Key::ArrowLeft);
    h.run();
    assert!(
        matches!(h.state().sent.last(), Some(TrainerCommand::SetBatchSize(b)) if *b < 16),
        "{:?}",
        h.state().sent
    );
    h.get_by_role_and_label(Role::ComboBox, "optimizer").click();
    h.run();
    h.get_by_role_and_label(Role::Button, "SGD").click();
    h.run();
    assert_eq!(
        h.state().sent.last(),
        Some(&TrainerCommand::SetOptimizer(OptimizerKind::Sgd))
    );
    h.get_by_role_and_label(Role::ComboBox, "activation")
        .click();
    h.run();
    h.get_by_role_and_label(Role::Button, "relu").click();
    h.run();
    assert_eq!(
        h.state().sent.last(),
        Some(&TrainerCommand::SetActivation(Activation::Relu))
    );
}

#[test]
fn the_architecture_editor_adds_removes_and_applies_layers() {
    let mut h = harness(TrainingState::Running);
    h.run();
    assert!(
        h.get_by_label("Apply architecture")
            .accesskit_node()
            .is_disabled(),
        "nothing to apply yet"
    );
    h.get_by_label("+ layer").click();
    h.run();
    h.get_all_by_label("−")
        .next()
        .expect("a remove button per layer")
        .click();
    h.run();
    h.get_by_label("Apply architecture").click();
    h.run();
    // [8, 4] + a copy of the last (4), minus the first: [4, 4].
    assert_eq!(
        h.state().sent,
        vec![TrainerCommand::SetLayers {
            hidden: vec![4, 4],
            activations: vec![Activation::Tanh; 2],
        }]
    );
    // Each layer has its own activation.
    h.get_by_role_and_label(Role::ComboBox, "layer 2").click();
    h.run();
    h.get_by_role_and_label(Role::Button, "gelu").click();
    h.run();
    h.get_by_label("Apply architecture").click();
    h.run();
    assert_eq!(
        h.state().sent.last(),
        Some(&TrainerCommand::SetLayers {
            hidden: vec![4, 4],
            activations: vec![Activation::Tanh, Activation::Gelu],
        })
    );
}

#[test]
fn dropout_is_a_live_edit_and_mixed_layers_say_so() {
    let mut h = harness(TrainingState::Running);
    h.run();
    h.get_by_role_and_label(Role::Slider, "dropout").focus();
    h.run();
    h.key_press(egui::Key::ArrowRight);
    h.run();
    assert!(
        matches!(h.state().sent.last(), Some(TrainerCommand::SetDropout(p)) if *p > 0.0 && *p <= 0.1),
        "{:?}",
        h.state().sent
    );
    h.state_mut().scene.model.activations = Some(vec![Activation::Relu, Activation::Tanh]);
    h.run();
    let shared = h.get_by_role_and_label(Role::ComboBox, "activation");
    assert_eq!(
        shared.accesskit_node().value().as_deref(),
        Some("mixed"),
        "the shared activation menu says the layers differ"
    );
}

#[test]
fn the_pace_menu_sets_steps_per_second_or_per_frame() {
    let mut h = harness(TrainingState::Running);
    h.run();
    h.get_by_role_and_label(Role::ComboBox, "pace").click();
    h.run();
    h.get_by_role_and_label(Role::Button, "steps per second")
        .click();
    h.run();
    assert_eq!(
        h.state().sent,
        vec![TrainerCommand::SetSpeed(Speed::StepsPerSecond(60.0))]
    );
    h.get_by_role_and_label(Role::ComboBox, "pace").click();
    h.run();
    h.get_by_role_and_label(Role::Button, "steps per frame")
        .click();
    h.run();
    assert_eq!(
        h.state().sent.last(),
        Some(&TrainerCommand::SetSpeed(Speed::StepsPerFrame(1)))
    );
    h.get_by_role_and_label(Role::Slider, "steps/frame").focus();
    h.run();
    h.key_press(egui::Key::ArrowRight);
    h.run();
    assert!(
        matches!(h.state().sent.last(), Some(TrainerCommand::SetSpeed(Speed::StepsPerFrame(k))) if *k > 1),
        "{:?}",
        h.state().sent
    );
}

#[test]
fn visual_sliders_change_the_settings_without_commands() {
    let mut h = harness(TrainingState::Running);
    h.run();
    h.get_by_label("particles").click();
    h.run();
    assert!(!h.state().visual.particles);
    h.get_by_role_and_label(Role::Slider, "glow").focus();
    h.run();
    h.key_press(egui::Key::ArrowRight);
    h.run();
    assert!(h.state().visual.glow_intensity > 1.0);
    assert!(h.state().sent.is_empty());
}

mod timeline {
    use super::*;
    use crate::app::history::{PlayMode, Playback};
    use crate::app::messages::{ExportRequest, SnapshotRequest};
    use crate::app::ui::timeline::{TimelineAction, TimelineView, timeline_ui};

    struct Vcr {
        view: TimelineView,
        playback: Playback,
        actions: Vec<TimelineAction>,
    }

    fn harness() -> Harness<'static, Vcr> {
        Harness::builder()
            .with_size(egui::vec2(1200.0, 200.0))
            .build_ui_state(
                |ui, v: &mut Vcr| timeline_ui(ui, &v.view, &mut v.playback, &mut v.actions),
                Vcr {
                    view: TimelineView {
                        first: Some(0),
                        last: Some(500),
                        live: Some(500),
                        shown: Some(500),
                        recorded: 501,
                        bytes: 1 << 20,
                        replay: false,
                        recording: false,
                    },
                    playback: Playback {
                        cursor: 500,
                        position: 500.0,
                        ..Default::default()
                    },
                    actions: Vec::new(),
                },
            )
    }

    #[test]
    fn play_pause_step_and_jump() {
        let mut h = harness();
        h.run();
        h.get_by_label("⏮").click();
        h.run();
        assert_eq!(
            (h.state().playback.mode, h.state().playback.cursor),
            (PlayMode::Paused, 0)
        );
        h.get_by_label("▶ replay").click();
        h.run();
        assert_eq!(h.state().playback.mode, PlayMode::Playing);
        h.get_by_label("⏸ replay").click();
        h.run();
        assert_eq!(h.state().playback.mode, PlayMode::Paused);
        h.get_by_label("|▶").click();
        h.get_by_label("◀|").click();
        h.run();
        assert_eq!(
            h.state().actions,
            vec![TimelineAction::StepForward, TimelineAction::StepBack]
        );
        // Jump to a step by typing it.
        h.get_by(|n| n.role() == Role::SpinButton && n.numeric_value() == Some(0.0))
            .focus();
        h.run();
        h.get_by(|n| n.is_focused()).type_text("321");
        h.key_press(egui::Key::Enter);
        h.run();
        assert_eq!(h.state().playback.cursor, 321);
        assert_eq!(h.state().playback.mode, PlayMode::Paused);
        h.get_by_label("● follow live").click();
        h.run();
        assert_eq!(h.state().playback.mode, PlayMode::Follow);
    }

    #[test]
    fn speed_loop_and_exports() {
        let mut h = harness();
        h.run();
        h.get_by_role_and_label(Role::ComboBox, "speed").click();
        h.run();
        h.get_by_role_and_label(Role::Button, "16x").click();
        h.run();
        assert_eq!(h.state().playback.speed, 16.0);
        h.get_by_label("loop").click();
        h.run();
        assert!(h.state().playback.looping);
        h.get_by_label("Export").click();
        h.run();
        h.get_by_label("shown frame → JSON").click();
        h.run();
        assert_eq!(
            h.state().actions,
            vec![TimelineAction::Export(ExportRequest::FrameJson)]
        );
    }

    #[test]
    fn screenshot_and_record_buttons() {
        let mut h = harness();
        h.run();
        h.get_by_label("screenshot").click();
        h.get_by_label("⏺ record").click();
        h.run();
        assert_eq!(
            h.state().actions,
            vec![
                TimelineAction::Snapshot(SnapshotRequest::Screenshot),
                TimelineAction::Snapshot(SnapshotRequest::ToggleRecording)
            ]
        );
        // While recording, the same button says how to stop.
        h.state_mut().view.recording = true;
        h.state_mut().actions.clear();
        h.run();
        h.get_by_label("⏹ stop recording").click();
        h.run();
        assert_eq!(
            h.state().actions,
            vec![TimelineAction::Snapshot(SnapshotRequest::ToggleRecording)]
        );
    }

    #[test]
    fn the_scrubber_seeks() {
        let mut h = harness();
        h.run();
        h.get_by_role_and_label(Role::Slider, "history").focus();
        h.run();
        h.key_press(egui::Key::ArrowLeft);
        h.run();
        let p = &h.state().playback;
        assert_eq!(p.mode, PlayMode::Paused);
        assert!(p.cursor < 500, "{}", p.cursor);
    }
}

mod dashboard {
    use super::*;
    use crate::app::ui::dashboard::{DashboardInput, dashboard_ui, quadrants};
    use crate::app::ui::plots::PlotSettings;
    use crate::app::ui::task_view::TaskView;
    use crate::lab::Metrics;

    fn evaluations(sharpness: bool) -> Vec<Metrics> {
        (0..20)
            .map(|k| Metrics {
                train_loss: Some(1.0 / (1.0 + k as f32)),
                test_loss: Some(1.2 / (1.0 + k as f32)),
                generalization_error: Some(0.5),
                sharpness: sharpness.then_some(10.0 + k as f32),
                sharpness_threshold: sharpness.then_some(50.0),
                update_projection: sharpness.then_some(1e-3),
                ..Metrics::at(10 * k)
            })
            .collect()
    }

    /// The texts the dashboard shows, the quadrant it leaves to the camera and
    /// the area it was given.
    fn labels(sharpness: bool, surface: bool) -> (Vec<String>, Option<egui::Rect>, egui::Rect) {
        let evals = evaluations(sharpness);
        let mut left = None;
        let mut given = egui::Rect::NOTHING;
        let mut h = Harness::builder()
            .with_size(egui::vec2(1000.0, 700.0))
            .build_ui(|ui| {
                let input = DashboardInput {
                    evaluations: &evals,
                    batch_losses: &[],
                    cursor: Some(50),
                    task: None,
                    surface,
                };
                let area = ui.max_rect();
                given = area;
                left = dashboard_ui(
                    ui,
                    area,
                    &input,
                    &mut TaskView::default(),
                    &PlotSettings::default(),
                );
            });
        h.run();
        let texts = texts_of(&h);
        drop(h);
        (texts, left, given)
    }

    #[test]
    fn four_panels_and_the_surface_quadrant_left_to_the_camera() {
        let (texts, left, area) = labels(true, true);
        for title in [
            "The fit",
            "Loss, and the error outside the training range",
            "Sharpness λ_max against 2/η",
            "|Δθ·v_max|: each update along the sharpest direction",
        ] {
            assert!(
                texts.iter().any(|t| t == title),
                "{title} missing: {texts:?}"
            );
        }
        assert!(!texts.iter().any(|t| t.starts_with("not measured")));
        assert_eq!(left, Some(quadrants(area)[0]));
        let (texts, left, _) = labels(false, false);
        assert_eq!(left, None, "a curve fit keeps its quadrant");
        assert!(
            texts.iter().any(|t| t.starts_with("not measured")),
            "{texts:?}"
        );
    }
}

mod layers_plot {
    use super::*;
    use crate::app::ui::plots::{PlotSettings, flow_diagnosis, layer_series, layers_plot_ui};
    use crate::lab::frame::LayerStats;

    fn stats(grad_norms: &[f32], dead: f32) -> Vec<LayerStats> {
        grad_norms
            .iter()
            .map(|&g| LayerStats {
                weight_norm: 2.0,
                grad_norm: g,
                update_norm: 0.01 * g,
                activation_mean: 0.1,
                activation_std: 0.5,
                dead_fraction: dead,
            })
            .collect()
    }

    /// The texts the plot shows for `history` with the cursor at `cursor`.
    fn texts(history: &[(u64, Vec<LayerStats>)], cursor: Option<u64>) -> Vec<String> {
        let mut settings = PlotSettings::default();
        let mut h = Harness::builder()
            .with_size(egui::vec2(420.0, 300.0))
            .build_ui(|ui| layers_plot_ui(ui, history, cursor, &mut settings, 150.0));
        h.run();
        let texts = super::texts_of(&h);
        drop(h);
        texts
    }

    #[test]
    fn the_gradient_flow_plot_names_each_layer_and_says_what_it_sees_at_the_cursor() {
        // Healthy for the first 10 steps, then the first layer's gradient
        // falls 1000-fold and half the ReLUs of the middle layer die.
        let history: Vec<(u64, Vec<LayerStats>)> = (0..20u64)
            .map(|s| {
                if s < 10 {
                    (s, stats(&[0.5, 0.6, 0.7], 0.0))
                } else {
                    let mut l = stats(&[0.0007, 0.05, 0.7], 0.0);
                    l[1].dead_fraction = 0.6;
                    (s, l)
                }
            })
            .collect();
        let early = texts(&history, Some(5));
        for name in ["layer 1", "layer 2", "layer 3", "grad_norm"] {
            assert!(early.iter().any(|t| t == name), "{name} missing: {early:?}");
        }
        assert!(
            early
                .iter()
                .any(|t| t == "gradients flow: layer 1's norm is 0.71x layer 3's"),
            "{early:?}"
        );
        let late = texts(&history, Some(15));
        assert!(
            late.iter().any(|t| t
                == "vanishing gradients: layer 1's is 1000x smaller than layer 3's; layer 2: 60% of its ReLUs dead"),
            "{late:?}"
        );
        assert!(
            texts(&[], None)
                .iter()
                .any(|t| t.starts_with("no layer stats yet")),
            "an empty history says so"
        );
    }

    #[test]
    fn series_and_diagnosis_follow_the_stats() {
        let history = vec![
            (0, stats(&[1.0, 2.0], f32::NAN)),
            (4, stats(&[300.0, 1.0], f32::NAN)),
        ];
        assert_eq!(layer_series(&history, 0, 1), vec![(0, 1.0), (4, 300.0)]);
        assert_eq!(layer_series(&history, 1, 2), vec![(0, 0.02), (4, 0.01)]);
        assert_eq!(layer_series(&history, 5, 1), vec![], "no such layer");
        assert_eq!(
            flow_diagnosis(&history[1].1).unwrap(),
            "exploding gradients: layer 1's is 300x larger than layer 2's"
        );
    }
}

mod inspector {
    use super::*;
    use crate::app::ui::inspector::{BlameInput, Inspector, inspector_ui};
    use crate::lab::analysis::{Readout, blame};
    use crate::lab::model::OutputKind;

    /// The inspector of a hidden neuron of a network trained on a 3-class
    /// spiral: its threshold, outgoing weights, and its layer's blame as a
    /// list ranked from the neuron whose silence costs the test loss most.
    #[test]
    fn the_inspector_ranks_its_layers_blame_and_reads_the_bias_as_a_threshold() {
        let scene = Scene::parse(
            "Scene(seed: 1, data: Spiral(samples: 300, noise: 0.02, classes: 3), \
             model: (hidden: [8, 8], activation: Relu), \
             train: (optimizer: Adam, learning_rate: 0.02, batch_size: 32))",
            std::path::Path::new("inspect.ron"),
        )
        .unwrap();
        let mut t = crate::lab::Trainer::<crate::lab::CpuBackend>::new(&scene, &Default::default())
            .unwrap();
        for _ in 0..300 {
            t.step(false).unwrap();
        }
        let frame = t.peek().unwrap().unwrap();
        let topology = t.topology();
        let data = t.data().clone();
        let mut inspector = Inspector::default();
        inspector.observe(
            Some(crate::app::network::NeuronId::new(1, 2)),
            Some(&frame),
            1,
        );
        let mut h = Harness::builder()
            .with_size(egui::vec2(420.0, 1400.0))
            .build_ui_state(
                |ui, inspector: &mut Inspector| {
                    let input = BlameInput {
                        data: &data,
                        loss: scene.loss(),
                    };
                    inspector_ui(ui, inspector, &frame, &topology, Some(input));
                },
                inspector,
            );
        h.run();
        // The blame is measured off the UI thread; the panel says so meanwhile.
        run_until(&mut h, "the blame", |s| !s.measuring_blame());
        h.run();
        let shown = h.state().blame().expect("the blame arrived").clone();
        let expected = blame(
            &frame,
            &Readout {
                activations: vec![Activation::Relu; 2],
                output: OutputKind::Softmax,
                loss: scene.loss(),
            },
            &data,
            1,
            usize::MAX,
        )
        .unwrap();
        assert_eq!(
            shown, expected,
            "the whole test set is under the sample cap"
        );
        let texts: Vec<String> = texts_of(&h).iter().map(|t| t.trim().to_string()).collect();
        let ranked = expected.ranked();
        let rows: Vec<usize> = ranked
            .iter()
            .map(|(j, _)| {
                texts
                    .iter()
                    .position(|t| *t == format!("n{j}"))
                    .unwrap_or_else(|| panic!("no row for n{j}: {texts:?}"))
            })
            .collect();
        assert!(
            rows.windows(2).all(|w| w[0] < w[1]),
            "rows in rank order: {ranked:?} at {rows:?}"
        );
        assert!(ranked[0].1 > ranked[7].1);
        assert!(
            texts.iter().any(|t| t.starts_with("Blame at step 300")),
            "{texts:?}"
        );
        assert!(
            texts
                .iter()
                .any(|t| t.starts_with("threshold: it turns on where Σ w·x =")),
            "{texts:?}"
        );
        assert!(
            texts
                .iter()
                .any(|t| t.starts_with("Outgoing weights (8 to layer 2")),
            "{texts:?}"
        );
        let mut outgoing: Vec<&String> = texts.iter().filter(|t| t.starts_with("→ n")).collect();
        outgoing.sort();
        outgoing.dedup();
        assert_eq!(outgoing.len(), 8, "every outgoing weight of a small layer");
    }
}

mod projection {
    use super::*;
    use crate::app::ui::pca::{PcaView, pca_view_ui, predictions};
    use crate::app::ui::task_view::{TaskInput, ViewKey};

    /// The 8x8 digits' test samples in their principal plane: every sample
    /// drawn, coloured by the shown frame's predictions, its errors counted,
    /// and a click picking the sample nearest the pointer as the probe.
    #[test]
    fn the_pca_view_projects_the_test_set_and_a_click_picks_the_probe() {
        let scene = Scene::parse(
            "Scene(seed: 2, data: Digits8x8(), model: (hidden: [16]), \
             train: (optimizer: Adam, learning_rate: 0.01))",
            std::path::Path::new("digits.ron"),
        )
        .unwrap();
        let mut t = crate::lab::Trainer::<crate::lab::CpuBackend>::new(&scene, &Default::default())
            .unwrap();
        for _ in 0..60 {
            t.step(false).unwrap();
        }
        let frame = t.peek().unwrap().unwrap();
        let topology = t.topology();
        let data = t.data().clone();
        let input = TaskInput {
            key: ViewKey { run: 1, frame: 1 },
            data: &data,
            frame: &frame,
            topology: &topology,
        };
        struct State {
            view: PcaView,
            picked: Option<usize>,
        }
        let mut h = Harness::builder()
            .with_size(egui::vec2(420.0, 400.0))
            .build_ui_state(
                |ui, s: &mut State| {
                    if let Some(i) = pca_view_ui(ui, &mut s.view, &input, Some(3), 300.0) {
                        s.picked = Some(i);
                    }
                },
                State {
                    view: PcaView::default(),
                    picked: None,
                },
            );
        h.run();
        run_until(&mut h, "the projection", |s| !s.view.busy());
        h.run();
        let n = data.test.len();
        assert!(n < 1000, "the whole test set is projected");
        let view = &h.state().view;
        let fit = view.fit().expect("fitted").clone();
        assert_eq!(fit.points.len(), n);
        let [e0, e1] = fit.pca.explained();
        assert!(e0 >= e1 && e1 > 0.02 && e0 + e1 < 0.6, "{e0} {e1}");
        let expected = predictions(&frame, &input, n);
        assert_eq!(view.predictions(), Some(expected.as_slice()));
        let errors = (0..n)
            .filter(|&i| data.test.label(i) != Some(expected[i]))
            .count();
        assert!(errors > 0 && errors < n / 2, "{errors} errors of {n}");
        let texts = texts_of(&h);
        let want = format!("; {errors} errors (red crosses)");
        assert!(
            texts
                .iter()
                .any(|t| t.starts_with(&format!("{n} test samples; PC1")) && t.ends_with(&want)),
            "{texts:?}"
        );
        // A click in the plot picks the sample nearest where it fell.
        let plot = h
            .get_by_label(&format!(
                "{n} test samples; PC1 {:.0}% and PC2 {:.0}% of the variance{want}",
                100.0 * e0,
                100.0 * e1
            ))
            .rect();
        let at = egui::pos2(plot.center().x + 30.0, plot.bottom() + 120.0);
        h.hover_at(at);
        h.run();
        h.drag_at(at);
        h.run();
        h.drop_at(at);
        h.run();
        let click = h
            .state()
            .view
            .last_click
            .expect("the click fell in the plot");
        assert_eq!(h.state().picked, fit.nearest(click));
        assert!(h.state().picked.is_some());
    }
}
