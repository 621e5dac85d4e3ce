//! Zooming into a sweep's landscape: the same sweep over a window of its two
//! grid axes, trained coarse to fine (32² → 64² → 128²) on a background
//! thread, each level written as a sweep directory of its own.
//!
//! The browser sends [`ZoomCommand`]s and drains [`ZoomEvent`]s; a new zoom
//! abandons the one in flight after its current chunk.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender, TrySendError, bounded, unbounded};

use super::dir::SweepDir;
use super::plan::Plan;
use super::spec::{Sweep, Values};
use crate::lab::Device;
use crate::lab::compare::Table;
use crate::lab::error::{LabError, LabResult};
use crate::lab::record::RunDir;
use crate::lab::scene::Presets;

/// The grid sizes a zoom trains by default, coarse to fine.
pub const ZOOM_LEVELS: &[usize] = &[32, 64, 128];

/// A window of a sweep's two map axes, in their own units.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ZoomWindow {
    /// The first map axis's range, from `lo` to `hi`.
    pub x: (f64, f64),
    /// The second map axis's range.
    pub y: (f64, f64),
}

impl ZoomWindow {
    /// Parses `X0:X1,Y0:Y1`, such as `100:1000,50:80`.
    pub fn parse(text: &str) -> Result<ZoomWindow, String> {
        let range = |part: &str| -> Result<(f64, f64), String> {
            let (a, b) = part
                .split_once(':')
                .ok_or_else(|| format!("`{part}` is not LO:HI"))?;
            let num = |v: &str| {
                v.trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|f| f.is_finite())
                    .ok_or_else(|| format!("`{v}` in `{text}` is not a number"))
            };
            Ok((num(a)?, num(b)?))
        };
        let (x, y) = text
            .split_once(',')
            .ok_or_else(|| format!("`{text}` is not X0:X1,Y0:Y1, such as 100:1000,50:80"))?;
        Ok(ZoomWindow {
            x: range(x)?,
            y: range(y)?,
        })
    }
}

/// `sweep` over `window` of its two map axes at `n` × `n` (the other axes
/// keep their single values), named `name`; its models keep no frames.
pub fn window_sweep(sweep: &Sweep, window: &ZoomWindow, n: usize, name: &str) -> LabResult<Sweep> {
    let (ax, ay) = sweep.map_axes().ok_or_else(|| {
        LabError::setting(
            "zoom",
            format!(
                "{}: only a grid sweep over two axes has a landscape to zoom into",
                sweep.name()
            ),
        )
    })?;
    if n < 2 {
        return Err(LabError::setting(
            "zoom",
            format!("a zoom level needs at least 2 × 2 cells, not {n}"),
        ));
    }
    let mut spec = sweep.spec.clone();
    for (axis, (lo, hi)) in [(ax, window.x), (ay, window.y)] {
        let field = &spec.axes[axis].field;
        if sweep.axis_is_integer(axis) {
            return Err(LabError::setting(
                "zoom",
                format!("{field} holds whole numbers: only a real-valued axis can be refined"),
            ));
        }
        let (lo, hi) = (lo.min(hi), lo.max(hi));
        if lo == hi {
            return Err(LabError::setting(
                "zoom",
                format!("the window is empty along {field} ({lo} to {hi})"),
            ));
        }
        spec.axes[axis].values = if sweep.axis_is_log(axis) {
            if lo <= 0.0 {
                return Err(LabError::setting(
                    "zoom",
                    format!("{field} is on a log scale: the window must be positive, not {lo}"),
                ));
            }
            Values::Log(lo, hi, n)
        } else {
            Values::Linear(lo, hi, n)
        };
    }
    spec.name = name.to_string();
    spec.title = format!("{} (zoom {n}×{n})", sweep.spec.title);
    spec.keep.frames.clear();
    // Eight chunks a level, so that the image fills in as it trains.
    spec.chunk = Some((n * n / 8).max(16));
    let mut out = sweep.clone();
    out.spec = spec;
    let text = out.to_ron()?;
    Sweep::parse(
        &text,
        Path::new(&format!("{name}.ron")),
        &Presets::built_in(),
    )
}

/// The chunks each level of a zoom into `window` of `sweep` trains in
/// (one progress event each).
pub fn chunks_per_level(
    sweep: &Sweep,
    window: &ZoomWindow,
    levels: &[usize],
) -> LabResult<Vec<usize>> {
    levels
        .iter()
        .map(|&n| {
            let sub = window_sweep(sweep, window, n, &format!("{}-zoom{n}", sweep.name()))?;
            Ok(Plan::new(&sub)?.chunks.len())
        })
        .collect()
}

