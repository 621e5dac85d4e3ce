//! The frame source of `nnm view --listen`: a training loop elsewhere posts
//! its steps to an inbox, and each becomes the network's state at that step,
//! recorded as a run and shown live.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use burn::tensor::backend::AutodiffBackend;
use crossbeam_channel::{Sender, TryRecvError, TrySendError};

use super::handle::{ThreadEnds, TrainerHandle};
use super::protocol::{Driver, RunInfo, TrainerCommand, TrainerEvent};
use super::session::Session;
use crate::lab::error::LabResult;
use crate::lab::model::Activation;
use crate::lab::net::{Inbox, Incoming};
use crate::lab::scene::Presets;
use crate::lab::stream::{adopted_scene, check_fits, data_scene};

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

/// The run a stream has become, once its first message came.
struct Streaming<B: AutodiffBackend> {
    session: Session<B>,
    last_step: u64,
}

fn listen<B: AutodiffBackend>(inbox: Inbox, options: ListenOptions, ends: ThreadEnds) {
    let emit = |event: TrainerEvent| ends.events.send(event).is_ok();
    emit(TrainerEvent::Notice(format!(
        "listening on {}: waiting for a training loop to post its steps",
        inbox.addr()
    )));
    let mut run: Option<Streaming<B>> = None;
    loop {
        match ends.commands.try_recv() {
            Ok(TrainerCommand::Shutdown) | Err(TryRecvError::Disconnected) => break,
            // The network trains elsewhere: there is nothing to pause or edit here.
            Ok(_) | Err(TryRecvError::Empty) => {}
        }
        let Some(incoming) = inbox.next(POLL) else {
            continue;
        };
        match take(&mut run, &incoming, &options, &ends.events) {
            Ok(step) => incoming.taken(step),
            Err(e) => {
                emit(TrainerEvent::Error(e.to_string()));
                incoming.refused(&e);
            }
        }
    }
    if let Some(r) = &mut run
        && let Err(e) = r.session.settle()
    {
        emit(TrainerEvent::Error(e.to_string()));
    }
}

/// Takes one posted message: the first starts the run (its shape read from
/// the tensors), every one is recorded and shown.
fn take<B: AutodiffBackend>(
    run: &mut Option<Streaming<B>>,
    incoming: &Incoming,
    options: &ListenOptions,
    events: &Sender<TrainerEvent>,
) -> LabResult<u64> {
    let fallback = run.as_ref().map(|r| r.last_step + 1);
    let message = incoming.decode(fallback)?;
    let origin = incoming.peer().to_string();
    let streaming = match run {
        Some(r) => r,
        None => {
            let outputs = message.sizes().last().copied().unwrap_or(0);
            let scene = adopted_scene(
                data_scene(&options.data, &options.presets, outputs)?,
                &message,
                options.activation,
                message.step.max(1),
            );
            let data = Arc::new(scene.load_data()?);
            check_fits(&message, &data, &origin, &options.data)?;
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
            run.insert(Streaming {
                session,
                last_step: message.step,
            })
        }
    };
    let streamed = streaming.session.stream_state(&message, &origin)?;
    streaming.last_step = message.step;
    if let Some(e) = streamed.evaluation {
        let _ = events.send(TrainerEvent::Evaluated(e));
    }
    if !message.scalars.is_empty() {
        let scalars: BTreeMap<String, f64> = message.scalars.clone();
        let _ = events.send(TrainerEvent::Scalars(message.step, scalars));
    }
    if let Some(frame) = streamed.frame {
        // A full channel means the app is behind: it only wants the newest frame.
        if let Err(TrySendError::Disconnected(_)) = events.try_send(TrainerEvent::Frame(frame)) {
            return Ok(message.step);
        }
    }
    Ok(message.step)
}
