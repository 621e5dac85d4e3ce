//! What the lab measures on a network beyond its loss: blame, sharpness,
//! the test set's principal components, neuron maps and histograms.

pub mod blame;
pub mod histogram;
pub mod maps;
pub mod pca;
pub mod sharpness;
