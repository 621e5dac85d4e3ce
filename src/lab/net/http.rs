//! HTTP on the desktop: binding loopback (or another address with a token),
//! the token check, and reading and answering requests.

use std::io::Read;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};

use super::DEFAULT_LISTEN;
use crate::lab::error::{LabError, LabResult};

/// The largest request body taken: a message of 64 M parameters.
pub const MAX_BODY_BYTES: usize = 256 << 20;
/// The path a training loop posts its messages to.
pub const LOG_PATH: &str = "/log";

/// Resolves `addr` (`host:port`; a bare port means loopback) to one socket
/// address.
pub fn parse_addr(addr: &str) -> LabResult<SocketAddr> {
    let text = match addr.parse::<u16>() {
        Ok(port) => format!("127.0.0.1:{port}"),
        Err(_) => addr.to_string(),
    };
    text.to_socket_addrs()
        .map_err(|e| LabError::net(addr, format!("not an address like {DEFAULT_LISTEN}: {e}")))?
        .next()
        .ok_or_else(|| LabError::net(addr, "names no address"))
}

/// Binds `addr`, refusing an address other than loopback without a token
/// (anyone who can reach it could otherwise drive the trainer).
pub fn bind(addr: &str, token: Option<&str>) -> LabResult<(TcpListener, SocketAddr)> {
    let socket = parse_addr(addr)?;
    if !socket.ip().is_loopback() && token.is_none_or(str::is_empty) {
        return Err(LabError::net(
            addr,
            "binding an address other than loopback needs --token TOKEN: every request must then carry it",
        ));
    }
    let listener =
        TcpListener::bind(socket).map_err(|e| LabError::net(addr, format!("cannot bind: {e}")))?;
    let bound = listener
        .local_addr()
        .map_err(|e| LabError::net(addr, format!("cannot read the bound address: {e}")))?;
    Ok((listener, bound))
}

/// An HTTP server on a bound `listener`, and the address it serves; `who`
/// names the server in errors.
pub(super) fn http_server(
    listener: TcpListener,
    who: &str,
) -> LabResult<(tiny_http::Server, SocketAddr)> {
    let addr = listener
        .local_addr()
        .map_err(|e| LabError::net(who, format!("cannot read the bound address: {e}")))?;
    let server = tiny_http::Server::from_listener(listener, None)
        .map_err(|e| LabError::net(addr.to_string(), format!("cannot serve: {e}")))?;
    Ok((server, addr))
}

/// The token every request must carry, when one is set.
#[derive(Debug, Clone, Default)]
pub struct Gate {
    token: Option<String>,
}

impl Gate {
    /// A gate for `token` (`None`: every request passes).
    pub fn new(token: Option<String>) -> Self {
        Gate {
            token: token.filter(|t| !t.is_empty()),
        }
    }

    /// Whether `request` carries the token, in its `Authorization: Bearer`
    /// header or its `token` query parameter.
    pub fn admits(&self, request: &tiny_http::Request) -> bool {
        let authorization = request
            .headers()
            .iter()
            .find(|h| h.field.equiv("Authorization"))
            .map(|h| h.value.as_str());
        self.admits_parts(authorization, request.url())
    }

    /// Whether a request to `url` with the `authorization` header carries
    /// the token.
    pub fn admits_parts(&self, authorization: Option<&str>, url: &str) -> bool {
        let Some(token) = &self.token else {
            return true;
        };
        let header = authorization.and_then(|a| a.strip_prefix("Bearer ")) == Some(token.as_str());
        header || query_param(url, "token").as_deref() == Some(token.as_str())
    }
}

/// The value of `name` in `url`'s query string (not percent-decoded: tokens
/// and scene names are plain words).
pub fn query_param(url: &str, name: &str) -> Option<String> {
    let (_, query) = url.split_once('?')?;
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// `url` without its query string.
pub fn path_of(url: &str) -> &str {
    url.split_once('?').map_or(url, |(p, _)| p)
}

/// Reads `request`'s body, at most [`MAX_BODY_BYTES`]; the error says what
/// to answer (status and text).
pub fn read_body(request: &mut tiny_http::Request) -> Result<Vec<u8>, (u16, String)> {
    if request.body_length().is_some_and(|n| n > MAX_BODY_BYTES) {
        return Err((
            413,
            format!("the body is over {} MiB", MAX_BODY_BYTES >> 20),
        ));
    }
    let mut body = Vec::with_capacity(request.body_length().unwrap_or(0));
    let read = request
        .as_reader()
        .take(MAX_BODY_BYTES as u64 + 1)
        .read_to_end(&mut body);
    match read {
        Err(e) => Err((400, format!("the body could not be read: {e}"))),
        Ok(_) if body.len() > MAX_BODY_BYTES => Err((
            413,
            format!("the body is over {} MiB", MAX_BODY_BYTES >> 20),
        )),
        Ok(_) => Ok(body),
    }
}

/// Answers `request` with `status` and a text body; a peer that has gone
/// away is not an error (it will not read the answer).
pub fn answer(request: tiny_http::Request, status: u16, text: impl Into<String>) {
    let response = tiny_http::Response::from_string(text.into()).with_status_code(status);
    let _ = request.respond(response);
}
