//! `nnm serve`: the headless trainer as a service. HTTP starts, stops,
//! changes and reads one run at a time (the training lock: a second start
//! gets `409 busy`); WebSocket `/stream` sends its events and frames to any
//! number of viewers, each at its own pace. The front door ([`super::front`])
//! takes the connections and hands this loop its viewers.

use std::io::{Read, Write};
use std::marker::PhantomData;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use burn::tensor::backend::AutodiffBackend;
use crossbeam_channel::{Receiver, Sender};
use serde::{Deserialize, Serialize};
use tungstenite::{Bytes, Message, WebSocket};

use super::front::{Front, STREAM_PATH, ViewerSocket};
use super::viewer::Viewer;
use super::wire::{ServerEvent, Settings, ViewerMessage, frame_message};
use super::{Gate, answer, path_of, read_body};
use crate::lab::error::{LabError, LabResult};
use crate::lab::frame::{Frame, Metrics};
use crate::lab::record::list_runs;
use crate::lab::runner::{RunnerOptions, TrainerCommand, TrainerEvent, TrainerHandle};
use crate::lab::scene::{Presets, Scene};

/// How long a viewer's `next` waits for something new before it is told
/// there is nothing (so that it can send its commands).
const NEXT_WAIT: Duration = Duration::from_millis(100);

/// What `nnm serve` needs besides its address.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The presets `POST /train {"scene": NAME}` names.
    pub presets: Presets,
    /// Where runs are recorded (`None`: nowhere).
    pub runs_root: Option<PathBuf>,
    /// The token every request must carry, when set.
    pub token: Option<String>,
    /// The most connections held at once (viewers, requests, and those
    /// still sending their head); more are answered `503` and closed.
    pub max_connections: usize,
}

/// [`ServeOptions::max_connections`] unless told otherwise: each holds a
/// thread or two.
pub const MAX_CONNECTIONS: usize = 256;

/// The served run, as `GET /status` reports it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Status {
    /// True while a run holds the training lock (running or paused).
    pub training: bool,
    /// `idle`, `starting`, `running`, `paused`, `finished`, `diverged` or `stopped`.
    pub state: String,
    /// The scene's name.
    pub scene: Option<String>,
    /// The newest frame's step.
    pub step: u64,
    /// The scene's steps.
    pub steps: u64,
    /// The newest frame's mini-batch loss.
    pub batch_loss: Option<f32>,
    /// The latest evaluation, when there was one.
    pub evaluation: Option<Metrics>,
    /// The learning rate in force.
    pub learning_rate: Option<f32>,
    /// The mini-batch size in force.
    pub batch_size: Option<usize>,
    /// The optimiser in force.
    pub optimizer: Option<String>,
    /// The hidden widths in force.
    pub hidden: Vec<usize>,
    /// The seed in force.
    pub seed: Option<u64>,
    /// Where the run is recorded.
    pub run_dir: Option<String>,
    /// Viewers connected to `/stream`.
    pub viewers: usize,
    /// Frames not sent to a viewer because it had not asked for the one
    /// before (over all viewers).
    pub frames_dropped: u64,
    /// Evaluations left out of the even sample sent to a viewer that read
    /// more slowly than the run evaluated (over all viewers).
    pub evaluations_thinned: u64,
    /// The newest error or notice.
    pub note: Option<String>,
}

/// `POST /train` with JSON: a preset by name, optionally reseeded.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct TrainRequest {
    scene: String,
    #[serde(default)]
    seed: Option<u64>,
    #[serde(default)]
    steps: Option<u64>,
}

/// The run being served.
struct Served {
    handle: TrainerHandle,
    scene: Option<Scene>,
    frame: Option<Box<Frame>>,
    started: Option<String>,
}

