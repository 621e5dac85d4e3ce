//! The surface of a 2D regression: the network's output over its input square,
//! drawn as a sheet beside the network and coloured by its error against the
//! target; the target as a wireframe, the training box outlined. It follows
//! the shown frame, and so the VCR cursor.
//!
//! The grid is the data's test grid (2D functions and PDEs test on a square
//! grid), so the target and its error are known at every vertex.

use bevy::asset::RenderAssetUsages;
use bevy::mesh::{Indices, PrimitiveTopology};
use bevy::prelude::*;

use crate::app::AppSystems;
use crate::app::bridge::Run;
use crate::app::history::Shown;
use crate::app::layout::SurfaceLayout;
use crate::app::network::NetworkView;
use crate::lab::data::{Dataset, InputLayout, Targets};
use crate::lab::model::plain_forward;
use crate::lab::{Frame, Topology};

/// The test grid of a 2D regression, as the surface draws it.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct SurfaceGrid {
    /// Points per side.
    pub side: usize,
    /// The grid's inputs, `side × side`, row by row (x fastest).
    pub inputs: Vec<[f32; 2]>,
    /// The target at each point.
    pub targets: Vec<f32>,
    /// The square the grid covers: (x range, y range).
    pub span: ((f32, f32), (f32, f32)),
    /// The target's smallest and largest values (they set the height scale).
    pub value_range: (f32, f32),
    /// The box the training inputs come from, if it is smaller than the grid.
    pub train_box: Option<((f32, f32), (f32, f32))>,
}

impl SurfaceGrid {
    /// The grid of a data set whose test points form a square grid over a
    /// plane, with one real target each.
    pub(super) fn from_data(data: &Dataset) -> Option<Self> {
        let InputLayout::Plane { .. } = data.layout else {
            return None;
        };
        let Targets::Values(targets) = &data.test.targets else {
            return None;
        };
        let n = data.test.len();
        let side = (n as f64).sqrt().round() as usize;
        if side < 2 || side * side != n || data.outputs() != 1 {
            return None;
        }
        let inputs: Vec<[f32; 2]> = (0..n)
            .map(|i| [data.test.x[2 * i], data.test.x[2 * i + 1]])
            .collect();
        let range = |k: usize| {
            inputs
                .iter()
                .map(|p| p[k])
                .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), v| {
                    (lo.min(v), hi.max(v))
                })
        };
        let span = (range(0), range(1));
        let value_range = targets
            .iter()
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), v| {
                (lo.min(*v), hi.max(*v))
            });
        let train_box = data.train_region.as_ref().and_then(|r| match r.as_slice() {
            [x, y] if (*x, *y) != span => Some((*x, *y)),
            _ => None,
        });
        Some(SurfaceGrid {
            side,
            inputs,
            targets: targets.clone(),
            span,
            value_range,
            train_box,
        })
    }

    /// Where input `(x, y)` with output `v` sits in the scene.
    pub(super) fn world(&self, layout: &SurfaceLayout, x: f32, y: f32, v: f32) -> Vec3 {
        let ((x0, x1), (y0, y1)) = self.span;
        let (lo, hi) = self.value_range;
        let mid = (lo + hi) / 2.0;
        let half = ((hi - lo) / 2.0).max(1e-6);
        // Heights beyond twice the target's range are clipped: a wild network stays on screen.
        let h = ((v - mid) / half).clamp(-2.0, 2.0) * layout.height / 2.0;
        layout.center
            + Vec3::new(
                ((x - x0) / (x1 - x0) - 0.5) * layout.side,
                h,
                (0.5 - (y - y0) / (y1 - y0)) * layout.side,
            )
    }
}

/// The network's output at every point of the grid, for the shown frame.
pub(super) fn surface_values(frame: &Frame, topology: &Topology, grid: &SurfaceGrid) -> Vec<f32> {
    let layers = frame.dense_layers();
    grid.inputs
        .iter()
        .map(|p| {
            let trace = plain_forward(
                &layers,
                &topology.network.activations,
                topology.network.output,
                p,
            );
            trace
                .post
                .last()
                .and_then(|o| o.first())
                .map_or(f32::NAN, |v| *v as f32)
        })
        .collect()
}

/// The colour of an error, relative to the target's range: blue where the
/// surface is right, through white, to red where it is off by a quarter of
/// the range or more.
pub(super) fn error_color(error: f32, range: f32) -> [f32; 4] {
    let t = (error.abs() / (0.25 * range.max(1e-6))).clamp(0.0, 1.0);
    if !t.is_finite() {
        return [1.0, 0.0, 1.0, 1.0];
    }
    let blue = [0.15, 0.45, 1.0];
    let white = [0.95, 0.95, 0.95];
    let red = [1.0, 0.2, 0.1];
    let mix = |a: [f32; 3], b: [f32; 3], s: f32| {
        [
            a[0] + (b[0] - a[0]) * s,
            a[1] + (b[1] - a[1]) * s,
            a[2] + (b[2] - a[2]) * s,
        ]
    };
    let c = if t < 0.5 {
        mix(blue, white, t * 2.0)
    } else {
        mix(white, red, (t - 0.5) * 2.0)
    };
    [c[0], c[1], c[2], 1.0]
}

