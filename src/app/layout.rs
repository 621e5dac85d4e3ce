//! Where each neuron sits in 3D: layers along x, image inputs as a grid plane, small layers as columns.

use bevy::math::Vec3;

use crate::lab::Topology;
use crate::lab::data::InputLayout;

/// Layers of at most this many neurons are drawn as a column; larger ones as a square grid.
const COLUMN_MAX: usize = 24;

/// The positions of one layer's neurons.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct LayerLayout {
    /// One position per neuron, in neuron order.
    pub positions: Vec<Vec3>,
    /// Radius of a neuron's bulb.
    pub radius: f32,
    /// Half the layer's extent along y and z (for framing the camera).
    pub half_extent: Vec3,
    /// The layer's centre.
    pub center: Vec3,
}

/// Where the surface of a 2D regression's output stands: a square sheet
/// beside the output layer, its height along y.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct SurfaceLayout {
    /// The centre of the sheet at height zero.
    pub center: Vec3,
    /// The side of the square, in world units.
    pub side: f32,
    /// The largest height above or below the centre.
    pub height: f32,
}

impl SurfaceLayout {
    /// The box the surface may fill: (min, max).
    pub(super) fn bounds(&self) -> (Vec3, Vec3) {
        let half = Vec3::new(self.side / 2.0, self.height, self.side / 2.0);
        (self.center - half, self.center + half)
    }
}

/// The positions of every neuron, input layer first, and of the output's
/// surface for 2D regression.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct NetworkLayout {
    /// One entry per layer of neurons (inputs included).
    pub layers: Vec<LayerLayout>,
    /// The surface of the network's output over its input plane, for a
    /// regression on a plane (one output).
    pub surface: Option<SurfaceLayout>,
}

