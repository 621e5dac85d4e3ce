//! Helpers shared by the integration tests: temp folders, lavapipe + Xvfb, ffmpeg, PNG checks.

#![allow(
    dead_code,
    reason = "each test binary includes this module and uses part of it"
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;

/// Rendering is slow on a software driver; one at a time keeps each run's timing sane.
static RENDER_LOCK: Mutex<()> = Mutex::new(());

/// A fresh folder `nnm-TAG-…` under the system's temporary folder, removed
/// with everything in it when dropped, a failing test's too.
#[derive(Debug)]
pub(crate) struct Scratch(tempfile::TempDir);

impl Scratch {
    /// The folder.
    pub(crate) fn path(&self) -> &Path {
        self.0.path()
    }
}

impl std::ops::Deref for Scratch {
    type Target = Path;

    fn deref(&self) -> &Path {
        self.0.path()
    }
}

impl AsRef<Path> for Scratch {
    fn as_ref(&self) -> &Path {
        self.0.path()
    }
}

impl AsRef<std::ffi::OsStr> for Scratch {
    fn as_ref(&self) -> &std::ffi::OsStr {
        self.0.path().as_os_str()
    }
}

/// A fresh scratch folder for the test `tag`.
pub(crate) fn temp_dir(tag: &str) -> Scratch {
    Scratch(
        tempfile::Builder::new()
            .prefix(&format!("nnm-{tag}-"))
            .tempdir()
            .unwrap(),
    )
}

fn lavapipe_icd() -> Option<PathBuf> {
    std::fs::read_dir("/usr/share/vulkan/icd.d")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("lvp_icd"))
        })
}

