//! Following a run served by `nnm serve`, whatever carries its messages:
//! the served weights arrive as stream messages and are followed through
//! the same data here (the probe, the gradients), and the app's commands
//! become the viewer's messages. The desktop reads the stream on a thread
//! (tungstenite), the page inside its frames (the browser's WebSocket).

use burn::tensor::backend::AutodiffBackend;
use crossbeam_channel::{Sender, TrySendError};

use super::protocol::{Driver, RunInfo, TrainerCommand, TrainerEvent};
use super::session::Session;
use crate::lab::error::LabResult;
use crate::lab::frame::Metrics;
use crate::lab::net::{ServerEvent, Settings, ViewerMessage};
use crate::lab::scene::Scene;
use crate::lab::stream::NetworkMessage;

/// One thing the stream carried.
pub(super) enum Received<'a> {
    /// A server event, as JSON.
    Text(&'a str),
    /// A frame, as a stream message.
    Binary(&'a [u8]),
    /// The stream ended, for this reason.
    Closed(String),
}

/// What the follower does after a message.
pub(super) enum Reply {
    /// Nothing: wait for the next message.
    Wait,
    /// Send this to the server.
    Say(ViewerMessage),
    /// Stop following: the stream ended, or the app went away.
    Stop,
}

/// The served run as this viewer holds it.
struct Following<B: AutodiffBackend> {
    session: Session<B>,
    scene: Scene,
}

/// A viewer of the run served at a URL.
pub(super) struct Follower<B: AutodiffBackend> {
    url: String,
    run: Option<Following<B>>,
}

impl<B: AutodiffBackend> Follower<B> {
    /// A viewer of `url`, which has heard nothing yet.
    pub(super) fn new(url: &str) -> Self {
        Follower {
            url: url.to_string(),
            run: None,
        }
    }

    /// The URL followed.
    pub(super) fn url(&self) -> &str {
        &self.url
    }

    /// What the app's `command` asks of the server.
    pub(super) fn commands(&self, command: TrainerCommand) -> Vec<ViewerMessage> {
        viewer_messages(command, self.run.as_ref().map(|r| &r.scene))
    }

    /// Handles what the server sent. A frame is dropped when the event
    /// channel is full (the app is behind); other events wait for room.
    pub(super) fn receive(
        &mut self,
        received: Received<'_>,
        events: &Sender<TrainerEvent>,
    ) -> Reply {
        // The app has gone when the channel is closed; the caller ends on Shutdown.
        let emit = |e: TrainerEvent| {
            let _ = events.send(e);
        };
        let url = self.url.as_str();
        match received {
            Received::Text(text) => match serde_json::from_str::<ServerEvent>(text) {
                Ok(ServerEvent::End) => return Reply::Say(ViewerMessage::Next),
                Ok(event) => {
                    if let Err(e) = server_event::<B>(event, &mut self.run, &emit) {
                        emit(TrainerEvent::Error(format!("{url}: {e}")));
                    }
                }
                Err(e) => emit(TrainerEvent::Error(format!(
                    "{url}: a message not understood: {e}"
                ))),
            },
            Received::Binary(bytes) => {
                if let Some(run) = &mut self.run {
                    match frame_of(run, bytes, url) {
                        Ok(Some(event)) => {
                            if let Err(TrySendError::Disconnected(_)) = events.try_send(event) {
                                return Reply::Stop;
                            }
                        }
                        Ok(None) => {}
                        Err(e) => emit(TrainerEvent::Error(e.to_string())),
                    }
                }
            }
            Received::Closed(why) => {
                emit(TrainerEvent::Stopped(format!("{url}: {why}")));
                return Reply::Stop;
            }
        }
        Reply::Wait
    }
}

/// The served weights at a step, followed through the data here.
fn frame_of<B: AutodiffBackend>(
    run: &mut Following<B>,
    bytes: &[u8],
    url: &str,
) -> LabResult<Option<TrainerEvent>> {
    let message = NetworkMessage::decode(bytes, url, None)?;
    run.session.trainer_mut().load_state(&message, url)?;
    let Some(mut frame) = run.session.peek()? else {
        return Ok(None);
    };
    // The served step's own measures, not this copy's.
    for m in Metrics::MEASURES {
        if let Some(v) = message.scalars.get(m.name) {
            (m.set)(&mut frame.metrics, Some(*v as f32));
        }
    }
    Ok(Some(TrainerEvent::Frame(frame)))
}

fn server_event<B: AutodiffBackend>(
    event: ServerEvent,
    run: &mut Option<Following<B>>,
    emit: &impl Fn(TrainerEvent),
) -> LabResult<()> {
    let parse = |ron: &str| Scene::parse(ron, std::path::Path::new("the served scene"));
    match event {
        ServerEvent::Started { scene, run_dir } => {
            let scene = parse(&scene)?;
            let session = Session::<B>::start(&scene, &Default::default(), None)?;
            emit(TrainerEvent::Started(Box::new(RunInfo {
                topology: session.trainer().topology(),
                scene: scene.clone(),
                data: Some(session.trainer().data().clone()),
                run_dir: None,
                driver: Driver::Trainer,
            })));
            if let Some(dir) = run_dir {
                emit(TrainerEvent::Notice(format!(
                    "the server records this run in {dir}"
                )));
            }
            *run = Some(Following { session, scene });
        }
        ServerEvent::Evaluated(m) => emit(TrainerEvent::Evaluated(m)),
        ServerEvent::Settings(ron) => {
            let scene = parse(&ron)?;
            if let Some(r) = run {
                r.scene = scene.clone();
            }
            emit(TrainerEvent::Settings(Box::new(scene)));
        }
        ServerEvent::Running(on) => emit(TrainerEvent::Running(on)),
        ServerEvent::Finished(step) => emit(TrainerEvent::Finished { step }),
        ServerEvent::Diverged { step, loss } => emit(TrainerEvent::Diverged { step, loss }),
        ServerEvent::Note(text) => emit(TrainerEvent::Notice(text)),
        ServerEvent::Stopped => {
            emit(TrainerEvent::Notice("the server stopped the run".into()));
            emit(TrainerEvent::Running(false));
        }
        ServerEvent::End => {}
    }
    Ok(())
}

/// What the app's `command` asks of the server (`scene`: the run's, for
/// an activation that keeps the layers).
fn viewer_messages(command: TrainerCommand, scene: Option<&Scene>) -> Vec<ViewerMessage> {
    let settings = |s: Settings| vec![ViewerMessage::Settings(s)];
    match command {
        TrainerCommand::Pause => vec![ViewerMessage::Pause],
        TrainerCommand::Resume => vec![ViewerMessage::Resume],
        TrainerCommand::Step(n) => vec![ViewerMessage::Step(n)],
        TrainerCommand::Reset => vec![ViewerMessage::Reset],
        TrainerCommand::SetLearningRate(lr) => settings(Settings {
            learning_rate: Some(lr),
            ..Default::default()
        }),
        TrainerCommand::SetBatchSize(b) => settings(Settings {
            batch_size: Some(b),
            ..Default::default()
        }),
        TrainerCommand::SetOptimizer(o) => settings(Settings {
            optimizer: Some(o),
            ..Default::default()
        }),
        TrainerCommand::SetDropout(d) => settings(Settings {
            dropout: Some(d),
            ..Default::default()
        }),
        TrainerCommand::SetActivation(a) => settings(Settings {
            activation: Some(a.label().to_string()),
            hidden: scene.map(|s| s.model.hidden.clone()),
            ..Default::default()
        }),
        // The server's layers take one activation; the first stands for all.
        TrainerCommand::SetLayers {
            hidden,
            activations,
        } => settings(Settings {
            activation: activations.first().map(|a| a.label().to_string()),
            hidden: Some(hidden),
            ..Default::default()
        }),
        TrainerCommand::Reseed(seed) => settings(Settings {
            seed: Some(seed),
            ..Default::default()
        }),
        // Pace, frames, presentation and checkpoints are the server's own.
        _ => Vec::new(),
    }
}
