//! ECS tests: frames pushed into the trainer channel by hand, assertions on components.

use std::sync::Arc;
use std::time::Duration;

use bevy::prelude::*;
use bevy::time::TimeUpdateStrategy;
use crossbeam_channel::Sender;

use crate::app::CorePlugins;
use crate::app::bridge::TrainerLink;
use crate::app::layout::NetworkLayout;
use crate::app::network::{Neuron, Synapse};
use crate::app::particles::{Direction, FlowPhase, Particles};
use crate::app::quads::QuadBatch;
use crate::app::visual::{Glow, SynapseBatch, VisualSettings};
use crate::lab::data::{DataSpec, Toy2dSpec};
use crate::lab::frame::LayoutKind;
use crate::lab::model::{Activation, OutputKind};
use crate::lab::runner::RunInfo;
use crate::lab::{Frame, LayerFrame, Scene, Topology, TrainerEvent, TrainerHandle};

/// An app with the instrument's data plugins but no window or renderer.
fn test_app() -> (App, Sender<TrainerEvent>) {
    let (handle, events, _commands) = TrainerHandle::detached(64);
    let mut app = App::new();
    app.add_plugins(MinimalPlugins)
        .add_plugins(CorePlugins)
        .insert_resource(TrainerLink::new(handle))
        .insert_resource(TimeUpdateStrategy::ManualDuration(Duration::from_millis(
            16,
        )));
    (app, events)
}

fn topology(sizes: Vec<usize>) -> Topology {
    Topology {
        sizes,
        activation: Activation::Tanh,
        output: OutputKind::Softmax,
        layout: LayoutKind::Plane {
            x: (-1.0, 1.0),
            y: (-1.0, 1.0),
        },
        output_names: vec!["a".into(), "b".into()],
    }
}

fn start(events: &Sender<TrainerEvent>, sizes: Vec<usize>) {
    let scene = Scene::parse(
        "Scene(data: Xor(samples: 20))",
        std::path::Path::new("t.ron"),
    )
    .unwrap();
    let data = DataSpec::Xor(Toy2dSpec {
        samples: 20,
        ..Default::default()
    })
    .load()
    .unwrap();
    events
        .send(TrainerEvent::Started(Box::new(RunInfo {
            topology: topology(sizes),
            scene,
            data: Some(Arc::new(data)),
            run_dir: None,
            replay: false,
        })))
        .unwrap();
}

/// A frame whose every value identifies where it belongs: layer l, neuron j has
/// activation l + j/100; the weight from i to j of layer l is (l+1)·(1 + i + j/10).
fn frame(sizes: &[usize], step: u64) -> Frame {
    let layers = sizes
        .windows(2)
        .enumerate()
        .map(|(l, w)| {
            let (n_in, n_out) = (w[0], w[1]);
            let per_neuron = |f: &dyn Fn(usize) -> f32| (0..n_out).map(f).collect::<Vec<f32>>();
            LayerFrame {
                inputs: n_in,
                outputs: n_out,
                weights: (0..n_in)
                    .flat_map(|i| {
                        (0..n_out)
                            .map(move |j| (l as f32 + 1.0) * (1.0 + i as f32 + j as f32 / 10.0))
                    })
                    .collect(),
                biases: per_neuron(&|j| -(j as f32)),
                weight_grads: vec![0.0; n_in * n_out],
                bias_grads: per_neuron(&|j| j as f32 * 0.5),
                pre_activations: per_neuron(&|j| l as f32 + 1.0 + j as f32 / 100.0 + 0.5),
                activations: per_neuron(&|j| l as f32 + 1.0 + j as f32 / 100.0),
                mean_activations: per_neuron(&|_| 0.0),
                probe_grads: per_neuron(&|j| 0.001 * j as f32),
            }
        })
        .collect();
    Frame {
        step,
        probe: crate::lab::Probe {
            input: (0..sizes[0]).map(|i| i as f32 * 0.25).collect(),
            ..Default::default()
        },
        layers,
        ..Default::default()
    }
}