fn has(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Installs Debian `packages` (apt-get arguments) with apt-get (updating the package lists only
/// when the first try fails), or fails with `hint` where this is not root.
pub(crate) fn apt_install(packages: &str, hint: &str) {
    assert!(
        is_root() && has("apt-get"),
        "{hint} (not root, or no apt-get: install them first)"
    );
    let install = format!("apt-get install -y -q {packages}");
    let script = format!(
        "export DEBIAN_FRONTEND=noninteractive; {install} >/dev/null 2>&1 || \
         (apt-get update -q >/dev/null 2>&1 && {install} >/dev/null)"
    );
    let status = Command::new("sh")
        .args(["-c", &script])
        .status()
        .expect("apt-get runs");
    assert!(status.success(), "{hint}: installing them failed");
}

/// Makes sure lavapipe and Xvfb are installed, installing them as root if needed.
pub(crate) fn ensure_software_gpu() -> PathBuf {
    static INSTALL: Mutex<()> = Mutex::new(());
    let _guard = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    if lavapipe_icd().is_none() || !has("xvfb-run") || !has("xauth") {
        apt_install(
            "mesa-vulkan-drivers xvfb xauth",
            "rendering tests need Mesa's software Vulkan driver and Xvfb: \
             `apt-get install mesa-vulkan-drivers xvfb xauth`",
        );
    }
    lavapipe_icd().expect("lavapipe's ICD file after installing mesa-vulkan-drivers")
}

/// Runs `nnm` with `args` on lavapipe under a fresh Xvfb display.
pub(crate) fn nnm_under_xvfb(args: &[&str]) -> Output {
    let icd = ensure_software_gpu();
    let icd = icd.to_string_lossy();
    // Force the software driver, so the test means the same on machines with GPUs.
    nnm_under_xvfb_with(
        args,
        &[
            ("VK_DRIVER_FILES", &icd),
            ("VK_ICD_FILENAMES", &icd),
            ("WGPU_BACKEND", "vulkan"),
        ],
    )
}

/// Runs `nnm` under a fresh Xvfb display with extra environment variables.
pub(crate) fn nnm_under_xvfb_with(args: &[&str], env: &[(&str, &str)]) -> Output {
    ensure_software_gpu();
    let _guard = RENDER_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let runtime = temp_dir("xdg");
    let mut cmd = Command::new("xvfb-run");
    cmd.args(["-a", "-s", "-screen 0 1920x1080x24"])
        .arg(env!("CARGO_BIN_EXE_nnm"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("XDG_RUNTIME_DIR", &runtime);
    for (k, v) in env {
        cmd.env(k, v);
    }
    without_gpu_errors(cmd.output().expect("xvfb-run runs"))
}

/// Runs `nnm` on lavapipe with no display at all: no X, no Wayland.
pub(crate) fn nnm_offscreen(args: &[&str], env: &[(&str, &str)]) -> Output {
    let icd = ensure_software_gpu();
    let icd = icd.to_string_lossy().into_owned();
    let _guard = RENDER_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let runtime = temp_dir("xdg-offscreen");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nnm"));
    cmd.args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .env("XDG_RUNTIME_DIR", &runtime)
        .env("VK_DRIVER_FILES", &icd)
        .env("VK_ICD_FILENAMES", &icd)
        .env("WGPU_BACKEND", "vulkan");
    for (k, v) in env {
        cmd.env(k, v);
    }
    without_gpu_errors(cmd.output().expect("nnm runs"))
}

/// `out`, after checking that its log names no shader or pipeline error: the
/// renderer logs them and draws on without what failed, which a picture may
/// not show.
fn without_gpu_errors(out: Output) -> Output {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("ERROR") && (l.contains("pipeline_cache") || l.contains("wgpu")))
        .collect();
    assert!(
        errors.is_empty(),
        "the renderer reported errors:\n{}\n\nthe whole log:\n{stderr}",
        errors.join("\n")
    );
    out
}

/// Runs the `nnm` under test with `args` in the repository root and waits for it.
pub(crate) fn nnm(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nnm"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("nnm runs")
}

/// `nnm runs frame RUN --step STEP`, parsed from its JSON.
pub(crate) fn run_frame(run: &Path, step: u64) -> serde_json::Value {
    let o = nnm(&[
        "runs",
        "frame",
        &run.to_string_lossy(),
        "--step",
        &step.to_string(),
    ]);
    assert!(o.status.success(), "{}", output_text(&o));
    serde_json::from_slice(&o.stdout).expect("runs frame prints JSON")
}

/// A finished command's status, standard output and standard error, for messages.
pub(crate) fn output_text(o: &Output) -> String {
    format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The headless `nnm` (`--no-default-features`), built once into its own
/// target folder (the tests run the default build's binary meanwhile).
pub(crate) fn headless_nnm() -> PathBuf {
    static BUILD: Mutex<()> = Mutex::new(());
    let _guard = BUILD.lock().unwrap_or_else(|e| e.into_inner());
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("headless");
    let build = Command::new(&cargo)
        .args([
            "build",
            "--offline",
            "--release",
            "--no-default-features",
            "--bin",
            "nnm",
            "--target-dir",
        ])
        .arg(&target)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo build runs");
    assert!(
        build.status.success(),
        "building the headless nnm failed:\n{}",
        String::from_utf8_lossy(&build.stderr)
    );
    target.join("release/nnm")
}

/// Whether this process runs as root (tests install system packages only then).
pub(crate) fn running_as_root() -> bool {
    is_root()
}

/// Whether `program` is on the PATH.
pub(crate) fn has_program(program: &str) -> bool {
    has(program)
}

/// Makes sure `ffmpeg` and `ffprobe` are installed, installing them as root if needed.
pub(crate) fn ensure_ffmpeg() {
    static INSTALL: Mutex<()> = Mutex::new(());
    let _guard = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    if has("ffmpeg") && has("ffprobe") {
        return;
    }
    let hint = "the MP4 capture test needs ffmpeg and ffprobe: `apt-get install ffmpeg`";
    apt_install("--no-install-recommends ffmpeg", hint);
    assert!(
        has("ffmpeg") && has("ffprobe"),
        "{hint}: installing it failed"
    );
}

/// A decoded RGB image.
pub(crate) struct Image {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// RGB bytes, row-major.
    pub rgb: Vec<u8>,
}

impl Image {
    /// Decodes a PNG file.
    pub(crate) fn load(path: &Path) -> Image {
        let img = image::open(path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .to_rgb8();
        Image {
            width: img.width(),
            height: img.height(),
            rgb: img.into_raw(),
        }
    }

    /// The pixel at (x, y).
    pub(crate) fn pixel(&self, x: u32, y: u32) -> [u8; 3] {
        let i = ((y * self.width + x) * 3) as usize;
        [self.rgb[i], self.rgb[i + 1], self.rgb[i + 2]]
    }

    /// Number of distinct colours.
    pub(crate) fn distinct_colours(&self) -> usize {
        let mut seen: Vec<u32> = self
            .rgb
            .chunks_exact(3)
            .map(|p| u32::from(p[0]) << 16 | u32::from(p[1]) << 8 | u32::from(p[2]))
            .collect();
        seen.sort_unstable();
        seen.dedup();
        seen.len()
    }

    /// Pixels in the box (x0, y0, x1, y1) for which `f` holds.
    pub(crate) fn count(
        &self,
        (x0, y0, x1, y1): (u32, u32, u32, u32),
        f: impl Fn([u8; 3]) -> bool,
    ) -> usize {
        let mut n = 0;
        for y in y0..y1.min(self.height) {
            for x in x0..x1.min(self.width) {
                if f(self.pixel(x, y)) {
                    n += 1;
                }
            }
        }
        n
    }

    /// Mean absolute difference per channel with `other` within the box
    /// (x0, y0, x1, y1), 0 to 255.
    pub(crate) fn region_difference(
        &self,
        other: &Image,
        (x0, y0, x1, y1): (u32, u32, u32, u32),
    ) -> f64 {
        let mut sum = 0u64;
        let mut n = 0u64;
        for y in y0..y1.min(self.height).min(other.height) {
            for x in x0..x1.min(self.width).min(other.width) {
                let (p, q) = (self.pixel(x, y), other.pixel(x, y));
                sum += p
                    .iter()
                    .zip(q)
                    .map(|(u, v)| u64::from(u.abs_diff(v)))
                    .sum::<u64>();
                n += 3;
            }
        }
        sum as f64 / n.max(1) as f64
    }

    /// Mean absolute difference per channel with another image of the same size.
    pub(crate) fn mean_difference(&self, other: &Image) -> f64 {
        assert_eq!((self.width, self.height), (other.width, other.height));
        let sum: u64 = self
            .rgb
            .iter()
            .zip(&other.rgb)
            .map(|(a, b)| u64::from(a.abs_diff(*b)))
            .sum();
        sum as f64 / self.rgb.len() as f64
    }
}

/// A Python with numpy, safetensors, tensorboardX (to write TensorBoard
/// logs as users do) and this repository's `nnm` package
/// (`python/`, installed fresh once per test run), in a venv made under the
/// target folder. Installs Python's venv module with apt-get as root where
/// it is missing, else fails saying what to install.
pub(crate) fn python_with_nnm() -> PathBuf {
    static MADE: Mutex<bool> = Mutex::new(false);
    let mut made = MADE.lock().unwrap_or_else(|e| e.into_inner());
    let root = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let venv = root.join("nnm-python");
    let python = venv.join("bin/python");
    if *made {
        return python;
    }
    let hint = "the Python client tests need python3 with its venv module \
                (`apt-get install python3 python3-venv`) and PyPI for numpy and safetensors";
    if !python.exists() {
        let make = || {
            Command::new("python3")
                .args(["-m", "venv"])
                .arg(&venv)
                .status()
                .is_ok_and(|s| s.success())
        };
        if !make() {
            apt_install("python3 python3-venv", hint);
            assert!(
                make(),
                "{hint}: python3 -m venv fails after installing them"
            );
        }
    }
    let ready = Command::new(&python)
        .args([
            "-c",
            "import numpy, safetensors, tensorboardX, setuptools; assert int(setuptools.__version__.split('.')[0]) >= 70",
        ])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ready {
        let o = Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "-q",
                "numpy",
                "safetensors",
                "tensorboardX",
                "setuptools>=70",
            ])
            .output()
            .expect("pip runs");
        assert!(
            o.status.success(),
            "{hint}: pip failed\n{}",
            output_text(&o)
        );
    }
    // Built from a copy, so that pip's build folders stay out of the repository.
    let copy = root.join("nnm-python-src");
    let _ = std::fs::remove_dir_all(&copy);
    copy_tree(&Path::new(env!("CARGO_MANIFEST_DIR")).join("python"), &copy);
    let o = Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--force-reinstall",
        ])
        .arg(&copy)
        .output()
        .expect("pip runs");
    assert!(
        o.status.success(),
        "pip install ./python failed\n{}",
        output_text(&o)
    );
    *made = true;
    python
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// An `nnm` started under Xvfb on lavapipe, still running: its first line
/// of output can be read while it runs. Dropped before it ends, it is
/// killed with its process group (Xvfb included), by id.
pub(crate) struct Running {
    child: std::process::Child,
    stdout: std::io::BufReader<std::process::ChildStdout>,
    _lock: std::sync::MutexGuard<'static, ()>,
    runtime: Scratch,
}

impl Running {
    /// Starts `nnm args` under a fresh Xvfb display on lavapipe.
    pub(crate) fn under_xvfb(args: &[&str]) -> Running {
        use std::os::unix::process::CommandExt;
        let icd = ensure_software_gpu();
        let lock = RENDER_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        let runtime = temp_dir("xdg");
        // A file, not a pipe: nobody reads stderr while it runs, and a full
        // pipe would stop it.
        let errors = std::fs::File::create(runtime.join("stderr.txt")).unwrap();
        let mut child = Command::new("xvfb-run")
            .args(["-a", "-s", "-screen 0 1920x1080x24"])
            .arg(env!("CARGO_BIN_EXE_nnm"))
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("XDG_RUNTIME_DIR", runtime.path())
            .env("VK_DRIVER_FILES", &icd)
            .env("VK_ICD_FILENAMES", &icd)
            .env("WGPU_BACKEND", "vulkan")
            .stdout(std::process::Stdio::piped())
            .stderr(errors)
            .process_group(0)
            .spawn()
            .expect("xvfb-run starts");
        let stdout = std::io::BufReader::new(child.stdout.take().expect("piped stdout"));
        Running {
            child,
            stdout,
            _lock: lock,
            runtime,
        }
    }

    /// The next line it prints (empty once its output has ended).
    pub(crate) fn line(&mut self) -> String {
        use std::io::BufRead;
        let mut line = String::new();
        let _ = self.stdout.read_line(&mut line);
        line.trim_end().to_string()
    }

    /// Waits for it to end: its status, the rest of its output and its errors.
    pub(crate) fn wait(mut self) -> Output {
        use std::io::Read;
        let mut rest = Vec::new();
        let _ = self.stdout.read_to_end(&mut rest);
        let status = self.child.wait().expect("nnm ends");
        let stderr = std::fs::read(self.runtime.join("stderr.txt")).unwrap_or_default();
        Output {
            status,
            stdout: rest,
            stderr,
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let group = format!("-{}", self.child.id());
            let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
            let _ = self.child.wait();
        }
    }
}

/// A headless `nnm serve` on a free loopback port, ended by its process id
/// when dropped.
pub(crate) struct Served {
    child: std::process::Child,
    /// `HOST:PORT`.
    pub(crate) addr: String,
    /// Kept open: a closed pipe would fail the server's next line.
    _stdout: std::io::BufReader<std::process::ChildStdout>,
}

impl Served {
    /// Starts `nnm serve ARGS` and reads the address it serves on.
    pub(crate) fn start(args: &[&str]) -> Served {
        use std::io::BufRead;
        let mut child = Command::new(env!("CARGO_BIN_EXE_nnm"))
            .arg("serve")
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("nnm serve starts");
        let mut first = String::new();
        let mut stdout = std::io::BufReader::new(child.stdout.take().expect("piped"));
        stdout.read_line(&mut first).unwrap();
        let Some(addr) = first.trim().strip_prefix("serving on ") else {
            let _ = child.kill();
            panic!("expected `serving on ADDR`, got `{first}`");
        };
        Served {
            addr: addr.to_string(),
            child,
            _stdout: stdout,
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `GET /status` until `ok` holds of it (at most 60 s).
pub(crate) fn status_until(
    client: &nn_microscope::lab::net::Client,
    what: &str,
    ok: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let status: serde_json::Value =
            serde_json::from_slice(&client.get("/status").unwrap().body).unwrap();
        if ok(&status) {
            return status;
        }
        assert!(std::time::Instant::now() < deadline, "{what}: {status}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
