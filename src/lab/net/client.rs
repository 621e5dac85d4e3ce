//! The Rust client: a training loop (burn or any other) streams its steps to
//! `nnm view --listen`, and a program drives `nnm serve` over HTTP.

use std::time::Duration;

use super::LOG_PATH;
use crate::lab::error::{LabError, LabResult};
use crate::lab::stream::NetworkMessage;

/// An HTTP client of an inbox or a served trainer.
///
/// ```no_run
/// # use nn_microscope::lab::net::Client;
/// # use nn_microscope::lab::stream::NetworkMessage;
/// let client = Client::new("127.0.0.1:7470");
/// let mut message = NetworkMessage::default();
/// message.step = 0;
/// message.scalars.insert("loss".into(), 0.7);
/// client.log(&message)?;
/// # Ok::<(), nn_microscope::lab::LabError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Client {
    agent: ureq::Agent,
    base: String,
    token: Option<String>,
}

/// An HTTP answer: its status and body.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// The body.
    pub body: Vec<u8>,
}

impl Answer {
    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

impl Client {
    /// A client of `addr` (`host:port`, or a URL starting `http://`).
    pub fn new(addr: &str) -> Self {
        let base = match addr.starts_with("http://") || addr.starts_with("https://") {
            true => addr.trim_end_matches('/').to_string(),
            false => format!("http://{}", addr.trim_end_matches('/')),
        };
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        Client {
            agent,
            base,
            token: None,
        }
    }

    /// The same client, sending `token` with every request.
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// The server's base URL.
    pub fn url(&self) -> &str {
        &self.base
    }

    /// Sends one step; the answer is the step the server took, or its error.
    pub fn log(&self, message: &NetworkMessage) -> LabResult<u64> {
        let bytes = message.encode()?;
        let answer = self.post(LOG_PATH, &bytes, "application/octet-stream")?;
        self.ok(LOG_PATH, &answer)?;
        Ok(message.step)
    }

    /// `GET path`.
    pub fn get(&self, path: &str) -> LabResult<Answer> {
        let url = format!("{}{path}", self.base);
        let mut request = self.agent.get(&url);
        if let Some(t) = &self.token {
            request = request.header("Authorization", format!("Bearer {t}"));
        }
        Self::finish(&url, request.call())
    }

    /// `POST path` with `body` of `content_type`.
    pub fn post(&self, path: &str, body: &[u8], content_type: &str) -> LabResult<Answer> {
        let url = format!("{}{path}", self.base);
        let mut request = self.agent.post(&url).header("Content-Type", content_type);
        if let Some(t) = &self.token {
            request = request.header("Authorization", format!("Bearer {t}"));
        }
        Self::finish(&url, request.send(body))
    }

    /// `answer` to `path`, or an error with the server's words when it is not 2xx.
    pub fn ok(&self, path: &str, answer: &Answer) -> LabResult<()> {
        match answer.status {
            200..=299 => Ok(()),
            status => Err(LabError::net(
                format!("{}{path}", self.base),
                format!("refused ({status}): {}", answer.text().trim()),
            )),
        }
    }

    fn finish(
        url: &str,
        sent: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> LabResult<Answer> {
        let mut response = sent.map_err(|e| LabError::net(url, e.to_string()))?;
        let status = response.status().as_u16();
        let body = response
            .body_mut()
            .with_config()
            .limit(super::MAX_BODY_BYTES as u64)
            .read_to_vec()
            .map_err(|e| LabError::net(url, format!("the answer could not be read: {e}")))?;
        Ok(Answer { status, body })
    }
}
