//! The browser driven headless with egui_kittest on a 1,000-model sweep:
//! clicks, typing and drags, as a user would, change what every view shows.

use bevy_egui::egui;
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT, Queryable};

use super::{Browser, CompareTab, compare_ui};
use crate::app::messages::CompareRequest;
use crate::lab::compare::tests::{lr_seed_sweep, sweep_dir, temp};
use crate::lab::compare::{Landscape, Table, group_curves};

/// The sweep's table, trained once for all the tests.
fn table() -> Table {
    static TABLE: std::sync::OnceLock<Table> = std::sync::OnceLock::new();
    TABLE
        .get_or_init(|| {
            let root = temp("browser");
            Table::load(&[sweep_dir(&root, "s", &lr_seed_sweep(200))]).unwrap()
        })
        .clone()
}

fn harness() -> Harness<'static, Browser> {
    let table = table();
    assert_eq!(table.len(), 1000);
    Harness::builder()
        .with_size(egui::vec2(2000.0, 1000.0))
        .build_ui_state(|ui, b: &mut Browser| compare_ui(ui, b), Browser::new(table))
}

/// Presses the left button at `from`, moves to `to` and releases it there.
fn drag(h: &mut Harness<'static, Browser>, from: egui::Pos2, to: egui::Pos2) {
    let button = |pos, pressed| egui::Event::PointerButton {
        pos,
        button: egui::PointerButton::Primary,
        pressed,
        modifiers: egui::Modifiers::NONE,
    };
    h.event(egui::Event::PointerMoved(from));
    h.run();
    h.event(button(from, true));
    h.run();
    for k in 1..=4 {
        h.event(egui::Event::PointerMoved(
            from + (to - from) * (k as f32 / 4.0),
        ));
        h.run();
    }
    h.event(button(to, false));
    h.run();
}

/// A left click at `at`: the button goes down and up within one frame.
fn click(h: &mut Harness<'static, Browser>, at: egui::Pos2) {
    h.event(egui::Event::PointerMoved(at));
    h.run();
    for pressed in [true, false] {
        h.event(egui::Event::PointerButton {
            pos: at,
            button: egui::PointerButton::Primary,
            pressed,
            modifiers: egui::Modifiers::NONE,
        });
    }
    h.run();
}

/// Focuses the filter box of `column` and types `text` into it.
fn type_filter(h: &mut Harness<'static, Browser>, column: &str, text: &str) {
    let hint = format!("filter {column}");
    h.get_by(|n| n.placeholder() == Some(hint.as_str())).focus();
    h.run();
    h.get_by(|n| n.is_focused()).type_text(text);
    h.run();
}

#[test]
fn sorting_and_filtering_the_table_gives_the_right_rows() {
    let mut h = harness();
    h.run();
    let loss = h.state().runs.table.column("test_loss").unwrap();
    h.get_by_label("test_loss").click();
    h.run();
    let b = h.state();
    let values = b.runs.table.columns[loss].values.clone();
    assert_eq!(b.runs.rows.len(), 1000);
    let finite: Vec<f32> = b.runs.rows.iter().map(|&r| values[r as usize]).collect();
    let first_nan = finite
        .iter()
        .position(|v| v.is_nan())
        .unwrap_or(finite.len());
    assert_eq!(
        b.runs.query.sort.map(|s| (s.column, s.descending)),
        Some((loss, false))
    );
    assert!(
        finite[..first_nan].windows(2).all(|w| w[0] <= w[1]),
        "ascending: {:?}",
        &finite[..20]
    );
    assert!(
        finite[first_nan..].iter().all(|v| v.is_nan()),
        "rows without a value last"
    );
    // The table's first row is the best model.
    let best = b.runs.table.row_name(b.runs.rows[0] as usize);
    h.get_by_label(&best);
    // A second click sorts descending.
    h.get_by_label("test_loss ⏶").click();
    h.run();
    let b = h.state();
    assert!(values[b.runs.rows[0] as usize] >= values[b.runs.rows[1] as usize]);

    type_filter(&mut h, "train.learning_rate", "0.1..10");
    type_filter(&mut h, "status", "ok");
    let b = h.state();
    let lr = b.runs.table.column("train.learning_rate").unwrap();
    let status = b.runs.table.column("status").unwrap();
    let want = (0..1000)
        .filter(|&r| {
            let v = b.runs.table.columns[lr].values[r];
            (0.1..=10.0).contains(&v) && b.runs.table.columns[status].text(r) == "ok"
        })
        .count();
    assert!(want > 0 && want < 1000);
    assert_eq!(b.runs.rows.len(), want);
    assert!(
        b.runs
            .rows
            .iter()
            .all(|&r| (0.1..=10.0).contains(&b.runs.table.columns[lr].values[r as usize]))
    );
}

