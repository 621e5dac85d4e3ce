//! Exports from the app: the run's metrics (CSV or JSON), the shown frame
//! (JSON) and the shown network (a safetensors checkpoint), written into the
//! run directory's `exports/` when asked for, or downloaded in a page.

use bevy::prelude::*;

use crate::app::AppSystems;
use crate::app::bridge::{Run, RunLog};
use crate::app::history::Shown;
use crate::app::messages::{ExportRequest, Notice};
use crate::lab::net::frame_message;
use crate::lab::record::{METRICS_FILE, frame_json, metrics_csv, metrics_json, read_metrics};
use crate::lab::{LabError, LabResult, Metrics};

/// The folder exports go to, inside the run directory.
#[cfg_attr(
    target_arch = "wasm32",
    allow(dead_code, reason = "a page downloads its exports")
)]
pub(super) const EXPORTS_DIR: &str = "exports";

/// Writes exports when the UI asks for them.
pub(super) struct ExportsPlugin;

impl Plugin for ExportsPlugin {
    fn build(&self, app: &mut App) {
        // Last: the frame shown is the one the user saw when asking.
        app.add_systems(Last, write_exports.in_set(AppSystems::Export));
    }
}

fn write_exports(
    mut requests: MessageReader<ExportRequest>,
    run: Res<Run>,
    log: Res<RunLog>,
    shown: Res<Shown>,
    mut notices: MessageWriter<Notice>,
) {
    for request in requests.read() {
        notices.write(Notice(
            match export_one(*request, &run, &log, shown.frame.as_deref()) {
                Ok(place) => format!("exported to {place}"),
                Err(e) => format!("export failed: {e}"),
            },
        ));
    }
}

/// The metrics of the run: its `metrics.csv` when it has one, else what the
/// trainer reported.
fn metrics_rows(run: &Run, log: &RunLog) -> LabResult<Vec<Metrics>> {
    match &run.run_dir {
        Some(dir) => read_metrics(&dir.join(METRICS_FILE)),
        None => Ok(log.evaluations.clone()),
    }
}

/// Writes one export into the run directory's `exports/` (or `./exports`);
/// in a page, downloads it. Returns where it went, for people.
fn export_one(
    request: ExportRequest,
    run: &Run,
    log: &RunLog,
    frame: Option<&crate::lab::Frame>,
) -> LabResult<String> {
    let (name, contents) = export_contents(request, run, log, frame)?;
    #[cfg(target_arch = "wasm32")]
    {
        let kind = match request {
            ExportRequest::Weights => "application/octet-stream",
            _ => "text/plain",
        };
        crate::app::web::download(&name, &contents, kind)
            .map_err(|why| LabError::setting("export", why))?;
        Ok(format!("{name} (downloaded)"))
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let dir = run
            .run_dir
            .clone()
            .unwrap_or_else(|| std::path::PathBuf::from("."))
            .join(EXPORTS_DIR);
        let path = crate::lab::record::write_export(&dir, &name, &contents)?;
        Ok(path.display().to_string())
    }
}

/// One export's file name and contents.
pub(super) fn export_contents(
    request: ExportRequest,
    run: &Run,
    log: &RunLog,
    frame: Option<&crate::lab::Frame>,
) -> LabResult<(String, Vec<u8>)> {
    let shown = || frame.ok_or_else(|| LabError::setting("frame", "no frame is shown yet"));
    Ok(match request {
        ExportRequest::MetricsCsv => (
            "metrics.csv".to_string(),
            metrics_csv(&metrics_rows(run, log)?).into_bytes(),
        ),
        ExportRequest::MetricsJson => (
            "metrics.json".to_string(),
            metrics_json(&metrics_rows(run, log)?)?.into_bytes(),
        ),
        ExportRequest::FrameJson => {
            let frame = shown()?;
            (
                format!("frame_{:06}.json", frame.step),
                frame_json(frame)?.into_bytes(),
            )
        }
        ExportRequest::Weights => {
            let frame = shown()?;
            if let Some((i, l)) = frame
                .layers
                .iter()
                .enumerate()
                .find(|(_, l)| l.scale != 1.0)
            {
                return Err(LabError::setting(
                    "weights",
                    format!(
                        "layer {i} multiplies its pre-activations by {}, which a safetensors checkpoint cannot say: export the shown frame as JSON instead",
                        l.scale
                    ),
                ));
            }
            let mut message = frame_message(frame);
            // Said in the file, so that `nnm import` needs no --activation.
            if let Some(t) = &run.topology {
                message.activations = Some(t.network.activations.clone());
                message.output = Some(t.network.output);
            }
            (
                format!("step_{:06}.safetensors", frame.step),
                message.encode()?,
            )
        }
    })
}
