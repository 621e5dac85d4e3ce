//! The landscape as a 3D height field in the Bevy scene: a flat-topped
//! column per cell (its height and colour from [`landscape_paint`]), diverged
//! cells in warm colours, the boundary glowing, and an orbit camera to fly
//! over it. Drawn only while its tab is open.

use bevy::asset::{RenderAssetUsages, load_internal_asset, uuid_handle};
use bevy::mesh::{Indices, MeshVertexBufferLayoutRef, PrimitiveTopology};
use bevy::pbr::{MaterialPipeline, MaterialPipelineKey};
use bevy::prelude::*;
use bevy::render::render_resource::{
    AsBindGroup, RenderPipelineDescriptor, SpecializedMeshPipelineError,
};
use bevy::shader::ShaderRef;
use bevy_panorbit_camera::PanOrbitCamera;

use super::paint::{CellPaint, landscape_paint};
use super::{Browser, CompareTab};
use crate::app::renderer::RendererTier;

/// Width of the height field in world units (its depth follows the grid's aspect).
pub(super) const TERRAIN_WIDTH: f32 = 20.0;
/// Height of the tallest column in world units.
pub(super) const TERRAIN_HEIGHT: f32 = 4.0;
/// How much brighter (in linear light) a boundary cell is: bright enough for bloom.
const EDGE_GLOW: f32 = 3.0;
/// The most columns a side of the height field has on a software renderer
/// (lavapipe): beyond it, blocks of cells are merged into one column, since
/// such a renderer's frame time grows with the triangles drawn. A GPU draws
/// every cell.
pub(super) const SOFTWARE_SIDE: usize = 128;

/// The camera that flies over the height field.
#[derive(Component)]
pub(super) struct TerrainCamera;

/// The height field's mesh entity.
#[derive(Component)]
pub(super) struct Terrain;

/// What the height field was last built from (the table's generation and
/// the column), and its material.
#[derive(Resource, Default)]
pub(super) struct TerrainBuilt {
    /// The generation, column and cells merged per block side of the mesh shown.
    pub key: Option<(u64, usize, usize)>,
    /// The material every height field shares (vertex colours, unlit).
    material: Handle<TerrainMaterial>,
}

const TERRAIN_SHADER: Handle<Shader> = uuid_handle!("2b8e61f4-7c3d-4e0a-9f15-8a4c6d2e7b90");

/// The columns' material: the vertex colour as it is, from both sides.
#[derive(Asset, TypePath, AsBindGroup, Clone, Debug, Default)]
pub(super) struct TerrainMaterial {}

impl Material for TerrainMaterial {
    fn fragment_shader() -> ShaderRef {
        TERRAIN_SHADER.into()
    }

    fn enable_prepass() -> bool {
        false
    }

    fn enable_shadows() -> bool {
        false
    }

    fn specialize(
        _pipeline: &MaterialPipeline,
        descriptor: &mut RenderPipelineDescriptor,
        _layout: &MeshVertexBufferLayoutRef,
        _key: MaterialPipelineKey<Self>,
    ) -> Result<(), SpecializedMeshPipelineError> {
        // A wall between two columns faces whichever side is lower.
        descriptor.primitive.cull_mode = None;
        Ok(())
    }
}

/// The height field as a feature: its camera and mesh, rebuilt when the landscape changes.
pub(crate) struct TerrainPlugin;

impl Plugin for TerrainPlugin {
    fn build(&self, app: &mut App) {
        load_internal_asset!(
            app,
            TERRAIN_SHADER,
            "../../../assets/shaders/terrain.wgsl",
            Shader::from_wgsl
        );
        // The overlay camera spawned here carries the egui context: egui
        // must not make another on the height field's camera.
        app.add_plugins(MaterialPlugin::<TerrainMaterial>::default())
            .insert_resource(bevy_egui::EguiGlobalSettings {
                auto_create_primary_context: false,
                ..default()
            });
        if !app.is_plugin_added::<bevy_panorbit_camera::PanOrbitCameraPlugin>() {
            app.add_plugins(bevy_panorbit_camera::PanOrbitCameraPlugin);
        }
        app.init_resource::<TerrainBuilt>()
            .add_systems(Startup, spawn_terrain)
            .add_systems(
                Update,
                (
                    software_lens.run_if(crate::app::renderer::on_software),
                    build_terrain.run_if(resource_exists::<Browser>),
                    fit_terrain_camera,
                )
                    .in_set(crate::app::AppSystems::Visualize),
            );
    }
}

