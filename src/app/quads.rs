//! One instanced draw per batch of quads (synapse lines, neuron bulbs, particles),
//! fed by a storage buffer rewritten once per frame.

use bevy::asset::{RenderAssetUsages, load_internal_asset, uuid_handle};
use bevy::camera::visibility::NoFrustumCulling;
use bevy::mesh::{Indices, MeshVertexBufferLayoutRef, PrimitiveTopology};
use bevy::pbr::{MaterialPipeline, MaterialPipelineKey};
use bevy::prelude::*;
use bevy::render::render_resource::{
    AsBindGroup, RenderPipelineDescriptor, SpecializedMeshPipelineError,
};
#[cfg(not(target_arch = "wasm32"))]
use bevy::render::storage::ShaderBuffer;
use bevy::shader::ShaderRef;
use bytemuck::{Pod, Zeroable};

use crate::app::AppSystems;

/// What a quad draws.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum QuadKind {
    /// A line from `start` to `end`, `width` wide.
    Line = 0,
    /// A glowing bulb at `start`, `width` across.
    Bulb = 1,
    /// A soft dot at `start`, `width` across.
    Spark = 2,
}

/// One instance as the shader reads it (64 bytes, matching `quads.wgsl`).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Pod, Zeroable)]
pub(super) struct QuadInstance {
    /// Line start, or centre.
    pub start: [f32; 3],
    /// World-space width or diameter; 0 hides the instance.
    pub width: f32,
    /// Line end (unused by bulbs and sparks).
    pub end: [f32; 3],
    /// A [`QuadKind`] as a float.
    pub kind: f32,
    /// Linear RGB (may exceed 1 to bloom) and alpha.
    pub color: [f32; 4],
    /// Bulbs: the gradient halo's RGB and strength.
    pub extra: [f32; 4],
}

impl QuadInstance {
    /// A line.
    pub(super) fn line(start: Vec3, end: Vec3, width: f32, color: [f32; 4]) -> Self {
        QuadInstance {
            start: start.to_array(),
            width,
            end: end.to_array(),
            kind: QuadKind::Line as u8 as f32,
            color,
            extra: [0.0; 4],
        }
    }

    /// A bulb with a glow colour and a halo.
    pub(super) fn bulb(center: Vec3, diameter: f32, color: [f32; 4], halo: [f32; 4]) -> Self {
        QuadInstance {
            start: center.to_array(),
            width: diameter,
            end: center.to_array(),
            kind: QuadKind::Bulb as u8 as f32,
            color,
            extra: halo,
        }
    }

    /// A spark.
    pub(super) fn spark(center: Vec3, diameter: f32, color: [f32; 4]) -> Self {
        QuadInstance {
            start: center.to_array(),
            width: diameter,
            end: center.to_array(),
            kind: QuadKind::Spark as u8 as f32,
            color,
            extra: [0.0; 4],
        }
    }
}

/// A batch of quads drawn with one call; systems fill `instances`, the
/// renderer uploads them.
#[derive(Component, Debug, Default)]
pub(super) struct QuadBatch {
    /// What to draw this frame.
    pub instances: Vec<QuadInstance>,
    /// Drawn before (positive) or after (negative) other batches.
    pub order: f32,
}

/// Where a batch's instances live on the GPU: a storage buffer, or on
/// WebGL2 (no storage buffers in the vertex stage) a texture, each instance
/// four RGBA32F texels.
#[cfg(not(target_arch = "wasm32"))]
type QuadStore = ShaderBuffer;
#[cfg(target_arch = "wasm32")]
type QuadStore = Image;

/// Texels in a row of a [`QuadStore`] texture (WebGL2 allows at least 2048).
#[cfg(target_arch = "wasm32")]
const STORE_ROW_TEXELS: usize = 2048;

/// The store of `capacity` instances holding `instances`.
#[cfg(not(target_arch = "wasm32"))]
fn quad_store(instances: &[QuadInstance], capacity: usize) -> QuadStore {
    ShaderBuffer::new(
        &buffer_bytes(instances, capacity),
        RenderAssetUsages::RENDER_WORLD,
    )
}

/// The store of `capacity` instances holding `instances`.
#[cfg(target_arch = "wasm32")]
fn quad_store(instances: &[QuadInstance], capacity: usize) -> QuadStore {
    use bevy::render::render_resource::{Extent3d, TextureDimension, TextureFormat};
    // Capacities are powers of two from 64: rows are whole.
    let texels = capacity * 4;
    let width = texels.min(STORE_ROW_TEXELS);
    Image::new(
        Extent3d {
            width: width as u32,
            height: (texels / width) as u32,
            depth_or_array_layers: 1,
        },
        TextureDimension::D2,
        buffer_bytes(instances, capacity),
        TextureFormat::Rgba32Float,
        RenderAssetUsages::RENDER_WORLD,
    )
}

/// The GPU side of a batch: its buffer, mesh and material, and their capacity.
#[derive(Component)]
struct QuadGpu {
    buffer: Handle<QuadStore>,
    mesh: Handle<Mesh>,
    material: Handle<QuadMaterial>,
    capacity: usize,
}

const QUAD_SHADER: Handle<Shader> = uuid_handle!("6f2f4d3a-9b1e-4c21-8a55-3d7e1c0b9a42");

/// The material drawing a [`QuadBatch`].
#[derive(Asset, TypePath, AsBindGroup, Clone, Debug)]
pub(super) struct QuadMaterial {
    #[cfg(not(target_arch = "wasm32"))]
    #[storage(0, read_only)]
    quads: Handle<QuadStore>,
    #[cfg(target_arch = "wasm32")]
    #[texture(0, sample_type = "float", filterable = false)]
    quads: Handle<QuadStore>,
    order: f32,
}

