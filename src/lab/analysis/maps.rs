//! Neuron maps: every hidden and output neuron's activation over the input
//! plane, as TensorFlow Playground draws them beside its neurons.

use crate::lab::Frame;
use crate::lab::model::{Activation, OutputKind, plain_forward};

/// Pixels per side of a neuron map unless asked otherwise.
pub const DEFAULT_MAP_SIDE: usize = 24;

/// The most neurons whose maps are computed (the widest layers of a 2D
/// task are left out past it: a map of each of a thousand neurons says
/// little and costs a forward pass per pixel).
pub(super) const MAX_MAPPED_NEURONS: usize = 512;

/// The activations of every neuron of layers `1..` over a square grid of the
/// input plane.
#[derive(Debug, Clone, PartialEq)]
pub struct NeuronMaps {
    /// Pixels per side.
    pub side: usize,
    /// The plane covered: (x range, y range).
    pub span: ((f32, f32), (f32, f32)),
    /// Per layer of neurons after the inputs, per neuron, `side × side`
    /// activations, row by row from the top (largest y) and x growing along
    /// a row, as an image is stored.
    pub layers: Vec<Vec<Vec<f32>>>,
}

impl NeuronMaps {
    /// The maps of `frame`'s network (two inputs) over `span`, `side` pixels
    /// a side; `None` when the network does not take two inputs or has more
    /// than [`MAX_MAPPED_NEURONS`] neurons.
    pub fn compute(
        frame: &Frame,
        activations: &[Activation],
        output: OutputKind,
        span: ((f32, f32), (f32, f32)),
        side: usize,
    ) -> Option<NeuronMaps> {
        let dense = frame.dense_layers();
        if dense.first()?.inputs != 2 || side == 0 {
            return None;
        }
        let neurons: usize = dense.iter().map(|l| l.outputs).sum();
        if neurons > MAX_MAPPED_NEURONS {
            return None;
        }
        let ((x0, x1), (y0, y1)) = span;
        let pixels = side * side;
        let mut layers: Vec<Vec<Vec<f32>>> = dense
            .iter()
            .map(|l| vec![Vec::with_capacity(pixels); l.outputs])
            .collect();
        for row in 0..side {
            // Pixel centres; rows go down the image, y goes up the plane.
            let y = y1 - (y1 - y0) * (row as f32 + 0.5) / side as f32;
            for col in 0..side {
                let x = x0 + (x1 - x0) * (col as f32 + 0.5) / side as f32;
                let trace = plain_forward(&dense, activations, output, &[x, y]);
                for (maps, post) in layers.iter_mut().zip(&trace.post) {
                    for (map, v) in maps.iter_mut().zip(post) {
                        map.push(*v as f32);
                    }
                }
            }
        }
        Some(NeuronMaps { side, span, layers })
    }

    /// The map of neuron `index` of neuron layer `layer` (1 being the first
    /// hidden layer), if it has one.
    pub fn map(&self, layer: usize, index: usize) -> Option<&[f32]> {
        self.layers
            .get(layer.checked_sub(1)?)?
            .get(index)
            .map(Vec::as_slice)
    }

    /// The input at the centre of pixel `(row, col)`.
    pub fn input_at(&self, row: usize, col: usize) -> [f32; 2] {
        let ((x0, x1), (y0, y1)) = self.span;
        let side = self.side as f32;
        [
            x0 + (x1 - x0) * (col as f32 + 0.5) / side,
            y1 - (y1 - y0) * (row as f32 + 0.5) / side,
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::LayerFrame;

    /// 2 → 2 (tanh) → 1: hidden neuron 0 sees x, hidden 1 sees y; the
    /// output is h0 − h1.
    fn frame() -> Frame {
        Frame {
            layers: vec![
                LayerFrame {
                    inputs: 2,
                    outputs: 2,
                    weights: vec![1.0, 0.0, 0.0, 1.0],
                    biases: vec![0.0, 0.0],
                    ..Default::default()
                },
                LayerFrame {
                    inputs: 2,
                    outputs: 1,
                    weights: vec![1.0, -1.0],
                    biases: vec![0.0],
                    ..Default::default()
                },
            ],
            ..Default::default()
        }
    }

    #[test]
    fn each_neurons_map_is_its_activation_over_the_plane() {
        let span = ((-1.0, 1.0), (-2.0, 2.0));
        let maps = NeuronMaps::compute(&frame(), &[Activation::Tanh], OutputKind::Linear, span, 8)
            .unwrap();
        assert_eq!(maps.layers.len(), 2);
        assert_eq!(maps.layers[0].len(), 2);
        assert_eq!(maps.map(2, 0).unwrap().len(), 64);
        assert!(maps.map(0, 0).is_none(), "inputs have no map");
        assert!(maps.map(3, 0).is_none());
        for row in 0..8 {
            for col in 0..8 {
                let [x, y] = maps.input_at(row, col);
                let k = row * 8 + col;
                assert!((maps.map(1, 0).unwrap()[k] - x.tanh()).abs() < 1e-6);
                assert!((maps.map(1, 1).unwrap()[k] - y.tanh()).abs() < 1e-6);
                let out = x.tanh() - y.tanh();
                assert!((maps.map(2, 0).unwrap()[k] - out).abs() < 1e-6);
            }
        }
        // The top row is the top of the plane, the first column its left.
        assert!(maps.input_at(0, 0)[1] > maps.input_at(7, 0)[1]);
        assert!(maps.input_at(0, 0)[0] < maps.input_at(0, 7)[0]);
    }

    #[test]
    fn networks_not_on_a_plane_have_no_maps() {
        let mut f = frame();
        f.layers[0].inputs = 1;
        f.layers[0].weights.truncate(2);
        let span = ((-1.0, 1.0), (-1.0, 1.0));
        assert!(
            NeuronMaps::compute(&f, &[Activation::Tanh], OutputKind::Linear, span, 8).is_none()
        );
    }
}