#[test]
fn brushing_an_axis_of_parallel_coordinates_filters_the_table() {
    let mut h = harness();
    h.run();
    h.get_by_label("Parallel coordinates").click();
    h.run();
    h.run();
    let b = h.state();
    assert_eq!(b.view.tab, CompareTab::Parallel);
    let seed = b.runs.table.column("seed").unwrap();
    let (_, rect) = *b
        .drawn
        .axis_rects
        .iter()
        .find(|(c, _)| *c == seed)
        .expect("a seed axis");
    // Seeds 1..5 run bottom to top: brush from just below 2 to just above 3.
    let y = |t: f32| rect.bottom() - t * rect.height();
    drag(
        &mut h,
        egui::pos2(rect.center().x, y(0.2)),
        egui::pos2(rect.center().x, y(0.55)),
    );
    let b = h.state();
    let (lo, hi) = b
        .runs
        .query
        .range(seed)
        .expect("the brush is a range filter");
    assert!(
        (1.5..2.0).contains(&lo) && (3.0..3.5).contains(&hi),
        "{lo}..{hi}"
    );
    assert_eq!(b.runs.rows.len(), 400, "seeds 2 and 3 of 200 rates");
    assert!(b.runs.rows.iter().all(|&r| {
        let s = b.runs.table.columns[seed].values[r as usize];
        s == 2.0 || s == 3.0
    }));
    // The table shows the brush as its filter text.
    assert!(!b.runs.filter_text[seed].is_empty());
}

#[test]
fn huge_values_are_labelled_compactly_in_the_table_and_on_parallel_axes() {
    let mut table = table();
    let loss = table.column("train_loss").unwrap();
    // A run that blew up without turning NaN: Rust prints 3.4e38 as 39 digits.
    table.columns[loss].values[0] = 3.4e38;
    let mut h = Harness::builder()
        .with_size(egui::vec2(2000.0, 1000.0))
        .build_ui_state(|ui, b: &mut Browser| compare_ui(ui, b), Browser::new(table));
    h.run();
    h.get_by_label("train_loss").click();
    h.run();
    h.get_by_label("train_loss ⏶").click();
    h.run();
    assert_eq!(
        h.state().runs.rows[0],
        0,
        "sorted descending, the huge loss on top"
    );
    h.get_by_label("3.4e38");
    h.get_by_label("Parallel coordinates").click();
    h.run();
    h.run();
    let b = h.state();
    assert!(b.drawn.axis_rects.iter().any(|(c, _)| *c == loss));
    for &(c, _) in &b.drawn.axis_rects {
        for t in [0.0, 1.0] {
            let label = super::views::parallel_tick_label(
                &b.runs.table.columns[c].kind,
                b.axis_value(c, t),
            );
            assert!(
                label.chars().count() <= 8,
                "{}: {label}",
                b.runs.table.columns[c].name
            );
        }
    }
    let top = super::views::parallel_tick_label(
        &b.runs.table.columns[loss].kind,
        b.axis_value(loss, 1.0),
    );
    assert_eq!(top, "3.4e38");
}

