//! Mini-batches: the seeded sampler, and the splits as tensors on the device.

use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};

use crate::lab::data::{Dataset, Split, Targets};
use crate::lab::rng::{self, LabRng, Stream};

/// Seeded mini-batch order: a fresh shuffle each epoch.
#[derive(Clone)]
pub(crate) struct BatchSampler {
    order: Vec<usize>,
    cursor: usize,
    rng: LabRng,
    /// Shuffles so far: with the cursor, all a checkpoint needs to rebuild
    /// the order and the generator (see [`BatchSampler::restore`]).
    shuffles: u64,
}

impl BatchSampler {
    pub(crate) fn new(n: usize, seed: u64) -> Self {
        BatchSampler {
            order: (0..n).collect(),
            cursor: n,
            rng: rng::rng(seed, Stream::Batches),
            shuffles: 0,
        }
    }

    /// The sampler of `n` samples and `seed` after `shuffles` shuffles, at
    /// `cursor`: the one that drew them, replayed (a shuffle is O(n)).
    pub(crate) fn restore(n: usize, seed: u64, shuffles: u64, cursor: usize) -> Self {
        use rand::seq::SliceRandom;
        let mut s = BatchSampler::new(n, seed);
        for _ in 0..shuffles {
            s.order.shuffle(&mut s.rng);
        }
        s.shuffles = shuffles;
        s.cursor = cursor.min(n);
        s
    }

    /// Shuffles so far (what a checkpoint keeps, with the cursor).
    pub(crate) fn shuffles(&self) -> u64 {
        self.shuffles
    }

    /// The position in the current order.
    pub(crate) fn cursor(&self) -> usize {
        self.cursor
    }

    /// The next batch of indices, or `None` when the batch is the whole set.
    pub(crate) fn next(&mut self, batch_size: usize) -> Option<&[usize]> {
        use rand::seq::SliceRandom;
        let n = self.order.len();
        if batch_size >= n {
            return None;
        }
        if self.cursor + batch_size > n {
            self.order.shuffle(&mut self.rng);
            self.shuffles += 1;
            self.cursor = 0;
        }
        let batch = &self.order[self.cursor..self.cursor + batch_size];
        self.cursor += batch_size;
        Some(batch)
    }
}

/// One split as tensors, kept for full-set passes.
pub(super) struct SplitTensors<B: Backend> {
    pub(super) x: Tensor<B, 2>,
    pub(super) targets: Tensor<B, 2>,
    pub(super) labels: Option<Vec<u32>>,
    pub(super) len: usize,
}

pub(super) fn split_tensors<B: Backend>(
    data: &Dataset,
    split: &Split,
    device: &B::Device,
) -> SplitTensors<B> {
    let n = split.len();
    let all: Vec<usize> = (0..n).collect();
    SplitTensors {
        x: Tensor::from_data(TensorData::new(split.x.clone(), [n, data.inputs]), device),
        targets: targets_tensor::<B>(data, split, &all, device),
        labels: match &split.targets {
            Targets::Labels(l) => Some(l.clone()),
            Targets::Values(_) => None,
        },
        len: n,
    }
}

pub(super) fn rows_tensor<B: Backend>(
    x: &[f32],
    width: usize,
    idx: &[usize],
    device: &B::Device,
) -> Tensor<B, 2> {
    let mut rows = Vec::with_capacity(idx.len() * width);
    for &i in idx {
        rows.extend_from_slice(&x[i * width..(i + 1) * width]);
    }
    Tensor::from_data(TensorData::new(rows, [idx.len(), width]), device)
}

/// The target of sample `i`: one-hot for classification, values for regression.
pub(super) fn target_row(data: &Dataset, split: &Split, i: usize) -> Vec<f32> {
    let outputs = data.outputs();
    match &split.targets {
        Targets::Labels(l) => {
            let mut row = vec![0.0; outputs];
            if let Some(slot) = row.get_mut(l[i] as usize) {
                *slot = 1.0;
            }
            row
        }
        Targets::Values(v) => v[i * outputs..(i + 1) * outputs].to_vec(),
    }
}

pub(super) fn targets_tensor<B: Backend>(
    data: &Dataset,
    split: &Split,
    idx: &[usize],
    device: &B::Device,
) -> Tensor<B, 2> {
    let outputs = data.outputs();
    let rows: Vec<f32> = idx
        .iter()
        .flat_map(|&i| target_row(data, split, i))
        .collect();
    Tensor::from_data(TensorData::new(rows, [idx.len(), outputs]), device)
}
