//! Screenshots (F12) and recordings of the live session, saved into the run's `captures/`.

use std::path::{Path, PathBuf};

use bevy::prelude::*;
use bevy::render::view::screenshot::{Screenshot, save_to_disk};

use crate::app::AppSystems;
use crate::app::bridge::Run;
use crate::app::history::Shown;
use crate::app::messages::{Notice, SnapshotRequest};
use crate::lab::record::CAPTURES_DIR;

/// A recording of the window in progress.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Session {
    /// Where its frames go.
    pub dir: PathBuf,
    /// Frames saved so far.
    pub frames: u32,
}

/// The session recording in progress, if any.
#[derive(Resource, Debug, Default)]
pub(super) struct Snapshots {
    /// The recording in progress.
    pub recording: Option<Session>,
}

/// F12 and the record toggle.
pub(super) struct SnapshotsPlugin;

impl Plugin for SnapshotsPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<Snapshots>()
            .add_systems(Update, f12.in_set(AppSystems::Input))
            // Last: the frame is complete when its screenshot is asked for.
            .add_systems(
                Last,
                (handle_requests, record_frame)
                    .chain()
                    .in_set(AppSystems::Snapshot),
            );
    }
}

fn f12(keys: Res<ButtonInput<KeyCode>>, mut requests: MessageWriter<SnapshotRequest>) {
    if keys.just_pressed(KeyCode::F12) {
        requests.write(SnapshotRequest::Screenshot);
    }
}

/// The captures folder of the run being shown, or `./captures`.
pub(super) fn captures_dir(run_dir: Option<&Path>) -> PathBuf {
    run_dir.map_or_else(|| PathBuf::from(CAPTURES_DIR), |d| d.join(CAPTURES_DIR))
}

/// `dir/<prefix>_<NNN>` with the next free number.
fn next_free(dir: &Path, prefix: &str, extension: &str) -> PathBuf {
    (1..)
        .map(|n| dir.join(format!("{prefix}_{n:03}{extension}")))
        .find(|p| !p.exists())
        .unwrap_or_else(|| dir.join(format!("{prefix}{extension}")))
}

fn handle_requests(
    mut commands: Commands,
    mut requests: MessageReader<SnapshotRequest>,
    run: Res<Run>,
    shown: Res<Shown>,
    mut snapshots: ResMut<Snapshots>,
    mut notices: MessageWriter<Notice>,
) {
    for request in requests.read() {
        // A page has no folders: its screenshot is a download, by file name.
        #[cfg(target_arch = "wasm32")]
        if *request == SnapshotRequest::Screenshot {
            let step = shown.step().unwrap_or(0);
            let name = format!("screenshot_step{step:06}.png");
            commands
                .spawn(Screenshot::primary_window())
                .observe(save_to_disk(name.clone()));
            notices.write(Notice(format!("screenshot downloaded as {name}")));
            continue;
        }
        let dir = captures_dir(run.run_dir.as_deref());
        if let Err(e) = std::fs::create_dir_all(&dir) {
            notices.write(Notice(format!("cannot create {}: {e}", dir.display())));
            continue;
        }
        match request {
            SnapshotRequest::Screenshot => {
                let step = shown.step().unwrap_or(0);
                let path = next_free(&dir, &format!("screenshot_step{step:06}"), ".png");
                commands
                    .spawn(Screenshot::primary_window())
                    .observe(save_to_disk(path.clone()));
                notices.write(Notice(format!("screenshot saved to {}", path.display())));
            }
            SnapshotRequest::ToggleRecording => match snapshots.recording.take() {
                Some(session) => {
                    notices.write(Notice(format!(
                        "recorded {} frames to {}",
                        session.frames,
                        session.dir.display()
                    )));
                }
                None => {
                    let session_dir = next_free(&dir, "session", "");
                    match std::fs::create_dir_all(&session_dir) {
                        Ok(()) => {
                            notices.write(Notice(format!(
                                "recording frames to {}",
                                session_dir.display()
                            )));
                            snapshots.recording = Some(Session {
                                dir: session_dir,
                                frames: 0,
                            });
                        }
                        Err(e) => {
                            notices.write(Notice(format!(
                                "cannot create {}: {e}",
                                session_dir.display()
                            )));
                        }
                    }
                }
            },
        }
    }
}

fn record_frame(mut commands: Commands, mut snapshots: ResMut<Snapshots>) {
    let Some(session) = snapshots.recording.as_mut() else {
        return;
    };
    let path = session.dir.join(format!("frame_{:05}.png", session.frames));
    session.frames += 1;
    commands
        .spawn(Screenshot::primary_window())
        .observe(save_to_disk(path));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captures_go_into_the_run_directory() {
        assert_eq!(
            captures_dir(Some(Path::new("runs/xor_003"))),
            Path::new("runs/xor_003/captures")
        );
        assert_eq!(captures_dir(None), Path::new("captures"));
        let dir = crate::scratch::Scratch::new("snap");
        let first = next_free(&dir, "session", "");
        std::fs::create_dir_all(&first).unwrap();
        assert_ne!(
            next_free(&dir, "session", ""),
            first,
            "numbers are never reused"
        );
    }
}
