//! The app's error type: why a window, a capture or a file could not be made.

use std::path::Path;

use crate::lab::LabError;

/// Everything that can stop the instrument or a film, with its cause.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// There is no display to open a window on.
    #[error(
        "no display: `nnm view` opens a window and needs an X11 display \
         (DISPLAY is not set; on a server, run it under `xvfb-run`)"
    )]
    NoDisplay,
    /// No GPU adapter (not even a software one) is available.
    #[error(
        "no GPU adapter: the app needs a Vulkan or OpenGL driver \
         (without a GPU, install Mesa's software driver: `apt-get install mesa-vulkan-drivers`)"
    )]
    NoGpu,
    /// A command-line setting that cannot be honoured.
    #[error("{flag}: {message}")]
    Flag {
        /// The flag, such as `--fps`.
        flag: String,
        /// What is wrong with its value.
        message: String,
    },
    /// The film's encoder (PNG, ffmpeg, GIF) failed.
    #[error("{what}: {message}")]
    Encoder {
        /// The encoder and its file, such as `ffmpeg writing film.mp4`.
        what: String,
        /// Its reason.
        message: String,
    },
    /// A film that could not be made: the trainer did not answer, nothing showed.
    #[error("{0}")]
    Capture(String),
    /// A failure in the lab (a scene, a run directory, training).
    #[error(transparent)]
    Lab(#[from] LabError),
}

impl AppError {
    /// An I/O error on `path` while doing `action` (the lab's kind of error:
    /// it keeps the operating system's error as its source).
    pub fn io(path: impl AsRef<Path>, action: impl Into<String>, source: std::io::Error) -> Self {
        AppError::Lab(LabError::io(path, action, source))
    }

    /// An encoder failure.
    pub fn encoder(what: impl Into<String>, message: impl std::fmt::Display) -> Self {
        AppError::Encoder {
            what: what.into(),
            message: message.to_string(),
        }
    }

    /// A flag whose value cannot be used.
    pub fn flag(flag: impl Into<String>, message: impl Into<String>) -> Self {
        AppError::Flag {
            flag: flag.into(),
            message: message.into(),
        }
    }
}

/// The app's result type.
pub type AppResult<T> = Result<T, AppError>;
