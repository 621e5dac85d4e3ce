use std::thread;
use std::time::Duration;

use super::*;
use crate::lab::stream::{LayerTensors, NetworkMessage};

fn message(step: u64) -> NetworkMessage {
    NetworkMessage {
        step,
        layers: vec![LayerTensors {
            inputs: 2,
            outputs: 1,
            weights: vec![0.5, -0.25],
            biases: vec![0.125],
            weight_grads: None,
            bias_grads: None,
            name: "layers.0.weight".into(),
        }],
        scalars: [("reward".to_string(), 2.5)].into_iter().collect(),
        ..Default::default()
    }
}

/// An inbox on a free loopback port, answering `n` posts on a thread: each
/// decoded message comes back through the join handle.
fn inbox_taking(
    n: usize,
    token: Option<&str>,
) -> (
    String,
    thread::JoinHandle<Vec<Result<NetworkMessage, String>>>,
) {
    let (listener, addr) = bind("127.0.0.1:0", token).unwrap();
    let inbox = Inbox::new(listener, token.map(String::from)).unwrap();
    let taker = thread::spawn(move || {
        let mut got = Vec::new();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while got.len() < n && std::time::Instant::now() < deadline {
            let Some(incoming) = inbox.next(Duration::from_millis(50)) else {
                continue;
            };
            match incoming.decode(None) {
                Ok(m) => {
                    let step = m.step;
                    got.push(Ok(m));
                    incoming.taken(step);
                }
                Err(e) => {
                    got.push(Err(e.to_string()));
                    incoming.refused(&e);
                }
            }
        }
        got
    });
    (addr.to_string(), taker)
}

#[test]
fn a_logged_message_arrives_as_it_was_sent() {
    let (addr, taker) = inbox_taking(2, None);
    let client = Client::new(&addr);
    assert_eq!(client.get("/health").unwrap().text(), "ok");
    client.log(&message(7)).unwrap();
    client.log(&message(8)).unwrap();
    let got = taker.join().unwrap();
    let first = got[0].as_ref().unwrap();
    let sent = message(7);
    assert_eq!(first.step, 7);
    assert_eq!(first.layers[0].weights, sent.layers[0].weights);
    assert_eq!(first.layers[0].biases, sent.layers[0].biases);
    assert_eq!(first.scalars, sent.scalars);
    assert_eq!(got[1].as_ref().unwrap().step, 8);
}

#[test]
fn bad_messages_and_paths_are_refused_with_what_was_wrong() {
    let (addr, taker) = inbox_taking(1, None);
    let client = Client::new(&addr);
    let missing = client.get("/nowhere").unwrap();
    assert_eq!(missing.status, 404);
    assert!(missing.text().contains("/log"), "{}", missing.text());
    let garbage = client
        .post(LOG_PATH, b"not a tensor file", "application/octet-stream")
        .unwrap();
    assert_eq!(garbage.status, 400);
    assert!(
        garbage.text().contains("not a safetensors message"),
        "{}",
        garbage.text()
    );
    let err = client.ok(LOG_PATH, &garbage).unwrap_err().to_string();
    assert!(err.contains("refused (400)"), "{err}");
    assert!(taker.join().unwrap()[0].is_err());
}

#[test]
fn a_token_is_needed_on_every_request_when_one_is_set() {
    let (addr, taker) = inbox_taking(1, Some("s3cret"));
    let without = Client::new(&addr);
    assert_eq!(without.get("/health").unwrap().status, 401);
    let err = without.log(&message(1)).unwrap_err().to_string();
    assert!(err.contains("401") && err.contains("token"), "{err}");
    let wrong = Client::new(&addr).with_token("guess");
    assert_eq!(wrong.get("/health").unwrap().status, 401);
    let right = Client::new(&addr).with_token("s3cret");
    assert_eq!(right.get("/health").unwrap().status, 200);
    assert_eq!(
        Client::new(&format!("http://{addr}"))
            .get("/health?token=s3cret")
            .unwrap()
            .status,
        200
    );
    right.log(&message(1)).unwrap();
    assert_eq!(taker.join().unwrap().len(), 1);
}

#[test]
fn binding_beyond_loopback_needs_a_token() {
    let err = bind("0.0.0.0:0", None).unwrap_err().to_string();
    assert!(err.contains("--token"), "{err}");
    let err = bind("0.0.0.0:0", Some("")).unwrap_err().to_string();
    assert!(err.contains("--token"), "{err}");
    assert!(bind("0.0.0.0:0", Some("t")).is_ok());
    assert_eq!(parse_addr("7471").unwrap().to_string(), "127.0.0.1:7471");
    let err = parse_addr("spiral").unwrap_err().to_string();
    assert!(
        err.starts_with("spiral: not an address like 127.0.0.1:7470"),
        "{err}"
    );
}

#[test]
fn query_parameters_are_read_by_name() {
    assert_eq!(
        query_param("/stream?a=1&token=x", "token").as_deref(),
        Some("x")
    );
    assert_eq!(query_param("/stream", "token"), None);
    assert_eq!(path_of("/stream?a=1"), "/stream");
}