fn neuron(app: &mut App, layer: usize, index: usize) -> (Neuron, Glow) {
    let mut q = app.world_mut().query::<(&Neuron, &Glow)>();
    q.iter(app.world())
        .find(|(n, _)| n.layer == layer && n.index == index)
        .map(|(n, g)| (n.clone(), *g))
        .expect("neuron exists")
}

fn counts(app: &mut App) -> (usize, usize) {
    let n = app.world_mut().query::<&Neuron>().iter(app.world()).count();
    let s = app
        .world_mut()
        .query::<&Synapse>()
        .iter(app.world())
        .count();
    (n, s)
}

#[test]
fn a_frames_values_land_in_the_right_components() {
    let (mut app, events) = test_app();
    let sizes = vec![3, 4, 2];
    start(&events, sizes.clone());
    events
        .send(TrainerEvent::Frame(Box::new(frame(&sizes, 7))))
        .unwrap();
    app.update();
    app.update();
    let (input, _) = neuron(&mut app, 0, 2);
    assert_eq!(input.activation, 0.5);
    let (n, _) = neuron(&mut app, 1, 3);
    assert_eq!(n.activation, 1.03);
    assert_eq!(n.pre_activation, 1.53);
    assert_eq!(n.bias, -3.0);
    assert_eq!(n.batch_gradient, 1.5);
    assert_eq!(n.gradient, 0.003);
    let (out, _) = neuron(&mut app, 2, 1);
    assert_eq!(out.activation, 2.01);
    let mut q = app.world_mut().query::<&Synapse>();
    let s = q
        .iter(app.world())
        .find(|s| s.layer == 1 && s.from == 3 && s.to == 1)
        .unwrap()
        .clone();
    assert_eq!(s.weight, 2.0 * (1.0 + 3.0 + 0.1));
    // Positions follow the layout.
    let layout = NetworkLayout::new(&topology(sizes));
    let mut q = app.world_mut().query::<(&Neuron, &Transform)>();
    for (n, t) in q.iter(app.world()) {
        assert_eq!(t.translation, layout.layers[n.layer].positions[n.index]);
    }
}

#[test]
fn stronger_activations_glow_brighter() {
    let (mut app, events) = test_app();
    let sizes = vec![2, 3, 2];
    start(&events, sizes.clone());
    let mut f = frame(&sizes, 0);
    f.layers[0].activations = vec![0.05, -0.9, 0.3];
    events.send(TrainerEvent::Frame(Box::new(f))).unwrap();
    app.update();
    app.update();
    let glow = |app: &mut App, j| neuron(app, 1, j).1.level;
    let (weak, strong, middle) = (glow(&mut app, 0), glow(&mut app, 1), glow(&mut app, 2));
    assert!(strong > middle && middle > weak, "{weak} {middle} {strong}");
    assert_eq!(strong, 1.0, "the strongest of a layer glows fully");
    // A larger gradient gives a stronger halo.
    let halo = |app: &mut App, j| neuron(app, 1, j).1.halo;
    assert!(halo(&mut app, 2) > halo(&mut app, 1) && halo(&mut app, 1) > halo(&mut app, 0));
}

#[test]
fn larger_weights_draw_thicker_lines() {
    let (mut app, events) = test_app();
    let sizes = vec![2, 2];
    start(&events, sizes.clone());
    let mut f = frame(&sizes, 0);
    f.layers[0].weights = vec![0.1, -2.0, 0.5, 1.0];
    events.send(TrainerEvent::Frame(Box::new(f))).unwrap();
    app.update();
    app.update();
    let layout = NetworkLayout::new(&topology(sizes));
    let mut q = app
        .world_mut()
        .query_filtered::<&QuadBatch, With<SynapseBatch>>();
    let batch = q.single(app.world()).unwrap();
    assert_eq!(batch.instances.len(), 4);
    let line = |i: usize, j: usize| {
        let (a, b) = (layout.layers[0].positions[i], layout.layers[1].positions[j]);
        *batch
            .instances
            .iter()
            .find(|q| q.start == a.to_array() && q.end == b.to_array())
            .expect("a line per synapse")
    };
    // weights: (0→0) 0.1, (0→1) -2.0, (1→0) 0.5, (1→1) 1.0
    let (w01, w10, w11, w00) = (line(0, 1), line(1, 0), line(1, 1), line(0, 0));
    assert!(w01.width > w11.width && w11.width > w10.width && w10.width > w00.width);
    // Sign sets the hue: negative lines are warm (red > blue), positive cool.
    assert!(w01.color[0] > w01.color[2]);
    assert!(w11.color[2] > w11.color[0]);
}

