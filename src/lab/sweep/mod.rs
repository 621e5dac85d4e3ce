//! Dimensions: sweeps of many models over hyperparameter grids, trained as
//! batched computations, sharded over clusters, written to sweep directories.

pub mod fastmath;
pub mod kernel;

#[cfg(test)]
mod tests;