fn spawn_terrain(
    mut commands: Commands,
    mut built: ResMut<TerrainBuilt>,
    mut materials: ResMut<Assets<TerrainMaterial>>,
) {
    commands.spawn((
        crate::app::camera::OverlayCamera,
        crate::app::camera::egui_overlay(),
    ));
    let mut camera = commands.spawn((
        TerrainCamera,
        crate::app::camera::lens(),
        Camera {
            is_active: false,
            ..default()
        },
        PanOrbitCamera {
            focus: Vec3::new(0.0, TERRAIN_HEIGHT * 0.3, 0.0),
            yaw: Some(0.35),
            pitch: Some(0.8),
            radius: Some(40.0),
            enabled: false,
            ..default()
        },
    ));
    // Cells are axis-aligned boxes: their edges need no multisampling, and a
    // software renderer spends most of a frame on it.
    camera.insert(Msaa::Off);
    // Shading is baked into the vertex colours: tops full, sides darker.
    built.material = materials.add(TerrainMaterial::default());
}

/// Rebuilds the mesh when the landscape, its table or its column changed
/// (spawning it the first time its tab opens), and shows it only on its tab.
fn build_terrain(
    mut commands: Commands,
    b: Res<Browser>,
    tier: Res<RendererTier>,
    mut built: ResMut<TerrainBuilt>,
    mut meshes: ResMut<Assets<Mesh>>,
    mut terrain: Query<(&Mesh3d, &mut Visibility), With<Terrain>>,
) {
    let Some(land) = &b.runs.landscape else {
        return;
    };
    let shown = b.view.tab == CompareTab::Terrain;
    let (nx, ny) = land.size();
    let block = if tier.is_software() {
        nx.max(ny).div_ceil(SOFTWARE_SIDE).max(1)
    } else {
        1
    };
    let key = (b.generation, b.view.landscape_column, block);
    let existing = terrain.single_mut().ok();
    if let Some((_, mut visibility)) = existing {
        visibility.set_if_neq(if shown {
            Visibility::Visible
        } else {
            Visibility::Hidden
        });
        if !shown || built.key == Some(key) {
            return;
        }
    } else if !shown {
        return;
    }
    let paint = landscape_paint(&b, land, b.view.landscape_column);
    let (cells, mx, my) = merge_cells(&paint, nx, ny, block);
    let mesh = terrain_mesh(&cells, mx, my);
    match terrain.single_mut() {
        Ok((handle, _)) => {
            if let Some(mut m) = meshes.get_mut(&handle.0) {
                *m = mesh;
            }
        }
        Err(_) => {
            commands.spawn((
                Terrain,
                Mesh3d(meshes.add(mesh)),
                MeshMaterial3d(built.material.clone()),
                Transform::default(),
                Visibility::Visible,
            ));
        }
    }
    built.key = Some(key);
}