/// The trainer service on one address.
pub struct Server<B: AutodiffBackend> {
    http: tiny_http::Server,
    /// The accept loop on the served address, which ends with the server.
    front: Front,
    arrivals: Receiver<ViewerSocket>,
    gate: Gate,
    options: ServeOptions,
    run: Option<Served>,
    status: Status,
    viewers: Vec<Arc<Viewer>>,
    commands: (Sender<ViewerMessage>, Receiver<ViewerMessage>),
    backend: PhantomData<B>,
}

impl<B: AutodiffBackend> Server<B> {
    /// Serves on `listener` (bound by [`super::bind`]).
    pub fn new(listener: TcpListener, options: ServeOptions) -> LabResult<Self> {
        // HTTP is served behind the front door, on loopback; it checks the
        // token on every request all the same.
        let inner = TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0))
            .map_err(|e| LabError::net("serve", format!("cannot bind loopback: {e}")))?;
        let (http, http_addr) = super::http_server(inner, "serve")?;
        let gate = Gate::new(options.token.clone());
        let (arrived, arrivals) = crossbeam_channel::unbounded();
        let front = Front::open(
            listener,
            http_addr,
            gate.clone(),
            arrived,
            options.max_connections,
        )?;
        Ok(Server {
            http,
            front,
            arrivals,
            gate,
            options,
            run: None,
            status: Status {
                state: "idle".into(),
                ..Default::default()
            },
            viewers: Vec::new(),
            commands: crossbeam_channel::unbounded(),
            backend: PhantomData,
        })
    }

    /// The address served.
    pub fn addr(&self) -> SocketAddr {
        self.front.addr()
    }

    /// Serves until `stop` is set: requests, the trainer's events, the
    /// viewers' commands, in turn.
    pub fn run(&mut self, stop: &AtomicBool) {
        while !stop.load(Ordering::Relaxed) {
            if let Ok(Some(request)) = self.http.recv_timeout(Duration::from_millis(5)) {
                self.handle(request);
            }
            while let Ok(socket) = self.arrivals.try_recv() {
                self.welcome(socket);
            }
            self.pump();
            while let Ok(command) = self.commands.1.try_recv() {
                if let Err(e) = self.command(command) {
                    self.note(e.to_string());
                }
            }
        }
    }

    fn handle(&mut self, mut request: tiny_http::Request) {
        if !self.gate.admits(&request) {
            return answer(
                request,
                401,
                "this server needs its token: Authorization: Bearer TOKEN, or ?token=TOKEN",
            );
        }
        let path = path_of(request.url()).to_string();
        use tiny_http::Method::{Get, Post};
        match (request.method().clone(), path.as_str()) {
            (Get, "/health") => answer(request, 200, "ok"),
            (Get, "/status") => {
                let status = self.status();
                json(request, 200, &status);
            }
            (Get, "/runs") => self.runs(request),
            (Get, "/weights") => self.weights(request),
            (Get, STREAM_PATH) => {
                answer(request, 426, "/stream is a WebSocket: connect with ws://")
            }
            (Post, "/train" | "/stop" | "/settings") => {
                let body = match read_body(&mut request) {
                    Ok(b) => b,
                    Err((status, why)) => return answer(request, status, why),
                };
                let body = String::from_utf8_lossy(&body).into_owned();
                let result = match path.as_str() {
                    "/train" => self.train(&body),
                    "/stop" => self.stop(),
                    _ => self.settings(&body),
                };
                match result {
                    Ok(value) => json(request, 200, &value),
                    Err((status, why)) => answer(request, status, why),
                }
            }
            (method, _) => answer(
                request,
                404,
                format!(
                    "no {method} {path} here: GET /health /status /runs /weights /stream, POST /train /stop /settings"
                ),
            ),
        }
    }

    fn status(&self) -> Status {
        Status {
            viewers: self.viewers.len(),
            frames_dropped: self.viewers.iter().map(|v| v.dropped()).sum(),
            evaluations_thinned: self.viewers.iter().map(|v| v.thinned()).sum(),
            ..self.status.clone()
        }
    }

    /// `POST /train`: a preset (`{"scene": NAME}`) or a whole scene file (RON).
    fn train(&mut self, body: &str) -> Result<serde_json::Value, (u16, String)> {
        if self.status.training {
            return Err((
                409,
                format!(
                    "busy: `{}` is training (step {}); POST /stop first",
                    self.status.scene.clone().unwrap_or_default(),
                    self.status.step
                ),
            ));
        }
        let scene = match body.trim_start().starts_with('{') {
            true => {
                let asked: TrainRequest =
                    serde_json::from_str(body).map_err(|e| (400, format!("POST /train: {e}")))?;
                let mut scene = self
                    .options
                    .presets
                    .find(&asked.scene)
                    .and_then(|p| p.load())
                    .map_err(|e| (400, e.to_string()))?;
                if let Some(seed) = asked.seed {
                    scene.seed = seed;
                }
                if let Some(steps) = asked.steps {
                    scene.train.steps = steps;
                }
                scene
            }
            false => {
                Scene::parse(body, Path::new("POST /train")).map_err(|e| (400, e.to_string()))?
            }
        };
        let name = scene.name.clone();
        // A finished run gives its place up.
        self.run = None;
        let handle = TrainerHandle::spawn::<B>(
            scene,
            Default::default(),
            RunnerOptions {
                runs_root: self.options.runs_root.clone(),
                ..Default::default()
            },
        )
        .map_err(|e| (500, e.to_string()))?;
        self.run = Some(Served {
            handle,
            scene: None,
            frame: None,
            started: None,
        });
        self.status = Status {
            training: true,
            state: "starting".into(),
            scene: Some(name.clone()),
            ..Default::default()
        };
        Ok(serde_json::json!({ "training": name }))
    }

    /// `POST /stop`: ends the run (what it recorded stays).
    fn stop(&mut self) -> Result<serde_json::Value, (u16, String)> {
        let Some(run) = self.run.take() else {
            return Err((409, "nothing is training".into()));
        };
        drop(run.handle);
        self.status.training = false;
        self.status.state = "stopped".into();
        self.broadcast(&ServerEvent::Stopped);
        Ok(serde_json::json!({ "stopped": self.status.step }))
    }

    /// `POST /settings`: JSON of [`Settings`].
    fn settings(&mut self, body: &str) -> Result<serde_json::Value, (u16, String)> {
        let settings: Settings =
            serde_json::from_str(body).map_err(|e| (400, format!("POST /settings: {e}")))?;
        self.apply(&settings).map_err(|e| match e {
            LabError::Setting { .. } => (400, format!("POST /settings: {e}")),
            e => (409, e.to_string()),
        })?;
        serde_json::to_value(&settings).map_err(|e| (500, e.to_string()))
    }

    fn apply(&mut self, settings: &Settings) -> LabResult<()> {
        let Some(run) = &self.run else {
            return Err(LabError::net(
                self.front.addr().to_string(),
                "no run: POST /train first",
            ));
        };
        let activation = run
            .scene
            .as_ref()
            .map_or(crate::lab::model::Activation::Relu, |s| s.model.activation);
        for command in settings.commands(activation)? {
            run.handle.send(command);
        }
        Ok(())
    }

    /// A viewer's command.
    fn command(&mut self, message: ViewerMessage) -> LabResult<()> {
        let command = match message {
            ViewerMessage::Next => return Ok(()),
            ViewerMessage::Settings(s) => return self.apply(&s),
            ViewerMessage::Pause => TrainerCommand::Pause,
            ViewerMessage::Resume => TrainerCommand::Resume,
            ViewerMessage::Step(n) => TrainerCommand::Step(n),
            ViewerMessage::Reset => TrainerCommand::Reset,
        };
        if let Some(run) = &self.run {
            run.handle.send(command);
        }
        Ok(())
    }

    fn runs(&self, request: tiny_http::Request) {
        let Some(root) = &self.options.runs_root else {
            return json(request, 200, &Vec::<()>::new());
        };
        match list_runs(root) {
            Ok(runs) => {
                let list: Vec<serde_json::Value> = runs
                    .iter()
                    .map(|r| {
                        serde_json::json!({
                            "name": r.dir.path.file_name().map(|n| n.to_string_lossy().into_owned()),
                            "path": r.dir.path.display().to_string(),
                            "scene": r.scene,
                            "last": r.last,
                            "bytes": r.bytes,
                        })
                    })
                    .collect();
                json(request, 200, &list);
            }
            Err(e) => answer(request, 500, e.to_string()),
        }
    }

    fn weights(&self, request: tiny_http::Request) {
        let Some(frame) = self.run.as_ref().and_then(|r| r.frame.as_ref()) else {
            return answer(request, 404, "no network yet: POST /train first");
        };
        match frame_message(frame).encode() {
            Ok(bytes) => {
                let header =
                    tiny_http::Header::from_bytes("Content-Type", "application/octet-stream");
                let mut response = tiny_http::Response::from_data(bytes);
                if let Ok(h) = header {
                    response = response.with_header(h);
                }
                let _ = request.respond(response);
            }
            Err(e) => answer(request, 500, e.to_string()),
        }
    }

    /// A viewer come in at the front door: it gets a thread of its own.
    fn welcome(&mut self, socket: ViewerSocket) {
        let viewer = Arc::new(Viewer::default());
        // A newcomer first hears what the run is, then follows it.
        if let Some(run) = &self.run {
            if let Some(started) = &run.started {
                viewer.post(started);
            }
            if let Some(e) = self.status.evaluation {
                viewer.post_evaluation(&event_text(&ServerEvent::Evaluated(e)));
            }
            viewer.post(&event_text(&ServerEvent::Running(
                self.status.state == "running",
            )));
            if let Some(frame) = &run.frame
                && let Ok(bytes) = frame_message(frame).encode()
            {
                viewer.post_frame(&Bytes::from(bytes));
            }
        }
        let commands = self.commands.0.clone();
        let shared = viewer.clone();
        let spawned = std::thread::Builder::new()
            .name("nnm-viewer".into())
            .spawn(move || serve_viewer(socket, &shared, &commands));
        if spawned.is_ok() {
            self.viewers.push(viewer);
        }
    }

    /// Drains the trainer's events into the status and out to the viewers.
    fn pump(&mut self) {
        self.viewers.retain(|v| !v.is_gone());
        let Some(run) = &mut self.run else { return };
        let events: Vec<TrainerEvent> = run.handle.events().try_iter().take(256).collect();
        for event in events {
            self.event(event);
        }
    }

    fn event(&mut self, event: TrainerEvent) {
        let Some(run) = &mut self.run else { return };
        let status = &mut self.status;
        let out = match event {
            TrainerEvent::Started(info) => {
                status.scene = Some(info.scene.name.clone());
                status.run_dir = info.run_dir.as_ref().map(|p| p.display().to_string());
                take_settings(status, &info.scene);
                let event = ServerEvent::Started {
                    scene: info.scene.to_ron().unwrap_or_default(),
                    run_dir: status.run_dir.clone(),
                };
                run.started = Some(event_text(&event));
                run.scene = Some(info.scene);
                Some(event)
            }
            TrainerEvent::Frame(frame) => {
                status.step = frame.step;
                status.batch_loss = frame.metrics.batch_loss;
                if !self.viewers.is_empty()
                    && let Ok(bytes) = frame_message(&frame).encode()
                {
                    let bytes = Bytes::from(bytes);
                    for v in &self.viewers {
                        v.post_frame(&bytes);
                    }
                }
                run.frame = Some(frame);
                None
            }
            TrainerEvent::Evaluated(e) => {
                status.evaluation = Some(e);
                let text = event_text(&ServerEvent::Evaluated(e));
                for v in &self.viewers {
                    v.post_evaluation(&text);
                }
                None
            }
            TrainerEvent::Settings(scene) => {
                take_settings(status, &scene);
                let event = ServerEvent::Settings(scene.to_ron().unwrap_or_default());
                run.scene = Some(*scene);
                Some(event)
            }
            TrainerEvent::Running(on) => {
                if matches!(status.state.as_str(), "starting" | "running" | "paused") {
                    status.state = if on { "running" } else { "paused" }.into();
                }
                Some(ServerEvent::Running(on))
            }
            TrainerEvent::Finished { step } => {
                status.training = false;
                status.state = "finished".into();
                Some(ServerEvent::Finished(step))
            }
            TrainerEvent::Diverged { step, loss } => {
                status.training = false;
                status.state = "diverged".into();
                Some(ServerEvent::Diverged { step, loss })
            }
            TrainerEvent::Error(m) | TrainerEvent::Notice(m) => {
                status.note = Some(m.clone());
                Some(ServerEvent::Note(m))
            }
            TrainerEvent::Stopped(m) => {
                status.training = false;
                status.state = "stopped".into();
                status.note = Some(m.clone());
                Some(ServerEvent::Note(m))
            }
            TrainerEvent::Layers(..) | TrainerEvent::Scalars(..) => None,
        };
        if let Some(e) = out {
            self.broadcast(&e);
        }
    }

    fn note(&mut self, text: String) {
        self.status.note = Some(text.clone());
        self.broadcast(&ServerEvent::Note(text));
    }

    fn broadcast(&self, event: &ServerEvent) {
        let text = event_text(event);
        for v in &self.viewers {
            v.post(&text);
        }
    }
}

