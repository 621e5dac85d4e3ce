//! The web build: `web/build.sh` makes `web/dist/`, served here on a loopback
//! port and opened in headless Chromium (WebGL2 through SwiftShader), driven
//! over the DevTools protocol.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test that cannot unwrap has failed, and says where"
)]

mod common;

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nn_microscope::lab::scene::Presets;
use serde_json::{Value, json};
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

/// Builds `web/dist` into the test's own folder (the web build keeps its
/// own target folder, as the headless build does).
fn build_dist() -> PathBuf {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let dist = tmp.join("web-dist");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("web/build.sh");
    let out = Command::new("bash")
        .arg(&script)
        .env("NNM_WEB_TARGET_DIR", tmp.join("web"))
        .env("NNM_WEB_DIST", &dist)
        .env_remove("CARGO_TARGET_DIR")
        .output()
        .expect("web/build.sh runs");
    let text = common::output_text(&out);
    assert!(out.status.success(), "web/build.sh failed:\n{text}");
    let summary = text
        .lines()
        .find(|l| l.starts_with("web/dist ready"))
        .unwrap_or("(no size line)");
    println!("{summary}");
    for file in [
        "index.html",
        "nnm.js",
        "nnm_bg.wasm",
        "assets/data/mnist10k-images-idx3-ubyte.gz",
    ] {
        assert!(
            dist.join(file).is_file(),
            "{file} missing from {}",
            dist.display()
        );
    }
    dist
}

/// A static file server for `dir` on a loopback port, ended on drop.
struct StaticServer {
    server: std::sync::Arc<tiny_http::Server>,
    /// Paths asked for that were not there.
    missing: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    thread: Option<std::thread::JoinHandle<()>>,
    port: u16,
}

impl StaticServer {
    fn start(dir: PathBuf) -> StaticServer {
        let server = std::sync::Arc::new(tiny_http::Server::http("127.0.0.1:0").unwrap());
        let port = server.server_addr().to_ip().unwrap().port();
        let serving = server.clone();
        let missing = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let missed = missing.clone();
        let thread = std::thread::spawn(move || {
            for request in serving.incoming_requests() {
                let path = request.url().split('?').next().unwrap_or("/").to_string();
                let name = match path.trim_start_matches('/') {
                    "" => "index.html".to_string(),
                    other => other.to_string(),
                };
                let file = dir.join(&name);
                let kind = match file.extension().and_then(|e| e.to_str()) {
                    Some("html") => "text/html; charset=utf-8",
                    Some("js") => "text/javascript",
                    Some("wasm") => "application/wasm",
                    _ => "application/octet-stream",
                };
                let response = match std::fs::read(&file) {
                    Ok(bytes) if !name.contains("..") => tiny_http::Response::from_data(bytes)
                        .with_header(tiny_http::Header::from_bytes("Content-Type", kind).unwrap()),
                    _ => {
                        missed.lock().unwrap().push(path.clone());
                        tiny_http::Response::from_data(b"not found".to_vec()).with_status_code(404)
                    }
                };
                let _ = request.respond(response);
            }
        });
        StaticServer {
            server,
            missing,
            thread: Some(thread),
            port,
        }
    }
}

impl Drop for StaticServer {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Makes sure Debian's `chromium` is installed, installing it as root if needed.
fn ensure_chromium() -> &'static str {
    if !common::has_program("chromium") {
        common::apt_install(
            "--no-install-recommends chromium",
            "the web test opens the page in headless Chromium: `apt-get install chromium`",
        );
    }
    assert!(common::has_program("chromium"), "chromium did not install");
    "chromium"
}

/// Headless Chromium in its own process group, killed (the group, by its id)
/// on drop.
struct Browser {
    child: Child,
    _profile: common::Scratch,
    cdp: Cdp,
}

