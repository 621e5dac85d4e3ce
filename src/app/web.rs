//! The page: the app in a browser tab, opened from a link, training inside its frames, the link kept up to date as the student edits.

use std::cell::RefCell;

use bevy::prelude::*;
use wasm_bindgen::JsValue;
use wasm_bindgen::prelude::Closure;

use bevy_egui::{EguiContexts, EguiPrimaryContextPass, egui};

use crate::app::bridge::{Live, TrainerNotes, TrainingState};
use crate::app::lesson::LessonPlayer;
use crate::app::messages::{Notice, SendCommand};
use crate::app::scene_file::SceneFile;
use crate::app::{AppSystems, ViewOptions, run_view_with};
use crate::lab::clock::Instant;
use crate::lab::net::DEFAULT_LISTEN;
use crate::lab::runner::RunnerOptions;
use crate::lab::scene::{DEFAULT_SCENE, Preset, Presets, SceneLink};
use crate::lab::{CpuBackend, Scene, TrainerCommand, TrainerHandle};

/// The canvas the page gives the app (`web/index.html`).
pub(super) const CANVAS: &str = "#nnm-canvas";

/// Opens the scene the page's address names and runs the instrument in it,
/// once the data files it needs from beside the page have arrived.
pub fn run_web() {
    console_error_panic_hook::set_once();
    wasm_bindgen_futures::spawn_local(open_page());
}

async fn open_page() {
    let query = web_sys::window()
        .and_then(|w| w.location().search().ok())
        .unwrap_or_default();
    let mut problems = Vec::new();
    let link = SceneLink::parse(&query).unwrap_or_else(|e| {
        problems.push(format!("this link's settings were not used: {e}"));
        SceneLink::default()
    });
    if let Some(url) = &link.connect {
        watch_served(url, problems).await;
        return;
    }
    let presets = Presets::built_in();
    let opened = presets
        .find(link.scene_name())
        .and_then(|p| p.load().map(|scene| (p, scene)))
        .map_err(|e| problems.push(format!("{e}: opening {DEFAULT_SCENE} instead")))
        .ok()
        .or_else(|| {
            let p = presets.find(DEFAULT_SCENE).ok()?;
            let scene = p.load().ok()?;
            Some((p, scene))
        });
    let Some((preset, base)) = opened else {
        show_failure("the built-in scenes could not be read");
        return;
    };
    let mut scene = base.clone();
    link.apply(&mut scene);
    if let Err(e) = scene.validate() {
        problems.push(format!("this link's settings were not used: {e}"));
        scene.clone_from(&base);
    }
    if let Err(e) = fetch_beside_the_page(&scene.data.files()).await {
        problems.push(e);
    }
    let trainer = TrainerHandle::cooperative::<CpuBackend>(
        scene.clone(),
        Default::default(),
        RunnerOptions {
            // The page keeps its history in memory: it has no folder to record to.
            runs_root: None,
            lesson_pauses: true,
            ..Default::default()
        },
    );
    let options = page_options(
        format!("NN Microscope · {}", scene.display_title()),
        Some((preset.clone(), presets, None)),
    );
    listen_for_uploads();
    run_view_with(trainer, options, move |app| {
        app.insert_resource(PageLink {
            name: preset.name.clone(),
            base,
            written: query,
            uploaded: false,
        })
        .insert_resource(PageProblems(problems))
        .init_resource::<ServeOffer>()
        .add_systems(Update, judge_pace.in_set(AppSystems::Upload))
        .add_systems(EguiPrimaryContextPass, serve_offer_ui)
        .add_plugins(PagePlugin);
    });
}

/// The page on a run served by `nnm serve` (`?connect=ws://HOST:PORT/stream`):
/// it has no scene of its own, and its controls go to the server. The data
/// fetched beside the page comes first: a served network is often MNIST's,
/// which the page follows through the same data.
async fn watch_served(url: &str, mut problems: Vec<String>) {
    if let Err(e) = fetch_beside_the_page(crate::lab::data::FETCHED_BY_THE_PAGE).await {
        problems.push(e);
    }
    let trainer = match TrainerHandle::connect_in_page::<CpuBackend>(url) {
        Ok(trainer) => trainer,
        Err(e) => {
            show_failure(&e.to_string());
            return;
        }
    };
    listen_for_uploads();
    run_view_with(
        trainer,
        page_options(format!("NN Microscope · {url}"), None),
        move |app| {
            app.insert_resource(PageProblems(problems))
                .add_plugins(PagePlugin);
        },
    );
}

