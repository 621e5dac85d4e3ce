//! NN Microscope: watch neural networks learn.
//!
//! [`lab`] trains, measures and records networks with burn and never touches
//! Bevy; `app` (the cargo feature of that name, on by default) is the Bevy
//! instrument. They meet in [`lab::Frame`].
#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        reason = "a test that cannot unwrap has failed, and says where"
    )
)]

#[cfg(feature = "app")]
pub mod app;
pub mod lab;

/// Scratch folders for the tests: fresh, named for the test, and removed
/// when dropped, a failing test's too.
#[cfg(test)]
pub(crate) mod scratch {
    use std::path::Path;

    /// A fresh folder `nnm-TAG-…` under the system's temporary folder,
    /// removed with everything in it when dropped.
    #[derive(Debug)]
    pub(crate) struct Scratch(tempfile::TempDir);

    impl Scratch {
        /// A new scratch folder for the test `tag`.
        pub(crate) fn new(tag: &str) -> Scratch {
            Scratch(
                tempfile::Builder::new()
                    .prefix(&format!("nnm-{tag}-"))
                    .tempdir()
                    .expect("a scratch folder in the system's temporary folder"),
            )
        }

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
}