#[test]
fn grouping_by_learning_rate_over_five_seeds_gives_their_means() {
    let mut h = harness();
    h.run();
    h.get_by_label("Curves").click();
    h.run();
    h.get_by_label("group by").click();
    h.run();
    // The option in the open list (the table's header button has the name too).
    let option = h
        .get_all_by_label("train.learning_rate")
        .last()
        .expect("the combo box lists the column")
        .accesskit_node()
        .id();
    h.get_by(|n| n.id() == option).click();
    h.run();
    h.run();
    let b = h.state();
    let lr = b.runs.table.column("train.learning_rate").unwrap();
    assert_eq!(b.view.curves.group_by, Some(lr));
    assert_eq!(b.runs.bands.len(), 200);
    let all: Vec<u32> = (0..1000).collect();
    let set = b.runs.table.curve_set("train_loss").unwrap();
    assert_eq!(
        b.runs.bands,
        group_curves(&b.runs.table, set, &all, Some(lr))
    );
    for band in &b.runs.bands {
        assert_eq!(band.runs, 5);
        let members: Vec<usize> = (0..1000)
            .filter(|&r| b.runs.table.columns[lr].values[r] == band.value)
            .collect();
        let first: Vec<f64> = members
            .iter()
            .map(|&r| f64::from(set.rows[r].values[0]))
            .collect();
        let mean = first.iter().sum::<f64>() / 5.0;
        assert!((f64::from(band.mean[0]) - mean).abs() < 1e-5 * mean.abs().max(1.0));
    }
    // The legend names each group with its size.
    let name = format!("{} (n=5)", b.runs.bands[0].key);
    assert!(h.query_by_label(&name).is_some(), "{name}");
}

#[test]
fn a_thousand_overlaid_curves_are_drawn_as_one_image_and_a_few_as_lines() {
    let mut h = harness();
    h.run();
    h.get_by_label("Curves").click();
    h.run();
    h.run();
    let b = h.state();
    let cache = b
        .drawn
        .curve_cache
        .as_ref()
        .expect("the curves are decimated");
    assert_eq!(cache.curves.len(), 1000);
    let (key, _) = b
        .drawn
        .curves_texture
        .as_ref()
        .expect("drawn into one image");
    assert_eq!(key.curves, cache.key);
    // The image covers the data in view, at the plot's size in pixels.
    let area = |i: usize| f64::from_bits(key.area[i]);
    let bounds = &cache.bounds;
    assert!(area(0) >= bounds.min()[0] && area(2) <= bounds.max()[0]);
    assert!(area(1) >= bounds.min()[1] && area(3) <= bounds.max()[1]);
    assert!(key.size[0] > 300 && key.size[1] > 300, "{:?}", key.size);
    // No legend for a thousand runs (a run's name is only its table row's);
    // a few runs are lines, and the legend names them too.
    let named = |h: &Harness<'static, Browser>, name: &str| h.query_all_by_label(name).count();
    let first = b.runs.table.row_name(b.runs.rows[0] as usize);
    assert_eq!(named(&h, &first), 1, "{first}");
    type_filter(&mut h, "train.learning_rate", "<0.011");
    h.run();
    h.run();
    let b = h.state();
    assert_eq!(b.runs.rows.len(), 10, "two learning rates × five seeds");
    let first = b.runs.table.row_name(b.runs.rows[0] as usize);
    assert_eq!(named(&h, &first), 2, "the legend names {first}");
}

#[test]
fn curves_are_drawn_into_the_image_where_their_points_fall() {
    use egui_plot::{PlotBounds, PlotPoint};
    // A rising diagonal over an area of 0..10 × 0..10 drawn at 11 × 11 pixels.
    let curve = vec![(
        0u32,
        vec![PlotPoint::new(0.0, 0.0), PlotPoint::new(10.0, 10.0)],
    )];
    let area = PlotBounds::from_min_max([0.0, 0.0], [10.0, 10.0]);
    let image = super::views::curves_image(&curve, &area, [11, 11], |_| egui::Color32::WHITE);
    let alpha = |x: usize, y: usize| image.pixels[y * 11 + x].a();
    // y goes up in the plot and down in the image: the line runs from the
    // bottom left to the top right.
    assert!(alpha(0, 10) > 100 && alpha(5, 5) > 100 && alpha(10, 0) > 100);
    assert_eq!(alpha(0, 0), 0);
    assert_eq!(alpha(10, 10), 0);
}