/// A server on a free loopback port, serving on a thread until dropped.
struct Serving {
    addr: String,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Serving {
    fn start() -> Serving {
        Self::holding(MAX_CONNECTIONS)
    }

    /// A server holding at most `max_connections` at once.
    fn holding(max_connections: usize) -> Serving {
        let (listener, addr) = bind("127.0.0.1:0", None).unwrap();
        let mut server = Server::<crate::lab::CpuBackend>::new(
            listener,
            ServeOptions {
                presets: crate::lab::scene::Presets::new(None),
                runs_root: None,
                token: None,
                max_connections,
            },
        )
        .unwrap();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let thread = thread::spawn(move || server.run(&flag));
        Serving {
            addr: addr.to_string(),
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }
}

#[test]
fn settings_without_a_run_and_bad_bodies_get_clear_answers() {
    let served = Serving::start();
    let client = Client::new(&served.addr);
    let none = client
        .post(
            "/settings",
            br#"{"learning_rate": 0.1}"#,
            "application/json",
        )
        .unwrap();
    assert_eq!(none.status, 409);
    assert!(none.text().contains("POST /train first"), "{}", none.text());
    let ron = client
        .post("/train", b"Scene(name: \"x\", data: Nope)", "text/plain")
        .unwrap();
    assert_eq!(ron.status, 400);
    assert!(ron.text().starts_with("POST /train:1:"), "{}", ron.text());
    let stop = client.post("/stop", b"", "text/plain").unwrap();
    assert_eq!(stop.status, 409);
    assert_eq!(client.get("/stream").unwrap().status, 426);
}

#[test]
fn viewers_connecting_at_the_same_moment_are_all_answered_and_http_still_is() {
    use tungstenite::Message;
    const VIEWERS: usize = 12;
    let served = Serving::start();
    let together = std::sync::Arc::new(std::sync::Barrier::new(VIEWERS));
    let threads: Vec<_> = (0..VIEWERS)
        .map(|_| {
            let (addr, together) = (served.addr.clone(), together.clone());
            thread::spawn(move || {
                together.wait();
                let stream = std::net::TcpStream::connect(&addr).unwrap();
                // A viewer left waiting fails here instead of hanging the test.
                stream
                    .set_read_timeout(Some(Duration::from_secs(60)))
                    .unwrap();
                let (mut socket, _) = tungstenite::client(format!("ws://{addr}/stream"), stream)
                    .expect("every viewer's handshake is answered");
                socket.send(Message::text("\"next\"")).unwrap();
                loop {
                    match socket.read().expect("every viewer is answered") {
                        Message::Text(t) if t.as_str() == "\"end\"" => break socket,
                        _ => {}
                    }
                }
            })
        })
        .collect();
    let sockets: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let client = Client::new(&served.addr);
    assert_eq!(client.get("/health").unwrap().text(), "ok");
    let status: Status = serde_json::from_slice(&client.get("/status").unwrap().body).unwrap();
    assert_eq!(status.viewers, VIEWERS);
    match tungstenite::connect(format!("ws://{}/elsewhere", served.addr)) {
        Err(tungstenite::Error::Http(refused)) => assert_eq!(refused.status(), 404),
        other => panic!(
            "a WebSocket off /stream is refused: {:?}",
            other.map(|_| ())
        ),
    }
    drop(sockets);
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]
    /// Whatever a client sends, the server answers it (never a 5xx, never
    /// a dropped connection) and goes on serving.
    #[test]
    fn the_endpoints_answer_anything(
        path in proptest::sample::select(vec!["/train", "/settings", "/stop", "/status", "/weights", "/runs", "/x", "/health?token=%"]),
        post in proptest::bool::ANY,
        body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256),
        json_like in proptest::bool::ANY,
    ) {
        static SERVED: std::sync::OnceLock<Serving> = std::sync::OnceLock::new();
        let served = SERVED.get_or_init(Serving::start);
        let client = Client::new(&served.addr);
        let body = if json_like {
            let mut b = b"{\"scene\":".to_vec();
            b.extend(body);
            b
        } else {
            body
        };
        let answer = match post {
            true => client.post(path, &body, "application/octet-stream").unwrap(),
            false => client.get(path).unwrap(),
        };
        proptest::prop_assert!(answer.status < 500, "{path}: {} {}", answer.status, answer.text());
        proptest::prop_assert_eq!(client.get("/health").unwrap().text(), "ok");
    }
}

#[test]
fn connections_beyond_the_limit_are_answered_busy_and_served_again_once_some_leave() {
    const HELD: usize = 3;
    let served = Serving::holding(HELD);
    // No request comes first: its connection would hold a place until its
    // thread saw it close, and the last idle one could be the one refused.
    // Connections that never send their head hold their places (up to ten seconds each).
    let idle: Vec<std::net::TcpStream> = (0..HELD)
        .map(|_| std::net::TcpStream::connect(&served.addr).unwrap())
        .collect();
    // Accepted in order: by this one's turn the idle ones are counted.
    let busy = Client::new(&served.addr).get("/health").unwrap();
    assert_eq!(busy.status, 503, "{}", busy.text());
    assert!(
        busy.text().contains("too many connections"),
        "{}",
        busy.text()
    );
    drop(idle);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let answer = Client::new(&served.addr).get("/health").unwrap();
        if answer.status == 200 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still {}",
            answer.status
        );
        thread::sleep(Duration::from_millis(20));
    }
}