impl NetworkLayout {
    /// Lays out a network: the input layer follows the data's shape (an image
    /// grid, or a short column for points and functions).
    pub(super) fn new(topology: &Topology) -> Self {
        let grids: Vec<(usize, usize, f32)> = topology
            .network
            .sizes
            .iter()
            .enumerate()
            .map(|(l, &n)| match (&topology.layout, l) {
                (InputLayout::Image { width, height }, 0) => (
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
        let count = topology.network.sizes.len();
        let layers = topology
            .network
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
            .collect::<Vec<LayerLayout>>();
        let regression_on_plane = matches!(topology.layout, InputLayout::Plane { .. })
            && topology.network.output == crate::lab::model::OutputKind::Linear
            && topology.network.sizes.last() == Some(&1);
        let surface = regression_on_plane.then(|| {
            let last = layers.last().map_or(Vec3::ZERO, |l| l.center);
            let side = 8.0;
            SurfaceLayout {
                center: last + Vec3::new(gap + side / 2.0, 0.0, 0.0),
                side,
                height: side / 4.0,
            }
        });
        NetworkLayout { layers, surface }
    }

    /// The smallest box holding every neuron and the surface: (min, max).
    pub(super) fn bounds(&self) -> (Vec3, Vec3) {
        let neurons = self.layers.iter().fold(
            (Vec3::splat(f32::INFINITY), Vec3::splat(f32::NEG_INFINITY)),
            |(lo, hi), l| {
                (
                    lo.min(l.center - l.half_extent),
                    hi.max(l.center + l.half_extent),
                )
            },
        );
        match &self.surface {
            Some(s) => {
                let (lo, hi) = s.bounds();
                (neurons.0.min(lo), neurons.1.max(hi))
            }
            None => neurons,
        }
    }
}

/// Where a pose puts the camera: the point it looks at, and its position.
pub(super) fn pose_placement(
    layout: &NetworkLayout,
    pose: &crate::lab::scene::Pose,
    vertical_fov: f32,
    aspect: f32,
) -> (Vec3, Vec3) {
    use crate::lab::scene::Focus;
    let (focus, half) = match pose.focus {
        Focus::Network => {
            let (lo, hi) = layout.bounds();
            ((lo + hi) / 2.0, (hi - lo) / 2.0)
        }
        Focus::Layer(l) => layout
            .layers
            .get(l)
            .map_or((Vec3::ZERO, Vec3::ONE), |layer| {
                (layer.center, layer.half_extent)
            }),
        Focus::Neuron(l, i) => layout
            .layers
            .get(l)
            .and_then(|layer| {
                layer
                    .positions
                    .get(i)
                    .map(|p| (*p, Vec3::splat(layer.radius * 6.0)))
            })
            .unwrap_or((Vec3::ZERO, Vec3::ONE)),
        Focus::Point(x, y, z) => (Vec3::new(x, y, z), Vec3::ONE),
        Focus::Surface => match &layout.surface {
            Some(s) => {
                let (lo, hi) = s.bounds();
                ((lo + hi) / 2.0, (hi - lo) / 2.0)
            }
            None => {
                let (lo, hi) = layout.bounds();
                ((lo + hi) / 2.0, (hi - lo) / 2.0)
            }
        },
    };
    let distance = pose.distance.unwrap_or_else(|| {
        let tan_half = (vertical_fov / 2.0).tan() * aspect.min(1.0);
        half.length().max(0.5) / tan_half * 1.05
    });
    let (yaw, pitch) = (pose.yaw.to_radians(), pose.pitch.to_radians());
    let offset = Vec3::new(
        pitch.cos() * yaw.sin(),
        pitch.sin(),
        pitch.cos() * yaw.cos(),
    ) * distance;
    (focus, focus + offset)
}

/// The camera placement between two poses, `t` of the way (focus and
/// position blended, so that a dive glides rather than jumps).
pub(super) fn blend_placement(
    layout: &NetworkLayout,
    blend: &crate::lab::scene::PoseBlend,
    vertical_fov: f32,
    aspect: f32,
) -> (Vec3, Vec3) {
    let (f0, p0) = pose_placement(layout, &blend.from, vertical_fov, aspect);
    let (f1, p1) = pose_placement(layout, &blend.to, vertical_fov, aspect);
    // Blend in orbit terms (around a moving focus) so the camera swings instead of cutting across.
    let focus = f0.lerp(f1, blend.t);
    let d0 = p0 - f0;
    let d1 = p1 - f1;
    let dir = d0
        .normalize_or_zero()
        .slerp(d1.normalize_or_zero(), blend.t);
    let distance = d0.length() + (d1.length() - d0.length()) * blend.t;
    (focus, focus + dir * distance)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::model::{Activation, MlpConfig, OutputKind};

    fn topology(sizes: Vec<usize>, layout: InputLayout) -> Topology {
        let hidden = sizes.len().saturating_sub(2);
        Topology {
            network: MlpConfig::new(sizes, vec![Activation::Relu; hidden])
                .with_output(OutputKind::Softmax),
            layout,
            output_names: vec![],
        }
    }

    #[test]
    fn image_inputs_form_a_grid_and_layers_go_along_x() {
        let t = topology(
            vec![784, 128, 64, 10],
            InputLayout::Image {
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
            InputLayout::Plane {
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

    #[test]
    fn a_pose_looks_at_its_focus_from_its_angle_and_a_dive_glides() {
        use crate::lab::scene::{Focus, Pose, PoseBlend};
        let t = topology(
            vec![64, 16, 2],
            InputLayout::Image {
                width: 8,
                height: 8,
            },
        );
        let l = NetworkLayout::new(&t);
        let fov = 0.8;
        let side = Pose {
            focus: Focus::Layer(1),
            yaw: 90.0,
            pitch: 0.0,
            distance: Some(5.0),
        };
        let (focus, eye) = pose_placement(&l, &side, fov, 16.0 / 9.0);
        assert!(focus.distance(l.layers[1].center) < 1e-5);
        // Yaw 90 at no height: straight out along +x, at the distance asked for.
        assert!((eye - focus - Vec3::new(5.0, 0.0, 0.0)).length() < 1e-4);
        // Framing the whole network backs off further than framing one layer.
        let whole = Pose::default();
        let one = Pose {
            focus: Focus::Layer(2),
            ..Pose::default()
        };
        let far = |p: &Pose| {
            let (f, e) = pose_placement(&l, p, fov, 16.0 / 9.0);
            f.distance(e)
        };
        assert!(far(&whole) > far(&one));
        // Halfway through a dive the camera is between the two, never past them.
        let blend = PoseBlend {
            from: whole,
            to: side,
            t: 0.5,
        };
        let (f, e) = blend_placement(&l, &blend, fov, 16.0 / 9.0);
        let d = f.distance(e);
        assert!(d < far(&whole) && d > 5.0, "{d}");
    }
}
