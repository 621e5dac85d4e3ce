//! The front door of `nnm serve`: one accept loop that gives every
//! connection a thread of its own, takes WebSocket viewers itself
//! (tungstenite) and passes every other connection through to the HTTP
//! server (tiny_http) on a loopback port.
//!
//! tiny_http alone queues a burst of connections behind a pool of four
//! threads, and an upgraded WebSocket keeps its pool thread for as long as
//! the viewer stays, so viewers connecting at the same moment waited for one
//! another to leave. Here no connection waits for another.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use crossbeam_channel::Sender;
use tungstenite::WebSocket;
use tungstenite::handshake::server::{ErrorResponse, Request, Response};

use super::Gate;
use crate::lab::error::{LabError, LabResult};

/// How long a new connection may take to send its request's head.
const HEAD_WAIT: Duration = Duration::from_secs(10);
/// The longest head read before the connection is passed on as HTTP (which
/// answers what is wrong with it).
const MAX_HEAD_BYTES: usize = 64 << 10;
/// The WebSocket path.
pub(super) const STREAM_PATH: &str = "/stream";

/// A viewer's WebSocket, its handshake done and its token checked.
pub(super) type ViewerSocket = WebSocket<Replay>;

/// The accept loop on the served address; it ends when dropped.
pub(super) struct Front {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
}

impl Front {
    /// Accepts on `listener`: WebSocket viewers of [`STREAM_PATH`] that pass
    /// `gate` go to `viewers`, everything else to the HTTP server at `http`;
    /// beyond `max_connections` held at once, a connection gets `503`.
    pub(super) fn open(
        listener: TcpListener,
        http: SocketAddr,
        gate: Gate,
        viewers: Sender<ViewerSocket>,
        max_connections: usize,
    ) -> LabResult<Front> {
        let addr = listener
            .local_addr()
            .map_err(|e| LabError::net("serve", format!("cannot read the bound address: {e}")))?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        std::thread::Builder::new()
            .name("nnm-serve-accept".into())
            .spawn(move || {
                let held = Arc::new(AtomicUsize::new(0));
                let limit = Limit {
                    held,
                    max: max_connections,
                };
                accept(&listener, &stopped, http, &gate, &viewers, &limit);
            })
            .map_err(|e| LabError::net(addr.to_string(), format!("cannot start serving: {e}")))?;
        Ok(Front { addr, stop })
    }

    /// The address served.
    pub(super) fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for Front {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // The accept loop sees the flag once it has a connection to take.
        let mut wake = self.addr;
        if wake.ip().is_unspecified() {
            wake.set_ip(match wake {
                SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            });
        }
        let _ = TcpStream::connect_timeout(&wake, Duration::from_secs(1));
    }
}

/// How many connections are held, and the most allowed.
struct Limit {
    held: Arc<AtomicUsize>,
    max: usize,
}

/// One held connection, counted until it is dropped (with the viewer's
/// socket, or when its request is through).
struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// What a connection over the limit is told, before it is closed.
const TOO_MANY: &str = "too many connections to this server at once: try again soon";

fn accept(
    listener: &TcpListener,
    stop: &AtomicBool,
    http: SocketAddr,
    gate: &Gate,
    viewers: &Sender<ViewerSocket>,
    limit: &Limit,
) {
    for connection in listener.incoming() {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let Ok(mut stream) = connection else {
            // Out of file descriptors, say: let some connections end first.
            std::thread::sleep(Duration::from_millis(10));
            continue;
        };
        if limit.held.load(Ordering::Relaxed) >= limit.max {
            // Answered here, without a thread: a flood must not make more.
            let _ = stream.set_write_timeout(Some(Duration::from_millis(200)));
            let answer = format!(
                "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{TOO_MANY}",
                TOO_MANY.len()
            );
            let _ = stream.write_all(answer.as_bytes());
            let _ = stream.shutdown(Shutdown::Write);
            continue;
        }
        limit.held.fetch_add(1, Ordering::Relaxed);
        let slot = Slot(limit.held.clone());
        let (gate, viewers) = (gate.clone(), viewers.clone());
        let _ = std::thread::Builder::new()
            .name("nnm-serve-connection".into())
            .spawn(move || route(stream, slot, http, &gate, &viewers));
    }
}

