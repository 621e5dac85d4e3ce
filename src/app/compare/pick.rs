//! Hovering and clicking the height field: a ray from the pointer through
//! the height field's camera finds the first column it meets; hovering
//! shows that model's values, a click selects it in every view, and a pin
//! stands over the selected model's column.

use bevy::prelude::*;
use bevy::window::PrimaryWindow;

use super::terrain::{TERRAIN_HEIGHT, TERRAIN_WIDTH, TerrainCamera, top_of};
use super::{Browser, CompareTab};

/// A press that moves further than this (logical pixels) is an orbit, not a click.
const CLICK_SLOP: f32 = 4.0;
/// The pin's height above its column, world units.
const PIN_HEIGHT: f32 = 1.2;

/// The height field's columns as picking sees them: each cell's top (world
/// units; `None` where no model was trained), at the landscape's own
/// resolution whatever the mesh's.
#[derive(Resource, Debug, Default, Clone)]
pub(super) struct TerrainTops {
    /// The generation and column they were computed for.
    pub key: Option<(u64, usize)>,
    /// Cells across (x) and deep (y).
    pub size: (usize, usize),
    /// Each cell's top, row-major from the first y value.
    pub tops: Vec<Option<f32>>,
}

/// The pin standing over the selected model's column.
#[derive(Component)]
pub(super) struct TerrainPin;

/// Hovering and clicking the height field, as a feature.
pub(crate) struct TerrainPickPlugin;

impl Plugin for TerrainPickPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<TerrainTops>()
            .add_systems(Startup, spawn_pin)
            .add_systems(
                Update,
                (pick_terrain.run_if(resource_exists::<Browser>), place_pin)
                    .in_set(crate::app::AppSystems::Visualize),
            );
    }
}

/// The cell `(i, j)` whose column a ray from `origin` along `direction`
/// meets first, in a field of `nx` × `ny` cells with tops `tops` (laid out
/// as the height field's mesh is: x from left to right, j = 0 nearest +z).
pub(crate) fn pick_cell(
    origin: Vec3,
    direction: Vec3,
    tops: &[Option<f32>],
    (nx, ny): (usize, usize),
) -> Option<(usize, usize)> {
    if nx == 0 || ny == 0 || tops.len() < nx * ny {
        return None;
    }
    let direction = direction.try_normalize()?;
    let width = TERRAIN_WIDTH;
    let depth = TERRAIN_WIDTH * ny as f32 / nx as f32;
    let (dx, dz) = (width / nx as f32, depth / ny as f32);
    let low = Vec3::new(-width / 2.0, 0.0, -depth / 2.0);
    let high = Vec3::new(width / 2.0, TERRAIN_HEIGHT + 0.1, depth / 2.0);
    // Where the ray is inside the field's box (slab test).
    let (mut enter, mut leave) = (0.0f32, f32::INFINITY);
    for k in 0..3 {
        let (o, d) = (origin[k], direction[k]);
        if d.abs() < 1e-9 {
            if o < low[k] || o > high[k] {
                return None;
            }
            continue;
        }
        let (a, b) = ((low[k] - o) / d, (high[k] - o) / d);
        enter = enter.max(a.min(b));
        leave = leave.min(a.max(b));
    }
    if enter > leave {
        return None;
    }
    // March in quarter cells: a column is met where the ray is below its top.
    let step = dx.min(dz) * 0.25;
    let mut t = enter;
    while t <= leave {
        let p = origin + direction * t;
        let i = ((p.x - low.x) / dx).floor();
        let j = ((high.z - p.z) / dz).floor();
        if i >= 0.0 && j >= 0.0 && (i as usize) < nx && (j as usize) < ny {
            let (i, j) = (i as usize, j as usize);
            if tops[j * nx + i].is_some_and(|top| p.y <= top) {
                return Some((i, j));
            }
        }
        t += step;
    }
    None
}

/// The middle of cell `(i, j)`'s top, in world units.
fn cell_top_centre(tops: &TerrainTops, i: usize, j: usize) -> Option<Vec3> {
    let (nx, ny) = tops.size;
    let top = tops.tops.get(j * nx + i).copied().flatten()?;
    let depth = TERRAIN_WIDTH * ny as f32 / nx as f32;
    let (dx, dz) = (TERRAIN_WIDTH / nx as f32, depth / ny as f32);
    Some(Vec3::new(
        -TERRAIN_WIDTH / 2.0 + (i as f32 + 0.5) * dx,
        top,
        depth / 2.0 - (j as f32 + 0.5) * dz,
    ))
}

