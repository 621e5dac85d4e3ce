//! The network side of the lab: the inbox a training loop streams its steps
//! into (`nnm view --listen`), the client that streams them, and the trainer
//! served over HTTP and WebSocket (`nnm serve`).
//!
//! HTTP is `tiny_http` (server) and `ureq` (client), WebSocket is
//! `tungstenite`: no protocol is parsed here by hand. Loopback is the
//! default; any other address needs a token, which every request must carry
//! (`Authorization: Bearer TOKEN`, or `?token=TOKEN` where a browser cannot
//! set headers). The wire's words (settings, viewer messages, server events)
//! are also the page's, which watches a served run over the browser's own
//! WebSocket.

#[cfg(not(target_arch = "wasm32"))]
mod client;
#[cfg(not(target_arch = "wasm32"))]
mod front;
#[cfg(not(target_arch = "wasm32"))]
mod http;
#[cfg(not(target_arch = "wasm32"))]
mod inbox;
#[cfg(not(target_arch = "wasm32"))]
mod serve;
#[cfg(not(target_arch = "wasm32"))]
mod viewer;
mod wire;

#[cfg(not(target_arch = "wasm32"))]
pub use client::{Answer, Client};
#[cfg(not(target_arch = "wasm32"))]
use http::http_server;
#[cfg(not(target_arch = "wasm32"))]
pub use http::{
    Gate, LOG_PATH, MAX_BODY_BYTES, answer, bind, parse_addr, path_of, query_param, read_body,
};
#[cfg(not(target_arch = "wasm32"))]
pub use inbox::{Inbox, Incoming};
#[cfg(not(target_arch = "wasm32"))]
pub use serve::{MAX_CONNECTIONS, ServeOptions, Server, Status};
pub use wire::{ServerEvent, Settings, ViewerMessage, frame_message};

/// Where `nnm view --listen` and `nnm serve` bind without an address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:7470";

#[cfg(test)]
mod tests;