/// The settings of `scene` into `status`.
fn take_settings(status: &mut Status, scene: &Scene) {
    status.steps = scene.train.steps;
    status.learning_rate = Some(scene.train.learning_rate);
    status.batch_size = Some(scene.train.batch_size);
    status.optimizer = Some(format!("{:?}", scene.train.optimizer));
    status.hidden = scene.model.hidden.clone();
    status.seed = Some(scene.seed);
}

fn event_text(event: &ServerEvent) -> String {
    serde_json::to_string(event).unwrap_or_default()
}

fn json<T: Serialize>(request: tiny_http::Request, status: u16, value: &T) {
    let text = serde_json::to_string(value).unwrap_or_default();
    let mut response = tiny_http::Response::from_string(text).with_status_code(status);
    if let Ok(h) = tiny_http::Header::from_bytes("Content-Type", "application/json") {
        response = response.with_header(h);
    }
    let _ = request.respond(response);
}

/// A viewer's thread: it sends what is new each time the viewer says
/// `next`, and passes its commands on. A viewer that reads slowly asks less
/// often and is sent only the newest frame; the trainer never waits for it.
fn serve_viewer<S: Read + Write>(
    mut socket: WebSocket<S>,
    viewer: &Viewer,
    commands: &Sender<ViewerMessage>,
) {
    let send_batch = |socket: &mut WebSocket<_>| -> tungstenite::Result<()> {
        let (events, frame) = viewer.take(NEXT_WAIT);
        for e in events {
            socket.write(Message::text(e))?;
        }
        if let Some(f) = frame {
            socket.write(Message::Binary(f))?;
        }
        socket.write(Message::text(event_text(&ServerEvent::End)))?;
        socket.flush()
    };
    loop {
        let result = match socket.read() {
            Ok(Message::Text(text)) => match serde_json::from_str::<ViewerMessage>(text.as_str()) {
                Ok(ViewerMessage::Next) => send_batch(&mut socket),
                Ok(command) => {
                    let _ = commands.send(command);
                    Ok(())
                }
                Err(e) => {
                    let note =
                        ServerEvent::Note(format!("a viewer's message was not understood: {e}"));
                    socket.send(Message::text(event_text(&note)))
                }
            },
            Ok(Message::Close(_)) => break,
            Ok(_) => Ok(()),
            Err(_) => break,
        };
        if result.is_err() || viewer.is_gone() {
            break;
        }
    }
    viewer.leave();
}