/// `cells` (`nx` × `ny`) merged into blocks of `block` × `block` cells, and
/// the merged grid's size: a block's colour and height are its trained
/// cells' means, it diverged if most of them did, and it is on the boundary
/// if any of them is.
pub(super) fn merge_cells(
    cells: &[Option<CellPaint>],
    nx: usize,
    ny: usize,
    block: usize,
) -> (Vec<Option<CellPaint>>, usize, usize) {
    if block <= 1 {
        return (cells.to_vec(), nx, ny);
    }
    let (mx, my) = (nx.div_ceil(block), ny.div_ceil(block));
    let mut merged = Vec::with_capacity(mx * my);
    for bj in 0..my {
        for bi in 0..mx {
            let (mut n, mut diverged, mut edge) = (0usize, 0usize, false);
            let (mut rgb, mut height) = ([0.0f32; 3], 0.0f32);
            for j in bj * block..((bj + 1) * block).min(ny) {
                for i in bi * block..((bi + 1) * block).min(nx) {
                    let Some(c) = cells.get(j * nx + i).copied().flatten() else {
                        continue;
                    };
                    n += 1;
                    for (sum, v) in rgb.iter_mut().zip(c.rgb) {
                        *sum += f32::from(v);
                    }
                    height += c.height;
                    diverged += usize::from(c.diverged);
                    edge |= c.edge;
                }
            }
            merged.push((n > 0).then(|| {
                let mean = |sum: f32| (sum / n as f32).round().clamp(0.0, 255.0) as u8;
                CellPaint {
                    rgb: rgb.map(mean),
                    height: height / n as f32,
                    diverged: 2 * diverged > n,
                    edge,
                }
            }));
        }
    }
    (merged, mx, my)
}

/// On a software renderer the height field is drawn without bloom, tone
/// mapping or dithering, which cost such a renderer more than the scene does
/// (the boundary still stands out, drawn at full brightness where the rest
/// is darker). HDR stays: the camera must not share its target with the
/// overlay's, which clears it.
fn software_lens(
    mut commands: Commands,
    cameras: Query<Entity, (With<TerrainCamera>, With<bevy::post_process::bloom::Bloom>)>,
) {
    for camera in &cameras {
        crate::app::camera::software_lens(&mut commands.entity(camera));
    }
}

/// Narrows the camera to the view the browser left for it, turns it off on
/// the other tabs, and lets it take the pointer only over that view.
fn fit_terrain_camera(
    browser: Option<Res<Browser>>,
    window: Query<&Window, With<bevy::window::PrimaryWindow>>,
    buttons: Res<ButtonInput<MouseButton>>,
    mut owned: Local<Option<bool>>,
    mut cameras: Query<(&mut Camera, Option<&mut PanOrbitCamera>), With<TerrainCamera>>,
) {
    let Ok((mut camera, mut orbit)) = cameras.single_mut() else {
        return;
    };
    let window = window.single().ok();
    let rect = browser
        .as_ref()
        .filter(|b| b.view.tab == CompareTab::Terrain && b.runs.landscape.is_some())
        .and_then(|b| b.placement.terrain);
    let Some(rect) = rect.filter(|r| r.width() >= 8.0 && r.height() >= 8.0) else {
        if camera.is_active {
            camera.is_active = false;
        }
        if let Some(orbit) = &mut orbit {
            orbit.enabled = false;
        }
        return;
    };
    camera.is_active = true;
    // The window's, or (drawn off-screen, for a film) the image's.
    let (Some(size), Some(scale)) = (
        window
            .map(|w| w.physical_size())
            .or_else(|| camera.physical_target_size()),
        window
            .map(|w| w.scale_factor())
            .or_else(|| camera.target_scaling_factor()),
    ) else {
        return;
    };
    let min = UVec2::new(
        (rect.min.x * scale).max(0.0) as u32,
        (rect.min.y * scale).max(0.0) as u32,
    )
    .min(size.saturating_sub(UVec2::ONE));
    let extent = UVec2::new(
        (rect.width() * scale) as u32,
        (rect.height() * scale) as u32,
    )
    .min(size - min)
    .max(UVec2::ONE);
    let viewport = bevy::camera::Viewport {
        physical_position: min,
        physical_size: extent,
        ..default()
    };
    let same = camera.viewport.as_ref().is_some_and(|v| {
        v.physical_position == viewport.physical_position
            && v.physical_size == viewport.physical_size
    });
    if !same {
        camera.viewport = Some(viewport);
    }
    // A drag belongs to whoever was under the pointer when it began.
    let Some(orbit) = &mut orbit else {
        return;
    };
    let input = browser
        .as_ref()
        .and_then(|b| b.placement.terrain_input)
        .unwrap_or(rect);
    let inside = window
        .and_then(|w| w.cursor_position())
        .is_some_and(|c| input.contains(bevy_egui::egui::pos2(c.x, c.y)));
    let down = buttons.get_pressed().next().is_some();
    if !down {
        *owned = None;
    } else if owned.is_none() {
        *owned = Some(inside);
    }
    orbit.enabled = owned.unwrap_or(inside);
}

