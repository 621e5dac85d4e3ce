//! Replay: a recorded run served as the same event stream a trainer sends,
//! following the run while it is still being written.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::RecvTimeoutError;

use crate::lab::error::LabResult;
use crate::lab::frame::RunStatus;
use crate::lab::record::{FrameReader, LAYERS_FILE, RunDir, read_layers, read_metrics};
use crate::lab::record::{SCALARS_FILE, read_scalars};
use crate::lab::runner::{
    Driver, RunInfo, ThreadEnds, TrainerCommand, TrainerEvent, TrainerHandle,
};

/// How often a replay looks for new records of a run still being written.
const POLL: Duration = Duration::from_millis(250);

/// Opens `dir` and starts a thread that replays it: a `Started` event, every
/// evaluation, the last frame, and then whatever the run adds while it goes on.
///
/// Fails at once (naming the file) when the directory is not a readable run.
/// Later failures (a damaged metrics file, a recording that cannot be read)
/// come as error events naming the file; the replay goes on with what it has.
pub fn spawn_replay(dir: &Path) -> LabResult<TrainerHandle> {
    let run = RunDir::open(dir)?;
    let scene = run.scene()?;
    let reader = FrameReader::open(&run.frames_path())?;
    // The data set is for plotting; a replay goes on without it (say, a moved MNIST file).
    let data = scene.load_data().ok().map(Arc::new);
    let info = RunInfo {
        topology: reader.header().topology.clone(),
        scene,
        data,
        run_dir: Some(run.path.clone()),
        driver: Driver::Replay,
    };
    let metrics = run.metrics_path();
    let layers = run.path.join(LAYERS_FILE);
    let scalars = run.path.join(SCALARS_FILE);
    TrainerHandle::spawn_thread("replay", 64, move |ends| {
        serve(info, reader, [metrics, layers, scalars], ends)
    })
}

/// What the replay has sent so far, and the last problem it reported.
struct Served {
    rows: usize,
    layer_rows: usize,
    scalar_rows: usize,
    frames: usize,
    problem: Option<String>,
}

impl Served {
    /// Reports `problem` once (a replay polls; the same damage is not news).
    fn report(&mut self, problem: String, send: &impl Fn(TrainerEvent) -> bool) -> bool {
        if self.problem.as_ref() == Some(&problem) {
            return true;
        }
        self.problem = Some(problem.clone());
        send(TrainerEvent::Error(problem))
    }
}

fn serve(info: RunInfo, mut reader: FrameReader, files: [PathBuf; 3], ends: ThreadEnds) {
    let ThreadEnds { commands, events } = ends;
    let send = |e: TrainerEvent| events.send(e).is_ok();
    if !send(TrainerEvent::Started(Box::new(info))) || !send(TrainerEvent::Running(false)) {
        return;
    }
    let mut served = Served {
        rows: 0,
        layer_rows: 0,
        scalar_rows: 0,
        frames: 0,
        problem: None,
    };
    let mut next_poll = Instant::now();
    loop {
        // Commands (the app's frame ticks among them) arrive often; the run is
        // looked at only every POLL.
        let wait = next_poll.saturating_duration_since(Instant::now());
        match commands.recv_timeout(wait) {
            Ok(TrainerCommand::Shutdown) | Err(RecvTimeoutError::Disconnected) => return,
            // A replay has no trainer: other commands have nothing to act on.
            Ok(_) => continue,
            Err(RecvTimeoutError::Timeout) => {}
        }
        next_poll = Instant::now() + POLL;
        if !poll(&mut reader, &files, &mut served, &send) {
            return;
        }
    }
}