impl Material for QuadMaterial {
    fn vertex_shader() -> ShaderRef {
        QUAD_SHADER.into()
    }

    fn fragment_shader() -> ShaderRef {
        QUAD_SHADER.into()
    }

    fn alpha_mode(&self) -> AlphaMode {
        AlphaMode::Premultiplied
    }

    fn depth_bias(&self) -> f32 {
        self.order
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
        // A quad's winding depends on the view; draw both faces.
        descriptor.primitive.cull_mode = None;
        #[cfg(target_arch = "wasm32")]
        {
            descriptor
                .vertex
                .shader_defs
                .push("QUADS_IN_TEXTURE".into());
            if let Some(fragment) = descriptor.fragment.as_mut() {
                fragment.shader_defs.push("QUADS_IN_TEXTURE".into());
            }
        }
        // Glowing quads read depth (bulbs hide what is behind them) but do not write it.
        if let Some(depth) = descriptor.depth_stencil.as_mut() {
            depth.depth_write_enabled = Some(false);
        }
        Ok(())
    }
}

/// Draws every [`QuadBatch`] entity.
pub(super) struct QuadsPlugin;

impl Plugin for QuadsPlugin {
    fn build(&self, app: &mut App) {
        load_internal_asset!(
            app,
            QUAD_SHADER,
            "../../assets/shaders/quads.wgsl",
            Shader::from_wgsl
        );
        app.add_plugins(MaterialPlugin::<QuadMaterial>::default())
            .add_systems(
                Update,
                (attach_gpu, upload).chain().in_set(AppSystems::Upload),
            );
    }
}

/// A mesh of `capacity` quads: four vertices each, uv = (instance, corner).
fn quad_mesh(capacity: usize) -> Mesh {
    let uv: Vec<[f32; 2]> = (0..capacity)
        .flat_map(|i| (0..4).map(move |c| [i as f32, c as f32]))
        .collect();
    let indices: Vec<u32> = (0..capacity as u32)
        .flat_map(|i| {
            let b = 4 * i;
            [b, b + 1, b + 2, b + 2, b + 1, b + 3]
        })
        .collect();
    Mesh::new(
        PrimitiveTopology::TriangleList,
        RenderAssetUsages::RENDER_WORLD,
    )
    .with_inserted_attribute(Mesh::ATTRIBUTE_POSITION, vec![[0.0f32; 3]; capacity * 4])
    .with_inserted_attribute(Mesh::ATTRIBUTE_UV_0, uv)
    .with_inserted_indices(Indices::U32(indices))
}

/// Rewrites a store with `instances` (of `capacity`).
#[cfg(not(target_arch = "wasm32"))]
fn write_store(store: &mut QuadStore, instances: &[QuadInstance], capacity: usize) {
    store.data = Some(buffer_bytes(instances, capacity));
}

/// Rewrites a store with `instances` (of `capacity`).
#[cfg(target_arch = "wasm32")]
fn write_store(store: &mut QuadStore, instances: &[QuadInstance], capacity: usize) {
    *store = quad_store(instances, capacity);
}

fn capacity_for(n: usize) -> usize {
    n.max(64).next_power_of_two()
}

fn buffer_bytes(instances: &[QuadInstance], capacity: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; capacity * std::mem::size_of::<QuadInstance>()];
    let used = bytemuck::cast_slice::<QuadInstance, u8>(instances);
    bytes[..used.len()].copy_from_slice(used);
    bytes
}

/// Gives new batches a mesh, a buffer and a material.
fn attach_gpu(
    mut commands: Commands,
    batches: Query<(Entity, &QuadBatch), Without<QuadGpu>>,
    mut meshes: ResMut<Assets<Mesh>>,
    mut buffers: ResMut<Assets<QuadStore>>,
    mut materials: ResMut<Assets<QuadMaterial>>,
) {
    for (entity, batch) in &batches {
        let capacity = capacity_for(batch.instances.len());
        let buffer = buffers.add(quad_store(&batch.instances, capacity));
        let mesh = meshes.add(quad_mesh(capacity));
        let material = materials.add(QuadMaterial {
            quads: buffer.clone(),
            order: batch.order,
        });
        commands.entity(entity).insert((
            Mesh3d(mesh.clone()),
            MeshMaterial3d(material.clone()),
            Transform::default(),
            NoFrustumCulling,
            QuadGpu {
                buffer,
                mesh,
                material,
                capacity,
            },
        ));
    }
}

/// Writes each changed batch into its buffer (one upload), growing it when needed.
fn upload(
    mut batches: Query<(&QuadBatch, &mut QuadGpu), Changed<QuadBatch>>,
    mut meshes: ResMut<Assets<Mesh>>,
    mut buffers: ResMut<Assets<QuadStore>>,
    mut materials: ResMut<Assets<QuadMaterial>>,
) {
    for (batch, mut gpu) in &mut batches {
        let resized = batch.instances.len() > gpu.capacity;
        if resized {
            gpu.capacity = capacity_for(batch.instances.len());
            if let Some(mut mesh) = meshes.get_mut(&gpu.mesh) {
                *mesh = quad_mesh(gpu.capacity);
            }
        }
        if let Some(mut buffer) = buffers.get_mut(&gpu.buffer) {
            write_store(&mut buffer, &batch.instances, gpu.capacity);
        }
        // A texture is a new GPU texture on every write.
        if resized || cfg!(target_arch = "wasm32") {
            // A resized buffer is a new GPU buffer: rebuild the material's bind group.
            if let Some(mut material) = materials.get_mut(&gpu.material) {
                material.order = batch.order;
            }
        }
    }
}