/// Fetches those of `files` that the web build serves beside the page
/// rather than in its `.wasm` (MNIST), and not here yet, telling the
/// loading screen; an error names the file that could not be fetched.
async fn fetch_beside_the_page(files: &[&str]) -> Result<(), String> {
    let wanted: Vec<&str> = crate::lab::data::FETCHED_BY_THE_PAGE
        .iter()
        .copied()
        .filter(|f| files.iter().any(|w| w.trim_start_matches("./") == *f))
        .filter(|f| !crate::lab::data::is_provided(f))
        .collect();
    for file in wanted {
        if let Some(message) = document().and_then(|d| d.get_element_by_id("nnm-message")) {
            message.set_text_content(Some(&format!("fetching {file}")));
        }
        let bytes = fetch_bytes(file)
            .await
            .map_err(|e| format!("{file}: cannot fetch it beside the page: {e}"))?;
        crate::lab::data::provide_file(file, bytes);
    }
    Ok(())
}

/// The bytes at `path`, relative to the page.
async fn fetch_bytes(path: &str) -> Result<Vec<u8>, String> {
    use wasm_bindgen::JsCast;
    use wasm_bindgen_futures::JsFuture;
    let window = web_sys::window().ok_or("the page has no window")?;
    let response = JsFuture::from(window.fetch_with_str(path))
        .await
        .map_err(|e| format!("{e:?}"))?;
    let response: web_sys::Response = response
        .dyn_into()
        .map_err(|_| "the answer is not a response".to_string())?;
    if !response.ok() {
        return Err(format!("HTTP {}", response.status()));
    }
    let buffer = response.array_buffer().map_err(|e| format!("{e:?}"))?;
    let buffer = JsFuture::from(buffer).await.map_err(|e| format!("{e:?}"))?;
    Ok(js_sys::Uint8Array::new(&buffer).to_vec())
}

/// The view's options in a page: the canvas's size, and the preset picker
/// where the page trains a scene of its own.
fn page_options(title: String, scene: Option<(Preset, Presets, Option<u64>)>) -> ViewOptions {
    ViewOptions {
        title,
        frames: None,
        screenshot: None,
        bench: false,
        window: (1280, 720),
        select: None,
        click: None,
        frame_layer: None,
        dashboard: false,
        play: None,
        scene,
    }
}

/// Writes a failure where the page shows its messages.
fn show_failure(message: &str) {
    if let Some(element) = document().and_then(|d| d.get_element_by_id("nnm-message")) {
        element.set_text_content(Some(message));
    }
    web_sys::console::error_1(&JsValue::from_str(message));
}

/// Hands `bytes` to the browser as a download called `name`.
pub(super) fn download(name: &str, bytes: &[u8], mime: &str) -> Result<(), String> {
    use wasm_bindgen::JsCast;
    let fail = |what: &str, e: JsValue| format!("{what}: {e:?}");
    let document = document().ok_or("the page has no document")?;
    let parts = js_sys::Array::of1(&js_sys::Uint8Array::from(bytes));
    let options = web_sys::BlobPropertyBag::new();
    options.set_type(mime);
    let blob = web_sys::Blob::new_with_u8_array_sequence_and_options(&parts, &options)
        .map_err(|e| fail("cannot make the file", e))?;
    let url = web_sys::Url::create_object_url_with_blob(&blob)
        .map_err(|e| fail("cannot make the file", e))?;
    let link: web_sys::HtmlAnchorElement = document
        .create_element("a")
        .map_err(|e| fail("cannot make the link", e))?
        .dyn_into()
        .map_err(|_| "cannot make the link".to_string())?;
    link.set_href(&url);
    link.set_download(name);
    link.click();
    let _ = web_sys::Url::revoke_object_url(&url);
    Ok(())
}

fn document() -> Option<web_sys::Document> {
    web_sys::window()?.document()
}

/// The preset the page opened, its unedited scene, and the query last
/// written to the address bar (absent where the page watches a served run,
/// whose link stays as it was).
#[derive(Resource, Debug)]
struct PageLink {
    name: String,
    base: Scene,
    written: String,
    /// An uploaded scene is running: no link can reproduce it, so the
    /// address is left alone until a preset is picked.
    uploaded: bool,
}

/// What the page could not do as its link asked, told once it is drawing.
#[derive(Resource, Debug)]
struct PageProblems(Vec<String>);

