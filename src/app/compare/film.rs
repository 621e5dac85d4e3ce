//! Films of the browser (`nnm capture SWEEP_DIR`): drawn off-screen and
//! frame-exact, the height field's camera on a path, and a zoom training in
//! lock-step with the film (each of its chunks shown at a frame fixed in
//! advance), so the same command makes the same film on any machine.

use std::time::Duration;

use bevy::camera::RenderTarget;
use bevy::prelude::*;
use bevy_panorbit_camera::PanOrbitCamera;

use super::terrain::{TERRAIN_HEIGHT, TerrainBuilt, TerrainCamera};
use super::zooming::ZoomLink;
use super::{Browser, CompareOptions, ComparePlugin, CompareTab};
use crate::app::camera::OverlayCamera;
use crate::app::error::{AppError, AppResult};
use crate::app::film::{CaptureReport, Cue, FilmClock, FilmOutput, Takes, offscreen_app};
use crate::app::film_sink::FilmSink;
use crate::lab::compare::Table;
use crate::lab::sweep::Zoomer;

/// Seconds the film shows the sweep before the zoom's first chunk appears.
const LEAD_IN_SECONDS: f32 = 1.0;
/// Seconds the film keeps showing the finest level once the zoom is trained.
const TAIL_SECONDS: f32 = 2.0;
/// Longest wait for the zoom's next chunk.
const ZOOM_TIMEOUT: Duration = Duration::from_secs(600);
/// How fast the camera circles the height field, degrees per second.
const ORBIT_DEGREES_PER_SECOND: f32 = 8.0;
/// The camera's distance from the field's centre at the start and at the end.
const RADIUS: (f32, f32) = (40.0, 34.0);
/// The camera's elevation at the start and at the end, radians.
const PITCH: (f32, f32) = (0.8, 0.6);
/// The camera's bearing at the start, radians.
const YAW: f32 = 0.35;

/// A film of the browser: its size, rate and length.
#[derive(Debug, Clone, Copy)]
pub struct CompareFilm {
    /// Frame size in pixels.
    pub size: (u32, u32),
    /// Frames per second.
    pub fps: f32,
    /// Frames in all.
    pub frames: u32,
}

/// When the zoom's events are shown in a film: the first at frame `first`,
/// then one every `every` frames, each waited for if it has not arrived.
#[derive(Resource, Debug, Clone, Default)]
pub(crate) struct ZoomPace {
    /// The frame the first event is shown at.
    pub first: u32,
    /// Frames between two events.
    pub every: u32,
    /// Events applied so far.
    pub applied: u32,
    /// Why the zoom cannot go on (it failed, or a chunk never came).
    pub failed: Option<String>,
}

impl ZoomPace {
    /// The pace that spreads `events` over `frames` frames at `fps`, after a
    /// lead-in and before a tail (both shortened when the film is short).
    pub(crate) fn spread(events: u32, frames: u32, fps: f32) -> ZoomPace {
        let lead = ((LEAD_IN_SECONDS * fps) as u32).min(frames / 4);
        let tail = ((TAIL_SECONDS * fps) as u32).min(frames / 4);
        let span = frames.saturating_sub(lead + tail);
        ZoomPace {
            first: lead,
            every: (span / events.max(1)).max(1),
            applied: 0,
            failed: None,
        }
    }

    /// How many events are shown by film frame `frame`.
    pub(crate) fn due(&self, frame: u32) -> u32 {
        if frame < self.first {
            0
        } else {
            (frame - self.first) / self.every.max(1) + 1
        }
    }

    /// Applies the events due by `frame`, waiting for each (a film shows
    /// every chunk at its own frame, however long it takes to train).
    pub(crate) fn catch_up(&mut self, frame: u32, b: &mut Browser, zoomer: &Zoomer) {
        while self.failed.is_none()
            && self.applied < self.due(frame)
            && b.zooms.zoom.as_ref().is_some_and(|z| !z.finished)
        {
            match zoomer.wait(ZOOM_TIMEOUT) {
                Some(event) => {
                    if let crate::lab::sweep::ZoomEvent::Failed { message, .. } = &event {
                        self.failed = Some(format!("the zoom failed: {message}"));
                    }
                    super::zooming::apply(b, event);
                    self.applied += 1;
                }
                None => {
                    self.failed = Some(format!(
                        "the zoom's next chunk did not arrive within {} s",
                        ZOOM_TIMEOUT.as_secs()
                    ));
                }
            }
        }
    }
}

/// The film being made.
#[derive(Resource)]
struct Film {
    film: CompareFilm,
    output: FilmOutput,
    takes: Takes,
}

