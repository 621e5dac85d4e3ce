//! The frame source of `nnm view --connect`: a run served by `nnm serve`,
//! followed over its WebSocket `/stream`. The served weights arrive as
//! stream messages and are followed through the same data here (the probe,
//! the gradients); the viewer's controls go back as commands.

use std::net::TcpStream;
use std::time::Duration;

use burn::tensor::backend::AutodiffBackend;
use crossbeam_channel::TrySendError;
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

use super::handle::{ThreadEnds, TrainerHandle};
use super::protocol::{Driver, RunInfo, TrainerCommand, TrainerEvent};
use super::session::Session;
use crate::lab::error::{LabError, LabResult};
use crate::lab::frame::Metrics;
use crate::lab::net::{ServerEvent, Settings, ViewerMessage};
use crate::lab::scene::Scene;
use crate::lab::stream::NetworkMessage;

type Socket = WebSocket<MaybeTlsStream<TcpStream>>;

/// How long a read waits before the thread looks at the app's commands.
const READ_WAIT: Duration = Duration::from_millis(50);

impl TrainerHandle {
    /// Connects to `url` (`ws://HOST:PORT/stream`, with `?token=T` where the
    /// server needs one) and starts a thread that follows the served run.
    pub fn spawn_connect<B: AutodiffBackend>(url: &str) -> LabResult<Self> {
        let (socket, _) = tungstenite::connect(url)
            .map_err(|e| LabError::net(url, format!("cannot connect: {e}")))?;
        if let MaybeTlsStream::Plain(s) = socket.get_ref() {
            s.set_read_timeout(Some(READ_WAIT))
                .map_err(|e| LabError::net(url, e.to_string()))?;
        }
        let url = url.to_string();
        Self::spawn_thread("connect", 64, move |ends| follow::<B>(socket, &url, ends))
    }
}

/// The served run as this viewer holds it.
struct Following<B: AutodiffBackend> {
    session: Session<B>,
    scene: Scene,
}

fn follow<B: AutodiffBackend>(mut socket: Socket, url: &str, ends: ThreadEnds) {
    let emit = |e: TrainerEvent| ends.events.send(e).is_ok();
    let mut run: Option<Following<B>> = None;
    if let Err(e) = say(&mut socket, &ViewerMessage::Next) {
        emit(TrainerEvent::Stopped(format!("{url}: {e}")));
        return;
    }
    loop {
        while let Ok(command) = ends.commands.try_recv() {
            if command == TrainerCommand::Shutdown {
                let _ = socket.close(None);
                return;
            }
            let scene = run.as_ref().map(|r| &r.scene);
            for message in viewer_messages(command, scene) {
                if let Err(e) = say(&mut socket, &message) {
                    emit(TrainerEvent::Stopped(format!("{url}: {e}")));
                    return;
                }
            }
        }
        let message = match socket.read() {
            Ok(m) => m,
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue;
            }
            Err(e) => {
                emit(TrainerEvent::Stopped(format!(
                    "{url}: the stream ended ({e})"
                )));
                return;
            }
        };
        let result = match message {
            Message::Text(text) => match serde_json::from_str::<ServerEvent>(text.as_str()) {
                Ok(ServerEvent::End) => say(&mut socket, &ViewerMessage::Next),
                Ok(event) => {
                    if let Err(e) = server_event::<B>(event, &mut run, &emit) {
                        emit(TrainerEvent::Error(format!("{url}: {e}")));
                    }
                    Ok(())
                }
                Err(e) => {
                    emit(TrainerEvent::Error(format!(
                        "{url}: a message not understood: {e}"
                    )));
                    Ok(())
                }
            },
            Message::Binary(bytes) => {
                if let Some(r) = &mut run {
                    match frame_of(r, &bytes, url) {
                        Ok(Some(event)) => {
                            if let Err(TrySendError::Disconnected(_)) = ends.events.try_send(event)
                            {
                                return;
                            }
                        }
                        Ok(None) => {}
                        Err(e) => {
                            emit(TrainerEvent::Error(e.to_string()));
                        }
                    }
                }
                Ok(())
            }
            Message::Close(_) => {
                emit(TrainerEvent::Stopped(format!(
                    "{url}: the server closed the stream"
                )));
                return;
            }
            _ => Ok(()),
        };
        if let Err(e) = result {
            emit(TrainerEvent::Stopped(format!("{url}: {e}")));
            return;
        }
    }
}

fn say(socket: &mut Socket, message: &ViewerMessage) -> tungstenite::Result<()> {
    let text = serde_json::to_string(message).unwrap_or_default();
    socket.send(Message::text(text))
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
    emit: &impl Fn(TrainerEvent) -> bool,
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
        ServerEvent::Evaluated(m) => {
            emit(TrainerEvent::Evaluated(m));
        }
        ServerEvent::Settings(ron) => {
            let scene = parse(&ron)?;
            if let Some(r) = run {
                r.scene = scene.clone();
            }
            emit(TrainerEvent::Settings(Box::new(scene)));
        }
        ServerEvent::Running(on) => {
            emit(TrainerEvent::Running(on));
        }
        ServerEvent::Finished(step) => {
            emit(TrainerEvent::Finished { step });
        }
        ServerEvent::Diverged { step, loss } => {
            emit(TrainerEvent::Diverged { step, loss });
        }
        ServerEvent::Note(text) => {
            emit(TrainerEvent::Notice(text));
        }
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