/// Keeps the page's address, title and caption in step with the app.
struct PagePlugin;

impl Plugin for PagePlugin {
    fn build(&self, app: &mut App) {
        app.add_systems(Update, open_uploads.in_set(AppSystems::Input))
            .add_systems(
                Update,
                (keep_link, show_step, mirror_caption, mirror_notices).in_set(AppSystems::Upload),
            )
            .add_systems(Last, first_frame_shown.in_set(AppSystems::Snapshot));
    }
}

/// Rewrites the address bar's query (without a new history entry) when the
/// scene in force differs from the one the link describes.
fn keep_link(live: Live, file: Option<Res<SceneFile>>, link: Option<ResMut<PageLink>>) {
    let Some(mut link) = link else { return };
    if !live.scene.is_changed() {
        return;
    }
    let Some(now) = live.scene() else { return };
    if let Some(file) = file
        && file.current != link.name
        && let Ok(base) = file.presets.find(&file.current).and_then(|p| p.load())
    {
        link.name = file.current.clone();
        link.base = base;
        link.uploaded = false;
    }
    if link.uploaded {
        return;
    }
    let query = SceneLink::between(&link.name, &link.base, now).to_query();
    if query == link.written {
        return;
    }
    let Some(window) = web_sys::window() else {
        return;
    };
    let path = window.location().pathname().unwrap_or_default();
    let url = format!("{path}{query}");
    if let Ok(history) = window.history() {
        let _ = history.replace_state_with_url(&JsValue::NULL, "", Some(&url));
    }
    link.written = query;
}

/// Puts the step in the document's title, for the tab and for scripts.
fn show_step(live: Live, mut shown: Local<(u64, String)>) {
    if live.frame().is_none() {
        return;
    }
    let step = live.step();
    let title = live.scene().map_or("NN Microscope", Scene::display_title);
    // A new scene starts at the step the old one showed: both are compared.
    if shown.0 == step && shown.1 == title {
        return;
    }
    *shown = (step, title.to_string());
    if let Some(document) = document() {
        document.set_title(&format!("{title} · step {step} · NN Microscope"));
    }
}

/// Copies the lesson's caption into the page (`#nnm-caption`), where
/// screen readers and scripts can read it.
fn mirror_caption(player: Res<LessonPlayer>, mut shown: Local<Option<String>>) {
    if !player.is_changed() {
        return;
    }
    let text = player
        .current()
        .map(|(_, step)| format!("{}\n{}", step.title, step.caption))
        .unwrap_or_default();
    if shown.as_deref() == Some(text.as_str()) {
        return;
    }
    if let Some(element) = document().and_then(|d| d.get_element_by_id("nnm-caption")) {
        element.set_text_content(Some(&text));
    }
    *shown = Some(text);
}

/// Copies the newest notice (what was saved, opened, or went wrong), or
/// what the trainer last said, into the page (`#nnm-notice`), for screen
/// readers and scripts.
fn mirror_notices(mut notices: MessageReader<Notice>, notes: Res<TrainerNotes>) {
    let newest = match notices.read().last() {
        Some(Notice(text)) => Some(text),
        None if notes.is_changed() => notes.0.last(),
        None => None,
    };
    if let Some(text) = newest
        && let Some(element) = document().and_then(|d| d.get_element_by_id("nnm-notice"))
    {
        element.set_text_content(Some(text));
    }
}

thread_local! {
    /// Files the student chose, read and waiting for the next frame: (name, bytes).
    static UPLOADS: RefCell<Vec<(String, Vec<u8>)>> = const { RefCell::new(Vec::new()) };
}

/// Opens the browser's file chooser (`#nnm-open`).
pub(super) fn choose_files() {
    use wasm_bindgen::JsCast;
    if let Some(input) = document()
        .and_then(|d| d.get_element_by_id("nnm-open"))
        .and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok())
    {
        input.click();
    }
}

