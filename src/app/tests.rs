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
use crate::app::quads::SynapseField;
use crate::app::visual::{Glow, HighlightState, SynapseBatch, VisualSettings};
use crate::lab::data::InputLayout;
use crate::lab::data::{DataSpec, Toy2dSpec};
use crate::lab::model::{Activation, OutputKind};
use crate::lab::runner::RunInfo;
use crate::lab::{Frame, LayerFrame, Scene, Topology, TrainerEvent, TrainerHandle};

/// Makes systems that touch the same data without an order between them an
/// error: the schedule panics on its first run. Every ECS test app uses it.
fn strict_order(app: &mut App) {
    use bevy::ecs::schedule::{LogLevel, ScheduleBuildSettings, ScheduleLabel};
    for label in [Update.intern(), Last.intern()] {
        app.edit_schedule(label, |schedule| {
            schedule.set_build_settings(ScheduleBuildSettings {
                ambiguity_detection: LogLevel::Error,
                ..default()
            });
        });
    }
}

/// An app with the instrument's data plugins but no window or renderer.
fn test_app() -> (App, Sender<TrainerEvent>) {
    let (handle, events, _commands) = TrainerHandle::detached(64);
    let mut app = crate::app::data_app(handle);
    strict_order(&mut app);
    (app, events)
}

#[test]
fn every_plugin_without_a_renderer_runs_in_a_fixed_order() {
    use crate::app::exports::ExportsPlugin;
    use crate::app::film::{FilmClock, FilmCursorPlugin};
    use crate::app::lesson::LessonPlugin;
    use crate::app::snapshots::SnapshotsPlugin;

    let (mut app, events) = test_app();
    app.add_plugins((
        LessonPlugin,
        SnapshotsPlugin,
        ExportsPlugin,
        FilmCursorPlugin,
    ))
    .init_resource::<ButtonInput<KeyCode>>()
    .insert_resource(FilmClock {
        frame: 3,
        fps: 30.0,
        steps_per_frame: 2,
        from_recording: true,
    });
    strict_order(&mut app);
    start(&events, vec![2, 3, 2]);
    // The first update builds the schedules: an ambiguity panics here.
    app.update();
    app.update();
    assert_eq!(
        app.world()
            .resource::<crate::app::history::Playback>()
            .cursor,
        6,
        "a film of a recording moves the cursor to its frame's step"
    );
}

fn topology(sizes: Vec<usize>) -> Topology {
    let hidden = sizes.len().saturating_sub(2);
    Topology {
        network: crate::lab::model::MlpConfig::new(sizes, vec![Activation::Tanh; hidden])
            .with_output(OutputKind::Softmax),
        layout: InputLayout::Plane {
            x: (-1.0, 1.0),
            y: (-1.0, 1.0),
        },
        output_names: vec!["a".into(), "b".into()],
    }
}

fn start(events: &Sender<TrainerEvent>, sizes: Vec<usize>) {
    start_scene(events, sizes, "Scene(data: Xor(samples: 20))");
}

