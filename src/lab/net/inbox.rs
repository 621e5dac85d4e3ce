//! The inbox of `nnm view --listen`: an HTTP server that takes one stream
//! message per `POST /log` and hands it on, answering each post once its
//! step is accepted (or with what was wrong).

use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use super::{Gate, LOG_PATH, answer, path_of, read_body};
use crate::lab::error::{LabError, LabResult};
use crate::lab::stream::NetworkMessage;

/// An HTTP server taking stream messages.
pub struct Inbox {
    server: tiny_http::Server,
    addr: SocketAddr,
    gate: Gate,
}

/// One message posted to the inbox, waiting for its answer.
pub struct Incoming {
    request: tiny_http::Request,
    body: Vec<u8>,
    peer: String,
}

impl Inbox {
    /// Serves on `listener` (bound by [`super::bind`]), admitting requests
    /// that carry `token` when one is set.
    pub fn new(listener: TcpListener, token: Option<String>) -> LabResult<Self> {
        let (server, addr) = super::http_server(listener, "inbox")?;
        Ok(Inbox {
            server,
            addr,
            gate: Gate::new(token),
        })
    }

    /// The address served.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The next message posted within `wait`, if any. Other requests are
    /// answered here: `GET /health`, and errors for a missing token (401),
    /// an unknown path (404) or a body too big or cut (413, 400).
    pub fn next(&self, wait: Duration) -> Option<Incoming> {
        let mut request = self.server.recv_timeout(wait).ok().flatten()?;
        let peer = request
            .remote_addr()
            .map_or_else(|| "a client".to_string(), SocketAddr::to_string);
        if !self.gate.admits(&request) {
            answer(
                request,
                401,
                "this inbox needs its token: Authorization: Bearer TOKEN",
            );
            return None;
        }
        let path = path_of(request.url()).to_string();
        match (request.method(), path.as_str()) {
            (tiny_http::Method::Get, "/health") => {
                answer(request, 200, "ok");
                None
            }
            (tiny_http::Method::Post, LOG_PATH) => match read_body(&mut request) {
                Ok(body) => Some(Incoming {
                    request,
                    body,
                    peer,
                }),
                Err((status, why)) => {
                    answer(request, status, why);
                    None
                }
            },
            (method, _) => {
                let text = format!(
                    "no {method} {path} here: post stream messages (safetensors) to {LOG_PATH}"
                );
                answer(request, 404, text);
                None
            }
        }
    }
}

impl Incoming {
    /// Who sent it (`ip:port`).
    pub fn peer(&self) -> &str {
        &self.peer
    }

    /// The message, decoded; `fallback_step` stands in for a message that
    /// does not say its step.
    pub fn decode(&self, fallback_step: Option<u64>) -> LabResult<NetworkMessage> {
        NetworkMessage::decode(&self.body, &self.peer, fallback_step)
    }

    /// Answers that the message of `step` was taken.
    pub fn taken(self, step: u64) {
        answer(self.request, 200, format!("{{\"step\":{step}}}"));
    }

    /// Answers that the message was not taken for a reason of the viewer's
    /// own (it is closing, or its recording failed): 503, and why.
    pub fn unavailable(self, why: impl Into<String>) {
        answer(self.request, 503, why);
    }

    /// Answers that the message was refused, and why.
    pub fn refused(self, error: &LabError) {
        answer(self.request, 400, error.to_string());
    }
}
