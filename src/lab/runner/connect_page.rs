//! The page's frame source for `?connect=`: a run served by `nnm serve`,
//! followed over the browser's WebSocket inside the app's frames (a page
//! has no threads to read a socket on).

use std::cell::RefCell;
use std::collections::VecDeque;
use std::time::Duration;

use burn::tensor::backend::AutodiffBackend;
use crossbeam_channel::{Receiver, Sender};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::Closure;
use web_sys::{BinaryType, CloseEvent, MessageEvent, WebSocket};

use super::follow::{Follower, Received, Reply};
use super::handle::{Pump, TrainerHandle};
use super::protocol::{TrainerCommand, TrainerEvent};
use crate::lab::clock::Instant;
use crate::lab::error::{LabError, LabResult};
use crate::lab::net::ViewerMessage;

/// What the socket delivered, waiting for the next frame.
enum Heard {
    Text(String),
    Binary(Vec<u8>),
    Closed(String),
}

/// The browser's socket and the listeners that fill [`HEARD`].
struct PageSocket {
    socket: WebSocket,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_close: Closure<dyn FnMut(CloseEvent)>,
}

impl PageSocket {
    /// Closes the socket, its listeners first: the browser may still fire
    /// them after their closures are dropped.
    fn close(self) {
        self.socket.set_onmessage(None);
        self.socket.set_onclose(None);
        let _ = self.socket.close();
    }
}

thread_local! {
    // A browser's socket belongs to the page's one thread, so it lives here
    // rather than in the frame source, which the app must be able to send.
    static SOCKET: RefCell<Option<PageSocket>> = const { RefCell::new(None) };
    static HEARD: RefCell<VecDeque<Heard>> = const { RefCell::new(VecDeque::new()) };
}

/// The event channel's capacity.
const EVENT_CAPACITY: usize = 1024;

/// Room kept in the event channel before a message is handled: the most
/// events one server message makes.
const EVENTS_PER_MESSAGE: usize = 4;

impl TrainerHandle {
    /// Connects the page to `url` (`ws://HOST:PORT/stream`, with `?token=T`
    /// where the server needs one) and follows the served run when the app
    /// calls [`TrainerHandle::pump`], as `nnm view --connect` does on a thread.
    pub fn connect_in_page<B: AutodiffBackend>(url: &str) -> LabResult<Self> {
        let socket = WebSocket::new(url)
            .map_err(|e| LabError::net(url, format!("cannot connect: {e:?}")))?;
        socket.set_binary_type(BinaryType::Arraybuffer);
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(|event: MessageEvent| {
            let data = event.data();
            let heard = match data.as_string() {
                Some(text) => Heard::Text(text),
                None => match data.dyn_into::<js_sys::ArrayBuffer>() {
                    Ok(buffer) => Heard::Binary(js_sys::Uint8Array::new(&buffer).to_vec()),
                    Err(_) => return,
                },
            };
            HEARD.with(|h| h.borrow_mut().push_back(heard));
        });
        let on_close = Closure::<dyn FnMut(CloseEvent)>::new(|event: CloseEvent| {
            let why = match (event.code(), event.reason()) {
                (1000, _) => "the server closed the stream".to_string(),
                // The browser does not say why a connection failed.
                (code, reason) if reason.is_empty() => format!(
                    "the stream ended (code {code}): is `nnm serve` running there, and reachable from this page?"
                ),
                (code, reason) => format!("the stream ended (code {code}): {reason}"),
            };
            HEARD.with(|h| h.borrow_mut().push_back(Heard::Closed(why)));
        });
        socket.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        socket.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        let before = SOCKET.with(|s| {
            s.borrow_mut().replace(PageSocket {
                socket,
                _on_message: on_message,
                _on_close: on_close,
            })
        });
        if let Some(before) = before {
            before.close();
        }
        HEARD.with(|h| h.borrow_mut().clear());
        // Room for a whole batch of a fast server's evaluations (a small net
        // trains thousands of steps a second there): a viewer that leaves
        // them waiting too long is dropped by the server as gone.
        let (handle, events, commands) = Self::detached(EVENT_CAPACITY);
        Ok(handle.with_pump(Box::new(PageFollower {
            follower: Follower::<B>::new(url),
            commands,
            events,
            greeted: false,
            ended: false,
        })))
    }
}

/// The follower, run a slice of each frame.
struct PageFollower<B: AutodiffBackend> {
    follower: Follower<B>,
    commands: Receiver<TrainerCommand>,
    events: Sender<TrainerEvent>,
    /// The first `next` was sent, once the socket opened.
    greeted: bool,
    ended: bool,
}

impl<B: AutodiffBackend> PageFollower<B> {
    /// Sends `message`; a socket that cannot send ends the follow.
    fn say(&mut self, message: &ViewerMessage) {
        let text = serde_json::to_string(message).unwrap_or_default();
        let sent = SOCKET.with(|s| match s.borrow().as_ref() {
            Some(s) => s.socket.send_with_str(&text).map_err(|e| format!("{e:?}")),
            None => Err("the socket is gone".into()),
        });
        if let Err(e) = sent {
            let why = format!("{}: cannot send: {e}", self.follower.url());
            let _ = self.events.try_send(TrainerEvent::Stopped(why));
            self.end();
        }
    }

    fn end(&mut self) {
        self.ended = true;
        if let Some(s) = SOCKET.with(|s| s.borrow_mut().take()) {
            s.close();
        }
    }

    fn has_room(&self) -> bool {
        self.events
            .capacity()
            .is_none_or(|c| self.events.len() + EVENTS_PER_MESSAGE <= c)
    }
}

impl<B: AutodiffBackend> Pump for PageFollower<B> {
    fn pump(&mut self, budget: Duration) -> bool {
        if self.ended {
            return false;
        }
        let start = Instant::now();
        let mut worked = false;
        let open = SOCKET.with(|s| {
            s.borrow()
                .as_ref()
                .is_some_and(|s| s.socket.ready_state() == WebSocket::OPEN)
        });
        if open && !self.greeted {
            self.greeted = true;
            self.say(&ViewerMessage::Next);
            worked = true;
        }
        // Commands wait until the socket opens: a connecting one cannot send.
        while self.greeted && !self.ended {
            let Ok(command) = self.commands.try_recv() else {
                break;
            };
            worked = true;
            if command == TrainerCommand::Shutdown {
                self.end();
                return true;
            }
            for message in self.follower.commands(command) {
                self.say(&message);
            }
        }
        while !self.ended && self.has_room() && start.elapsed() < budget {
            let Some(heard) = HEARD.with(|h| h.borrow_mut().pop_front()) else {
                break;
            };
            worked = true;
            let received = match &heard {
                Heard::Text(text) => Received::Text(text),
                Heard::Binary(bytes) => Received::Binary(bytes),
                Heard::Closed(why) => Received::Closed(why.clone()),
            };
            match self.follower.receive(received, &self.events) {
                Reply::Wait => {}
                Reply::Say(message) => self.say(&message),
                Reply::Stop => self.end(),
            }
        }
        worked
    }
}