impl Browser {
    fn launch() -> Browser {
        use std::os::unix::process::CommandExt;
        let program = ensure_chromium();
        let profile = common::temp_dir("chromium");
        let child = Command::new(program)
            .args([
                "--headless",
                "--no-sandbox",
                "--use-angle=swiftshader",
                "--enable-unsafe-swiftshader",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--window-size=1280,720",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("chromium starts");
        // Chromium writes the port it chose, and its socket's path, here.
        let active = profile.path().join("DevToolsActivePort");
        let deadline = Instant::now() + Duration::from_secs(60);
        let (port, path) = loop {
            if let Ok(text) = std::fs::read_to_string(&active)
                && let Some((port, path)) = text.split_once('\n')
                && !path.trim().is_empty()
            {
                break (port.trim().to_string(), path.trim().to_string());
            }
            assert!(
                Instant::now() < deadline,
                "chromium never opened its DevTools port"
            );
            std::thread::sleep(Duration::from_millis(100));
        };
        let (socket, _) = tungstenite::connect(format!("ws://127.0.0.1:{port}{path}")).unwrap();
        if let MaybeTlsStream::Plain(stream) = socket.get_ref() {
            stream
                .set_read_timeout(Some(Duration::from_secs(120)))
                .unwrap();
        }
        Browser {
            child,
            _profile: profile,
            cdp: Cdp {
                socket,
                next_id: 0,
                events: Vec::new(),
            },
        }
    }

    /// Opens `url` in a new tab, with its console and errors followed.
    fn open(&mut self, url: &str) -> Page {
        let target = self
            .cdp
            .call(None, "Target.createTarget", json!({"url": "about:blank"}));
        let target = target["targetId"].as_str().unwrap().to_string();
        let attached = self.cdp.call(
            None,
            "Target.attachToTarget",
            json!({"targetId": target, "flatten": true}),
        );
        let session = attached["sessionId"].as_str().unwrap().to_string();
        for domain in ["Runtime.enable", "Log.enable", "Page.enable"] {
            self.cdp.call(Some(&session), domain, json!({}));
        }
        self.cdp
            .call(Some(&session), "Page.navigate", json!({"url": url}));
        Page { session, target }
    }

    /// Closes the tab, so that it stops training beside the next ones.
    fn close(&mut self, page: Page) {
        self.cdp
            .call(None, "Target.closeTarget", json!({"targetId": page.target}));
    }

    /// Evaluates `expression` in the page, returning its value.
    fn eval(&mut self, page: &Page, expression: &str) -> Value {
        let r = self.cdp.call(
            Some(&page.session),
            "Runtime.evaluate",
            json!({"expression": expression, "returnByValue": true}),
        );
        r["result"]["value"].clone()
    }

    /// Evaluates `expression` until `done` holds for its value; fails after `wait`.
    fn wait_for(
        &mut self,
        page: &Page,
        expression: &str,
        wait: Duration,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + wait;
        loop {
            let value = self.eval(page, expression);
            if done(&value) {
                return value;
            }
            if Instant::now() > deadline {
                let errors = self.errors(page);
                let message = self.eval(
                    page,
                    "document.getElementById('nnm-message').textContent + ' | notice: ' \
                     + document.getElementById('nnm-notice').textContent",
                );
                panic!(
                    "waited {wait:?} for `{expression}`; last value {value}; page message {message}; errors {errors:#?}"
                );
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// The step the page's title shows, if any.
    fn step(&mut self, page: &Page) -> Option<u64> {
        let title = self.eval(page, "document.title");
        let title = title.as_str()?;
        let at = title.find("step ")? + "step ".len();
        title[at..].split_whitespace().next()?.parse().ok()
    }

    /// The rate at which the step in the page's title advances over 3 s
    /// (or until `last_step`), and the page's frames a second meanwhile;
    /// fails when training does not advance.
    fn steps_per_second(&mut self, page: &Page, last_step: u64) -> (f64, f64) {
        self.eval(
            page,
            "window.nnmFrames = { n: 0, t: performance.now() }; \
             (function count() { window.nnmFrames.n++; requestAnimationFrame(count); })(); 0",
        );
        let (t0, step0) = (Instant::now(), self.step(page).unwrap());
        let (mut t1, mut step1) = (t0, step0);
        while t0.elapsed() < Duration::from_secs(3) && step1 < last_step {
            std::thread::sleep(Duration::from_millis(100));
            let step = self.step(page).unwrap();
            if step > step1 {
                (t1, step1) = (Instant::now(), step);
            }
        }
        assert!(
            step1 > step0,
            "training does not advance: step {step0}, then {step1}"
        );
        let fps = self.eval(
            page,
            "1000 * window.nnmFrames.n / (performance.now() - window.nnmFrames.t)",
        );
        (
            (step1 - step0) as f64 / (t1 - t0).as_secs_f64(),
            fps.as_f64().unwrap_or(0.0),
        )
    }

    /// Chooses `files` in the page's file chooser (`#nnm-open`), as the
    /// student would with *Open…*.
    fn upload(&mut self, page: &Page, files: &[PathBuf]) {
        let s = Some(page.session.as_str());
        let document = self.cdp.call(s, "DOM.getDocument", json!({}));
        let input = self.cdp.call(
            s,
            "DOM.querySelector",
            json!({"nodeId": document["root"]["nodeId"], "selector": "#nnm-open"}),
        );
        let files: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
        self.cdp.call(
            s,
            "DOM.setFileInputFiles",
            json!({"files": files, "nodeId": input["nodeId"]}),
        );
    }

    /// Lets pages download into `dir`.
    fn allow_downloads(&mut self, dir: &Path) {
        self.cdp.call(
            None,
            "Browser.setDownloadBehavior",
            json!({"behavior": "allow", "downloadPath": dir.display().to_string()}),
        );
    }

    /// Presses the key `code` (a DOM code such as "F12", with its virtual
    /// key code) on the canvas, as the student would.
    fn press(&mut self, page: &Page, code: &str, virtual_code: u32) {
        self.eval(page, "document.getElementById('nnm-canvas').focus()");
        for kind in ["rawKeyDown", "keyUp"] {
            self.cdp.call(
                Some(&page.session),
                "Input.dispatchKeyEvent",
                json!({"type": kind, "key": code, "code": code, "windowsVirtualKeyCode": virtual_code}),
            );
        }
    }

    /// Makes the page's viewport `width` x `height` CSS pixels, one device
    /// pixel each.
    fn resize(&mut self, page: &Page, width: u32, height: u32) {
        self.cdp.call(
            Some(&page.session),
            "Emulation.setDeviceMetricsOverride",
            json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": false}),
        );
    }

    /// A PNG of the page.
    fn screenshot(&mut self, page: &Page) -> Vec<u8> {
        let shot = self.cdp.call(
            Some(&page.session),
            "Page.captureScreenshot",
            json!({"format": "png"}),
        );
        base64_decode(shot["data"].as_str().unwrap())
    }

    /// Fails when the page has logged an error or thrown one, naming the
    /// files it asked `server` for that were not there.
    fn assert_no_errors(&self, page: &Page, server: &StaticServer) {
        let errors = self.errors(page);
        assert!(
            errors.is_empty(),
            "console errors: {errors:#?}; not found: {:?}",
            server.missing.lock().unwrap()
        );
    }

    /// Errors in the page's console, and exceptions it threw, so far.
    fn errors(&self, page: &Page) -> Vec<String> {
        self.cdp
            .events
            .iter()
            .filter(|e| e["sessionId"].as_str() == Some(page.session.as_str()))
            .filter_map(|e| {
                let p = &e["params"];
                match e["method"].as_str()? {
                    "Runtime.exceptionThrown" => Some(p["exceptionDetails"].to_string()),
                    "Runtime.consoleAPICalled" if p["type"] == "error" => {
                        Some(p["args"].to_string())
                    }
                    "Log.entryAdded" if p["entry"]["level"] == "error" => {
                        Some(p["entry"]["text"].to_string())
                    }
                    _ => None,
                }
            })
            .collect()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A tab, by its DevTools session.
struct Page {
    session: String,
    target: String,
}

/// The DevTools protocol over the browser's socket: calls, and the events
/// that arrive meanwhile.
struct Cdp {
    socket: WebSocket<MaybeTlsStream<TcpStream>>,
    next_id: u64,
    events: Vec<Value>,
}

impl Cdp {
    fn call(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({"id": id, "method": method, "params": params});
        if let Some(s) = session {
            message["sessionId"] = json!(s);
        }
        self.socket
            .send(Message::text(message.to_string()))
            .unwrap();
        loop {
            let text = match self.socket.read().expect("DevTools answers") {
                Message::Text(t) => t.to_string(),
                _ => continue,
            };
            let value: Value = serde_json::from_str(&text).unwrap();
            if value["id"].as_u64() == Some(id) {
                assert!(
                    value.get("error").is_none(),
                    "{method} failed: {}",
                    value["error"]
                );
                return value["result"].clone();
            }
            if value.get("method").is_some() {
                self.events.push(value);
            }
        }
    }
}

fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let digits: Vec<u32> = text.bytes().filter_map(value).collect();
    let mut out = Vec::with_capacity(digits.len() * 3 / 4);
    for chunk in digits.chunks(4) {
        let mut n = 0u32;
        for (i, d) in chunk.iter().enumerate() {
            n |= d << (18 - 6 * i);
        }
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..chunk.len().saturating_sub(1)]);
    }
    out
}

#[test]
fn the_web_build_trains_in_a_page_opens_lessons_and_uploads_keeps_edits_in_the_url_and_watches_served_runs()
 {
    let dist = build_dist();
    let server = StaticServer::start(dist);
    let base = format!("http://127.0.0.1:{}/index.html", server.port);
    let mut browser = Browser::launch();

    // The default scene, unpaced: it draws the network and trains.
    let page = browser.open(&format!("{base}?speed=max"));
    let first_frame_ms = browser.wait_for(
        &page,
        "document.documentElement.dataset.firstFrameMs",
        Duration::from_secs(180),
        |v| v.is_string(),
    );
    let hidden = browser.eval(&page, "document.getElementById('nnm-loading').hidden");
    assert_eq!(hidden, json!(true), "the loading screen stays up");
    browser.wait_for(&page, "document.title", Duration::from_secs(60), |t| {
        t.as_str().is_some_and(|t| t.contains("step "))
    });
    // The scene stops at its last step: the rate is measured before that.
    let last_step = Presets::built_in()
        .find("default")
        .unwrap()
        .load()
        .unwrap()
        .train
        .steps;
    let (steps, fps) = browser.steps_per_second(&page, last_step);
    println!(
        "web: first frame {} ms after load; default scene {steps:.0} steps/s in the page while drawing at {fps:.1} frames/s (SwiftShader)",
        first_frame_ms.as_str().unwrap(),
    );
    let png = browser.screenshot(&page);
    let shot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("web-default.png");
    std::fs::write(&shot, &png).unwrap();
    let image = common::Image::load(&shot);
    // The network's lines and bulbs, in the middle of the canvas (egui's
    // panels are at its edges): many bright, coloured pixels.
    let (w, h) = (image.width, image.height);
    let lit = image.count((w / 4, h / 6, 3 * w / 4, 5 * h / 6), |p| {
        p.iter().copied().max().unwrap_or(0) > 80
    });
    assert!(
        lit > 2_000 && image.distinct_colours() > 200,
        "the canvas looks blank ({lit} lit pixels, {} colours): {}",
        image.distinct_colours(),
        shot.display()
    );
    println!("web: screenshot {}", shot.display());
    // A laptop's screen and a projector's: the canvas follows the window.
    for (w, h) in [(1366, 768), (1920, 1080)] {
        browser.resize(&page, w, h);
        let size = format!("{w}x{h}");
        browser.wait_for(
            &page,
            "(() => { const c = document.getElementById('nnm-canvas'); return c.width + 'x' + c.height; })()",
            Duration::from_secs(60),
            |v| v.as_str() == Some(size.as_str()),
        );
        // A few frames drawn at the new size.
        std::thread::sleep(Duration::from_secs(2));
        let shot = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("web-{size}.png"));
        std::fs::write(&shot, browser.screenshot(&page)).unwrap();
        let image = common::Image::load(&shot);
        assert_eq!((image.width, image.height), (w, h), "{}", shot.display());
        assert!(
            image.distinct_colours() > 200,
            "{} looks blank",
            shot.display()
        );
        println!("web: at {size}, {}", shot.display());
    }
    browser.assert_no_errors(&page, &server);

    // A lesson, from its link, with its caption.
    let lesson = Presets::built_in()
        .find("lesson-2-xor")
        .unwrap()
        .load()
        .unwrap()
        .lesson;
    let first = &lesson.steps[0];
    let caption = format!("{}\n{}", first.title, first.caption);
    let page = browser.open(&format!("{base}?scene=lesson-2-xor"));
    // The lesson pauses on its first step, so that caption stays.
    browser.wait_for(
        &page,
        "document.getElementById('nnm-caption').textContent",
        Duration::from_secs(180),
        |c| c.as_str() == Some(caption.as_str()),
    );
    let title = browser.eval(&page, "document.title");
    assert!(
        title.as_str().is_some_and(|t| t.starts_with("Lesson 2 ·")),
        "{title}"
    );
    browser.assert_no_errors(&page, &server);

    // MNIST, whose data files the page fetches from beside it (they are not
    // in the .wasm): it opens and trains.
    let mnist = Presets::built_in().find("mnist").unwrap().load().unwrap();
    let training = format!("{} · step ", mnist.display_title());
    let page = browser.open(&format!("{base}?scene=mnist&speed=max"));
    browser.wait_for(&page, "document.title", Duration::from_secs(180), |t| {
        t.as_str().is_some_and(|t| t.starts_with(&training))
    });
    let (steps, fps) = browser.steps_per_second(&page, mnist.train.steps);
    println!(
        "web: mnist {steps:.0} steps/s in the page while drawing at {fps:.1} frames/s (SwiftShader)"
    );
    browser.assert_no_errors(&page, &server);

    // A network too big for the page (MNIST's data, a wider net, a million
    // steps): after a few seconds of it, the page says so and offers a server.
    let big = common::temp_dir("web-big");
    let scene = big.path().join("big-mnist.ron");
    std::fs::write(
        &scene,
        "Scene(name: \"big-mnist\", title: \"Big MNIST\", data: Mnist(), \
         model: (hidden: [256, 128]), train: (steps: 1000000))",
    )
    .unwrap();
    browser.upload(&page, &[scene]);
    let offer = browser.wait_for(
        &page,
        "document.getElementById('nnm-notice').textContent",
        Duration::from_secs(120),
        |n| n.as_str().is_some_and(|n| n.contains("nnm serve")),
    );
    assert!(
        offer.as_str().unwrap().contains("min to its 1000000 steps"),
        "{offer}"
    );
    browser.close(page);

    // A link with edits: the page trains that scene, and writes the link
    // back in its own (canonical) form, from the scene in force.
    let page = browser.open(&format!(
        "{base}?layers=5,3&lr=0.5&seed=3&scene=lesson-4-learning-rate&activation=Relu"
    ));
    let search = browser.wait_for(&page, "location.search", Duration::from_secs(180), |s| {
        s.as_str().is_some_and(|s| s.starts_with("?scene="))
    });
    assert_eq!(
        search,
        json!("?scene=lesson-4-learning-rate&seed=3&lr=0.5&activation=relu&layers=5-3"),
    );
    browser.assert_no_errors(&page, &server);

    // Files from this computer: a scene and the CSV data it names, chosen
    // together, then a scene with a mistake, named with its place.
    let upload = common::temp_dir("web-upload");
    let mut csv = String::from("x,y,side\n");
    for i in 0..60 {
        let x = i as f32 / 15.0 - 2.0;
        let side = if x < 0.0 { "left" } else { "right" };
        csv.push_str(&format!("{x},{},{side}\n", (i % 7) as f32 / 7.0));
    }
    let data = upload.path().join("sides.csv");
    std::fs::write(&data, csv).unwrap();
    let scene = upload.path().join("my-sides.ron");
    std::fs::write(
        &scene,
        "Scene(title: \"Uploaded sides\", data: Csv(path: \"sides.csv\", target: \"side\", \
         task: Classification), model: (hidden: [3]))",
    )
    .unwrap();
    browser.upload(&page, &[scene, data]);
    browser.wait_for(&page, "document.title", Duration::from_secs(60), |t| {
        t.as_str()
            .is_some_and(|t| t.starts_with("Uploaded sides · step "))
    });
    let broken = upload.path().join("broken.ron");
    std::fs::write(
        &broken,
        "Scene(\n  data: Xor(),\n  model: (hidden: [0]),\n)",
    )
    .unwrap();
    browser.upload(&page, &[broken]);
    let notice = browser.wait_for(
        &page,
        "document.getElementById('nnm-notice').textContent",
        Duration::from_secs(60),
        |n| n.as_str().is_some_and(|n| n.contains("broken.ron")),
    );
    assert!(
        notice.as_str().unwrap().contains("broken.ron:3:")
            && notice.as_str().unwrap().contains("model.hidden"),
        "{notice}"
    );
    let title = browser.eval(&page, "document.title");
    assert!(
        title
            .as_str()
            .is_some_and(|t| t.starts_with("Uploaded sides")),
        "a broken upload replaced the run: {title}"
    );

    // F12's screenshot is a download in a page.
    let downloads = common::temp_dir("web-downloads");
    browser.allow_downloads(downloads.path());
    browser.press(&page, "F12", 123);
    let deadline = Instant::now() + Duration::from_secs(60);
    let shot = loop {
        let found = std::fs::read_dir(downloads.path())
            .unwrap()
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|x| x == "png"));
        if let Some(found) = found {
            break found;
        }
        assert!(Instant::now() < deadline, "F12 downloaded no screenshot");
        std::thread::sleep(Duration::from_millis(250));
    };
    let name = shot.file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with("screenshot_step"), "{name}");
    assert!(
        common::Image::load(&shot).distinct_colours() > 50,
        "{name} is blank"
    );
    browser.assert_no_errors(&page, &server);