#[test]
fn clicking_a_landscape_cell_selects_its_model_in_the_table() {
    let mut h = harness();
    h.run();
    assert_eq!(h.state().view.tab, CompareTab::Landscape);
    h.run();
    let b = h.state();
    let rect = b.drawn.landscape_rect.expect("the landscape is drawn");
    let land: Landscape = b.runs.landscape.clone().unwrap();
    let (nx, ny) = land.size();
    assert_eq!((nx, ny), (200, 5));
    let (i, j) = (123, 3);
    let at = egui::pos2(
        rect.left() + (i as f32 + 0.5) * rect.width() / nx as f32,
        rect.bottom() - (j as f32 + 0.5) * rect.height() / ny as f32,
    );
    click(&mut h, at);
    let b = h.state();
    let row = land.row_at(i, j).unwrap();
    assert_eq!(b.runs.selected, Some(row));
    let lr = b.runs.table.column("train.learning_rate").unwrap();
    assert_eq!(
        b.runs.table.columns[lr].values[row as usize],
        land.x.values[i]
    );
    // The table scrolled to nothing: find the row by filtering to it, selected.
    let name = b.runs.table.row_name(row as usize);
    let model = b.runs.table.ids[row as usize].model.to_string();
    type_filter(&mut h, "model", &model);
    let row_button = h
        .get_all_by_label(&name)
        .find(|n| n.accesskit_node().toggled() == Some(egui::accesskit::Toggled::True));
    assert!(row_button.is_some(), "{name} is selected in the table");
}