/// Reads each file chosen in `#nnm-open` into [`UPLOADS`].
fn listen_for_uploads() {
    use wasm_bindgen::JsCast;
    let Some(input) = document()
        .and_then(|d| d.get_element_by_id("nnm-open"))
        .and_then(|e| e.dyn_into::<web_sys::HtmlInputElement>().ok())
    else {
        return;
    };
    let chooser = input.clone();
    let on_change = Closure::<dyn FnMut(web_sys::Event)>::new(move |_: web_sys::Event| {
        let Some(list) = chooser.files() else { return };
        let files: Vec<web_sys::File> = (0..list.length()).filter_map(|i| list.get(i)).collect();
        // The files chosen together arrive together, in one frame, so that a
        // scene finds the data chosen with it whichever was read first.
        wasm_bindgen_futures::spawn_local(async move {
            let mut batch = Vec::new();
            for file in files {
                let name = file.name();
                match wasm_bindgen_futures::JsFuture::from(file.array_buffer()).await {
                    Ok(buffer) => batch.push((name, js_sys::Uint8Array::new(&buffer).to_vec())),
                    Err(e) => web_sys::console::warn_1(&JsValue::from_str(&format!(
                        "{name}: cannot read it: {e:?}"
                    ))),
                }
            }
            UPLOADS.with(|u| u.borrow_mut().extend(batch));
        });
        // The same file chosen again is a change too.
        chooser.set_value("");
    });
    let _ = input.add_event_listener_with_callback("change", on_change.as_ref().unchecked_ref());
    // The page lives as long as the app: the listener does too.
    on_change.forget();
}

/// Opens what was uploaded: data files first (kept in memory under their
/// names, where a scene's data finds them), then scenes, each replacing the
/// run; every file gets a notice.
fn open_uploads(
    mut send: MessageWriter<SendCommand>,
    mut notices: MessageWriter<Notice>,
    link: Option<ResMut<PageLink>>,
) {
    let mut files = UPLOADS.with(|u| std::mem::take(&mut *u.borrow_mut()));
    if files.is_empty() {
        return;
    }
    let Some(mut link) = link else {
        notices.write(Notice(
            "this page watches a served run: open files in a page of its own, without ?connect="
                .into(),
        ));
        return;
    };
    files.sort_by_key(|(name, _)| name.ends_with(".ron"));
    for (name, bytes) in files {
        let lower = name.to_lowercase();
        let notice = if lower.ends_with(".ron") {
            let parsed = String::from_utf8(bytes)
                .map_err(|_| format!("{name}: is not UTF-8 text"))
                .and_then(|text| {
                    Scene::parse(&text, std::path::Path::new(&name)).map_err(|e| e.to_string())
                });
            match parsed {
                Ok(scene) => {
                    link.uploaded = true;
                    let title = scene.display_title().to_string();
                    send.write(SendCommand(TrainerCommand::LoadScene(Box::new(scene))));
                    format!("opened {name}: {title}")
                }
                Err(e) => format!("cannot open the scene: {e}"),
            }
        } else if [".csv", ".npy", ".npz"].iter().any(|x| lower.ends_with(x)) {
            crate::lab::data::provide_file(&name, bytes);
            format!("{name} is here: a scene whose data names \"{name}\" reads it")
        } else {
            format!("{name}: the page opens .ron scenes and .csv, .npy or .npz data")
        };
        notices.write(Notice(notice));
    }
}

/// Once a frame is drawn, or the source has failed: hides the loading
/// screen and tells what the link could not do; and records when the first
/// frame came (`data-first-frame-ms` on `<html>`, ms since the page began
/// loading).
fn first_frame_shown(
    live: Live,
    mut problems: ResMut<PageProblems>,
    mut notices: MessageWriter<Notice>,
    mut shown: Local<bool>,
    mut timed: Local<bool>,
) {
    let framed = live.frame().is_some();
    if framed && !*timed {
        *timed = true;
        if let Some(window) = web_sys::window()
            && let (Some(root), Some(performance)) = (
                window.document().and_then(|d| d.document_element()),
                window.performance(),
            )
        {
            let _ = root.set_attribute("data-first-frame-ms", &format!("{:.0}", performance.now()));
        }
    }
    // A source that failed before its first frame (a served run out of
    // reach, a data set that would not load) shows the app too, whose
    // status bar says why.
    let failed = *live.state == TrainingState::Stopped || live.last_message().is_some();
    if *shown || !(framed || failed) {
        return;
    }
    *shown = true;
    if let Some(loading) = document().and_then(|d| d.get_element_by_id("nnm-loading")) {
        let _ = loading.set_attribute("hidden", "");
    }
    for problem in problems.0.drain(..) {
        web_sys::console::warn_1(&JsValue::from_str(&problem));
        notices.write(Notice(problem));
    }
    // The rest of the data sets come in behind the first frame, so that
    // picking MNIST later finds them here.
    wasm_bindgen_futures::spawn_local(async {
        if let Err(e) = fetch_beside_the_page(crate::lab::data::FETCHED_BY_THE_PAGE).await {
            web_sys::console::warn_1(&JsValue::from_str(&e));
        }
    });
}

