//! The lab's error type: every failure names the file, line and field it came from.

use std::path::{Path, PathBuf};

/// Everything that can go wrong in the lab, with enough context to fix it.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// A scene file that does not parse or does not validate, at a known place.
    #[error("{}:{line}:{column}: {field}: {message}", path.display())]
    Scene {
        /// The scene file.
        path: PathBuf,
        /// 1-based line of the offending text.
        line: usize,
        /// 1-based column of the offending text.
        column: usize,
        /// Dotted path of the field, such as `train.optimizer.lr`.
        field: String,
        /// What was wrong and what was expected.
        message: String,
    },
    /// A scene file that is wrong as a whole (unreadable, not text).
    #[error("{}: {message}", path.display())]
    SceneFile {
        /// The scene file.
        path: PathBuf,
        /// What was wrong.
        message: String,
    },
    /// A data file that is missing, unreadable or malformed.
    #[error("{}: {message}", path.display())]
    Data {
        /// The data file.
        path: PathBuf,
        /// What was wrong.
        message: String,
    },
    /// A run directory or recording that cannot be read or written.
    #[error("{}: {message}", path.display())]
    Run {
        /// The file or directory.
        path: PathBuf,
        /// What was wrong.
        message: String,
    },
    /// An operating-system error on a file, with what was being done.
    #[error("{}: {action}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What was being done, such as `cannot read`.
        action: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A network message (a checkpoint file, or a message from a socket)
    /// that cannot be read: `origin` names the file or the peer.
    #[error("{origin}: {message}")]
    Stream {
        /// The file or peer the message came from.
        origin: String,
        /// What was wrong, naming the tensor or metadata key.
        message: String,
    },
    /// A network address that cannot be bound or reached, or a peer that
    /// refused a request: `addr` names the address or URL.
    #[error("{addr}: {message}")]
    Net {
        /// The address or URL.
        addr: String,
        /// What went wrong, with the peer's own words where it gave some.
        message: String,
    },
    /// A setting that makes no sense (an empty layer, a zero batch size...).
    #[error("invalid setting `{field}`: {message}")]
    Setting {
        /// Dotted path of the setting.
        field: String,
        /// What was wrong.
        message: String,
    },
    /// Values that could not be read back from the tensor backend.
    #[error("cannot read {what} back from the tensor backend: {message}")]
    Tensor {
        /// What was being read, such as `the mini-batch loss`.
        what: String,
        /// The backend's reason.
        message: String,
    },
    /// A background thread that could not start, or stopped on a failure.
    #[error("the {name} thread {message}")]
    Thread {
        /// The thread's name, such as `trainer`.
        name: String,
        /// What happened to it.
        message: String,
    },
}

impl LabError {
    /// A data error for `path`.
    pub fn data(path: impl AsRef<Path>, message: impl Into<String>) -> Self {
        LabError::Data {
            path: path.as_ref().to_path_buf(),
            message: message.into(),
        }
    }

    /// A run-directory error for `path`.
    pub fn run(path: impl AsRef<Path>, message: impl Into<String>) -> Self {
        LabError::Run {
            path: path.as_ref().to_path_buf(),
            message: message.into(),
        }
    }

    /// A scene file that is wrong as a whole (there is no position to point at).
    pub fn scene_file(path: impl AsRef<Path>, message: impl Into<String>) -> Self {
        LabError::SceneFile {
            path: path.as_ref().to_path_buf(),
            message: message.into(),
        }
    }

    /// A network message from `origin` that cannot be read.
    pub fn stream(origin: impl Into<String>, message: impl Into<String>) -> Self {
        LabError::Stream {
            origin: origin.into(),
            message: message.into(),
        }
    }

    /// A network failure talking to (or serving on) `addr`.
    pub fn net(addr: impl Into<String>, message: impl Into<String>) -> Self {
        LabError::Net {
            addr: addr.into(),
            message: message.into(),
        }
    }

    /// An invalid setting.
    pub fn setting(field: impl Into<String>, message: impl Into<String>) -> Self {
        LabError::Setting {
            field: field.into(),
            message: message.into(),
        }
    }

    /// An I/O error on `path` while doing `action` (such as `cannot read`); the
    /// operating system's error is kept as the source.
    pub fn io(path: impl AsRef<Path>, action: impl Into<String>, source: std::io::Error) -> Self {
        LabError::Io {
            path: path.as_ref().to_path_buf(),
            action: action.into(),
            source,
        }
    }

    /// A tensor whose values could not be read back.
    pub fn tensor(what: impl Into<String>, message: impl std::fmt::Display) -> Self {
        LabError::Tensor {
            what: what.into(),
            message: message.to_string(),
        }
    }
}

/// The lab's result type.
pub type LabResult<T> = Result<T, LabError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_io_error_keeps_its_cause() {
        use std::error::Error;
        let missing = std::fs::read("/no/such/file.csv").unwrap_err();
        let err = LabError::io("/no/such/file.csv", "cannot read", missing);
        assert!(err.source().is_some(), "the OS error is the source");
        let text = err.to_string();
        assert!(
            text.starts_with("/no/such/file.csv: cannot read: ") && text.contains("No such file"),
            "{text}"
        );
    }

    #[test]
    fn a_whole_file_scene_error_has_no_fake_position() {
        let err = LabError::scene_file("scenes/x.ron", "is not UTF-8 text").to_string();
        assert_eq!(err, "scenes/x.ron: is not UTF-8 text");
    }
}
