//! The lab's error type: every failure names the file, line and field it came from.

use std::path::{Path, PathBuf};

/// Everything that can go wrong in the lab, with enough context to fix it.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// A scene file that does not parse or does not validate.
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
    /// A setting that makes no sense (an empty layer, a zero batch size...).
    #[error("invalid setting `{field}`: {message}")]
    Setting {
        /// Dotted path of the setting.
        field: String,
        /// What was wrong.
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

    /// A scene file that cannot be read as a whole (no position to point at).
    pub fn scene_file(path: impl AsRef<Path>, message: impl Into<String>) -> Self {
        LabError::Scene {
            path: path.as_ref().to_path_buf(),
            line: 0,
            column: 0,
            field: "(file)".into(),
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

    /// An I/O error on `path`, phrased for people.
    pub fn io(path: impl AsRef<Path>, err: std::io::Error) -> Self {
        let path = path.as_ref();
        let message = match err.kind() {
            std::io::ErrorKind::NotFound => format!("not found: {err}"),
            _ => err.to_string(),
        };
        LabError::Data {
            path: path.to_path_buf(),
            message,
        }
    }
}

/// The lab's result type.
pub type LabResult<T> = Result<T, LabError>;
