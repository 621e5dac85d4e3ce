//! Dimensions: sweeps of many models over hyperparameter grids, trained as
//! batched computations, sharded over clusters, written to sweep directories.

mod cluster;
mod dir;
mod fastmath;
pub mod kernel;
mod map;
mod plan;
mod ronvalue;
mod spec;
pub mod tensor;
mod zoom;

pub use cluster::{ClusterJob, K8sOptions, SlurmOptions, to_yaml};
pub use dir::{MODELS_FILE, SWEEP_FILE, csv_cell, write_atomic};
pub use map::map_colour;
pub use spec::{display_value, scene_field};
pub use zoom::{ZOOM_LEVELS, ZoomEvent, ZoomWindow, Zoomer, chunks_per_level, window_sweep};

pub use dir::{ModelSource, Report, SweepDir};
pub use plan::{ModelRow, Plan, Shard};
pub use spec::Sweep;

#[cfg(test)]
mod tests;