#[test]
fn opening_a_model_trains_it_in_the_microscope_with_the_metrics_of_models_csv() {
    use bevy::prelude::*;

    use crate::app::bridge::{RunLog, TrainingState};
    use crate::lab::runner::RunnerOptions;
    use crate::lab::sweep::{ModelSource, SweepDir};
    use crate::lab::{CpuBackend, TrainerHandle};

    let root = temp("open");
    let dir = sweep_dir(&root, "s", &lr_seed_sweep(4));
    let table = Table::load(std::slice::from_ref(&dir)).unwrap();
    let col = |name: &str| table.column(name).unwrap();
    let (train_loss, test_loss, diverged_at) =
        (col("train_loss"), col("test_loss"), col("diverged_at"));
    let converged = (0..table.len())
        .find(|&r| table.columns[diverged_at].values[r].is_nan())
        .expect("a converged model");
    let diverged = (0..table.len())
        .find(|&r| !table.columns[diverged_at].values[r].is_nan())
        .expect("a diverged model");
    let mut h = Harness::builder()
        .with_size(egui::vec2(2000.0, 1000.0))
        .build_ui_state(
            |ui, b: &mut Browser| compare_ui(ui, b),
            Browser::new(table.clone()),
        );
    h.run();
    for row in [converged, diverged] {
        let name = table.row_name(row);
        h.get_by_label(&name).click();
        h.run();
        assert_eq!(h.state().runs.selected, Some(row as u32));
        h.get_by_label("open in microscope").click();
        h.run();
        let b = h.state_mut();
        assert_eq!(
            std::mem::take(&mut b.requests),
            vec![CompareRequest::Open(row as u32)]
        );
        let model = table.ids[row].model;
        let args: Vec<String> = b
            .open_args(row as u32)
            .unwrap()
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            args,
            [
                "sweep".to_string(),
                "open".into(),
                dir.display().to_string(),
                "--model".into(),
                model.to_string()
            ]
        );

        // What `nnm sweep open DIR --model K` then does: the sweep kept no
        // frames, so the model's scene trains live in the microscope.
        let (sweep_dir, sweep, _) = SweepDir::open(&dir).unwrap();
        let ModelSource::Scene(scene) = sweep_dir.model_source(&sweep, model).unwrap() else {
            panic!("the sweep kept no recordings");
        };
        let handle = TrainerHandle::spawn::<CpuBackend>(
            *scene,
            Default::default(),
            RunnerOptions {
                runs_root: None,
                ..Default::default()
            },
        )
        .unwrap();
        let mut app = crate::app::data_app(handle);
        crate::app::tests::update_until(&mut app, &format!("model {model} to end"), |app| {
            matches!(
                *app.world().resource::<TrainingState>(),
                TrainingState::Finished | TrainingState::Diverged { .. }
            )
        });
        let state = *app.world().resource::<TrainingState>();
        let log = app.world().resource::<RunLog>();
        let expected = |c: usize| table.columns[c].values[row];
        let close = |a: f32, b: f32| (a - b).abs() <= 1e-3 * a.abs().max(b.abs()).max(1e-3);
        match state {
            TrainingState::Diverged { step, .. } => {
                assert_eq!(row, diverged, "model {model} diverged in the microscope");
                // Near f32's limit (a loss of 1.6e38 here), whether the mean
                // of the samples' losses overflows depends on the order of
                // the sum: burn's and the kernel's may part by one step.
                let at = expected(diverged_at);
                assert!(
                    (step as f32 - at).abs() <= 1.0,
                    "model {model}: diverged at step {step} in the microscope, {at} in models.csv"
                );
            }
            _ => {
                assert_eq!(row, converged, "model {model} finished in the microscope");
                let last = log.evaluations.last().expect("a final evaluation");
                assert_eq!(last.step, sweep.base().train.steps);
                for (c, got) in [(train_loss, last.train_loss), (test_loss, last.test_loss)] {
                    let got = got.expect("a loss");
                    assert!(
                        close(got, expected(c)),
                        "model {model} {}: microscope {got}, models.csv {}",
                        table.columns[c].name,
                        expected(c)
                    );
                }
            }
        }
    }
}

/// The quick trainability fractal at `n` × `n`, `steps` steps a model.
fn fractal_sweep(n: usize, steps: u64) -> String {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scenes/sweeps/trainability-fractal-quick.ron"
    );
    std::fs::read_to_string(path)
        .unwrap()
        .replace("steps: 500", &format!("steps: {steps}"))
        .replace(
            "Log(10.0, 100000.0, 64)",
            &format!("Log(10.0, 100000.0, {n})"),
        )
        .replace("Log(40.0, 400.0, 64)", &format!("Log(40.0, 400.0, {n})"))
}