#[test]
fn a_synapse_budget_keeps_the_strongest() {
    let (mut app, events) = test_app();
    let sizes = vec![4, 5];
    start(&events, sizes.clone());
    app.world_mut()
        .resource_mut::<VisualSettings>()
        .synapse_budget = 3;
    events
        .send(TrainerEvent::Frame(Box::new(frame(&sizes, 0))))
        .unwrap();
    app.update();
    app.update();
    let stats = *app.world().resource::<crate::app::visual::SynapseStats>();
    assert_eq!((stats.shown, stats.total, stats.over_budget), (3, 20, 17));
    let mut q = app
        .world_mut()
        .query_filtered::<&QuadBatch, With<SynapseBatch>>();
    let batch = q.single(app.world()).unwrap();
    // The strongest weights come from input 3 (weights grow with i), to outputs 2..4.
    let layout = NetworkLayout::new(&topology(sizes));
    let from3 = layout.layers[0].positions[3].to_array();
    assert!(
        batch.instances.iter().all(|q| q.start == from3),
        "{:?}",
        batch.instances
    );
}

#[test]
fn larger_gradients_emit_more_particles() {
    let (mut app, events) = test_app();
    let sizes = vec![2, 2];
    start(&events, sizes.clone());
    let mut f = frame(&sizes, 0);
    f.layers[0].weight_grads = vec![1.0, 0.1, 0.0, 0.5];
    // Silent inputs: no forward signal, so every particle counted is a gradient's.
    f.probe.input = vec![0.0, 0.0];
    events.send(TrainerEvent::Frame(Box::new(f))).unwrap();
    // Run a whole forward + backward cycle (3 s at 16 ms per update).
    let mut saw_backward = false;
    for _ in 0..200 {
        app.update();
        saw_backward |= app.world().resource::<FlowPhase>().direction == Direction::Backward;
    }
    assert!(saw_backward);
    let e = &app.world().resource::<Particles>().emitted[0];
    // Synapses k = from·2 + to have |∂L/∂w| = 1.0, 0.1, 0.0, 0.5.
    assert!(e[0] > e[3] && e[3] > e[1] && e[1] > e[2], "{e:?}");
    assert_eq!(e[2], 0, "no gradient, no particle");
    // Emission is proportional: 1.0 vs 0.5 is about twice as many.
    let ratio = e[0] as f32 / e[3] as f32;
    assert!((1.7..2.3).contains(&ratio), "{e:?}");
}

#[test]
fn changing_the_architecture_respawns_the_right_counts() {
    let (mut app, events) = test_app();
    start(&events, vec![2, 5, 3, 2]);
    app.update();
    app.update();
    assert_eq!(counts(&mut app), (12, 10 + 15 + 6));
    start(&events, vec![2, 4, 2]);
    app.update();
    app.update();
    assert_eq!(counts(&mut app), (8, 8 + 8));
    // Values from a frame of the new shape still land; one of the old shape is ignored.
    events
        .send(TrainerEvent::Frame(Box::new(frame(&[2, 5, 3, 2], 1))))
        .unwrap();
    app.update();
    assert_eq!(neuron(&mut app, 1, 0).0.activation, 0.0);
    events
        .send(TrainerEvent::Frame(Box::new(frame(&[2, 4, 2], 2))))
        .unwrap();
    app.update();
    assert_eq!(neuron(&mut app, 1, 0).0.activation, 1.0);
}

