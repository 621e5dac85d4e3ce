//! Zoom to refine, in the browser: a rectangle dragged on the landscape
//! starts a sub-sweep of that window on the zoom thread; as it trains, level
//! by level, its table replaces the browser's and the image sharpens over the
//! coarser one; "back out" returns to the sweep zoomed from.

use bevy::prelude::*;
use bevy_egui::egui;

use super::{Browser, ZoomState};
use crate::app::AppSystems;
use crate::app::messages::CompareRequest;
use crate::lab::compare::Source;
use crate::lab::sweep::{ZoomEvent, ZoomWindow, Zoomer};

/// The browser's end of the zoom thread.
#[derive(Resource)]
pub(crate) struct ZoomLink(pub Zoomer);

/// Zooming as a feature: the thread, its requests out and its progress in.
pub(crate) struct ZoomPlugin;

impl Plugin for ZoomPlugin {
    fn build(&self, app: &mut App) {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        if !app.world().contains_resource::<ZoomLink>() {
            app.insert_resource(ZoomLink(Zoomer::spawn(threads)));
        }
        app.add_systems(
            Update,
            zoom_system
                .in_set(AppSystems::Ingest)
                .run_if(resource_exists::<Browser>),
        );
    }
}

/// Sends a zoom or a return asked for by the UI, then applies what the
/// thread has sent (without waiting).
fn zoom_system(
    mut b: ResMut<Browser>,
    mut requests: MessageReader<CompareRequest>,
    link: Res<ZoomLink>,
    pace: Option<ResMut<super::film::ZoomPace>>,
    clock: Option<Res<crate::app::film::FilmClock>>,
) {
    for request in requests.read() {
        match request {
            CompareRequest::Zoom(window) => start(&mut b, &link.0, *window),
            CompareRequest::BackOut => back_out(&mut b, &link.0),
            CompareRequest::Open(_) | CompareRequest::Export(_) => {}
        }
    }
    match (pace, clock) {
        // A film: exactly the events due by its frame, waited for.
        (Some(mut pace), Some(clock)) => pace.catch_up(clock.frame, &mut b, &link.0),
        _ => {
            for event in link.0.events() {
                apply(&mut b, event);
            }
        }
    }
}

/// Starts zooming into `window` of the landscape's sweep.
pub(super) fn start(b: &mut Browser, zoomer: &Zoomer, window: ZoomWindow) {
    let Some(land) = &b.runs.landscape else {
        b.message = Some("no landscape to zoom into".into());
        return;
    };
    let Some(Source::Sweep { path, sweep }) = b.runs.table.sources.get(land.source) else {
        b.message = Some("the landscape is not a sweep's".into());
        return;
    };
    let root = b.zooms.root.clone().unwrap_or_else(|| {
        path.parent()
            .map_or_else(|| std::path::PathBuf::from("runs"), |p| p.to_path_buf())
    });
    // The window must make a sweep before anything is handed over.
    if let Err(e) = crate::lab::sweep::window_sweep(sweep, &window, 2, "check") {
        b.message = Some(format!("cannot zoom: {e}"));
        return;
    }
    let zoom = zoomer.start(sweep, window, &b.zooms.levels, &root);
    b.zooms.root = Some(root);
    // The sweep zoomed from, shown under the first level until it fills in.
    b.zooms.underlay = underlay_of_window(b, &window);
    let parent = b.runs.table.clone();
    b.zooms.back.push(parent);
    b.zooms.zoom = Some(ZoomState {
        zoom,
        window,
        level: 0,
        n: b.zooms.levels.first().copied().unwrap_or(0),
        done: 0,
        total: 0,
        levels: b.zooms.levels.len(),
        dir: None,
        finished: false,
    });
    b.message = Some(format!(
        "zooming into {} {}..{} × {} {}..{}",
        land.x.name, window.x.0, window.x.1, land.y.name, window.y.0, window.y.1
    ));
}

/// Returns to the sweep zoomed from, abandoning a zoom still training.
pub(super) fn back_out(b: &mut Browser, zoomer: &Zoomer) {
    let Some(parent) = b.zooms.back.pop() else {
        return;
    };
    if b.zooms.zoom.as_ref().is_some_and(|z| !z.finished) {
        zoomer.cancel();
    }
    b.zooms.zoom = None;
    b.zooms.underlay = None;
    b.replace_table(parent);
    b.message = Some("back out".into());
}

/// Applies one event of the zoom thread, if it is about the current zoom.
pub(super) fn apply(b: &mut Browser, event: ZoomEvent) {
    let current = b.zooms.zoom.as_ref().map(|z| z.zoom);
    match event {
        ZoomEvent::Progress {
            zoom,
            level,
            n,
            done,
            total,
            dir,
            table,
        } if Some(zoom) == current => {
            let new_level = b.zooms.zoom.as_ref().is_some_and(|z| z.level != level);
            if new_level {
                // The finished coarser level stays under the finer one.
                b.zooms.underlay = b
                    .drawn
                    .landscape
                    .as_ref()
                    .map(|(_, t)| (t.clone(), full_uv()));
            }
            b.replace_table(*table);
            if let Some(z) = &mut b.zooms.zoom {
                z.level = level;
                z.n = n;
                z.done = done;
                z.total = total;
                z.dir = Some(dir);
            }
        }
        ZoomEvent::Finished { zoom, folder } if Some(zoom) == current => {
            if let Some(z) = &mut b.zooms.zoom {
                z.finished = true;
            }
            b.zooms.underlay = None;
            b.message = Some(format!(
                "zoom trained into {} (nnm compare {} opens it again)",
                folder.display(),
                folder.display()
            ));
        }
        ZoomEvent::Failed { zoom, message } if Some(zoom) == current => {
            if let Some(z) = &mut b.zooms.zoom {
                z.finished = true;
            }
            b.message = Some(format!("the zoom failed: {message}"));
        }
        _ => {}
    }
}

/// The whole texture, drawn with the first y value at the bottom.
fn full_uv() -> egui::Rect {
    egui::Rect::from_min_max(egui::pos2(0.0, 1.0), egui::pos2(1.0, 0.0))
}

/// The current landscape's texture, cut to `window`.
fn underlay_of_window(
    b: &Browser,
    window: &ZoomWindow,
) -> Option<(egui::TextureHandle, egui::Rect)> {
    let land = b.runs.landscape.as_ref()?;
    let (_, texture) = b.drawn.landscape.as_ref()?;
    let (nx, ny) = land.size();
    // A value's place in the image: cell centres sit half a cell in.
    let u = |axis: &crate::lab::compare::GridAxis, n: usize, v: f64| {
        let f = axis.fraction(v as f32);
        (f * (n.max(2) - 1) as f32 + 0.5) / n.max(1) as f32
    };
    let (u0, u1) = (u(&land.x, nx, window.x.0), u(&land.x, nx, window.x.1));
    let (v0, v1) = (u(&land.y, ny, window.y.0), u(&land.y, ny, window.y.1));
    Some((
        texture.clone(),
        egui::Rect::from_min_max(
            egui::pos2(u0.min(u1), v0.max(v1)),
            egui::pos2(u0.max(u1), v0.min(v1)),
        ),
    ))
}