/// What the browser asks of the zoom thread.
#[derive(Debug)]
pub(super) enum ZoomCommand {
    /// Zoom into `window` of `sweep`: a folder `<sweep>-zoom_NNN` in `root`
    /// with a sweep directory per level of `levels`.
    Start {
        /// Its number: the thread drops it once a later one is asked for.
        zoom: u64,
        /// The sweep zoomed into.
        sweep: Box<Sweep>,
        /// The window.
        window: ZoomWindow,
        /// The grid sizes, coarse to fine.
        levels: Vec<usize>,
        /// Where the zoom's folder goes.
        root: PathBuf,
    },
}

/// What the zoom thread tells the browser.
#[derive(Debug)]
pub enum ZoomEvent {
    /// Level `level` (of `levels`) has models trained: the sweep directory
    /// read back as a table, finished chunks only.
    Progress {
        /// The zoom this belongs to (the count of `Start`s before it).
        zoom: u64,
        /// The level's index.
        level: usize,
        /// Its grid size.
        n: usize,
        /// Its models trained so far.
        done: usize,
        /// Its models.
        total: usize,
        /// Its sweep directory.
        dir: PathBuf,
        /// The directory as a table.
        table: Box<Table>,
    },
    /// Every level is trained and assembled.
    Finished {
        /// The zoom.
        zoom: u64,
        /// The zoom's folder.
        folder: PathBuf,
    },
    /// The zoom stopped on an error.
    Failed {
        /// The zoom.
        zoom: u64,
        /// Why.
        message: String,
    },
}

/// The zoom thread: it owns the sweeps it trains; commands in, events out.
pub struct Zoomer {
    commands: Sender<ZoomCommand>,
    events: Receiver<ZoomEvent>,
    /// The newest zoom asked for; the thread drops work for older ones.
    current: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
}

impl Zoomer {
    /// Starts the thread; it trains on `threads` CPU threads. The browser
    /// drains its events every frame; when it falls behind, a level's
    /// intermediate tables are dropped (the next one supersedes them).
    pub fn spawn(threads: usize) -> Zoomer {
        Zoomer::start_thread(threads, false)
    }

    /// A zoom thread that drops nothing: it waits for each event to be taken
    /// (a film shows every chunk, at a frame fixed in advance).
    pub fn lockstep(threads: usize) -> Zoomer {
        Zoomer::start_thread(threads, true)
    }

    fn start_thread(threads: usize, lossless: bool) -> Zoomer {
        let (commands, inbox) = unbounded();
        // Progress is a whole table: a few in flight are plenty.
        let (outbox, events) = bounded(4);
        let current = Arc::new(AtomicU64::new(0));
        let shared = current.clone();
        let thread = std::thread::Builder::new()
            .name("nnm-zoom".into())
            .spawn(move || zoom_thread(&inbox, &outbox, &shared, threads.max(1), lossless))
            .ok();
        Zoomer {
            commands,
            events,
            current,
            thread,
        }
    }

    /// Starts zooming (abandoning any zoom in flight); returns the zoom's number.
    pub fn start(&self, sweep: &Sweep, window: ZoomWindow, levels: &[usize], root: &Path) -> u64 {
        let zoom = self.current.fetch_add(1, Ordering::SeqCst) + 1;
        let _ = self.commands.send(ZoomCommand::Start {
            zoom,
            sweep: Box::new(sweep.clone()),
            window,
            levels: levels.to_vec(),
            root: root.to_path_buf(),
        });
        zoom
    }

    /// Abandons the zoom in flight (after its current chunk).
    pub fn cancel(&self) {
        self.current.fetch_add(1, Ordering::SeqCst);
    }

    /// The events that have arrived, without waiting.
    pub fn events(&self) -> impl Iterator<Item = ZoomEvent> + '_ {
        self.events.try_iter()
    }

    /// Waits up to `timeout` for the next event (for tests and scripts).
    pub fn wait(&self, timeout: std::time::Duration) -> Option<ZoomEvent> {
        self.events.recv_timeout(timeout).ok()
    }
}