#[test]
fn ingest_never_blocks_and_keeps_the_newest_frame() {
    let (mut app, events) = test_app();
    let sizes = vec![2, 2];
    start(&events, sizes.clone());
    for step in 0..40 {
        events
            .send(TrainerEvent::Frame(Box::new(frame(&sizes, step))))
            .unwrap();
    }
    app.update();
    // With nothing waiting, an update drains nothing and keeps what it has.
    app.update();
    let live = app.world().resource::<crate::app::bridge::Live>();
    assert_eq!(live.step(), 39);
    assert_eq!(live.batch_losses.len(), 40);
}

#[test]
fn paused_training_plays_one_flow_cycle_per_step() {
    let (mut app, events) = test_app();
    let sizes = vec![2, 2];
    start(&events, sizes.clone());
    events.send(TrainerEvent::Running(false)).unwrap();
    let mut f = frame(&sizes, 0);
    f.layers[0].weight_grads = vec![1.0, 1.0, 1.0, 1.0];
    events
        .send(TrainerEvent::Frame(Box::new(f.clone())))
        .unwrap();
    let total = |app: &App| {
        app.world().resource::<Particles>().emitted[0]
            .iter()
            .sum::<u32>()
    };
    // One cycle is 3 s: 250 updates of 16 ms play it out, and then the flow rests.
    for _ in 0..250 {
        app.update();
    }
    let after_one = total(&app);
    assert!(after_one > 0);
    assert!(!app.world().resource::<FlowPhase>().active);
    for _ in 0..100 {
        app.update();
    }
    assert_eq!(
        total(&app),
        after_one,
        "no emission while paused between steps"
    );
    // A single step brings a new frame: one more cycle.
    f.step = 1;
    events.send(TrainerEvent::Frame(Box::new(f))).unwrap();
    for _ in 0..250 {
        app.update();
    }
    let after_two = total(&app);
    assert!(
        after_two > after_one && after_two <= 2 * after_one + 2,
        "{after_one} then {after_two}"
    );
    // Running: the flow never rests.
    events.send(TrainerEvent::Running(true)).unwrap();
    for _ in 0..400 {
        app.update();
    }
    assert!(app.world().resource::<FlowPhase>().active);
    assert!(total(&app) > after_two + after_one);
}