/// How long the page watches a run's pace before judging it.
const PACE_WINDOW_S: f64 = 5.0;
/// A run that would take longer than this in the page is offered a server.
const TOO_LONG_S: f64 = 300.0;

/// The offer to watch the network trained by `nnm serve` instead, while it
/// stands (once per run, when the page cannot keep up).
#[derive(Resource, Debug, Default)]
struct ServeOffer(Option<Offer>);

/// Why the page offers a server, and where the student says it is.
#[derive(Debug)]
struct Offer {
    steps_per_second: f64,
    minutes: f64,
    scene: Scene,
    address: String,
}

/// Measures the run's pace in the page over its first seconds of training;
/// when finishing would take more than [`TOO_LONG_S`], says so and offers
/// to watch it trained by `nnm serve` instead (once per run).
fn judge_pace(
    live: Live,
    mut since: Local<Option<(Instant, u64)>>,
    mut judged: Local<Option<u64>>,
    mut offer: ResMut<ServeOffer>,
    mut notices: MessageWriter<Notice>,
) {
    let running = *live.state == TrainingState::Running && live.frame().is_some();
    if !running || live.run.is_changed() {
        *since = None;
        return;
    }
    let Some(scene) = live.scene() else { return };
    if *judged == Some(live.run_tick()) {
        return;
    }
    let step = live.step();
    let (start, first_step) = *since.get_or_insert((Instant::now(), step));
    let elapsed_s = start.elapsed().as_secs_f64();
    if elapsed_s < PACE_WINDOW_S {
        return;
    }
    *judged = Some(live.run_tick());
    let steps_per_second = step.saturating_sub(first_step) as f64 / elapsed_s;
    let left_s = scene.train.steps.saturating_sub(step) as f64 / steps_per_second.max(1e-9);
    if left_s < TOO_LONG_S {
        return;
    }
    let minutes = left_s / 60.0;
    notices.write(Notice(format!(
        "this network trains at {steps_per_second:.0} steps/s in the page: about {minutes:.0} min to its {} steps; `nnm serve` trains it at full speed on a computer, and the page can watch it",
        scene.train.steps
    )));
    offer.0 = Some(Offer {
        steps_per_second,
        minutes,
        scene: scene.clone(),
        address: format!("ws://{DEFAULT_LISTEN}/stream"),
    });
}

/// The offer, while it stands: what `nnm serve` needs, and a button that
/// opens the page on the served run (`?connect=`).
fn serve_offer_ui(mut contexts: EguiContexts, mut offer: ResMut<ServeOffer>) -> Result {
    let Some(o) = offer.0.as_mut() else {
        return Ok(());
    };
    let ctx = contexts.ctx_mut()?;
    let mut answered = false;
    egui::Window::new("Too big for this page?")
        .collapsible(false)
        .resizable(false)
        .anchor(egui::Align2::CENTER_TOP, [0.0, 48.0])
        .show(ctx, |ui| {
            ui.label(format!(
                "This network trains at {:.0} steps/s here: about {:.0} minutes to its {} steps.",
                o.steps_per_second, o.minutes, o.scene.train.steps
            ));
            ui.label(
                "A computer with cores to spare trains it at full speed, and this page watches it:",
            );
            ui.monospace(format!(
                "nnm serve\ncurl -X POST {DEFAULT_LISTEN}/train -d '{{\"scene\": \"{}\"}}'",
                o.scene.name
            ));
            ui.horizontal(|ui| {
                ui.label("Its stream");
                ui.text_edit_singleline(&mut o.address);
            });
            ui.horizontal(|ui| {
                if ui.button("Watch it").clicked() {
                    answered = true;
                    watch(&o.address);
                }
                if ui.button("Keep training here").clicked() {
                    answered = true;
                }
            });
        });
    if answered {
        offer.0 = None;
    }
    Ok(())
}

/// Opens this page on the run served at `address` (`ws://HOST:PORT/stream`).
fn watch(address: &str) {
    let link = SceneLink {
        connect: Some(address.trim().to_string()),
        ..Default::default()
    };
    if let Some(window) = web_sys::window() {
        let _ = window.location().set_search(&link.to_query());
    }
}