/// Finds the model under the pointer (the hover), and selects it on a
/// click: a press and release that did not move (a drag orbits).
fn pick_terrain(
    mut b: ResMut<Browser>,
    mut tops: ResMut<TerrainTops>,
    window: Query<&Window, With<PrimaryWindow>>,
    buttons: Res<ButtonInput<MouseButton>>,
    cameras: Query<(&Camera, &GlobalTransform), With<TerrainCamera>>,
    mut pressed_at: Local<Option<Vec2>>,
) {
    let shown = b.view.tab == CompareTab::Terrain;
    let Some(land) = b.runs.landscape.as_ref().filter(|_| shown) else {
        b.runs.terrain_hover = None;
        return;
    };
    let key = (b.generation, b.view.landscape_column);
    if tops.key != Some(key) {
        let paint = super::landscape_paint(&b, land, b.view.landscape_column);
        *tops = TerrainTops {
            key: Some(key),
            size: land.size(),
            tops: paint.iter().map(|c| c.as_ref().map(top_of)).collect(),
        };
    }
    let cursor = window.single().ok().and_then(|w| w.cursor_position());
    let input = b.placement.terrain_input;
    let over =
        cursor.filter(|c| input.is_some_and(|r| r.contains(bevy_egui::egui::pos2(c.x, c.y))));
    let hovered = over.and_then(|c| {
        let (camera, eye) = cameras.single().ok()?;
        // Window coordinates: the camera knows where its viewport is.
        let ray = camera.viewport_to_world(eye, c).ok()?;
        let (i, j) = pick_cell(ray.origin, *ray.direction, &tops.tops, tops.size)?;
        land.row_at(i, j)
    });
    b.runs.terrain_hover = hovered;
    if buttons.just_pressed(MouseButton::Left) {
        *pressed_at = over;
    }
    if buttons.just_released(MouseButton::Left) {
        let still = pressed_at
            .take()
            .zip(over)
            .is_some_and(|(a, z)| a.distance(z) <= CLICK_SLOP);
        if still && let Some(r) = hovered {
            b.runs.selected = Some(r);
        }
    }
}

fn spawn_pin(
    mut commands: Commands,
    mut meshes: ResMut<Assets<Mesh>>,
    mut materials: ResMut<Assets<StandardMaterial>>,
) {
    commands.spawn((
        TerrainPin,
        Mesh3d(meshes.add(Cuboid::new(1.0, 1.0, 1.0))),
        MeshMaterial3d(materials.add(StandardMaterial {
            base_color: Color::srgb(1.0, 0.86, 0.24),
            unlit: true,
            ..default()
        })),
        Transform::default(),
        Visibility::Hidden,
    ));
}

/// Stands the pin over the selected model's column, on the height field's tab.
fn place_pin(
    browser: Option<Res<Browser>>,
    tops: Res<TerrainTops>,
    mut pins: Query<(&mut Transform, &mut Visibility), With<TerrainPin>>,
) {
    let Ok((mut transform, mut visibility)) = pins.single_mut() else {
        return;
    };
    let place = browser
        .as_ref()
        .filter(|b| b.view.tab == CompareTab::Terrain)
        .and_then(|b| {
            let land = b.runs.landscape.as_ref()?;
            let (i, j) = land.cell_of(b.runs.selected?)?;
            cell_top_centre(&tops, i, j)
        });
    let Some(top) = place else {
        visibility.set_if_neq(Visibility::Hidden);
        return;
    };
    let (nx, _) = tops.size;
    let thick = (TERRAIN_WIDTH / nx.max(1) as f32 * 0.5).max(0.12);
    *transform = Transform::from_translation(top + Vec3::Y * PIN_HEIGHT / 2.0)
        .with_scale(Vec3::new(thick, PIN_HEIGHT, thick));
    visibility.set_if_neq(Visibility::Visible);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ray_meets_the_first_column_in_its_way() {
        // 4 × 4 cells, 5 units each (the field is 20 wide and 20 deep), all
        // 1 high but cell (1, 1), which stands 3 high.
        let mut tops = vec![Some(1.0); 16];
        tops[4 + 1] = Some(3.0);
        // Straight down onto the middle of cell (2, 3): x = -10 + 12.5, z = 10 - 17.5.
        let down = pick_cell(Vec3::new(2.5, 10.0, -7.5), -Vec3::Y, &tops, (4, 4));
        assert_eq!(down, Some((2, 3)));
        // From the near side, low and level at height 2: it passes over the
        // 1-high cells and meets the side of the tall one.
        let level = pick_cell(Vec3::new(-7.5 + 5.0, 2.0, 30.0), -Vec3::Z, &tops, (4, 4));
        assert_eq!(level, Some((1, 1)));
        // Untrained cells have no column: the ray falls through to the floor.
        let mut holes = tops.clone();
        holes[3 * 4 + 2] = None;
        assert_eq!(
            pick_cell(Vec3::new(2.5, 10.0, -7.5), -Vec3::Y, &holes, (4, 4)),
            None
        );
        // A ray that misses the field.
        assert_eq!(
            pick_cell(Vec3::new(50.0, 10.0, 0.0), -Vec3::Y, &tops, (4, 4)),
            None
        );
    }
}