#[test]
fn dragging_a_rectangle_on_the_landscape_zooms_into_a_refined_sub_sweep_and_back_out() {
    use super::zooming;
    use crate::lab::sweep::{ZoomEvent, Zoomer};

    let root = temp("zoom");
    let dir = sweep_dir(&root, "f", &fractal_sweep(6, 30));
    let table = Table::load(std::slice::from_ref(&dir)).unwrap();
    assert_eq!(table.len(), 36);
    let mut h = Harness::builder()
        .with_size(egui::vec2(2000.0, 1000.0))
        .build_ui_state(|ui, b: &mut Browser| compare_ui(ui, b), Browser::new(table));
    h.state_mut().zooms.levels = vec![4, 8];
    h.run();
    assert_eq!(h.state().view.tab, CompareTab::Landscape);
    let rect = h
        .state()
        .drawn
        .landscape_rect
        .expect("the landscape is drawn");
    let land = h.state().runs.landscape.clone().unwrap();
    // From a quarter in at the bottom left to a quarter in at the top right.
    let at = |u: f32, v: f32| {
        egui::pos2(
            rect.left() + u * rect.width(),
            rect.bottom() - v * rect.height(),
        )
    };
    drag(&mut h, at(0.25, 0.25), at(0.75, 0.75));
    let window = match std::mem::take(&mut h.state_mut().requests).as_slice() {
        [CompareRequest::Zoom(window)] => *window,
        other => panic!("the drag asks for one zoom, not {other:?}"),
    };
    assert_eq!(h.state().runs.selected, None, "a drag is not a click");
    // Image fraction u is axis fraction (6u − 0.5)/5: cell centres sit half a cell in.
    let expect = |axis: &crate::lab::compare::GridAxis, u: f32| {
        axis.at_fraction((6.0 * u - 0.5) / 5.0) as f64
    };
    let close = |a: f64, b: f64| (a / b - 1.0).abs() < 0.01;
    assert!(close(window.x.0, expect(&land.x, 0.25)), "{window:?}");
    assert!(close(window.x.1, expect(&land.x, 0.75)), "{window:?}");
    assert!(close(window.y.0, expect(&land.y, 0.25)), "{window:?}");
    assert!(close(window.y.1, expect(&land.y, 0.75)), "{window:?}");

    // What the browser's zoom system does with it, on the zoom thread.
    let zoomer = Zoomer::spawn(2);
    zooming::start(h.state_mut(), &zoomer, window);
    assert_eq!(h.state().zooms.back.len(), 1);
    assert!(
        h.state().zooms.underlay.is_some(),
        "the sweep zoomed from shows under the zoom"
    );
    let mut sizes = Vec::new();
    loop {
        let event = zoomer
            .wait(std::time::Duration::from_secs(120))
            .expect("the zoom sends progress");
        let finished = matches!(event, ZoomEvent::Finished { .. });
        if let ZoomEvent::Failed { message, .. } = &event {
            panic!("{message}");
        }
        zooming::apply(h.state_mut(), event);
        // A spinner turns while the zoom trains: one frame at a time.
        h.step();
        let b = h.state();
        if let Some(land) = &b.runs.landscape {
            sizes.push(land.size().0);
            // Drawn: trained cells are opaque, the rest shows the coarser level.
            assert!(b.drawn.landscape.is_some());
        }
        if finished {
            break;
        }
    }
    assert_eq!(sizes.first(), Some(&4), "coarse first");
    assert_eq!(sizes.last(), Some(&8), "then fine");
    let b = h.state();
    let zoom = b.zooms.zoom.as_ref().unwrap();
    assert!(zoom.finished && zoom.done == 64 && zoom.total == 64);
    assert_eq!(b.runs.table.len(), 64);
    let land = b.runs.landscape.as_ref().unwrap();
    assert_eq!(land.size(), (8, 8));
    assert!(land.cells.iter().all(Option::is_some), "every cell trained");
    let lr = |v: f32, w: f64| (v as f64 / w - 1.0).abs() < 1e-5;
    assert!(lr(land.x.values[0], window.x.0) && lr(land.x.values[7], window.x.1));
    assert!(lr(land.y.values[0], window.y.0) && lr(land.y.values[7], window.y.1));
    // The sub-sweep is a sweep directory: it opens again like any other.
    let level = zoom.dir.clone().unwrap();
    assert_eq!(Table::load(std::slice::from_ref(&level)).unwrap().len(), 64);
    assert!(
        level.starts_with(&root),
        "{} beside the sweep",
        level.display()
    );

    h.get_by_label("⏴ back out").click();
    h.run();
    assert_eq!(
        std::mem::take(&mut h.state_mut().requests),
        vec![CompareRequest::BackOut]
    );
    zooming::back_out(h.state_mut(), &zoomer);
    h.run();
    let b = h.state();
    assert_eq!(b.runs.table.len(), 36, "back to the sweep zoomed from");
    assert_eq!(b.runs.landscape.as_ref().unwrap().size(), (6, 6));
    assert!(b.zooms.back.is_empty() && b.zooms.zoom.is_none());
    drop(zoomer);
}
