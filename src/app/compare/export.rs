//! Export of the browser's centre view (the plot, the landscape image or the
//! height field) as a PNG: the window is captured and cut to that view.

use std::path::PathBuf;

use bevy::prelude::*;
use bevy::render::view::screenshot::{Screenshot, ScreenshotCaptured};
use bevy::window::PrimaryWindow;

use super::Browser;
use crate::app::AppSystems;
use crate::app::messages::CompareRequest;

/// Exporting as a feature: a request from the UI becomes a capture, cut and saved.
pub(super) struct ExportPlugin;

impl Plugin for ExportPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<Exporting>().add_systems(
            Last,
            export_system
                .in_set(AppSystems::Snapshot)
                .run_if(resource_exists::<Browser>),
        );
    }
}

/// The export waiting for its capture, if any.
#[derive(Resource, Debug, Default)]
pub(super) struct Exporting(pub Option<PathBuf>);

fn export_system(
    mut commands: Commands,
    mut requests: MessageReader<CompareRequest>,
    mut browser: ResMut<Browser>,
    mut exporting: ResMut<Exporting>,
    window: Query<&Window, With<PrimaryWindow>>,
) {
    let Some(path) = requests
        .read()
        .filter_map(|r| match r {
            CompareRequest::Export(path) => Some(path.clone()),
            _ => None,
        })
        .last()
    else {
        return;
    };
    let (Some(rect), Ok(window)) = (browser.placement.view, window.single()) else {
        browser.message = Some("nothing to export yet".into());
        return;
    };
    let scale = window.scale_factor();
    let cut = (
        (rect.min.x * scale).max(0.0) as u32,
        (rect.min.y * scale).max(0.0) as u32,
        (rect.width() * scale) as u32,
        (rect.height() * scale) as u32,
    );
    exporting.0 = Some(path.clone());
    commands.spawn(Screenshot::primary_window()).observe(
        move |captured: On<ScreenshotCaptured>,
              mut browser: ResMut<Browser>,
              mut exporting: ResMut<Exporting>| {
            let outcome = save_cut(&captured.image, cut, &path);
            exporting.0 = None;
            browser.message = Some(match outcome {
                Ok(()) => format!("exported {}", path.display()),
                Err(e) => format!("export failed: {e}"),
            });
        },
    );
}

/// Saves the part `(x, y, width, height)` of `image` (physical pixels) to `path`.
fn save_cut(image: &Image, cut: (u32, u32, u32, u32), path: &PathBuf) -> Result<(), String> {
    let size = (image.width(), image.height());
    let rgba = crate::app::film_sink::rgba_pixels(image, size).map_err(|e| e.to_string())?;
    let full = image::RgbaImage::from_raw(size.0, size.1, rgba)
        .ok_or_else(|| "the capture has the wrong size".to_string())?;
    let (x, y) = (
        cut.0.min(size.0.saturating_sub(1)),
        cut.1.min(size.1.saturating_sub(1)),
    );
    let (w, h) = (cut.2.min(size.0 - x).max(1), cut.3.min(size.1 - y).max(1));
    let part = image::imageops::crop_imm(&full, x, y, w, h).to_image();
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    part.save(path)
        .map_err(|e| format!("{}: {e}", path.display()))
}