/// Marks the surface's mesh.
#[derive(Component)]
pub(super) struct Surface;

/// The surface of the run shown: its grid and mesh.
#[derive(Resource, Default)]
pub(super) struct SurfaceState {
    /// The grid, when the run is a 2D regression.
    pub grid: Option<SurfaceGrid>,
    /// The network's output at each grid point, for the shown frame.
    pub values: Vec<f32>,
    /// The [`Shown`] frame's serial the surface shows.
    shown: u64,
    mesh: Option<Handle<Mesh>>,
    entity: Option<Entity>,
}

/// Draws the surface of 2D regressions.
pub(super) struct SurfacePlugin;

impl Plugin for SurfacePlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<SurfaceState>().add_systems(
            Update,
            (
                build_surface.run_if(resource_changed::<NetworkView>),
                update_surface,
                draw_target,
            )
                .chain()
                .in_set(AppSystems::Visualize),
        );
    }
}

fn grid_mesh(grid: &SurfaceGrid) -> Mesh {
    let s = grid.side as u32;
    let mut indices = Vec::with_capacity(6 * (grid.side - 1).pow(2));
    for j in 0..s - 1 {
        for i in 0..s - 1 {
            let a = j * s + i;
            indices.extend([a, a + s, a + 1, a + 1, a + s, a + s + 1]);
        }
    }
    let n = grid.inputs.len();
    Mesh::new(
        PrimitiveTopology::TriangleList,
        RenderAssetUsages::RENDER_WORLD | RenderAssetUsages::MAIN_WORLD,
    )
    .with_inserted_attribute(Mesh::ATTRIBUTE_POSITION, vec![[0.0f32; 3]; n])
    .with_inserted_attribute(Mesh::ATTRIBUTE_NORMAL, vec![[0.0f32, 1.0, 0.0]; n])
    .with_inserted_attribute(Mesh::ATTRIBUTE_COLOR, vec![[1.0f32; 4]; n])
    .with_inserted_indices(Indices::U32(indices))
}

/// Builds (or removes) the surface when the network is rebuilt.
fn build_surface(
    mut commands: Commands,
    run: Res<Run>,
    view: Res<NetworkView>,
    mut state: ResMut<SurfaceState>,
    mut meshes: ResMut<Assets<Mesh>>,
    mut materials: ResMut<Assets<StandardMaterial>>,
) {
    if view.layout.is_none() {
        return;
    }
    state.shown = 0;
    if let Some(e) = state.entity.take() {
        commands.entity(e).despawn();
    }
    let grid = view
        .layout
        .as_ref()
        .and_then(|l| l.surface)
        .and(run.data.as_deref())
        .and_then(SurfaceGrid::from_data);
    state.grid = grid.clone();
    let Some(grid) = grid else {
        state.mesh = None;
        return;
    };
    let mesh = meshes.add(grid_mesh(&grid));
    let material = materials.add(StandardMaterial {
        base_color: Color::WHITE,
        unlit: true,
        double_sided: true,
        cull_mode: None,
        ..default()
    });
    state.entity = Some(
        commands
            .spawn((
                Surface,
                Mesh3d(mesh.clone()),
                MeshMaterial3d(material),
                Transform::default(),
            ))
            .id(),
    );
    state.mesh = Some(mesh);
}

/// Moves the surface to the shown frame's output.
fn update_surface(
    run: Res<Run>,
    view: Res<NetworkView>,
    shown: Res<Shown>,
    mut state: ResMut<SurfaceState>,
    mut meshes: ResMut<Assets<Mesh>>,
) {
    let state = &mut *state;
    if state.shown == shown.serial {
        return;
    }
    let (Some(grid), Some(handle), Some(frame), Some(topology), Some(layout)) = (
        &state.grid,
        &state.mesh,
        &shown.frame,
        &run.topology,
        view.layout.as_ref().and_then(|l| l.surface),
    ) else {
        return;
    };
    if frame.sizes() != topology.network.sizes {
        return;
    }
    state.shown = shown.serial;
    state.values = surface_values(frame, topology, grid);
    let positions: Vec<Vec3> = grid
        .inputs
        .iter()
        .zip(&state.values)
        .map(|(p, v)| grid.world(&layout, p[0], p[1], *v))
        .collect();
    let side = grid.side;
    let at = |i: usize, j: usize| positions[j.min(side - 1) * side + i.min(side - 1)];
    let normals: Vec<[f32; 3]> = (0..positions.len())
        .map(|k| {
            let (i, j) = (k % side, k / side);
            let dx = at(i + 1, j) - at(i.saturating_sub(1), j);
            let dz = at(i, j + 1) - at(i, j.saturating_sub(1));
            dz.cross(dx).normalize_or(Vec3::Y).to_array()
        })
        .collect();
    let range = grid.value_range.1 - grid.value_range.0;
    let colors: Vec<[f32; 4]> = state
        .values
        .iter()
        .zip(&grid.targets)
        .map(|(v, t)| error_color(v - t, range))
        .collect();
    if let Some(mut mesh) = meshes.get_mut(handle) {
        mesh.insert_attribute(
            Mesh::ATTRIBUTE_POSITION,
            positions.iter().map(|p| p.to_array()).collect::<Vec<_>>(),
        );
        mesh.insert_attribute(Mesh::ATTRIBUTE_NORMAL, normals);
        mesh.insert_attribute(Mesh::ATTRIBUTE_COLOR, colors);
    }
}

