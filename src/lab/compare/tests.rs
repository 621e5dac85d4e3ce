use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;

use super::*;
use crate::lab::Device;
use crate::lab::runner::Session;
use crate::lab::scene::Presets;
use crate::lab::sweep::{Plan, Sweep, SweepDir};
use crate::lab::{CpuBackend, Scene};

/// A fresh temporary folder.
pub(crate) fn temp(name: &str) -> crate::scratch::Scratch {
    crate::scratch::Scratch::new(&format!("compare-{name}"))
}

/// Trains sweep `text` into `root/<name>` and returns that directory.
pub(crate) fn sweep_dir(root: &Path, name: &str, text: &str) -> PathBuf {
    let sweep = Sweep::parse(text, Path::new("s.ron"), &Presets::built_in()).unwrap();
    let plan = Plan::new(&sweep).unwrap();
    let path = root.join(name);
    let dir = SweepDir::create(Some(&path), root, &sweep, None).unwrap();
    let done = AtomicU64::new(0);
    for c in 0..plan.chunks.len() {
        let rows = plan.train_chunk(&sweep, c, Device::Cpu, 1, &done).unwrap();
        dir.write_chunk(c, &rows).unwrap();
    }
    dir.finish(&sweep, &plan).unwrap();
    path
}

/// `rates` learning rates over decades (0.01 to 1000) × five seeds; the
/// largest rates diverge.
pub(crate) fn lr_seed_sweep(rates: usize) -> String {
    format!(
        r#"Sweep(
    name: "lr-seeds",
    base: Inline(
        data: Function1d(function: Sin(frequency: 1.0, amplitude: 1.0), samples: 32),
        model: (hidden: [6], activation: Tanh),
        train: (optimizer: Gd, learning_rate: 0.1, steps: 30, eval_every: 5),
    ),
    axes: [
        (field: "train.learning_rate", values: Log(0.01, 1000.0, {rates})),
        (field: "seed", values: Range(1, 5)),
    ],
)"#
    )
}

#[test]
fn a_sweep_loads_as_rows_with_its_values_metrics_and_curves() {
    let root = temp("load");
    let path = sweep_dir(&root, "s", &lr_seed_sweep(10));
    let table = Table::load(std::slice::from_ref(&path)).unwrap();
    assert_eq!(table.len(), 50);
    let lr = table.column("train.learning_rate").unwrap();
    let seed = table.column("seed").unwrap();
    assert_eq!(
        table.columns[lr].kind,
        ColumnKind::Number { log: true },
        "a Log axis is drawn on a log scale"
    );
    let sweep = SweepDir::open(&path).unwrap().1;
    for r in 0..table.len() {
        let values = sweep.values(table.ids[r].model);
        assert_eq!(
            table.columns[lr].values[r],
            values[0].as_f64().unwrap() as f32
        );
        assert_eq!(
            table.columns[seed].values[r],
            values[1].as_f64().unwrap() as f32
        );
    }
    let status = table.column("status").unwrap();
    let diverged = (0..50)
        .filter(|&r| table.columns[status].text(r) == "diverged")
        .count();
    assert!(diverged > 0 && diverged < 50, "{diverged} diverged");
    let curves = table.curve_set("train_loss").unwrap();
    assert!(curves.rows.iter().all(|c| !c.values.is_empty()));
    // Curves share their steps: 0, 5, ..., 30.
    assert_eq!(&curves.rows[0].steps[..], &[0, 5, 10, 15, 20, 25, 30]);
    // models.csv holds the same final losses.
    let csv = std::fs::read_to_string(path.join("models.csv")).unwrap();
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let at = header.iter().position(|h| *h == "train_loss").unwrap();
    let loss = table.column("train_loss").unwrap();
    for (r, line) in csv.lines().skip(1).enumerate() {
        let cell = line.split(',').nth(at).unwrap();
        let want: f32 = cell.parse().unwrap_or(f32::NAN);
        let got = table.columns[loss].values[r];
        assert!(want == got || (want.is_nan() && got.is_nan()), "row {r}");
    }
}

