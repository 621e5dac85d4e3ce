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
