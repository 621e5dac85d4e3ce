//! NN Microscope: watch neural networks learn.
//!
//! [`lab`] trains, measures and records networks with burn and never touches
//! Bevy; [`app`] is the Bevy instrument. They meet in [`lab::Frame`].

pub mod app;
pub mod lab;