#[test]
fn queries_filter_and_sort_rows_as_a_brute_force_does() {
    let root = temp("query");
    let table = Table::load(&[sweep_dir(&root, "s", &lr_seed_sweep(10))]).unwrap();
    let lr = table.column("train.learning_rate").unwrap();
    let loss = table.column("test_loss").unwrap();
    let status = table.column("status").unwrap();
    let mut q = Query::default();
    q.set_range(lr, 1.0, 0.05);
    q.set_text(status, "OK");
    q.sort = Some(Sort {
        column: loss,
        descending: false,
    });
    let mut rows = Vec::new();
    q.run(&table, &mut rows);
    let mut want: Vec<u32> = (0..table.len() as u32)
        .filter(|&r| {
            let v = table.columns[lr].values[r as usize];
            (0.05..=1.0).contains(&v) && table.columns[status].text(r as usize) == "ok"
        })
        .collect();
    want.sort_by(|&a, &b| {
        let l = &table.columns[loss].values;
        l[a as usize].total_cmp(&l[b as usize])
    });
    assert!(!want.is_empty());
    assert_eq!(rows, want);
    // A new range on the same column replaces the old one.
    q.set_range(lr, 100.0, 1000.0);
    q.set_text(status, "");
    q.sort = None;
    q.run(&table, &mut rows);
    assert_eq!(rows.len(), 2 * 5, "two rates × five seeds");
    assert_eq!(q.range(lr), Some((100.0, 1000.0)));
    q.clear(lr);
    q.run(&table, &mut rows);
    assert_eq!(rows.len(), 50);
}

#[test]
fn grouping_by_learning_rate_averages_over_the_seeds() {
    let root = temp("group");
    let table = Table::load(&[sweep_dir(&root, "s", &lr_seed_sweep(10))]).unwrap();
    let lr = table.column("train.learning_rate").unwrap();
    let curves = table.curve_set("train_loss").unwrap();
    let all: Vec<u32> = (0..table.len() as u32).collect();
    let bands = group_curves(&table, curves, &all, Some(lr));
    assert_eq!(bands.len(), 10);
    assert!(bands.windows(2).all(|w| w[0].value < w[1].value));
    for band in &bands {
        assert_eq!(band.runs, 5);
        let members: Vec<usize> = (0..table.len())
            .filter(|&r| table.columns[lr].values[r] == band.value)
            .collect();
        for (i, &step) in band.steps.iter().enumerate() {
            let vals: Vec<f64> = members
                .iter()
                .filter_map(|&r| curves.rows[r].points().find(|(s, _)| *s == step))
                .map(|(_, v)| f64::from(v))
                .filter(|v| v.is_finite())
                .collect();
            let mean = vals.iter().sum::<f64>() / vals.len() as f64;
            assert!(
                (f64::from(band.mean[i]) - mean).abs() <= 1e-5 * mean.abs().max(1.0),
                "lr {} step {step}: {} vs {mean}",
                band.key,
                band.mean[i]
            );
            assert_eq!(band.count[i] as usize, vals.len());
            assert!(band.min[i] <= band.mean[i] && band.mean[i] <= band.max[i]);
        }
    }
    let one = group_curves(&table, curves, &all, None);
    assert_eq!(
        (one.len(), one[0].runs, one[0].key.as_str()),
        (1, 50, "all")
    );
}

#[test]
fn a_two_axis_sweep_is_a_landscape_whose_cells_are_its_models() {
    let root = temp("landscape");
    let table = Table::load(&[sweep_dir(&root, "s", &lr_seed_sweep(10))]).unwrap();
    let land = Landscape::of(&table, 0).unwrap();
    assert_eq!(land.size(), (10, 5));
    assert!(land.x.log && !land.y.log);
    let lr = table.column("train.learning_rate").unwrap();
    let seed = table.column("seed").unwrap();
    for j in 0..5 {
        for i in 0..10 {
            let r = land.row_at(i, j).unwrap() as usize;
            assert_eq!(table.columns[lr].values[r], land.x.values[i]);
            assert_eq!(table.columns[seed].values[r], land.y.values[j]);
            assert_eq!(land.cell_of(r as u32), Some((i, j)));
        }
    }
    assert!((land.x.fraction(land.x.at_fraction(0.3)) - 0.3).abs() < 1e-5);
}