/// Films the browser on `table` (opened as `browse` says) into `sink`.
pub fn film_compare(
    table: Table,
    browse: CompareOptions,
    film: CompareFilm,
    sink: FilmSink,
) -> AppResult<CaptureReport> {
    let mut browser = Browser::new(table);
    browser.view.still = true;
    browser.view.tab = browse.tab.unwrap_or(if browser.runs.landscape.is_some() {
        CompareTab::Terrain
    } else {
        browser.view.tab
    });
    if let Some(levels) = browse.levels {
        browser.zooms.levels = levels;
    }
    let pace = match &browse.zoom {
        Some(window) => {
            let events = zoom_events(&browser, window, &browser.zooms.levels)?;
            Some(ZoomPace::spread(events, film.frames, film.fps))
        }
        None => None,
    };
    let mut app = offscreen_app(film.fps);
    // A film needs every chunk of its zoom, in order: a zoom thread that
    // waits for each to be taken (inserted before the browser's own).
    app.insert_resource(ZoomLink(Zoomer::lockstep(
        std::thread::available_parallelism().map_or(1, |n| n.get()),
    )))
    .add_plugins(crate::app::AppSystemsPlugin)
    .add_plugins(ComparePlugin)
    .init_resource::<crate::app::network::Selection>()
    .init_resource::<crate::app::network::NetworkView>()
    .insert_resource(browser)
    .insert_resource(FilmClock {
        frame: 0,
        fps: film.fps,
        steps_per_frame: 1,
        from_recording: false,
    });
    if let Some(pace) = pace {
        app.insert_resource(pace);
    }
    if let Some(window) = browse.zoom {
        app.world_mut()
            .write_message(crate::app::messages::CompareRequest::Zoom(window));
    }
    let output = FilmOutput::new(&mut app, film.size, sink);
    app.insert_resource(Film {
        film,
        output: output.clone(),
        takes: Takes::default(),
    })
    .add_systems(PostStartup, aim_cameras_at_film)
    .add_systems(
        Update,
        place_camera.in_set(crate::app::AppSystems::Visualize),
    )
    .add_systems(Last, drive);
    app.run();
    output.report()
}

/// The events a zoom into `window` sends: one per chunk of each level, then
/// its end.
fn zoom_events(
    b: &Browser,
    window: &crate::lab::sweep::ZoomWindow,
    levels: &[usize],
) -> AppResult<u32> {
    let land = b
        .runs
        .landscape
        .as_ref()
        .ok_or_else(|| AppError::flag("--zoom", "this table has no landscape to zoom into"))?;
    let Some(crate::lab::compare::Source::Sweep { sweep, .. }) =
        b.runs.table.sources.get(land.source)
    else {
        return Err(AppError::flag("--zoom", "the landscape is not a sweep's"));
    };
    let chunks = crate::lab::sweep::chunks_per_level(sweep, window, levels)
        .map_err(|e| AppError::flag("--zoom", e.to_string()))?;
    Ok(chunks.iter().sum::<usize>() as u32 + 1)
}

/// The browser's cameras: the height field's and egui's.
type CompareCameras = Or<(With<TerrainCamera>, With<OverlayCamera>)>;

/// Points the browser's cameras at the film's image, and takes the height
/// field's camera off the mouse: the film's path moves it.
fn aim_cameras_at_film(
    mut commands: Commands,
    film: Res<Film>,
    cameras: Query<Entity, CompareCameras>,
) {
    for camera in &cameras {
        commands
            .entity(camera)
            .insert(RenderTarget::Image(film.output.target.clone().into()))
            .remove::<PanOrbitCamera>();
    }
}

/// Places the height field's camera on the film's path: a slow orbit that
/// comes down and closer as the film goes on.
fn place_camera(
    film: Res<Film>,
    clock: Res<FilmClock>,
    mut cameras: Query<&mut Transform, With<TerrainCamera>>,
) {
    let t = clock.seconds();
    let length = film.film.frames as f32 / film.film.fps;
    let f = (t / length.max(1e-3)).clamp(0.0, 1.0);
    let ease = f * f * (3.0 - 2.0 * f);
    let yaw = YAW + ORBIT_DEGREES_PER_SECOND.to_radians() * t;
    let pitch = PITCH.0 + (PITCH.1 - PITCH.0) * ease;
    let radius = RADIUS.0 + (RADIUS.1 - RADIUS.0) * ease;
    let focus = Vec3::new(0.0, TERRAIN_HEIGHT * 0.3, 0.0);
    let offset = Quat::from_rotation_y(yaw) * Quat::from_rotation_x(-pitch) * Vec3::Z * radius;
    for mut transform in &mut cameras {
        *transform = Transform::from_translation(focus + offset).looking_at(focus, Vec3::Y);
    }
}

/// Asks for this update's frame once everything is drawn, and ends the film
/// when every frame has been written.
fn drive(
    mut commands: Commands,
    mut film: ResMut<Film>,
    mut clock: ResMut<FilmClock>,
    browser: Res<Browser>,
    built: Res<TerrainBuilt>,
    pace: Option<Res<ZoomPace>>,
    mut exit: MessageWriter<AppExit>,
) {
    let terrain = browser.view.tab == CompareTab::Terrain && browser.runs.landscape.is_some();
    let cue = match pace.as_ref().and_then(|p| p.failed.clone()) {
        Some(why) => Cue::Failed(why),
        None if terrain && built.key.is_none() => {
            Cue::Waiting("nothing to film: the height field was never built".into())
        }
        None => Cue::Ready,
    };
    let film = &mut *film;
    let at = (clock.frame, film.film.frames);
    if film
        .output
        .direct(&mut film.takes, cue, at, &mut commands, &mut exit)
    {
        clock.frame += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_zoom_is_spread_over_the_film_between_a_lead_in_and_a_tail() {
        // 25 events over 12 s at 30 fps: 1 s in, 2 s out, 270 frames between.
        let pace = ZoomPace::spread(25, 360, 30.0);
        assert_eq!((pace.first, pace.every), (30, 10));
        assert_eq!(pace.due(0), 0);
        assert_eq!(pace.due(29), 0);
        assert_eq!(pace.due(30), 1);
        assert_eq!(pace.due(39), 1);
        assert_eq!(pace.due(40), 2);
        assert_eq!(
            pace.due(30 + 24 * 10),
            25,
            "the last event, 2 s before the end"
        );
        // A film too short for its zoom shows an event a frame.
        let short = ZoomPace::spread(25, 20, 30.0);
        assert_eq!((short.first, short.every), (5, 1));
    }
}