#[test]
fn scrubbing_a_replay_shows_that_step_everywhere() {
    use crate::app::history::{History, PlayMode, Playback, Shown};
    use crate::lab::record::FrameReader;
    use crate::lab::runner::Session;
    type B = burn::backend::Autodiff<burn::backend::Flex>;

    let root = std::env::temp_dir().join(format!("nnm-scrub-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let scene = Scene::parse(
        "Scene(name: \"s\", data: Xor(samples: 80), model: (hidden: [5]), train: (steps: 40, eval_every: 10))",
        std::path::Path::new("s.ron"),
    )
    .unwrap();
    let mut session = Session::<B>::start(&scene, &Default::default(), Some(&root)).unwrap();
    for _ in 0..40 {
        session.advance(false).unwrap();
    }
    let dir = session.run_dir().unwrap().to_path_buf();
    let mut reader = FrameReader::open(&dir.join("frames.nnmr")).unwrap();

    let mut app = App::new();
    app.add_plugins(MinimalPlugins)
        .add_plugins(CorePlugins)
        .insert_resource(TrainerLink::new(
            crate::lab::replay::spawn_replay(&dir).unwrap(),
        ))
        .insert_resource(TimeUpdateStrategy::ManualDuration(Duration::from_millis(
            16,
        )));
    // Wait for the replay to arrive and the recording to be opened.
    for _ in 0..400 {
        app.update();
        let ready = app.world().resource::<History>().last_step() == Some(39);
        if ready && app.world().resource::<Shown>().step() == Some(39) {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(
        app.world().resource::<Shown>().step(),
        Some(39),
        "following shows the newest"
    );
    for step in [7u64, 0, 23] {
        app.world_mut().resource_mut::<Playback>().seek(step);
        app.update();
        app.update();
        assert_eq!(app.world().resource::<Shown>().step(), Some(step));
        let expected = reader.read_step(step).unwrap();
        let (n, _) = neuron(&mut app, 1, 2);
        assert_eq!(
            n.activation, expected.layers[0].activations[2],
            "step {step}"
        );
        assert_eq!(n.bias, expected.layers[0].biases[2]);
        let mut q = app.world_mut().query::<&Synapse>();
        let s = q
            .iter(app.world())
            .find(|s| s.layer == 1 && s.from == 4 && s.to == 1)
            .unwrap()
            .clone();
        let w = expected.layers[1].weight(4, 1);
        assert!(
            (s.weight - w).abs() < 1e-3,
            "step {step}: {} vs {w}",
            s.weight
        );
    }
    // Playing moves forward through the history and stops at its end.
    {
        let mut p = app.world_mut().resource_mut::<Playback>();
        p.seek(30);
        p.mode = PlayMode::Playing;
        p.speed = 16.0;
    }
    for _ in 0..60 {
        app.update();
    }
    let p = app.world().resource::<Playback>();
    assert_eq!(p.mode, PlayMode::Paused, "a replay stops at its last step");
    assert_eq!(app.world().resource::<Shown>().step(), Some(39));
    std::fs::remove_dir_all(root).ok();
}

/// The notices written in the last update.
fn notices(app: &App) -> Vec<String> {
    app.world()
        .resource::<Messages<crate::app::snapshots::Notice>>()
        .iter_current_update_messages()
        .map(|n| n.0.clone())
        .collect()
}

#[test]
fn f12_and_the_record_toggle_save_into_the_runs_captures() {
    use crate::app::snapshots::{SnapshotRequest, Snapshots, SnapshotsPlugin};
    use bevy::render::view::screenshot::Screenshot;

    let run_dir = std::env::temp_dir().join(format!("nnm-captures-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&run_dir);
    let (mut app, _events) = test_app();
    app.add_plugins(SnapshotsPlugin)
        .init_resource::<ButtonInput<KeyCode>>();
    app.world_mut()
        .resource_mut::<crate::app::bridge::Live>()
        .run_dir = Some(run_dir.clone());
    app.update();
    let screenshots = |app: &mut App| {
        app.world_mut()
            .query::<&Screenshot>()
            .iter(app.world())
            .count()
    };
    assert_eq!(screenshots(&mut app), 0);

    app.world_mut()
        .resource_mut::<ButtonInput<KeyCode>>()
        .press(KeyCode::F12);
    app.update();
    app.world_mut()
        .resource_mut::<ButtonInput<KeyCode>>()
        .clear();
    assert_eq!(screenshots(&mut app), 1, "F12 asks for one screenshot");
    let shot = run_dir.join("captures/screenshot_step000000_001.png");
    assert_eq!(
        notices(&app),
        vec![format!("screenshot saved to {}", shot.display())],
        "the UI is told where it went"
    );
    assert!(run_dir.join("captures").is_dir());

    app.world_mut()
        .write_message(SnapshotRequest::ToggleRecording);
    app.update();
    let session = run_dir.join("captures/session_001");
    assert_eq!(
        notices(&app),
        vec![format!("recording frames to {}", session.display())]
    );
    assert!(session.is_dir());
    app.update();
    app.update();
    assert_eq!(
        app.world()
            .resource::<Snapshots>()
            .recording
            .as_ref()
            .map(|s| s.frames),
        Some(3),
        "one frame saved per app frame"
    );
    assert_eq!(screenshots(&mut app), 4);
    app.world_mut()
        .write_message(SnapshotRequest::ToggleRecording);
    app.update();
    assert_eq!(
        notices(&app),
        vec![format!("recorded 3 frames to {}", session.display())]
    );
    assert!(app.world().resource::<Snapshots>().recording.is_none());
    app.update();
    assert_eq!(screenshots(&mut app), 4, "stopped: no more frames");
    std::fs::remove_dir_all(run_dir).ok();
}