#[test]
fn run_directories_and_sweeps_load_side_by_side() {
    let root = temp("mixed");
    let runs = root.join("runs");
    sweep_dir(&runs, "s", &lr_seed_sweep(10));
    for lr in [0.05, 0.5] {
        let mut scene = Scene::parse(
            "Scene(name: \"xor-run\", data: Xor(samples: 64), model: (hidden: [6]), train: (learning_rate: 0.1, steps: 20, eval_every: 5))",
            Path::new("r.ron"),
        )
        .unwrap()
        .resolved();
        scene.train.learning_rate = lr;
        let mut s = Session::<CpuBackend>::start(&scene, &Default::default(), Some(&runs)).unwrap();
        for _ in 0..20 {
            s.advance(false).unwrap();
        }
        s.finish().unwrap();
    }
    let table = Table::load(std::slice::from_ref(&runs)).unwrap();
    assert_eq!(table.sources.len(), 3);
    assert_eq!(table.len(), 52);
    let source = table.column("source").unwrap();
    let lr = table.column("train.learning_rate").unwrap();
    let runs_rows: Vec<usize> = (0..52)
        .filter(|&r| matches!(table.sources[table.ids[r].source], Source::Run { .. }))
        .collect();
    assert_eq!(runs_rows.len(), 2);
    let rates: Vec<f32> = runs_rows
        .iter()
        .map(|&r| table.columns[lr].values[r])
        .collect();
    assert_eq!(rates, vec![0.05, 0.5]);
    assert!(
        table.columns[source]
            .text(runs_rows[0])
            .starts_with("xor-run")
    );
    // A run keeps test curves; a sweep's rows have none.
    let test = table.curve_set("test_loss").unwrap();
    assert!(!test.rows[runs_rows[0]].values.is_empty());
    assert!(test.rows[0].values.is_empty());
    // The optimiser, not swept by the sweep, comes from its base scene.
    let opt = table.column("train.optimizer").unwrap();
    assert_eq!(table.columns[opt].text(0), "Gd");
    let csv = table.to_csv(&[0, runs_rows[1] as u32]);
    assert_eq!(csv.lines().count(), 3);
    assert!(csv.lines().nth(1).unwrap().starts_with("s#0,s,0,"), "{csv}");
    let err = Table::load(&[root.join("nothing")])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("nothing") && err.contains("no such directory"),
        "{err}"
    );
}

#[test]
fn huge_and_tiny_values_print_compactly() {
    // A diverged run's loss: Rust prints 3.4e38 as 39 digits.
    let column = Column {
        name: "train_loss".into(),
        role: Role::Metric,
        kind: ColumnKind::Number { log: false },
        values: vec![3.4e38, 1.25e-7, 0.5, 123_456.0, 1_234_567.0, f32::NAN],
    };
    let texts: Vec<String> = (0..6).map(|r| column.text(r)).collect();
    assert_eq!(
        texts,
        ["3.4e38", "1.25e-7", "0.5", "123456", "1.234567e6", ""],
        "exact, and short"
    );
    for (r, text) in texts.iter().enumerate().take(5) {
        assert_eq!(text.parse::<f32>().unwrap(), column.values[r], "exact");
    }
    let ticks: Vec<String> = [
        3.4e38f32, -2.0e-6, 0.0, -0.0, 0.123456, 7.0, 12_345.6, 99_999.0,
    ]
    .iter()
    .map(|&v| compact_number(v))
    .collect();
    assert_eq!(
        ticks,
        [
            "3.4e38", "-2.0e-6", "0", "0", "0.1235", "7", "12346", "99999"
        ]
    );
    assert!(ticks.iter().all(|t| t.len() <= 7), "{ticks:?}");
}
