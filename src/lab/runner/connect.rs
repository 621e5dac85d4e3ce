//! The frame source of `nnm view --connect`: a run served by `nnm serve`,
//! followed over its WebSocket `/stream` on a thread of its own.

use std::net::TcpStream;
use std::time::Duration;

use burn::tensor::backend::AutodiffBackend;
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

use super::follow::{Follower, Received, Reply};
use super::handle::{ThreadEnds, TrainerHandle};
use super::protocol::{TrainerCommand, TrainerEvent};
use crate::lab::error::{LabError, LabResult};
use crate::lab::net::ViewerMessage;

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
        let follower = Follower::<B>::new(url);
        Self::spawn_thread("connect", 64, move |ends| follow(socket, follower, ends))
    }
}

fn follow<B: AutodiffBackend>(mut socket: Socket, mut follower: Follower<B>, ends: ThreadEnds) {
    let url = follower.url().to_string();
    let stopped = |e: tungstenite::Error| {
        let _ = ends
            .events
            .send(TrainerEvent::Stopped(format!("{url}: {e}")));
    };
    if let Err(e) = say(&mut socket, &ViewerMessage::Next) {
        stopped(e);
        return;
    }
    loop {
        while let Ok(command) = ends.commands.try_recv() {
            if command == TrainerCommand::Shutdown {
                let _ = socket.close(None);
                return;
            }
            for message in follower.commands(command) {
                if let Err(e) = say(&mut socket, &message) {
                    stopped(e);
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
                let why = format!("the stream ended ({e})");
                follower.receive(Received::Closed(why), &ends.events);
                return;
            }
        };
        let received = match &message {
            Message::Text(text) => Received::Text(text.as_str()),
            Message::Binary(bytes) => Received::Binary(bytes),
            Message::Close(_) => Received::Closed("the server closed the stream".into()),
            _ => continue,
        };
        match follower.receive(received, &ends.events) {
            Reply::Wait => {}
            Reply::Say(m) => {
                if let Err(e) = say(&mut socket, &m) {
                    stopped(e);
                    return;
                }
            }
            Reply::Stop => return,
        }
    }
}

fn say(socket: &mut Socket, message: &ViewerMessage) -> tungstenite::Result<()> {
    let text = serde_json::to_string(message).unwrap_or_default();
    socket.send(Message::text(text))
}