/// Reads `stream`'s request head and sends it where it belongs.
#[allow(
    clippy::result_large_err,
    reason = "tungstenite's handshake callback fixes its error type"
)]
fn route(
    mut stream: TcpStream,
    slot: Slot,
    http: SocketAddr,
    gate: &Gate,
    viewers: &Sender<ViewerSocket>,
) {
    let _ = stream.set_read_timeout(Some(HEAD_WAIT));
    let mut head = Vec::new();
    let mut chunk = [0_u8; 4096];
    let websocket = loop {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) if head.is_empty() => return,
            Ok(0) | Err(_) => break false,
            Ok(n) => head.extend_from_slice(&chunk[..n]),
        }
        match upgrades_to_websocket(&head) {
            Some(websocket) => break websocket,
            None if head.len() >= MAX_HEAD_BYTES => break false,
            None => {}
        }
    };
    let _ = stream.set_read_timeout(None);
    let stream = Replay {
        head,
        read: 0,
        stream,
        _slot: slot,
    };
    if websocket {
        let admitted = tungstenite::accept_hdr(stream, |request: &Request, response| {
            admit(request, response, gate)
        });
        if let Ok(socket) = admitted {
            let _ = viewers.send(socket);
        }
    } else {
        pass(stream, http);
    }
}

/// Whether a complete head asks for a WebSocket (`None`: the head is not
/// complete yet). A head that does not parse is HTTP's to refuse.
fn upgrades_to_websocket(head: &[u8]) -> Option<bool> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut request = httparse::Request::new(&mut headers);
    match request.parse(head) {
        Ok(httparse::Status::Partial) => None,
        Ok(httparse::Status::Complete(_)) => Some(request.headers.iter().any(|h| {
            h.name.eq_ignore_ascii_case("Upgrade") && h.value.eq_ignore_ascii_case(b"websocket")
        })),
        Err(_) => Some(false),
    }
}

/// The handshake's answer: the viewer's path and token are checked here,
/// before it is taken.
#[allow(
    clippy::result_large_err,
    reason = "tungstenite's handshake callback fixes its error type"
)]
fn admit(request: &Request, response: Response, gate: &Gate) -> Result<Response, ErrorResponse> {
    let refuse = |status: u16, text: String| {
        let mut error = ErrorResponse::new(Some(text));
        *error.status_mut() = tungstenite::http::StatusCode::from_u16(status)
            .unwrap_or(tungstenite::http::StatusCode::BAD_REQUEST);
        error
    };
    let url = request.uri().to_string();
    let authorization = request
        .headers()
        .get("Authorization")
        .and_then(|v| v.to_str().ok());
    if !gate.admits_parts(authorization, &url) {
        return Err(refuse(
            401,
            "this server needs its token: Authorization: Bearer TOKEN, or ?token=TOKEN".into(),
        ));
    }
    if request.uri().path() != STREAM_PATH {
        return Err(refuse(
            404,
            format!(
                "no WebSocket at {}: connect to {STREAM_PATH}",
                request.uri().path()
            ),
        ));
    }
    Ok(response)
}

/// Passes an HTTP connection through to the server at `http`, both ways,
/// until either side ends it.
fn pass(mut client: Replay, http: SocketAddr) {
    let Ok(mut upstream) = TcpStream::connect(http) else {
        return;
    };
    let (Ok(mut upstream_back), Ok(mut client_back)) =
        (upstream.try_clone(), client.stream.try_clone())
    else {
        return;
    };
    let back = std::thread::Builder::new()
        .name("nnm-serve-answers".into())
        .spawn(move || {
            let _ = io::copy(&mut upstream_back, &mut client_back);
            // The server has ended the connection: so does the client's side.
            let _ = client_back.shutdown(Shutdown::Both);
        });
    if back.is_err() {
        return;
    }
    let _ = io::copy(&mut client, &mut upstream);
    let _ = upstream.shutdown(Shutdown::Write);
}

/// A connection whose head has been read already: reading gives the head
/// again first, then the rest.
pub(super) struct Replay {
    head: Vec<u8>,
    read: usize,
    stream: TcpStream,
    /// Counted among the connections held for as long as this one lives.
    _slot: Slot,
}

impl Read for Replay {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.read < self.head.len() {
            let n = buf.len().min(self.head.len() - self.read);
            buf[..n].copy_from_slice(&self.head[self.read..self.read + n]);
            self.read += n;
            return Ok(n);
        }
        self.stream.read(buf)
    }
}

impl Write for Replay {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.stream.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.stream.flush()
    }
}
