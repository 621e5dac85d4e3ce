//! `nnm`: the command line. It picks the backend and hands work to the lab or the app.
#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        reason = "a test that cannot unwrap has failed, and says where"
    )
)]

#[cfg(not(target_arch = "wasm32"))]
mod cli;

#[cfg(not(target_arch = "wasm32"))]
use std::process::ExitCode;

/// In a page (`web/build.sh`), the instrument on the scene its link names.
#[cfg(target_arch = "wasm32")]
fn main() {
    nn_microscope::app::run_web();
}

#[cfg(not(target_arch = "wasm32"))]
fn main() -> ExitCode {
    match cli::run() {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(1)
        }
    }
}
