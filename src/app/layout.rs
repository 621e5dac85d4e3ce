//! Where each neuron sits in 3D: layers along x, image inputs as a grid plane, small layers as columns.

use bevy::math::Vec3;

use crate::lab::Topology;
use crate::lab::frame::LayoutKind;

/// Layers of at most this many neurons are drawn as a column; larger ones as a square grid.
const COLUMN_MAX: usize = 24;

/// The positions of one layer's neurons.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerLayout {
    /// One position per neuron, in neuron order.
    pub positions: Vec<Vec3>,
    /// Radius of a neuron's bulb.
    pub radius: f32,
    /// Half the layer's extent along y and z (for framing the camera).
    pub half_extent: Vec3,
    /// The layer's centre.
    pub center: Vec3,
}

/// The positions of every neuron, input layer first.
#[derive(Debug, Clone, PartialEq)]
pub struct NetworkLayout {
    /// One entry per layer of neurons (inputs included).
    pub layers: Vec<LayerLayout>,
}

impl NetworkLayout {
    /// Lays out a network: the input layer follows the data's shape (an image
    /// grid, or a short column for points and functions).
    pub fn new(topology: &Topology) -> Self {
        let grids: Vec<(usize, usize, f32)> = topology
            .sizes
            .iter()
            .enumerate()
            .map(|(l, &n)| match (&topology.layout, l) {
                (LayoutKind::Image { width, height }, 0) => (
                    *width,
                    *height,
                    (6.0 / (*width).max(*height) as f32).clamp(0.2, 0.8),
                ),
                // A few outputs get room to be told apart.
                _ if n <= 4 => (1, n, 1.2),
                _ if n <= COLUMN_MAX => (1, n, 0.55),
                _ => {
                    let cols = (n as f32).sqrt().ceil() as usize;
                    (cols, n.div_ceil(cols), 0.45)
                }
            })
            .collect();
        let widest = grids
            .iter()
            .map(|(c, r, s)| (*c.max(r) as f32) * s)
            .fold(0.0f32, f32::max);
        let gap = widest.clamp(5.0, 12.0);
        let count = topology.sizes.len();
        let layers = topology
            .sizes
            .iter()
            .zip(&grids)
            .enumerate()
            .map(|(l, (&n, &(cols, rows, spacing)))| {
                let x = (l as f32 - (count as f32 - 1.0) / 2.0) * gap;
                let center = Vec3::new(x, 0.0, 0.0);
                let positions = (0..n)
                    .map(|i| {
                        let (col, row) = (i % cols, i / cols);
                        let y = ((rows as f32 - 1.0) / 2.0 - row as f32) * spacing;
                        let z = (col as f32 - (cols as f32 - 1.0) / 2.0) * spacing;
                        center + Vec3::new(0.0, y, z)
                    })
                    .collect();
                let radius = if cols == 1 { 0.2 } else { 0.36 * spacing };
                LayerLayout {
                    positions,
                    radius,
                    half_extent: Vec3::new(
                        radius,
                        rows as f32 * spacing / 2.0,
                        cols as f32 * spacing / 2.0,
                    ),
                    center,
                }
            })
            .collect();
        NetworkLayout { layers }
    }

    /// The smallest box holding every neuron: (min, max).
    pub fn bounds(&self) -> (Vec3, Vec3) {
        self.layers.iter().fold(
            (Vec3::splat(f32::INFINITY), Vec3::splat(f32::NEG_INFINITY)),
            |(lo, hi), l| {
                (
                    lo.min(l.center - l.half_extent),
                    hi.max(l.center + l.half_extent),
                )
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::model::{Activation, OutputKind};

    fn topology(sizes: Vec<usize>, layout: LayoutKind) -> Topology {
        Topology {
            sizes,
            activation: Activation::Relu,
            output: OutputKind::Softmax,
            layout,
            output_names: vec![],
        }
    }

    #[test]
    fn image_inputs_form_a_grid_and_layers_go_along_x() {
        let t = topology(
            vec![784, 128, 64, 10],
            LayoutKind::Image {
                width: 28,
                height: 28,
            },
        );
        let l = NetworkLayout::new(&t);
        assert_eq!(l.layers.len(), 4);
        let input = &l.layers[0];
        assert_eq!(input.positions.len(), 784);
        // Row-major pixels: pixel 1 is right of pixel 0, pixel 28 below it, all in one plane.
        assert!(input.positions[1].z > input.positions[0].z);
        assert!(input.positions[28].y < input.positions[0].y);
        assert!(input.positions.iter().all(|p| p.x == input.center.x));
        for w in l.layers.windows(2) {
            assert!(w[1].center.x > w[0].center.x);
        }
        // Small layers are columns.
        assert!(l.layers[3].positions.iter().all(|p| p.z == 0.0));
    }

    #[test]
    fn neurons_do_not_overlap() {
        let t = topology(
            vec![2, 16, 100, 2],
            LayoutKind::Plane {
                x: (-1.0, 1.0),
                y: (-1.0, 1.0),
            },
        );
        for layer in NetworkLayout::new(&t).layers {
            for (i, a) in layer.positions.iter().enumerate() {
                for b in &layer.positions[i + 1..] {
                    assert!(a.distance(*b) >= 2.0 * layer.radius);
                }
            }
        }
    }
}