impl Drop for Zoomer {
    fn drop(&mut self) {
        // The thread ends after its current chunk: its zoom is no longer the
        // current one, and its channels close with this handle.
        self.current.fetch_add(1, Ordering::SeqCst);
        drop(self.thread.take());
    }
}

/// One zoom, as the thread trains it.
struct Job<'a> {
    sweep: &'a Sweep,
    window: ZoomWindow,
    levels: &'a [usize],
    root: &'a Path,
    threads: usize,
    zoom: u64,
    /// Send every event, waiting for room, instead of dropping superseded ones.
    lossless: bool,
}

fn zoom_thread(
    inbox: &Receiver<ZoomCommand>,
    outbox: &Sender<ZoomEvent>,
    current: &AtomicU64,
    threads: usize,
    lossless: bool,
) {
    while let Ok(command) = inbox.recv() {
        let ZoomCommand::Start {
            zoom,
            sweep,
            window,
            levels,
            root,
        } = command;
        // Cancelled, or a later zoom was asked for: this one is superseded.
        if current.load(Ordering::SeqCst) != zoom {
            continue;
        }
        let live = || current.load(Ordering::SeqCst) == zoom;
        let job = Job {
            sweep: &sweep,
            window,
            levels: &levels,
            root: &root,
            threads,
            zoom,
            lossless,
        };
        let event = match run_zoom(&job, outbox, &live) {
            Ok(Some(folder)) => ZoomEvent::Finished { zoom, folder },
            Ok(None) => continue,
            Err(e) => ZoomEvent::Failed {
                zoom,
                message: e.to_string(),
            },
        };
        if outbox.send(event).is_err() {
            return;
        }
    }
}