/// Sends what the run added since the last look; false when the app has gone.
fn poll(
    reader: &mut FrameReader,
    [metrics, layers, scalars]: &[PathBuf; 3],
    served: &mut Served,
    send: &impl Fn(TrainerEvent) -> bool,
) -> bool {
    // New metrics rows; a row cut short by a running writer is read next time.
    match read_metrics(metrics) {
        Ok(rows) => {
            for row in rows.iter().skip(served.rows) {
                let event = match row.status {
                    RunStatus::Diverged if row.train_loss.is_none() => TrainerEvent::Diverged {
                        step: row.step,
                        loss: row.batch_loss.unwrap_or(f32::NAN),
                    },
                    _ => TrainerEvent::Evaluated(*row),
                };
                if !send(event) {
                    return false;
                }
            }
            served.rows = served.rows.max(rows.len());
        }
        Err(e) => {
            if !served.report(format!("replay: {e}"), send) {
                return false;
            }
        }
    }
    match read_layers(layers, reader.header().topology.network.layer_count()) {
        Ok(steps) => {
            for (step, stats) in steps.iter().skip(served.layer_rows) {
                if !send(TrainerEvent::Layers(*step, stats.clone())) {
                    return false;
                }
            }
            served.layer_rows = served.layer_rows.max(steps.len());
        }
        Err(e) => {
            if !served.report(format!("replay: {e}"), send) {
                return false;
            }
        }
    }
    if scalars.exists() {
        match read_scalars(scalars) {
            Ok(rows) => {
                let new = rows.get(served.scalar_rows..).unwrap_or_default();
                for chunk in new.chunk_by(|a, b| a.0 == b.0) {
                    let values = chunk.iter().map(|(_, n, v)| (n.clone(), *v)).collect();
                    if !send(TrainerEvent::Scalars(chunk[0].0, values)) {
                        return false;
                    }
                }
                served.scalar_rows = served.scalar_rows.max(rows.len());
            }
            Err(e) => {
                if !served.report(format!("replay: {e}"), send) {
                    return false;
                }
            }
        }
    }
    if let Err(e) = reader.refresh() {
        return served.report(format!("replay: {e}"), send);
    }
    if reader.len() > served.frames {
        served.frames = reader.len();
        let event = match reader.read(served.frames - 1) {
            Ok(frame) => TrainerEvent::Frame(Box::new(frame)),
            Err(e) => TrainerEvent::Error(format!("replay: {e}")),
        };
        return send(event);
    }
    true
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::lab::CpuBackend;
    use crate::lab::Frame;
    use crate::lab::runner::Session;
    use crate::lab::scene::Scene;

    /// Trains `steps` steps of a small xor net, evaluating every 10, into a
    /// fresh folder; returns the folder, the run directory and the last frame.
    fn recorded_run(tag: &str, steps: u64) -> (crate::scratch::Scratch, PathBuf, Frame) {
        let root = crate::scratch::Scratch::new(&format!("replay-{tag}"));
        let scene = Scene::parse(
            &format!(
                "Scene(name: \"{tag}\", data: Xor(samples: 60), model: (hidden: [4]), train: (steps: {steps}, eval_every: 10))"
            ),
            Path::new("r.ron"),
        )
        .unwrap();
        let mut session =
            Session::<CpuBackend>::start(&scene, &Default::default(), Some(root.path())).unwrap();
        for _ in 0..steps {
            session.advance(false).unwrap();
        }
        session.finish().unwrap();
        // The recording ends with the final state, as a paused view shows it.
        let last = session.peek().unwrap().unwrap();
        let dir = session.run_dir().unwrap().to_path_buf();
        (root, dir, *last)
    }

    #[test]
    fn a_replay_serves_the_recorded_run_as_trainer_events() {
        let (_root, dir, recorded) = recorded_run("r", 30);
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
        assert_eq!(info.driver, Driver::Replay);
        assert_eq!(info.topology.network.sizes, vec![2, 4, 2]);
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
        assert_eq!(f.step, 30, "the final state");
        assert_eq!(f.layers[0].biases, recorded.layers[0].biases);
        assert_eq!(f.layers[1].weights, recorded.layers[1].weights);
        drop(handle);
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

    #[test]
    fn a_replay_says_when_its_metrics_file_is_damaged() {
        let (_root, dir, _) = recorded_run("b", 20);
        // A row in the middle is garbled: the replay must say so, not go quiet.
        let metrics = dir.join("metrics.csv");
        let text = std::fs::read_to_string(&metrics).unwrap();
        let mut lines: Vec<&str> = text.lines().collect();
        lines[2] = "10,garbage";
        std::fs::write(&metrics, lines.join("\n") + "\n").unwrap();
        let handle = spawn_replay(&dir).unwrap();
        let error = loop {
            match handle.events().recv_timeout(Duration::from_secs(10)) {
                Ok(TrainerEvent::Error(e)) => break e,
                Ok(_) => continue,
                Err(e) => panic!("no error event: {e}"),
            }
        };
        assert!(
            error.contains("metrics.csv") && error.contains("line 3"),
            "{error}"
        );
        drop(handle);
    }
}
