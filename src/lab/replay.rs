//! Replay: a recorded run served as the same event stream a trainer sends,
//! following the run while it is still being written.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use crate::lab::error::{LabError, LabResult};
use crate::lab::record::{FrameReader, MetricsRow, RunDir, RunStatus, read_metrics};
use crate::lab::runner::{RunInfo, TrainerCommand, TrainerEvent, TrainerHandle};
use crate::lab::train::Evaluation;

/// How often a replay looks for new records of a run still being written.
const POLL: Duration = Duration::from_millis(250);

/// Opens `dir` and starts a thread that replays it: a `Started` event, every
/// evaluation, the last frame, and then whatever the run adds while it goes on.
///
/// Fails at once (naming the file) when the directory is not a readable run.
pub fn spawn_replay(dir: &Path) -> LabResult<TrainerHandle> {
    let run = RunDir::open(dir)?;
    let scene = run.scene()?;
    let reader = FrameReader::open(&run.frames_path())?;
    // The data set is for plotting; a replay goes on without it (say, a moved MNIST file).
    let data = scene.data.load().ok().map(Arc::new);
    let info = RunInfo {
        topology: reader.header().topology.clone(),
        scene,
        data,
        run_dir: Some(run.path.clone()),
        replay: true,
    };
    let (handle, events, commands) = TrainerHandle::detached(64);
    let metrics = run.metrics_path();
    std::thread::Builder::new()
        .name("nnm-replay".into())
        .spawn(move || serve(info, reader, metrics, events, commands))
        .map_err(|e| LabError::run(dir, format!("cannot start the replay thread: {e}")))?;
    Ok(handle)
}

/// An evaluation as a metrics row recorded it.
pub fn evaluation_of(row: &MetricsRow) -> Evaluation {
    let opt = |v: f32| (!v.is_nan()).then_some(v);
    Evaluation {
        step: row.step,
        train_loss: row.train_loss,
        test_loss: row.test_loss,
        train_accuracy: opt(row.train_accuracy),
        test_accuracy: opt(row.test_accuracy),
        generalization_error: opt(row.generalization_error),
    }
}

fn serve(
    info: RunInfo,
    mut reader: FrameReader,
    metrics: PathBuf,
    events: Sender<TrainerEvent>,
    commands: Receiver<TrainerCommand>,
) {
    let send = |e: TrainerEvent| events.send(e).is_ok();
    if !send(TrainerEvent::Started(Box::new(info))) || !send(TrainerEvent::Running(false)) {
        return;
    }
    let mut rows_sent = 0;
    let mut frames_sent = 0;
    let mut next_poll = std::time::Instant::now();
    loop {
        // Commands (the app's frame ticks among them) arrive often; the run is
        // looked at only every POLL.
        let wait = next_poll.saturating_duration_since(std::time::Instant::now());
        match commands.recv_timeout(wait) {
            Ok(TrainerCommand::Shutdown) | Err(RecvTimeoutError::Disconnected) => return,
            // A replay has no trainer: other commands have nothing to act on.
            Ok(_) => continue,
            Err(RecvTimeoutError::Timeout) => {}
        }
        next_poll = std::time::Instant::now() + POLL;
        // New metrics rows; a row cut short by a running writer is read next time.
        let rows = read_metrics(&metrics).unwrap_or_default();
        for row in rows.iter().skip(rows_sent) {
            let event = match row.status {
                RunStatus::Diverged if row.train_loss.is_nan() => TrainerEvent::Diverged {
                    step: row.step,
                    loss: row.batch_loss,
                },
                _ => TrainerEvent::Evaluated(evaluation_of(row)),
            };
            if !send(event) {
                return;
            }
        }
        rows_sent = rows_sent.max(rows.len());
        if reader.refresh().is_err() {
            return;
        }
        if reader.len() > frames_sent {
            frames_sent = reader.len();
            match reader.read(frames_sent - 1) {
                Ok(frame) => {
                    if !send(TrainerEvent::Frame(Box::new(frame))) {
                        return;
                    }
                }
                Err(e) => {
                    if !send(TrainerEvent::Error(e.to_string())) {
                        return;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::lab::TestBackend;
    use crate::lab::runner::Session;
    use crate::lab::scene::Scene;

    #[test]
    fn a_replay_serves_the_recorded_run_as_trainer_events() {
        let root = std::env::temp_dir().join(format!("nnm-replay-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let scene = Scene::parse(
            "Scene(name: \"r\", data: Xor(samples: 60), model: (hidden: [4]), train: (steps: 30, eval_every: 10))",
            Path::new("r.ron"),
        )
        .unwrap();
        let mut session =
            Session::<TestBackend>::start(&scene, &Default::default(), Some(&root)).unwrap();
        let mut last = None;
        for _ in 0..30 {
            last = session.advance(true).unwrap().frame;
        }
        session.finish().unwrap();
        let dir = session.run_dir().unwrap().to_path_buf();
        let handle = spawn_replay(&dir).unwrap();
        let mut events = Vec::new();
        while let Ok(e) = handle.events().recv_timeout(Duration::from_secs(5)) {
            let done = matches!(e, TrainerEvent::Frame(_));
            events.push(e);
            if done {
                break;
            }
        }
        let TrainerEvent::Started(info) = &events[0] else {
            panic!("{events:?}")
        };
        assert!(info.replay);
        assert_eq!(info.topology.sizes, vec![2, 4, 2]);
        assert_eq!(info.run_dir.as_deref(), Some(dir.as_path()));
        let evals: Vec<u64> = events
            .iter()
            .filter_map(|e| match e {
                TrainerEvent::Evaluated(ev) => Some(ev.step),
                _ => None,
            })
            .collect();
        assert_eq!(evals, vec![0, 10, 20, 30]);
        let Some(TrainerEvent::Frame(f)) = events.last() else {
            panic!()
        };
        assert_eq!(f.step, 29);
        let recorded = last.unwrap();
        assert_eq!(f.layers[0].biases, recorded.layers[0].biases);
        drop(handle);
        std::fs::remove_dir_all(root).ok();
    }

    #[test]
    fn a_directory_that_is_not_a_run_is_refused_by_name() {
        let err = spawn_replay(Path::new("/no/such/run_001"))
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("/no/such/run_001") && err.contains("not a run directory"),
            "{err}"
        );
    }
}
