//! The frame source of `nnm view --listen`: a training loop elsewhere posts
//! its steps to an inbox, and each becomes the network's state at that step,
//! recorded as a run and shown live.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use burn::tensor::backend::AutodiffBackend;
use crossbeam_channel::{Receiver, RecvTimeoutError, SendTimeoutError, Sender, TryRecvError};

use super::handle::{ThreadEnds, TrainerHandle};
use super::protocol::{Driver, RunInfo, TrainerCommand, TrainerEvent};
use super::session::Session;
use crate::lab::error::LabResult;
use crate::lab::model::Activation;
use crate::lab::net::{Inbox, Incoming};
use crate::lab::scene::Presets;
use crate::lab::stream::{NetworkMessage, adopted_scene, check_fits, data_scene};

/// What a stream needs to become a run.
#[derive(Debug, Clone)]
pub struct ListenOptions {
    /// The data that evaluates the network and feeds its probe: a preset,
    /// a scene file or a CSV file (see [`data_scene`]).
    pub data: String,
    /// The presets `data` may name.
    pub presets: Presets,
    /// The hidden layers' non-linearity, where the messages do not say.
    pub activation: Activation,
    /// Record under this folder (`None`: record nothing).
    pub runs_root: Option<PathBuf>,
}

/// How long the thread waits for a message before it looks at its commands.
const POLL: Duration = Duration::from_millis(20);

impl TrainerHandle {
    /// Starts a thread that takes the messages posted to `inbox` as the
    /// steps of one run.
    pub fn spawn_listen<B: AutodiffBackend>(
        inbox: Inbox,
        options: ListenOptions,
    ) -> LabResult<Self> {
        Self::spawn_thread("listen", 64, move |ends| {
            listen::<B>(inbox, options, ends);
        })
    }
}

/// A posted message, decoded and checked, on its way from the reader to the
/// thread that takes it.
struct Job {
    message: NetworkMessage,
    origin: String,
    /// The post of a run's first message, answered once it has started the
    /// run (its data may not fit); later posts were answered on being queued.
    first: Option<Incoming>,
}

/// What the reader and the taking thread share.
struct Shared {
    /// Set when the taking thread ends: the reader stops reading.
    stop: AtomicBool,
    /// Why a message already answered could not be taken: the next post is
    /// refused with it, so that the client hears.
    failure: Mutex<Option<String>>,
}

/// Reads the posts while the thread before it takes the previous message: a
/// client's next message travels while the last one is evaluated and
/// recorded, instead of after. A post is answered once its message is
/// decoded, checked against the run and queued (at most one waits), so a
/// `200` means it will be recorded unless the recording itself fails.
fn read(
    inbox: Inbox,
    jobs: Sender<Job>,
    started: Receiver<bool>,
    shared: Arc<Shared>,
    events: Sender<TrainerEvent>,
) {
    // The run's widths and last step, once its first message started it.
    let mut run: Option<(Vec<usize>, u64)> = None;
    while !shared.stop.load(Ordering::Relaxed) {
        let Some(incoming) = inbox.next(POLL) else {
            continue;
        };
        let failure = shared.failure.lock().ok().and_then(|mut f| f.take());
        if let Some(why) = failure {
            incoming.unavailable(format!(
                "this message was not taken: an earlier one, already answered, failed here ({why})"
            ));
            continue;
        }
        let origin = incoming.peer().to_string();
        let checked = incoming
            .decode(run.as_ref().map(|r| r.1 + 1))
            .and_then(|m| {
                if let Some((sizes, last)) = &run {
                    m.check_follows(Some(*last), &origin)?;
                    m.check_widths(sizes, &origin)?;
                }
                Ok(m)
            });
        let message = match checked {
            Ok(m) => m,
            Err(e) => {
                let _ = events.send(TrainerEvent::Error(e.to_string()));
                incoming.refused(&e);
                continue;
            }
        };
        let (step, sizes) = (message.step, message.sizes());
        // The first message is answered by the taking thread, once it has started the run.
        let (first, answer) = match run {
            None => (Some(incoming), None),
            Some(_) => (None, Some(incoming)),
        };
        let job = Job {
            message,
            origin,
            first,
        };
        if !queue(&jobs, job, &shared.stop) {
            if let Some(incoming) = answer {
                incoming.unavailable("the viewer is closing: this message was not taken");
            }
            break;
        }
        match answer {
            Some(incoming) => {
                incoming.taken(step);
                if let Some(r) = &mut run {
                    r.1 = step;
                }
            }
            None => match recv_unless_stopped(&started, &shared.stop) {
                Some(true) => run = Some((sizes, step)),
                Some(false) => {}
                None => break,
            },
        }
    }
}

/// Puts `job` in the queue, waiting for room; `false` if the taking thread
/// has ended (or is ending) first.
fn queue(jobs: &Sender<Job>, mut job: Job, stop: &AtomicBool) -> bool {
    loop {
        match jobs.send_timeout(job, POLL) {
            Ok(()) => return true,
            Err(SendTimeoutError::Timeout(j)) if !stop.load(Ordering::Relaxed) => job = j,
            Err(_) => return false,
        }
    }
}