/// Starts a run of the scene `text` (on 20 XOR samples) with a network of `sizes`.
fn start_scene(events: &Sender<TrainerEvent>, sizes: Vec<usize>, text: &str) {
    let scene = Scene::parse(text, std::path::Path::new("t.ron")).unwrap();
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
            driver: Default::default(),
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
                scale: 1.0,
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
fn units_dropout_leaves_out_of_the_shown_step_are_marked() {
    let (mut app, events) = test_app();
    let sizes = vec![2, 8, 6, 2];
    start_scene(
        &events,
        sizes.clone(),
        "Scene(seed: 9, data: Xor(samples: 20), model: (hidden: [8, 6], dropout: 0.5))",
    );
    let mut marks = Vec::new();
    for step in [7, 8] {
        events
            .send(TrainerEvent::Frame(Box::new(frame(&sizes, step))))
            .unwrap();
        app.update();
        app.update();
        let mut dropped = Vec::new();
        for (l, &width) in sizes.iter().enumerate() {
            let kept = crate::lab::model::kept_units(9, step, l.wrapping_sub(1), width, 0.5);
            for (i, kept) in kept.into_iter().enumerate() {
                let n = neuron(&mut app, l, i).0;
                let hidden = l > 0 && l + 1 < sizes.len();
                assert_eq!(n.dropped, hidden && !kept, "step {step}, neuron {l}.{i}");
                dropped.push(n.dropped);
            }
        }
        // The 14 hidden units follow the inputs' 2: about half of them are out.
        let hidden = &dropped[2..16];
        let out = hidden.iter().filter(|d| **d).count();
        assert!((2..=12).contains(&out), "{out} of 14 hidden units dropped");
        marks.push(dropped);
    }
    assert_ne!(marks[0], marks[1], "each step draws its own mask");
    // A live edit of the rate redraws the shown frame's marks.
    let mut scene = app
        .world()
        .resource::<crate::app::bridge::SceneInForce>()
        .0
        .clone()
        .unwrap();
    scene.model.dropout = 0.0;
    events
        .send(TrainerEvent::Settings(Box::new(scene)))
        .unwrap();
    app.update();
    app.update();
    let mut q = app.world_mut().query::<&Neuron>();
    assert!(q.iter(app.world()).all(|n| !n.dropped));
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

/// The synapse field's line `s` as the shader reads it: its ends, whether
/// they are highlighted, its weight, and its layer's largest |weight|.
fn field_line(field: &SynapseField, s: usize) -> (Vec3, Vec3, f32, f32, f32) {
    use crate::app::quads::*;
    let d = &field.data;
    let at = |i: usize| d[i] as usize;
    let records = at(FIELD_LAYER_RECORDS);
    let layer = (0..at(FIELD_LAYERS))
        .map(|l| records + l * FIELD_LAYER)
        .rfind(|&r| at(r + LAYER_FIRST_SYNAPSE) <= s)
        .expect("a layer");
    let k = s - at(layer + LAYER_FIRST_SYNAPSE);
    let targets = at(layer + LAYER_TARGET_COUNT);
    let position = |n: usize| {
        let p = at(FIELD_POSITIONS) + 4 * n;
        (Vec3::new(d[p], d[p + 1], d[p + 2]), d[p + 3])
    };
    let (from, _) = position(at(layer + LAYER_SOURCES) + k / targets);
    let (to, mark) = position(at(layer + LAYER_TARGETS) + k % targets);
    (
        from,
        to,
        mark,
        d[at(FIELD_WEIGHTS) + s],
        d[layer + LAYER_MAX_WEIGHT],
    )
}

fn synapse_field(app: &mut App) -> SynapseField {
    let mut q = app
        .world_mut()
        .query_filtered::<&SynapseField, With<SynapseBatch>>();
    q.single(app.world()).unwrap().clone()
}

#[test]
fn the_gpu_gets_every_weight_with_its_layers_scale_and_both_ends() {
    use crate::app::quads::{FIELD_COMPACT, FIELD_QUADS, TARGET_DIMMED, TARGET_LIT, TARGET_PLAIN};
    use crate::lab::scene::Highlight;
    let (mut app, events) = test_app();
    let sizes = vec![2, 2, 3];
    start(&events, sizes.clone());
    let mut f = frame(&sizes, 0);
    f.layers[0].weights = vec![0.1, -2.0, 0.5, 1.0];
    // A weight gone non-finite reads as zero: it must not draw, or scale the rest.
    f.layers[1].weights[4] = f32::NAN;
    let second = f.layers[1].weights.clone();
    events.send(TrainerEvent::Frame(Box::new(f))).unwrap();
    app.update();
    app.update();
    let layout = NetworkLayout::new(&topology(sizes));
    let field = synapse_field(&mut app);
    assert_eq!((field.quads, field.data[FIELD_QUADS]), (10, 10.0));
    assert_eq!(
        field.data[FIELD_COMPACT], 0.0,
        "within budget every line is drawn"
    );
    let positions = |l: usize| layout.layers[l].positions.clone();
    for (s, w) in [0.1, -2.0, 0.5, 1.0].into_iter().enumerate() {
        let (from, to, mark, weight, max) = field_line(&field, s);
        assert_eq!(
            (from, to),
            (positions(0)[s / 2], positions(1)[s % 2]),
            "{s}"
        );
        assert_eq!((weight, max, mark), (w, 2.0, TARGET_PLAIN), "{s}");
    }
    let finite_max = second
        .iter()
        .filter(|w| w.is_finite())
        .fold(0.0f32, |m, w| m.max(w.abs()));
    for (k, &w) in second.iter().enumerate() {
        let (from, to, _, weight, max) = field_line(&field, 4 + k);
        assert_eq!(
            (from, to),
            (positions(1)[k / 3], positions(2)[k % 3]),
            "{k}"
        );
        let expected = if w.is_finite() { w } else { 0.0 };
        assert_eq!((weight, max), (expected, finite_max), "{k}");
    }
    // A lesson highlighting the synapses into neuron 1 of layer 2.
    app.world_mut().resource_mut::<HighlightState>().0 = Some(Highlight::SynapsesIntoNeuron(2, 1));
    app.update();
    let field = synapse_field(&mut app);
    let marks: Vec<f32> = (0..10).map(|s| field_line(&field, s).2).collect();
    let (lit, dim) = (TARGET_LIT, TARGET_DIMMED);
    assert_eq!(marks, [dim, dim, dim, dim, dim, lit, dim, dim, lit, dim]);
}

#[test]
fn a_synapse_budget_keeps_the_strongest() {
    use crate::app::quads::{FIELD_COMPACT, FIELD_IDS};
    let sizes = vec![4, 5];
    let (mut app, _events) = showing_over_budget(&sizes, 3, frame(&sizes, 0));
    let stats = *app.world().resource::<crate::app::visual::SynapseStats>();
    assert_eq!((stats.shown, stats.total, stats.over_budget), (3, 20, 17));
    let field = synapse_field(&mut app);
    assert_eq!((field.quads, field.data[FIELD_COMPACT]), (3, 1.0));
    // The strongest weights come from input 3 (weights grow with i), to outputs 2..4.
    let ids = field.data[FIELD_IDS] as usize;
    let drawn: Vec<f32> = field.data[ids..ids + 3].to_vec();
    assert_eq!(drawn, [17.0, 18.0, 19.0]);
    let layout = NetworkLayout::new(&topology(sizes));
    let from3 = layout.layers[0].positions[3];
    assert!((17..20).all(|s| field_line(&field, s).0 == from3));
}

/// An app that has shown `f`, a frame of a network of `sizes`, with a synapse
/// budget of `budget`; the trainer's sender is kept open with it.
fn showing_over_budget(sizes: &[usize], budget: usize, f: Frame) -> (App, Sender<TrainerEvent>) {
    let (mut app, events) = test_app();
    start(&events, sizes.to_vec());
    app.world_mut()
        .resource_mut::<VisualSettings>()
        .synapse_budget = budget;
    events.send(TrainerEvent::Frame(Box::new(f))).unwrap();
    app.update();
    app.update();
    (app, events)
}

#[test]
fn a_budget_met_by_equal_weights_draws_exactly_its_size() {
    let sizes = vec![3, 3];
    let mut f = frame(&sizes, 0);
    f.layers[0].weights = vec![1.0, -1.0, 1.0, 0.5, 1.0, -1.0, 1.0, 0.25, 1.0];
    let (mut app, _events) = showing_over_budget(&sizes, 4, f);
    let field = synapse_field(&mut app);
    let ids = field.data[crate::app::quads::FIELD_IDS] as usize;
    assert_eq!(field.quads, 4);
    assert_eq!(&field.data[ids..ids + 4], [0.0, 1.0, 2.0, 4.0]);
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
    use crate::app::bridge::{Drained, INGEST_BUDGET, IngestBudget, NewestFrame, RunLog};
    use crossbeam_channel::TrySendError;

    let (mut app, events) = test_app();
    let sizes = vec![2, 2];
    start(&events, sizes.clone());
    app.update();
    // The trainer floods the channel until it is full: the sender is refused, never blocked.
    let mut sent = 0u64;
    loop {
        match events.try_send(TrainerEvent::Frame(Box::new(frame(&sizes, sent)))) {
            Ok(()) => sent += 1,
            Err(TrySendError::Full(_)) => break,
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(sent as usize, events.capacity().unwrap());
    // A spent budget: the app takes what fits in this frame and leaves the rest.
    app.insert_resource(IngestBudget(Duration::ZERO));
    app.update();
    {
        let world = app.world();
        assert_eq!(
            world.resource::<Drained>().0,
            1,
            "a spent budget stops the drain"
        );
        assert_eq!(world.resource::<NewestFrame>().step(), 0);
    }
    assert_eq!(
        events.len(),
        sent as usize - 1,
        "the rest waits for the next frames"
    );
    // With its budget back, the app catches up and shows the newest frame.
    app.insert_resource(IngestBudget(INGEST_BUDGET));
    app.update();
    assert_eq!(app.world().resource::<NewestFrame>().step(), sent - 1);
    assert_eq!(
        app.world().resource::<RunLog>().batch_losses.len(),
        sent as usize
    );
    assert!(events.is_empty());
    // With nothing waiting, an update drains nothing and keeps what it has.
    app.update();
    let world = app.world();
    assert_eq!(
        (
            world.resource::<Drained>().0,
            world.resource::<NewestFrame>().step()
        ),
        (0, sent - 1)
    );
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
    type B = crate::lab::CpuBackend;

    let root = crate::scratch::Scratch::new("scrub");
    let scene = Scene::parse(
        "Scene(name: \"s\", data: Xor(samples: 80), model: (hidden: [5]), train: (steps: 40, eval_every: 10))",
        std::path::Path::new("s.ron"),
    )
    .unwrap();
    let mut session = Session::<B>::start(&scene, &Default::default(), Some(root.path())).unwrap();
    for _ in 0..40 {
        session.advance(false).unwrap();
    }
    session.settle().unwrap();
    let dir = session.run_dir().unwrap().to_path_buf();
    let mut reader = FrameReader::open(&dir.join("frames.nnmr")).unwrap();

    let mut app = App::new();
    app.add_plugins(MinimalPlugins)
        .add_plugins(CorePlugins)
        .insert_resource(TrainerLink::new(
            crate::lab::runner::spawn_replay(&dir).unwrap(),
        ))
        .insert_resource(TimeUpdateStrategy::ManualDuration(Duration::from_millis(
            16,
        )));
    update_until(&mut app, "the replay to open its recording", |app| {
        app.world().resource::<History>().last_step() == Some(39)
            && app.world().resource::<Shown>().step() == Some(39)
    });
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
}

/// The notices written in the last update.
fn notices(app: &App) -> Vec<String> {
    app.world()
        .resource::<Messages<crate::app::messages::Notice>>()
        .iter_current_update_messages()
        .map(|n| n.0.clone())
        .collect()
}

#[test]
fn f12_and_the_record_toggle_save_into_the_runs_captures() {
    use crate::app::messages::SnapshotRequest;
    use crate::app::snapshots::{Snapshots, SnapshotsPlugin};
    use bevy::render::view::screenshot::Screenshot;

    let run_dir = crate::scratch::Scratch::new("captures");
    let (mut app, _events) = test_app();
    app.add_plugins(SnapshotsPlugin)
        .init_resource::<ButtonInput<KeyCode>>();
    app.world_mut()
        .resource_mut::<crate::app::bridge::Run>()
        .run_dir = Some(run_dir.to_path_buf());
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
}

/// Updates `app` (16 ms of virtual time each, a little real time for the
/// trainer thread) until `done` holds; panics after 60 s.
pub(crate) fn update_until(app: &mut App, what: &str, done: impl Fn(&mut App) -> bool) {
    let start = std::time::Instant::now();
    while !done(app) {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "timed out waiting for {what}"
        );
        app.update();
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn a_lesson_pauses_and_captions_at_the_right_steps() {
    use crate::app::bridge::{NewestFrame, RunLog, TrainingState};
    use crate::app::lesson::{LessonPlayer, LessonPlugin};
    use crate::app::messages::LessonControl;
    use crate::lab::runner::RunnerOptions;
    use crate::lab::scene::Highlight;

    let scene = Scene::parse(
        r#"Scene(
            name: "lesson-test", seed: 3,
            data: Xor(samples: 400),
            model: (hidden: [8], activation: Tanh),
            train: (optimizer: Adam, learning_rate: 0.03, batch_size: 16, steps: 4000, eval_every: 10),
            lesson: (steps: [
                (caption: "hello", trigger: Start),
                (caption: "forward", trigger: FirstForward),
                (caption: "backward", trigger: FirstBackward),
                (caption: "stop at 40", trigger: Step(40), pause: true, highlight: Some(Layer(1))),
                (caption: "it has learned", trigger: AccuracyAbove(0.9), pause: true),
            ]),
        )"#,
        std::path::Path::new("lesson-test.ron"),
    )
    .unwrap();
    let handle = TrainerHandle::spawn::<crate::lab::CpuBackend>(
        scene,
        Default::default(),
        RunnerOptions {
            runs_root: None,
            lesson_pauses: true,
            ..Default::default()
        },
    )
    .unwrap();
    let mut app = App::new();
    app.add_plugins(MinimalPlugins)
        .add_plugins(CorePlugins)
        .add_plugins(LessonPlugin)
        .insert_resource(TrainerLink::new(handle))
        .insert_resource(TimeUpdateStrategy::ManualDuration(Duration::from_millis(
            16,
        )));
    let reached = |app: &mut App| app.world().resource::<LessonPlayer>().progress.reached;

    update_until(&mut app, "the pause at step 40", |app| reached(app) >= 4);
    let paused_at_40 = |app: &mut App| {
        let world = app.world();
        *world.resource::<TrainingState>() == TrainingState::Paused
            && world.resource::<NewestFrame>().step() == 40
    };
    update_until(&mut app, "training to stop at step 40", paused_at_40);
    {
        let player = app.world().resource::<LessonPlayer>();
        let fired = &player.progress.fired_at;
        assert_eq!(fired[3], Some(40), "the pausing step fires exactly at 40");
        assert!(player.progress.waiting);
        assert_eq!(
            player.current().map(|(_, s)| s.caption.as_str()),
            Some("stop at 40")
        );
        assert!(fired[0] <= fired[1] && fired[1] <= fired[2] && fired[2] <= Some(40));
    }
    assert_eq!(
        app.world().resource::<HighlightState>().0,
        Some(Highlight::Layer(1))
    );
    // It stays paused until the class continues.
    for _ in 0..30 {
        app.update();
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(paused_at_40(&mut app), "still paused at 40");

    app.world_mut().write_message(LessonControl::Next);
    update_until(&mut app, "accuracy to reach 90%", |app| reached(app) >= 5);
    update_until(&mut app, "training to pause again", |app| {
        *app.world().resource::<TrainingState>() == TrainingState::Paused
    });
    let player = app.world().resource::<LessonPlayer>();
    let fired = player.progress.fired_at[4].expect("fired at a step");
    let first_good = app
        .world()
        .resource::<RunLog>()
        .evaluations
        .iter()
        .find(|e| e.test_accuracy.is_some_and(|a| a >= 0.9))
        .map(|e| e.step)
        .expect("an evaluation reached 90%");
    assert!(first_good > 40);
    assert_eq!(
        fired, first_good,
        "the caption shows at the first evaluation that reached 90%"
    );
    assert_eq!(
        player.current().map(|(_, s)| s.caption.as_str()),
        Some("it has learned")
    );
    // The trainer itself stopped right after that evaluation's update,
    // however far behind the view was.
    assert_eq!(app.world().resource::<NewestFrame>().step(), fired + 1);
}

#[test]
fn editing_the_scene_file_reloads_it_and_a_broken_edit_keeps_the_last_good_one() {
    use crate::app::bridge::SceneInForce;
    use crate::app::scene_file::{SceneFile, SceneFilePlugin, register_scene_sources};
    use crate::lab::TrainerCommand;

    let dir = crate::scratch::Scratch::new("hot-reload");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("edit.ron");
    let text = |steps_per_second: f32, hidden: usize| {
        format!(
            "Scene(\n    data: Xor(samples: 100),\n    model: (hidden: [{hidden}]),\n    view: (steps_per_second: {steps_per_second}),\n)\n"
        )
    };
    std::fs::write(&path, text(10.0, 4)).unwrap();

    let (handle, events, commands) = TrainerHandle::detached(64);
    let mut app = App::new();
    register_scene_sources(&mut app, Some(dir.path()), Some(dir.path()));
    app.add_plugins(MinimalPlugins)
        .add_plugins(bevy::asset::AssetPlugin::default())
        .add_plugins(CorePlugins)
        .insert_resource(TrainerLink::new(handle))
        .insert_resource(SceneFile::open(
            &crate::lab::scene::Presets::new(Some(dir.to_path_buf()))
                .find("edit")
                .unwrap(),
            crate::lab::scene::Presets::new(Some(dir.to_path_buf())),
            None,
        ))
        .add_plugins(SceneFilePlugin)
        .insert_resource(TimeUpdateStrategy::ManualDuration(Duration::from_millis(
            16,
        )));
    // The run was started from the file.
    let scene = Scene::load(&path).unwrap();
    let data = scene.data.load().unwrap();
    events
        .send(TrainerEvent::Started(Box::new(RunInfo {
            topology: topology(vec![2, 4, 2]),
            scene,
            data: Some(Arc::new(data)),
            run_dir: None,
            driver: Default::default(),
        })))
        .unwrap();
    update_until(&mut app, "the scene asset to load", |app| {
        app.world().resource::<SceneFile>().loaded.is_some()
    });
    let scene_commands = || {
        commands
            .try_iter()
            .filter(|c| {
                matches!(
                    c,
                    TrainerCommand::LoadScene(_) | TrainerCommand::SetPresentation(_)
                )
            })
            .collect::<Vec<_>>()
    };
    assert!(scene_commands().is_empty(), "opening changes nothing");

    // A change to the view applies at once, without restarting training.
    std::fs::write(&path, text(25.0, 4)).unwrap();
    update_until(&mut app, "the new view", |app| {
        let scene = &app.world().resource::<SceneInForce>().0;
        scene.as_ref().and_then(|s| s.view.steps_per_second) == Some(25.0)
    });
    let sent = scene_commands();
    assert!(
        matches!(sent.as_slice(), [TrainerCommand::SetPresentation(s)] if s.view.steps_per_second == Some(25.0)),
        "{sent:?}"
    );

    // A change to the model restarts training with it.
    std::fs::write(&path, text(25.0, 6)).unwrap();
    let restarted = std::cell::RefCell::new(Vec::new());
    update_until(&mut app, "a restart", |_| {
        restarted.borrow_mut().extend(scene_commands());
        !restarted.borrow().is_empty()
    });
    assert!(
        matches!(restarted.borrow().as_slice(), [TrainerCommand::LoadScene(s)] if s.model.hidden == vec![6]),
        "{:?}",
        restarted.borrow()
    );

    // A broken edit shows where it is broken and keeps the last good scene.
    std::fs::write(
        &path,
        "Scene(\n    data: Xor(samples: 100),\n    model: (hidden: [\"wide\"]),\n)\n",
    )
    .unwrap();
    update_until(&mut app, "the error", |app| {
        app.world().resource::<SceneFile>().error.is_some()
    });
    let file = app.world().resource::<SceneFile>();
    let error = file.error.clone().unwrap();
    assert!(
        error.contains(&format!("{}:3:", path.display())) && error.contains("model.hidden"),
        "{error}"
    );
    assert_eq!(
        file.loaded.as_ref().map(|s| s.model.hidden.clone()),
        Some(vec![6]),
        "the last good scene stays"
    );
    assert!(
        scene_commands().is_empty(),
        "nothing restarts on a broken edit"
    );
    assert_eq!(
        app.world()
            .resource::<SceneInForce>()
            .0
            .as_ref()
            .and_then(|s| s.view.steps_per_second),
        Some(25.0)
    );

    // Fixing it clears the error.
    std::fs::write(&path, text(25.0, 6)).unwrap();
    update_until(&mut app, "the error to clear", |app| {
        app.world().resource::<SceneFile>().error.is_none()
    });

    // A quick second save within the file system's timestamp resolution: the
    // modification time does not change, the contents do.
    let stamp = std::fs::metadata(&path).unwrap().modified().unwrap();
    for _ in 0..20 {
        app.update();
    }
    std::fs::write(&path, text(30.0, 6)).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(stamp)
        .unwrap();
    update_until(&mut app, "the quick save", |app| {
        let scene = &app.world().resource::<SceneInForce>().0;
        scene.as_ref().and_then(|s| s.view.steps_per_second) == Some(30.0)
    });
}

#[test]
fn a_drawing_lights_the_network_with_the_models_forward_pass() {
    use crate::app::drawing::DrawnInput;
    use crate::app::history::Shown;
    use crate::app::ui::draw::{DrawAction, DrawPad, draw_ui};
    use bevy_egui::egui;
    use burn::tensor::{Tensor, TensorData};
    use egui_kittest::Harness;

    // A real network, trained a little on the 8x8 digits.
    let scene = Scene::parse(
        "Scene(seed: 2, data: Digits8x8(), model: (hidden: [16]), train: (optimizer: Adam, learning_rate: 0.01))",
        std::path::Path::new("digits.ron"),
    )
    .unwrap();
    let mut trainer =
        crate::lab::Trainer::<crate::lab::CpuBackend>::new(&scene, &Default::default()).unwrap();
    for _ in 0..60 {
        trainer.step(false).unwrap();
    }
    let frame = trainer.peek().unwrap().unwrap();
    let topology = trainer.topology();

    // Draw a "1": a vertical stroke down the pad, as a mouse would.
    struct Pad {
        pad: DrawPad,
        input: Option<Vec<f32>>,
    }
    let mut h = Harness::builder()
        .with_size(egui::vec2(300.0, 600.0))
        .build_ui_state(
            |ui, s: &mut Pad| {
                if let Some(DrawAction::Input(i)) =
                    draw_ui(ui, &mut s.pad, ("digits8x8", 8, 8), None)
                {
                    s.input = Some(i);
                }
            },
            Pad {
                pad: DrawPad::default(),
                input: None,
            },
        );
    h.run();
    assert!(h.state().pad.is_blank());
    h.drag_at(egui::pos2(130.0, 80.0));
    h.run();
    for y in (90..=220).step_by(10) {
        h.hover_at(egui::pos2(130.0, y as f32));
        h.run();
    }
    h.drop_at(egui::pos2(130.0, 220.0));
    h.run();
    let input = h.state().input.clone().expect("the stroke became an input");
    assert_eq!(input.len(), 64);
    // Preprocessed like the UCI digits: a tall bar fitted to the 8x8 grid.
    let inked_rows = (0..8)
        .filter(|r| input[r * 8..r * 8 + 8].iter().any(|&v| v > 0.2))
        .count();
    assert!(
        inked_rows >= 7,
        "a vertical stroke spans the rows: {input:?}"
    );

    // The app shows the drawing through the shown frame's weights.
    let (mut app, events) = test_app();
    events
        .send(TrainerEvent::Started(Box::new(RunInfo {
            topology: topology.clone(),
            scene,
            data: Some(trainer.data().clone()),
            run_dir: None,
            driver: Default::default(),
        })))
        .unwrap();
    events
        .send(TrainerEvent::Frame(Box::new(frame.clone())))
        .unwrap();
    app.update();
    app.world_mut()
        .resource_mut::<DrawnInput>()
        .set(Some(input.clone()));
    app.update();
    app.update();
    let shown = app.world().resource::<Shown>().frame.clone().unwrap();
    assert_eq!(shown.probe.input, input, "the drawing replaced the probe");
    assert_eq!(shown.step, frame.step);

    // The answer is the model's own forward pass (burn, on the same weights).
    let x = Tensor::<burn::backend::Flex, 2>::from_data(
        TensorData::new(input.clone(), [1, 64]),
        &Default::default(),
    );
    let burn: Vec<f32> = trainer.model().predict(x).into_data().to_vec().unwrap();
    let drawn = app.world().resource::<DrawnInput>();
    let prediction = drawn.prediction.clone().unwrap();
    let shown_output = &shown.layers.last().unwrap().activations;
    for ((p, s), b) in prediction.iter().zip(shown_output).zip(&burn) {
        assert!((*p as f32 - b).abs() < 1e-5, "{prediction:?} vs {burn:?}");
        assert!((s - b).abs() < 1e-5);
    }
    assert!((prediction.iter().sum::<f64>() - 1.0).abs() < 1e-6);

    // Clearing the pad gives the probe sample back.
    app.world_mut().resource_mut::<DrawnInput>().set(None);
    app.update();
    app.update();
    let shown = app.world().resource::<Shown>().frame.clone().unwrap();
    assert_eq!(shown.probe.input, frame.probe.input);
}

#[test]
fn the_math_view_recomputes_the_frames_numbers() {
    use crate::app::particles::Direction;
    use crate::app::ui::math::math_ui;
    use bevy_egui::egui;
    use egui_kittest::Harness;
    use egui_kittest::kittest::{NodeT, Queryable};

    let scene = Scene::parse(
        "Scene(seed: 4, data: Xor(samples: 200), model: (hidden: [5], activation: Tanh), train: (optimizer: Sgd, learning_rate: 0.1))",
        std::path::Path::new("xor.ron"),
    )
    .unwrap();
    let mut trainer =
        crate::lab::Trainer::<crate::lab::CpuBackend>::new(&scene, &Default::default()).unwrap();
    for _ in 0..20 {
        trainer.step(false).unwrap();
    }
    let frame = trainer.peek().unwrap().unwrap();
    let topology = trainer.topology();
    // egui puts a label's text in the accessibility label or value.
    fn text_of(n: &egui_kittest::kittest::AccessKitNode<'_>) -> Option<String> {
        n.label().or_else(|| n.value())
    }
    for neuron in [Some(crate::app::network::NeuronId::new(1, 2)), None] {
        let mut h = Harness::builder()
            .with_size(egui::vec2(900.0, 500.0))
            .build_ui(|ui| math_ui(ui, &frame, &topology, neuron, Some(Direction::Backward)));
        h.run();
        // "= z   (the frame says z)": the view's own sum agrees with the trainer.
        let line = h
            .query_all_by(|n| text_of(n).is_some_and(|l| l.contains("the frame says")))
            .next()
            .and_then(|n| text_of(&n.accesskit_node()))
            .expect("the forward line");
        let numbers: Vec<f64> = line
            .split(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == 'e'))
            .filter_map(|t| t.parse().ok())
            .collect();
        assert!(
            numbers.len() >= 2 && (numbers[0] - numbers[1]).abs() < 2e-3,
            "{line}"
        );
        // Backward: the error signal recomputed by the chain rule matches the frame's.
        let delta = h
            .query_all_by(|n| {
                text_of(n).is_some_and(|l| l.contains("∂L/∂z") && l.contains("(frame:"))
            })
            .next()
            .and_then(|n| text_of(&n.accesskit_node()))
            .expect("the backward line");
        let tail: Vec<f64> = delta
            .rsplit('=')
            .next()
            .unwrap()
            .split(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == 'e'))
            .filter_map(|t| t.parse().ok())
            .collect();
        assert!(
            tail.len() >= 2 && (tail[0] - tail[1]).abs() < 2e-3,
            "{delta}"
        );
        assert!(
            h.query_all_by(|n| text_of(n).is_some_and(|l| l.starts_with("update: w ← w − η·∇w")))
                .next()
                .is_some()
        );
    }
}

#[test]
fn a_software_renderer_gets_a_cheaper_interactive_view_but_films_keep_theirs() {
    use crate::app::camera::MainCamera;
    use crate::app::visual::SOFTWARE_SYNAPSE_BUDGET;
    use bevy::core_pipeline::tonemapping::Tonemapping;
    use bevy::post_process::bloom::Bloom;
    use bevy::render::renderer::{RenderAdapterInfo, WgpuWrapper};

    let adapter = |device_type| {
        RenderAdapterInfo(WgpuWrapper::new(wgpu::AdapterInfo {
            name: "test".into(),
            vendor: 0,
            device: 0,
            device_type,
            device_pci_bus_id: String::new(),
            driver: String::new(),
            driver_info: String::new(),
            backend: wgpu::Backend::Vulkan,
            subgroup_min_size: 4,
            subgroup_max_size: 64,
            transient_saves_memory: false,
        }))
    };
    let view = |device_type, interactive: bool| {
        let (mut app, _events) = test_app();
        app.insert_resource(adapter(device_type));
        let camera = app.world_mut().spawn(crate::app::camera::lens()).id();
        if interactive {
            app.world_mut().entity_mut(camera).insert(MainCamera);
        }
        app.update();
        app.update();
        let settings = app.world().resource::<VisualSettings>().clone();
        let camera = app.world().entity(camera);
        (
            settings.synapse_budget,
            settings.msaa,
            camera.contains::<Bloom>(),
            camera.get::<Tonemapping>().copied(),
        )
    };
    let full = VisualSettings::default().synapse_budget;
    assert_eq!(
        view(wgpu::DeviceType::Cpu, true),
        (
            SOFTWARE_SYNAPSE_BUDGET,
            false,
            false,
            Some(Tonemapping::None)
        )
    );
    // A film (no main camera) and a real GPU keep everything.
    let kept = (full, true, true, Some(Tonemapping::TonyMcMapface));
    assert_eq!(view(wgpu::DeviceType::Cpu, false), kept);
    assert_eq!(view(wgpu::DeviceType::DiscreteGpu, true), kept);
}

#[test]
fn layer_stats_arrive_with_frames_and_from_replays_one_entry_per_step() {
    use crate::app::bridge::RunLog;
    use crate::lab::frame::LayerStats;

    let (mut app, events) = test_app();
    let sizes = vec![2, 3, 2];
    start(&events, sizes.clone());
    app.update();
    let with_stats = |step: u64, grad: f32| {
        let mut f = frame(&sizes, step);
        f.stats = vec![
            LayerStats {
                weight_norm: 1.0,
                grad_norm: grad,
                update_norm: f32::NAN,
                activation_mean: 0.0,
                activation_std: 1.0,
                dead_fraction: f32::NAN,
            };
            2
        ];
        f
    };
    for step in 0..4 {
        events
            .send(TrainerEvent::Frame(Box::new(with_stats(step, step as f32))))
            .unwrap();
    }
    // A replay's rows, then the trainer going back to step 2 (a restart
    // keeps its topology): what followed is another history.
    let replayed = with_stats(4, 40.0).stats;
    events.send(TrainerEvent::Layers(4, replayed)).unwrap();
    events
        .send(TrainerEvent::Frame(Box::new(with_stats(2, 20.0))))
        .unwrap();
    app.update();
    let seen: Vec<(u64, f32)> = app
        .world()
        .resource::<RunLog>()
        .layer_stats
        .iter()
        .map(|(s, l)| (*s, l[0].grad_norm))
        .collect();
    assert_eq!(seen, vec![(0, 0.0), (1, 1.0), (2, 20.0)]);
}

/// The neuron maps of a network trained on a 3-class spiral: one map per
/// hidden and output neuron, the output maps' winner agreeing with the
/// network's own predictions on the test points, redrawn for the shown
/// frame, and the panel listing every layer.
#[test]
fn neuron_maps_on_a_three_class_spiral_follow_the_shown_frame() {
    use crate::app::neuron_maps::NeuronMapView;
    use crate::app::ui::maps::{MapTextures, neuron_maps_ui};
    use crate::app::ui::task_view::CLASS_COLOURS;
    use crate::lab::data::Targets;
    use bevy_egui::egui;
    use egui_kittest::Harness;
    use egui_kittest::kittest::Queryable;

    let scene = Scene::parse(
        "Scene(seed: 1, data: Spiral(samples: 600, noise: 0.02, classes: 3), \
         model: (hidden: [16, 16], activation: Relu), \
         train: (optimizer: Adam, learning_rate: 0.02, batch_size: 32))",
        std::path::Path::new("spiral3.ron"),
    )
    .unwrap();
    let mut trainer =
        crate::lab::Trainer::<crate::lab::CpuBackend>::new(&scene, &Default::default()).unwrap();
    let early = trainer.peek().unwrap().unwrap();
    for _ in 0..1500 {
        trainer.step(false).unwrap();
    }
    let late = trainer.peek().unwrap().unwrap();
    let topology = trainer.topology();
    let data = trainer.data().clone();
    assert_eq!(topology.network.sizes, [2, 16, 16, 3]);

    let (mut app, events) = test_app();
    app.world_mut().resource_mut::<NeuronMapView>().every_frame = true;
    events
        .send(TrainerEvent::Started(Box::new(RunInfo {
            topology: topology.clone(),
            scene,
            data: Some(data.clone()),
            run_dir: None,
            driver: Default::default(),
        })))
        .unwrap();
    // How often the output maps' winner, at the pixel under each test point,
    // is that point's class; and how often the network itself is right.
    let agreement = |app: &App| {
        let view = app.world().resource::<NeuronMapView>();
        let maps = view.maps.as_ref().expect("a plane has maps");
        let ((x0, x1), (y0, y1)) = maps.span;
        let side = maps.side;
        let Targets::Labels(labels) = &data.test.targets else {
            unreachable!()
        };
        let mut right = 0;
        for (i, &label) in labels.iter().enumerate() {
            let [x, y] = [data.test.x[2 * i], data.test.x[2 * i + 1]];
            let col = (((x - x0) / (x1 - x0)) * side as f32).clamp(0.0, side as f32 - 1.0) as usize;
            let row = (((y1 - y) / (y1 - y0)) * side as f32).clamp(0.0, side as f32 - 1.0) as usize;
            let k = row * side + col;
            let winner = (0..3)
                .max_by(|&a, &b| maps.map(3, a).unwrap()[k].total_cmp(&maps.map(3, b).unwrap()[k]))
                .unwrap();
            right += usize::from(winner as u32 == label);
        }
        right as f32 / labels.len() as f32
    };

    events.send(TrainerEvent::Frame(Box::new(early))).unwrap();
    app.update();
    app.update();
    let first_serial = {
        let view = app.world().resource::<NeuronMapView>();
        let maps = view.maps.as_ref().expect("maps of the first frame");
        let widths: Vec<usize> = maps.layers.iter().map(Vec::len).collect();
        assert_eq!(widths, [16, 16, 3], "a map per hidden and output neuron");
        for k in 0..maps.side * maps.side {
            let total: f32 = (0..3).map(|c| maps.map(3, c).unwrap()[k]).sum();
            assert!((total - 1.0).abs() < 1e-4, "softmax maps sum to one");
        }
        assert_eq!(
            view.colours_of(1, 15).unwrap().len(),
            4 * maps.side * maps.side
        );
        view.serial
    };
    let untrained = agreement(&app);

    events.send(TrainerEvent::Frame(Box::new(late))).unwrap();
    app.update();
    app.update();
    let view = app.world().resource::<NeuronMapView>();
    assert!(view.serial > first_serial, "a new frame redraws the maps");
    let trained = agreement(&app);
    let accuracy = trainer.evaluate().unwrap().test_accuracy.unwrap();
    assert!(accuracy > 0.7, "the spiral was learnt: {accuracy}");
    assert!(
        trained > accuracy - 0.1 && trained > untrained + 0.2,
        "the output maps show the learnt boundary: {trained} (untrained {untrained}, network {accuracy})"
    );
    // Where a class wins surely, its map is drawn in that class's colour.
    let maps = view.maps.as_ref().unwrap();
    for (c, want) in CLASS_COLOURS.iter().take(3).enumerate() {
        let map = maps.map(3, c).unwrap();
        let k = (0..map.len())
            .max_by(|&a, &b| map[a].total_cmp(&map[b]))
            .unwrap();
        assert!(map[k] > 0.9, "class {c} wins somewhere");
        let px = &view.colours_of(3, c).unwrap()[4 * k..4 * k + 3];
        let far = px
            .iter()
            .zip(want)
            .map(|(a, b)| a.abs_diff(*b) as u32)
            .sum::<u32>();
        let grey = px.iter().map(|&a| a.abs_diff(230) as u32).sum::<u32>();
        assert!(
            far < grey,
            "class {c}'s map at its surest pixel {px:?} is near {want:?}"
        );
    }

    // The panel: a row per layer, clicking a map selects its neuron.
    struct Panel {
        textures: MapTextures,
        picked: Option<crate::app::network::NeuronId>,
    }
    let mut h = Harness::builder()
        .with_size(egui::vec2(420.0, 500.0))
        .build_ui_state(
            |ui, s: &mut Panel| {
                if let Some(p) = neuron_maps_ui(ui, &mut s.textures, view, &topology, None, 40.0) {
                    s.picked = Some(p);
                }
            },
            Panel {
                textures: MapTextures::default(),
                picked: None,
            },
        );
    h.run();
    for text in [
        "hidden layer 1: 16 neurons",
        "hidden layer 2: 16 neurons",
        "output: 3 neurons",
    ] {
        h.get_by_label(text);
    }
    // The first map of the first row sits just under its caption.
    let caption = h.get_by_label("hidden layer 1: 16 neurons").rect();
    let at = egui::pos2(caption.left() + 20.0, caption.bottom() + 22.0);
    h.hover_at(at);
    h.run();
    h.drag_at(at);
    h.run();
    h.drop_at(at);
    h.run();
    assert_eq!(
        h.state().picked,
        Some(crate::app::network::NeuronId::new(1, 0))
    );
}

/// Histograms over time: the distributions of every frame that arrives are
/// kept per step, and the heatmap's column at a step puts the mass where
/// that step's weights are.
#[test]
fn histograms_keep_each_steps_distributions_and_the_heatmap_follows_them() {
    use crate::app::histograms::{DistributionHistory, heatmap};
    use crate::app::ui::histograms::{HistogramView, histograms_ui};
    use crate::app::ui::plots::PlotSettings;
    use crate::lab::analysis::Quantity;
    use bevy_egui::egui;
    use egui_kittest::Harness;
    use egui_kittest::kittest::{NodeT, Queryable};

    let (mut app, events) = test_app();
    start(&events, vec![2, 3, 2]);
    app.update();
    // The weights grow with the step: layer 1's are (step + 1)·(1 + i + j/10).
    for step in 0..6u64 {
        let mut f = frame(&[2, 3, 2], step);
        f.layers[0]
            .weights
            .iter_mut()
            .for_each(|w| *w *= (step + 1) as f32);
        events.send(TrainerEvent::Frame(Box::new(f))).unwrap();
        app.update();
    }
    let history = app.world().resource::<DistributionHistory>();
    let steps: Vec<u64> = history.steps.iter().map(|(s, _)| *s).collect();
    assert_eq!(steps, [0, 1, 2, 3, 4, 5]);
    assert_eq!(history.layers(), 2);
    let q = history.steps[5].1[0].weights.as_ref().unwrap();
    let (lo, hi) = q.range();
    assert!(
        (lo - 6.0).abs() < 1e-5 && (hi - 13.2).abs() < 1e-5,
        "{lo} {hi}"
    );

    let map = heatmap(history, 0, Quantity::Weights, (6, 40), false).unwrap();
    assert_eq!(map.steps, [0, 1, 2, 3, 4, 5]);
    assert!(map.range.0 < 1.0 && map.range.1 > 13.2);
    let row_of = |v: f32| ((v - map.range.0) / (map.range.1 - map.range.0) * 40.0) as usize;
    let column = |c: usize| &map.cells[c * 40..(c + 1) * 40];
    // Step 0's weights are 1.0..2.2, step 5's 6.0..13.2: no mass elsewhere.
    for (c, (lo, hi)) in [(0, (1.0, 2.2)), (5, (6.0, 13.2))] {
        let (a, b) = (row_of(lo), row_of(hi));
        let inside: f32 = column(c)[a..=b.min(39)].iter().sum();
        let all: f32 = column(c).iter().sum();
        assert!(
            inside > 0.0 && (all - inside).abs() < 1e-4,
            "column {c}: {:?}",
            column(c)
        );
    }

    // The panel: one heatmap per layer, captioned with its range and steps.
    let history = app.world().resource::<DistributionHistory>();
    let mut h = Harness::builder()
        .with_size(egui::vec2(420.0, 500.0))
        .build_ui_state(
            |ui, view: &mut HistogramView| {
                histograms_ui(ui, view, history, Some(3), &PlotSettings::default(), 80.0);
            },
            HistogramView::default(),
        );
    h.run();
    let node = h
        .query_by_label_contains("layer 1: weights from")
        .expect("a caption for layer 1");
    let caption = node
        .accesskit_node()
        .label()
        .or_else(|| node.accesskit_node().value())
        .unwrap_or_default();
    assert!(caption.ends_with("steps 0 to 5"), "{caption}");
    h.query_by_label_contains("layer 2: weights from")
        .expect("a caption for layer 2");
    assert_eq!(h.state().heatmaps().flatten().count(), 2);
}

#[test]
fn a_trainer_without_a_thread_gets_a_share_of_slow_frames_within_bounds() {
    use crate::app::bridge::cooperative_budget;
    let ms = Duration::from_millis;
    // Fast frames: the least slice, so drawing stays smooth.
    assert_eq!(cooperative_budget(ms(4)), ms(8));
    assert_eq!(cooperative_budget(ms(16)), ms(8));
    // Slow frames (software WebGL): a share of them, so training keeps pace.
    assert_eq!(cooperative_budget(ms(50)), ms(20));
    assert_eq!(cooperative_budget(ms(100)), ms(40));
    // Very slow ones, or the first frame after loading: never over 40 ms.
    assert_eq!(cooperative_budget(ms(250)), ms(40));
    assert_eq!(cooperative_budget(Duration::from_secs(3)), ms(40));
}

#[test]
fn the_shown_network_exports_as_a_checkpoint_that_reads_back_bit_for_bit() {
    use crate::app::bridge::{Run, RunLog};
    use crate::app::exports::export_contents;
    use crate::app::messages::ExportRequest;
    use crate::lab::stream::NetworkMessage;

    let sizes = vec![3, 4, 2];
    let run = Run {
        topology: Some(topology(sizes.clone())),
        ..Default::default()
    };
    let shown = frame(&sizes, 17);
    let (name, bytes) = export_contents(
        ExportRequest::Weights,
        &run,
        &RunLog::default(),
        Some(&shown),
    )
    .unwrap();
    assert_eq!(name, "step_000017.safetensors");
    let back = NetworkMessage::decode(&bytes, &name, None).unwrap();
    assert_eq!(back.step, 17);
    assert_eq!(back.sizes(), sizes);
    for (l, (got, sent)) in back.layers.iter().zip(&shown.layers).enumerate() {
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&got.weights), bits(&sent.weights), "layer {l}");
        assert_eq!(bits(&got.biases), bits(&sent.biases), "layer {l}");
    }
    // The non-linearities ride along, so that `nnm import` needs no flag.
    assert_eq!(back.activations, Some(vec![Activation::Tanh]));
    assert_eq!(back.output, Some(OutputKind::Softmax));

    // Nothing shown yet, or a factor the format cannot carry: clear errors.
    let none = export_contents(ExportRequest::Weights, &run, &RunLog::default(), None);
    assert!(
        none.unwrap_err()
            .to_string()
            .contains("no frame is shown yet")
    );
    let mut scaled = shown.clone();
    scaled.layers[1].scale = 0.5;
    let err = export_contents(
        ExportRequest::Weights,
        &run,
        &RunLog::default(),
        Some(&scaled),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("layer 1") && err.contains("0.5"), "{err}");
}