/// The height of a cell's column top, world units.
pub(super) fn top_of(c: &CellPaint) -> f32 {
    0.05 + c.height * TERRAIN_HEIGHT
}

/// The height field of `cells` (`nx` × `ny`, row-major from the first y
/// value, which is nearest the camera): a flat top per trained cell, and a
/// wall wherever two neighbours differ in height. Vertex colours carry the
/// shading; boundary tops glow.
pub(crate) fn terrain_mesh(cells: &[Option<CellPaint>], nx: usize, ny: usize) -> Mesh {
    let mut positions: Vec<[f32; 3]> = Vec::new();
    let mut colours: Vec<[f32; 4]> = Vec::new();
    let mut indices: Vec<u32> = Vec::new();
    let width = TERRAIN_WIDTH;
    let depth = if nx > 0 {
        TERRAIN_WIDTH * ny as f32 / nx as f32
    } else {
        0.0
    };
    let (dx, dz) = (width / nx.max(1) as f32, depth / ny.max(1) as f32);
    let x_of = |i: usize| -width / 2.0 + i as f32 * dx;
    let z_of = |j: usize| depth / 2.0 - j as f32 * dz;
    let linear = |c: &CellPaint, shade: f32| {
        let l = Color::srgb_u8(c.rgb[0], c.rgb[1], c.rgb[2]).to_linear();
        [l.red * shade, l.green * shade, l.blue * shade, 1.0]
    };
    let mut quad = |corners: [[f32; 3]; 4], colour: [f32; 4]| {
        let base = positions.len() as u32;
        positions.extend(corners);
        colours.extend([colour; 4]);
        indices.extend([base, base + 1, base + 2, base, base + 2, base + 3]);
    };
    let cell = |i: usize, j: usize| {
        (i < nx && j < ny)
            .then(|| cells.get(j * nx + i).copied().flatten())
            .flatten()
    };
    for j in 0..ny {
        for i in 0..nx {
            let Some(c) = cell(i, j) else {
                continue;
            };
            let (x0, x1, z0, z1, y) = (x_of(i), x_of(i + 1), z_of(j), z_of(j + 1), top_of(&c));
            let glow = if c.edge { EDGE_GLOW } else { 1.0 };
            // Counter-clockwise seen from above.
            quad(
                [[x0, y, z0], [x1, y, z0], [x1, y, z1], [x0, y, z1]],
                linear(&c, glow),
            );
            // Walls to the east and north neighbours (and down to the floor at
            // the far edges), lit by how they face the camera.
            for (n, shade, east) in [(cell(i + 1, j), 0.55, true), (cell(i, j + 1), 0.75, false)] {
                let other = n.map_or(0.0, |n| top_of(&n));
                if (other - y).abs() < 1e-4 {
                    continue;
                }
                let (lo, hi) = (other.min(y), other.max(y));
                let tall = if y >= other { c } else { n.unwrap_or(c) };
                let colour = linear(&tall, shade);
                if east {
                    quad(
                        [[x1, lo, z0], [x1, lo, z1], [x1, hi, z1], [x1, hi, z0]],
                        colour,
                    );
                } else {
                    quad(
                        [[x0, lo, z1], [x1, lo, z1], [x1, hi, z1], [x0, hi, z1]],
                        colour,
                    );
                }
            }
            // The near and west faces at the grid's edge, down to the floor.
            if j == 0 {
                quad(
                    [[x0, 0.0, z0], [x1, 0.0, z0], [x1, y, z0], [x0, y, z0]],
                    linear(&c, 0.75),
                );
            }
            if i == 0 {
                quad(
                    [[x0, 0.0, z1], [x0, 0.0, z0], [x0, y, z0], [x0, y, z1]],
                    linear(&c, 0.55),
                );
            }
        }
    }
    let normals = vec![[0.0f32, 1.0, 0.0]; positions.len()];
    Mesh::new(
        PrimitiveTopology::TriangleList,
        RenderAssetUsages::RENDER_WORLD | RenderAssetUsages::MAIN_WORLD,
    )
    .with_inserted_attribute(Mesh::ATTRIBUTE_POSITION, positions)
    .with_inserted_attribute(Mesh::ATTRIBUTE_NORMAL, normals)
    .with_inserted_attribute(Mesh::ATTRIBUTE_COLOR, colours)
    .with_inserted_indices(Indices::U32(indices))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paint(height: f32, diverged: bool, edge: bool) -> Option<CellPaint> {
        Some(CellPaint {
            rgb: if diverged {
                [200, 40, 30]
            } else {
                [40, 80, 200]
            },
            height,
            diverged,
            edge,
        })
    }

    #[test]
    fn merged_blocks_take_their_cells_means_and_majority() {
        // 3 × 2 cells in blocks of 2: a 2 × 1 grid, the last block one column wide.
        let cells = vec![
            paint(0.2, false, false),
            paint(0.4, true, false),
            paint(1.0, true, true),
            paint(0.6, true, false),
            None,
            None,
        ];
        let (merged, mx, my) = merge_cells(&cells, 3, 2, 2);
        assert_eq!((mx, my), (2, 1));
        let first = merged[0].expect("a trained block");
        assert!((first.height - 0.4).abs() < 1e-6, "{first:?}");
        assert!(first.diverged, "two of three diverged");
        assert!(!first.edge);
        let last = merged[1].expect("a trained block");
        assert!((last.height - 1.0).abs() < 1e-6 && last.edge, "{last:?}");
        let (same, sx, sy) = merge_cells(&cells, 3, 2, 1);
        assert_eq!((same, sx, sy), (cells, 3, 2));
    }

    #[test]
    fn each_cell_stands_at_its_height_and_the_boundary_glows() {
        // 2 × 2: a converged low cell, a diverged tall one, an empty one.
        let cells = [
            paint(0.0, false, true),
            paint(1.0, true, true),
            None,
            paint(0.5, false, false),
        ];
        let mesh = terrain_mesh(&cells, 2, 2);
        let positions = mesh
            .attribute(Mesh::ATTRIBUTE_POSITION)
            .and_then(|a| a.as_float3())
            .unwrap();
        let Some(bevy::mesh::VertexAttributeValues::Float32x4(colours)) =
            mesh.attribute(Mesh::ATTRIBUTE_COLOR)
        else {
            panic!("vertex colours");
        };
        // The tallest point is the diverged cell's top, over its own square.
        let top = positions.iter().map(|p| p[1]).fold(f32::MIN, f32::max);
        assert!((top - (0.05 + TERRAIN_HEIGHT)).abs() < 1e-5);
        for p in positions.iter().filter(|p| p[1] == top) {
            assert!(
                p[0] >= 0.0 && p[2] >= 0.0,
                "cell (1, 0) is right and near: {p:?}"
            );
        }
        // No vertex sits over the empty cell (0, 1): left and far.
        let (dx, dz) = (TERRAIN_WIDTH / 2.0, TERRAIN_WIDTH / 2.0);
        assert!(
            !positions
                .iter()
                .any(|p| p[0] < -1e-4 && p[0] > -dx && p[2] < -1e-4 && p[2] > -dz),
            "the untrained cell is a hole"
        );
        // Boundary tops are brighter than the colour scale allows; others are not.
        let bright = |c: &[f32; 4]| c[0].max(c[1]).max(c[2]) > 1.0;
        let tops: Vec<usize> = (0..positions.len()).step_by(4).collect();
        assert!(
            tops.iter().any(|&v| bright(&colours[v])),
            "the boundary glows"
        );
        let calm = positions
            .iter()
            .zip(colours)
            .filter(|(p, _)| (p[1] - (0.05 + 0.5 * TERRAIN_HEIGHT)).abs() < 1e-5)
            .all(|(_, c)| !bright(c));
        assert!(calm, "the cell off the boundary does not glow");
        assert_eq!(mesh.indices().map(|i| i.len() % 6), Some(0), "whole quads");
    }
}
