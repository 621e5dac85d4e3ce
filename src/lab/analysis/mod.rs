//! What the lab measures on a network beyond its loss: blame, sharpness,
//! the test set's principal components, neuron maps and histograms.

mod blame;
mod histogram;
mod maps;
mod neuron_math;
mod pca;
mod sharpness;

pub use blame::{Blame, DEFAULT_BLAME_SAMPLES, Readout, blame};
pub use histogram::{LayerDistributions, Quantiles, Quantity, distributions};
pub use maps::{DEFAULT_MAP_SIDE, NeuronMaps};
pub use neuron_math::{NeuronBackward, NeuronMath, NeuronOutput, WeightUpdate};
pub use pca::Pca;
pub use sharpness::{MAX_TOP_K, Spectrum, hessian_vector_product, lanczos, symmetric_eigen};
