//! Dimensions: sweeps of many models over hyperparameter grids, trained as
//! batched computations, sharded over clusters, written to sweep directories.

pub mod cluster;
pub mod dir;
pub mod fastmath;
pub mod kernel;
pub mod map;
pub mod npy;
pub mod plan;
pub mod ronvalue;
pub mod spec;
pub mod tensor;
pub mod zoom;

pub use dir::{ModelSource, Report, SweepDir};
pub use plan::{Device, ModelRow, Plan, Shard};
pub use spec::Sweep;

#[cfg(test)]
mod tests;