    // A run served by `nnm serve`, watched from the page: its steps come in,
    // and the page's controls reach the server (Space pauses it there).
    let runs = common::temp_dir("web-serve");
    let served =
        common::Served::start(&["--bind", "127.0.0.1:0", "--runs", runs.to_str().unwrap()]);
    let client = nn_microscope::lab::net::Client::new(&served.addr);
    // xor at full speed (some 15,000 steps a second here), evaluated every
    // 10 steps: more evaluations than the page reads on SwiftShader, which
    // the server thins for it rather than dropping it.
    let xor = Presets::built_in().find("xor").unwrap().load().unwrap();
    let started = client
        .post(
            "/train",
            br#"{"scene": "xor", "steps": 10000000}"#,
            "application/json",
        )
        .unwrap();
    assert_eq!(started.status, 200, "{}", started.text());
    let watching = format!("{} · step ", xor.display_title());
    let page = browser.open(&format!("{base}?connect=ws://{}/stream", served.addr));
    browser.wait_for(&page, "document.title", Duration::from_secs(180), |t| {
        t.as_str().is_some_and(|t| t.starts_with(&watching))
    });
    let step0 = browser.step(&page).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while browser.step(&page).unwrap_or(0) <= step0 {
        assert!(
            Instant::now() < deadline,
            "the served run's steps do not reach the page (still step {step0})"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    browser.press(&page, "Space", 32);
    common::status_until(&client, "paused from the page", |s| s["state"] == "paused");
    browser.assert_no_errors(&page, &server);
    drop(served);

    // A served run out of reach: the page says so, rather than loading on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let page = browser.open(&format!("{base}?connect=ws://127.0.0.1:{port}/stream"));
    browser.wait_for(
        &page,
        "document.getElementById('nnm-notice').textContent",
        Duration::from_secs(180),
        |n| {
            n.as_str()
                .is_some_and(|n| n.contains("is `nnm serve` running there"))
        },
    );
    let hidden = browser.eval(&page, "document.getElementById('nnm-loading').hidden");
    assert_eq!(hidden, json!(true), "the loading screen stays up");
    drop(browser);
    drop(server);
}