/// Trains every level of one zoom; `None` when it was abandoned.
fn run_zoom(
    job: &Job,
    outbox: &Sender<ZoomEvent>,
    live: &dyn Fn() -> bool,
) -> LabResult<Option<PathBuf>> {
    let Job {
        sweep,
        window,
        levels,
        root,
        threads,
        zoom,
        lossless,
    } = *job;
    let folder = RunDir::create(root, &format!("{}-zoom", sweep.name()))?.path;
    let done = AtomicU64::new(0);
    for (level, &n) in levels.iter().enumerate() {
        let name = format!("{}-zoom{n}", sweep.name());
        let sub = window_sweep(sweep, &window, n, &name)?;
        let dir = SweepDir::create(Some(&folder.join(format!("{n}x{n}"))), root, &sub, None)?;
        let plan = Plan::new(&sub)?;
        let mut trained = 0;
        for c in 0..plan.chunks.len() {
            if !live() {
                return Ok(None);
            }
            let rows = plan.train_chunk(&sub, c, Device::Cpu, threads, &done)?;
            if !live() {
                return Ok(None);
            }
            trained += rows.len();
            dir.write_chunk(c, &rows)?;
            if c + 1 == plan.chunks.len() {
                dir.finish(&sub, &plan)?;
            }
            let table = Table::load(std::slice::from_ref(&dir.path))?;
            let event = ZoomEvent::Progress {
                zoom,
                level,
                n,
                done: trained,
                total: sub.count,
                dir: dir.path.clone(),
                table: Box::new(table),
            };
            // The browser drains every frame; a full channel means it is
            // behind, and the next table supersedes this one, except a
            // level's last.
            if lossless {
                if outbox.send(event).is_err() {
                    return Ok(None);
                }
                continue;
            }
            match outbox.try_send(event) {
                Ok(()) => {}
                Err(TrySendError::Full(event)) => {
                    if c + 1 == plan.chunks.len() && outbox.send(event).is_err() {
                        return Ok(None);
                    }
                }
                Err(TrySendError::Disconnected(_)) => return Ok(None),
            }
        }
    }
    Ok(Some(folder))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fractal() -> Sweep {
        Sweep::load(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("scenes/sweeps/trainability-fractal-quick.ron"),
            &Presets::built_in(),
        )
        .unwrap()
    }

    #[test]
    fn a_window_sweep_spans_the_window_on_each_axis_scale() {
        let sweep = fractal();
        let window = ZoomWindow::parse("100:1000,50:80").unwrap();
        let sub = window_sweep(&sweep, &window, 32, "z").unwrap();
        assert_eq!(sub.count, 32 * 32);
        assert_eq!(sub.map_axes(), sweep.map_axes());
        let num = |v: &serde_json::Value| v.as_f64().unwrap();
        let x: Vec<f64> = sub.axis_values(0).iter().map(num).collect();
        let y: Vec<f64> = sub.axis_values(1).iter().map(num).collect();
        assert!((x[0] - 100.0).abs() < 1e-9 && (x[31] - 1000.0).abs() < 1e-6);
        assert!((y[0] - 50.0).abs() < 1e-9 && (y[31] - 80.0).abs() < 1e-6);
        // Both axes were swept on a log scale, and stay on one: a constant ratio.
        let ratio = x[1] / x[0];
        assert!(x.windows(2).all(|w| (w[1] / w[0] - ratio).abs() < 1e-6));
        // A model of the zoom is the base scene with the window's values.
        let scene = sub.scene(33).unwrap();
        let rates = scene.train.learning_rates.clone().unwrap();
        assert_eq!(rates[0], x[1] as f32);
        assert_eq!(rates[1], y[1] as f32);
        assert_eq!(scene.train.steps, sweep.base().train.steps);

        for (bad, why) in [
            ("100:100,50:80", "empty"),
            ("-1:10,50:80", "positive"),
            ("100:1000", "X0:X1,Y0:Y1"),
            ("1:x,2:3", "not a number"),
        ] {
            let err = ZoomWindow::parse(bad)
                .map_err(|e| e.to_string())
                .and_then(|w| window_sweep(&sweep, &w, 8, "z").map_err(|e| e.to_string()))
                .unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
        }
    }

    #[test]
    fn a_zoom_trains_each_level_into_a_sweep_directory_of_the_window() {
        let root = crate::scratch::Scratch::new("zoom");
        let mut sweep = fractal();
        sweep.spec.base = super::super::spec::Base::Inline(Box::new({
            let mut base = sweep.base().clone();
            base.train.steps = 40;
            base
        }));
        let sweep = Sweep::parse(
            &sweep.to_ron().unwrap(),
            Path::new("s.ron"),
            &Presets::built_in(),
        )
        .unwrap();
        let zoomer = Zoomer::spawn(2);
        let window = ZoomWindow {
            x: (1000.0, 10000.0),
            y: (100.0, 200.0),
        };
        // A zoom cancelled before it trains leaves the next one to train.
        let cancelled = zoomer.start(&sweep, window, &[4, 8], &root);
        zoomer.cancel();
        let zoom = zoomer.start(&sweep, window, &[4, 8], &root);
        assert!(zoom > cancelled);
        let mut last_done = [0usize; 2];
        let folder = loop {
            let event = zoomer
                .wait(std::time::Duration::from_secs(60))
                .expect("an event");
            // The cancelled zoom may have sent a chunk before it saw the cancel.
            let of = match &event {
                ZoomEvent::Progress { zoom: z, .. }
                | ZoomEvent::Finished { zoom: z, .. }
                | ZoomEvent::Failed { zoom: z, .. } => *z,
            };
            if of == cancelled {
                continue;
            }
            match event {
                ZoomEvent::Progress {
                    zoom: z,
                    level,
                    n,
                    done,
                    total,
                    table,
                    ..
                } => {
                    assert_eq!(z, zoom);
                    assert_eq!(n, [4, 8][level]);
                    assert_eq!(total, n * n);
                    assert!(done > last_done[level] && done <= total);
                    assert_eq!(
                        table.len(),
                        done,
                        "the table holds the models trained so far"
                    );
                    last_done[level] = done;
                }
                ZoomEvent::Finished { zoom: z, folder } => {
                    assert_eq!(z, zoom);
                    break folder;
                }
                ZoomEvent::Failed { message, .. } => panic!("{message}"),
            }
        };
        assert_eq!(last_done, [16, 64]);
        let table = Table::load(&[folder.join("8x8")]).unwrap();
        let land = crate::lab::compare::Landscape::of(&table, 0).expect("a landscape");
        assert_eq!(land.size(), (8, 8));
        assert!((land.x.values[0] - 1000.0).abs() < 1e-2);
        assert!((land.y.values[7] - 200.0).abs() < 1e-3);
        assert!(land.cells.iter().all(Option::is_some));
        // Each cell is the model the sweep file's scene trains: its own
        // learning rates, the base's steps.
        let (dir, sub, _) = SweepDir::open(&folder.join("8x8")).unwrap();
        let scene = sub.scene(9).unwrap();
        assert_eq!(scene.train.steps, 40);
        assert!(dir.path.join(super::super::dir::MODELS_FILE).is_file());
        drop(zoomer);
    }
}