/// The target as a wireframe over the surface, and the training box.
fn draw_target(state: Res<SurfaceState>, view: Res<NetworkView>, mut gizmos: Gizmos) {
    let (Some(grid), Some(layout)) = (&state.grid, view.layout.as_ref().and_then(|l| l.surface))
    else {
        return;
    };
    let side = grid.side;
    let wire = Color::srgba(0.8, 0.85, 0.9, 0.35);
    let point = |k: usize| {
        let p = grid.inputs[k];
        grid.world(&layout, p[0], p[1], grid.targets[k])
    };
    // Every other grid line keeps the wire readable over the sheet.
    for j in (0..side).step_by(2) {
        gizmos.linestrip((0..side).map(|i| point(j * side + i)), wire);
    }
    for i in (0..side).step_by(2) {
        gizmos.linestrip((0..side).map(|j| point(j * side + i)), wire);
    }
    let outline =
        |gizmos: &mut Gizmos, (x0, x1): (f32, f32), (y0, y1): (f32, f32), color: Color| {
            let base = grid.value_range.0;
            let corners = [(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)];
            gizmos.linestrip(
                corners
                    .iter()
                    .map(|&(x, y)| grid.world(&layout, x, y, base) - Vec3::Y * 0.02),
                color,
            );
        };
    outline(
        &mut gizmos,
        grid.span.0,
        grid.span.1,
        Color::srgba(0.5, 0.55, 0.6, 0.6),
    );
    if let Some((bx, by)) = grid.train_box {
        outline(&mut gizmos, bx, by, Color::srgb(0.35, 0.7, 1.0));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::LayerFrame;
    use crate::lab::data::{DataSpec, Function2dSpec};
    use crate::lab::model::OutputKind;

    #[test]
    fn the_grid_is_the_test_grid_with_its_targets_and_training_box() {
        let data = DataSpec::Function2d(Function2dSpec::default())
            .load()
            .unwrap();
        let grid = SurfaceGrid::from_data(&data).unwrap();
        assert_eq!(grid.side, 30);
        assert_eq!(grid.span, ((-3.0, 3.0), (-3.0, 3.0)));
        assert_eq!(grid.train_box, Some(((-2.0, 2.0), (-2.0, 2.0))));
        // sin(x)·cos(y) at the grid's corner.
        let expected = (-3.0f32).sin() * (-3.0f32).cos();
        assert!((grid.targets[0] - expected).abs() < 1e-6);
        // A layout at the origin: corners go to the sheet's corners, the
        // target's middle value to its centre height.
        let layout = SurfaceLayout {
            center: Vec3::ZERO,
            side: 8.0,
            height: 2.0,
        };
        let mid = (grid.value_range.0 + grid.value_range.1) / 2.0;
        assert_eq!(
            grid.world(&layout, -3.0, 3.0, mid),
            Vec3::new(-4.0, 0.0, -4.0)
        );
        assert_eq!(grid.world(&layout, 3.0, -3.0, grid.value_range.1).y, 1.0);
    }

    #[test]
    fn the_surface_is_the_networks_output() {
        let data = DataSpec::Function2d(Function2dSpec::default())
            .load()
            .unwrap();
        let grid = SurfaceGrid::from_data(&data).unwrap();
        // u = 0.5·x − 2·y + 0.25: a plane.
        let frame = Frame {
            layers: vec![LayerFrame {
                inputs: 2,
                outputs: 1,
                weights: vec![0.5, -2.0],
                biases: vec![0.25],
                ..Default::default()
            }],
            ..Default::default()
        };
        let topology = Topology::new(
            crate::lab::model::MlpConfig::new(vec![2, 1], Vec::new())
                .with_output(OutputKind::Linear),
            &data,
        );
        let values = surface_values(&frame, &topology, &grid);
        for (p, v) in grid.inputs.iter().zip(&values) {
            assert!((v - (0.5 * p[0] - 2.0 * p[1] + 0.25)).abs() < 1e-5);
        }
        // Right is blue, far off is red.
        assert!(error_color(0.0, 2.0)[2] > 0.9);
        assert!(error_color(1.0, 2.0)[0] > 0.9 && error_color(1.0, 2.0)[2] < 0.2);
    }

    #[test]
    fn classification_has_no_surface() {
        let data = DataSpec::Xor(Default::default()).load().unwrap();
        assert!(SurfaceGrid::from_data(&data).is_none());
    }
}