/// The next value on `channel`, or `None` once `stop` is set or it closed.
fn recv_unless_stopped<T>(channel: &Receiver<T>, stop: &AtomicBool) -> Option<T> {
    loop {
        match channel.recv_timeout(POLL) {
            Ok(v) => return Some(v),
            Err(RecvTimeoutError::Timeout) if !stop.load(Ordering::Relaxed) => {}
            Err(_) => return None,
        }
    }
}

fn listen<B: AutodiffBackend>(inbox: Inbox, options: ListenOptions, ends: ThreadEnds) {
    let emit = |event: TrainerEvent| ends.events.send(event).is_ok();
    emit(TrainerEvent::Notice(format!(
        "listening on {}: waiting for a training loop to post its steps",
        inbox.addr()
    )));
    let shared = Arc::new(Shared {
        stop: AtomicBool::new(false),
        failure: Mutex::new(None),
    });
    let (jobs, queued) = crossbeam_channel::bounded::<Job>(1);
    let (started_tx, started) = crossbeam_channel::bounded::<bool>(1);
    let reader = {
        let (shared, events) = (shared.clone(), ends.events.clone());
        std::thread::Builder::new()
            .name("nnm-inbox".into())
            .spawn(move || read(inbox, jobs, started, shared, events))
    };
    let reader = match reader {
        Ok(r) => r,
        Err(e) => {
            emit(TrainerEvent::Error(format!(
                "cannot start the inbox's reading thread: {e}"
            )));
            return;
        }
    };
    // The run the stream has become, once its first message came.
    let mut run: Option<Session<B>> = None;
    let work = |job: Job, run: &mut Option<Session<B>>| {
        let taken = take(run, &job.message, &job.origin, &options, &ends.events);
        if let Err(e) = &taken {
            emit(TrainerEvent::Error(e.to_string()));
        }
        match (job.first, taken) {
            (Some(incoming), Ok(step)) => {
                incoming.taken(step);
                let _ = started_tx.send(true);
            }
            (Some(incoming), Err(e)) => {
                incoming.refused(&e);
                let _ = started_tx.send(false);
            }
            (None, Ok(_)) => {}
            (None, Err(e)) => {
                if let Ok(mut f) = shared.failure.lock() {
                    *f = Some(e.to_string());
                }
            }
        }
    };
    loop {
        match ends.commands.try_recv() {
            Ok(TrainerCommand::Shutdown) | Err(TryRecvError::Disconnected) => break,
            // The network trains elsewhere: there is nothing to pause or edit here.
            Ok(_) | Err(TryRecvError::Empty) => {}
        }
        match queued.recv_timeout(POLL) {
            Ok(job) => work(job, &mut run),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    shared.stop.store(true, Ordering::Relaxed);
    let _ = reader.join();
    // Every message answered as taken is recorded before the end.
    for job in queued.try_iter() {
        work(job, &mut run);
    }
    if let Some(r) = &mut run
        && let Err(e) = r.settle()
    {
        emit(TrainerEvent::Error(e.to_string()));
    }
}

/// Takes one posted message: the first starts the run (its shape read from
/// the tensors), every one is recorded and shown.
fn take<B: AutodiffBackend>(
    run: &mut Option<Session<B>>,
    message: &NetworkMessage,
    origin: &str,
    options: &ListenOptions,
    events: &Sender<TrainerEvent>,
) -> LabResult<u64> {
    let session = match run {
        Some(r) => r,
        None => {
            let outputs = message.sizes().last().copied().unwrap_or(0);
            let scene = adopted_scene(
                data_scene(&options.data, &options.presets, outputs)?,
                message,
                options.activation,
                message.step.max(1),
            );
            let data = Arc::new(scene.load_data()?);
            check_fits(message, &data, origin, &options.data)?;
            let session = Session::<B>::with_data(
                &scene,
                data.clone(),
                &Default::default(),
                options.runs_root.as_deref(),
            )?;
            let _ = events.send(TrainerEvent::Started(Box::new(RunInfo {
                topology: session.trainer().topology(),
                scene: session.trainer().scene().clone(),
                data: Some(data),
                run_dir: session.run_dir().map(Path::to_path_buf),
                driver: Driver::Stream,
            })));
            let _ = events.send(TrainerEvent::Running(true));
            let _ = events.send(TrainerEvent::Notice(format!(
                "streaming from {origin}, from step {}",
                message.step
            )));
            run.insert(session)
        }
    };
    let streamed = session.stream_state(message, origin)?;
    if let Some(e) = streamed.evaluation {
        let _ = events.send(TrainerEvent::Evaluated(e));
    }
    if !message.scalars.is_empty() {
        let scalars: BTreeMap<String, f64> = message.scalars.clone();
        let _ = events.send(TrainerEvent::Scalars(message.step, scalars));
    }
    if let Some(frame) = streamed.frame {
        // A full channel means the app is behind: it only wants the newest frame.
        let _ = events.try_send(TrainerEvent::Frame(frame));
    }
    Ok(message.step)
}
