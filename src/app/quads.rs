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

/// What a quad draws (kind 0, a line, is what a [`SynapseField`] draws).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum QuadKind {
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

/// Synapse lines that the shader builds from the raw weights (`SYNAPSE_FIELD`
/// in `quads.wgsl`): the app uploads one array of floats a frame, about 4
/// bytes a synapse, instead of a 64-byte [`QuadInstance`] per line.
///
/// The array's sections, every number an `f32` (indices are exact below 2^24):
/// - a header of [`FIELD_HEADER`] floats, at the `FIELD_*` indices;
/// - a record of [`FIELD_LAYER`] floats per weight layer, at the `LAYER_*` offsets;
/// - each neuron's position and highlight, four floats, layer after layer;
/// - when `FIELD_COMPACT` is 1, the index of each synapse to draw;
/// - every weight, layer after layer, `[from][to]` within a layer.
#[derive(Component, Debug, Default, Clone, PartialEq)]
pub(super) struct SynapseField {
    /// The array the shader reads.
    pub data: Vec<f32>,
    /// Quads to draw: every synapse, or the compact list's length.
    pub quads: usize,
    /// Drawn before (positive) or after (negative) other batches.
    pub order: f32,
}

/// Header: how many quads are drawn.
pub(super) const FIELD_QUADS: usize = 0;
/// Header: how many weight layers there are.
pub(super) const FIELD_LAYERS: usize = 1;
/// Header: 1 when the quads draw the synapses listed at `FIELD_IDS`, 0 when
/// quad `i` draws synapse `i`.
pub(super) const FIELD_COMPACT: usize = 2;
/// Header: where the layer records start.
pub(super) const FIELD_LAYER_RECORDS: usize = 3;
/// Header: where the neurons' positions start.
pub(super) const FIELD_POSITIONS: usize = 4;
/// Header: where the list of synapses to draw starts.
pub(super) const FIELD_IDS: usize = 5;
/// Header: where the weights start.
pub(super) const FIELD_WEIGHTS: usize = 6;
/// Header: what a dimmed line keeps of its opacity.
pub(super) const FIELD_DIMMED: usize = 7;
/// Header: lines fainter than this are not drawn.
pub(super) const FIELD_MIN_ALPHA: usize = 8;
/// Header: the hue of positive weights (three floats).
pub(super) const FIELD_POSITIVE: usize = 9;
/// Header: the hue of negative weights (three floats).
pub(super) const FIELD_NEGATIVE: usize = 12;
/// Floats in the header.
pub(super) const FIELD_HEADER: usize = 16;
/// Layer record: the layer's first synapse, counted over all layers.
pub(super) const LAYER_FIRST_SYNAPSE: usize = 0;
/// Layer record: the first source neuron, counted over all layers.
pub(super) const LAYER_SOURCES: usize = 1;
/// Layer record: the first target neuron, counted over all layers.
pub(super) const LAYER_TARGETS: usize = 2;
/// Layer record: how many targets there are.
pub(super) const LAYER_TARGET_COUNT: usize = 3;
/// Layer record: the largest |weight|, which draws the widest line.
pub(super) const LAYER_MAX_WEIGHT: usize = 4;
/// Layer record: the widest line's world-space width.
pub(super) const LAYER_MAX_WIDTH: usize = 5;
/// Layer record: the opacity shared by the layer's lines.
pub(super) const LAYER_ALPHA: usize = 6;
/// Floats in a layer record.
pub(super) const FIELD_LAYER: usize = 8;
/// A neuron's fourth float: nothing is highlighted.
pub(super) const TARGET_PLAIN: f32 = 0.0;
/// A neuron's fourth float: the synapses into it stand out.
pub(super) const TARGET_LIT: f32 = 1.0;
/// A neuron's fourth float: the synapses into it dim.
pub(super) const TARGET_DIMMED: f32 = 2.0;

/// Something drawn as one batch of quads: what its store holds, and how
/// many quads the shader draws from it.
pub(super) trait QuadSource: Component {
    /// Whether the shader reads a [`SynapseField`] instead of instances.
    const FIELD: bool;
    /// Quads to draw.
    fn quads(&self) -> usize;
    /// The store's content.
    fn bytes(&self) -> &[u8];
    /// Drawn before (positive) or after (negative) other batches.
    fn order(&self) -> f32;
}

impl QuadSource for QuadBatch {
    const FIELD: bool = false;

    fn quads(&self) -> usize {
        self.instances.len()
    }

    fn bytes(&self) -> &[u8] {
        bytemuck::cast_slice(&self.instances)
    }

    fn order(&self) -> f32 {
        self.order
    }
}

impl QuadSource for SynapseField {
    const FIELD: bool = true;

    fn quads(&self) -> usize {
        self.quads
    }

    fn bytes(&self) -> &[u8] {
        bytemuck::cast_slice(&self.data)
    }

    fn order(&self) -> f32 {
        self.order
    }
}

/// Where a batch's data lives on the GPU: a storage buffer, or on WebGL2 (no
/// storage buffers in the vertex stage) an RGBA32F texture, row after row.
#[cfg(not(target_arch = "wasm32"))]
type QuadStore = ShaderBuffer;
#[cfg(target_arch = "wasm32")]
type QuadStore = Image;

/// Texels in a row of a [`QuadStore`] texture (WebGL2 allows at least 2048).
#[cfg(target_arch = "wasm32")]
const STORE_ROW_TEXELS: usize = 2048;

/// A store of `capacity` bytes holding `bytes`.
#[cfg(not(target_arch = "wasm32"))]
fn quad_store(bytes: &[u8], capacity: usize) -> QuadStore {
    ShaderBuffer::new(&padded(bytes, capacity), RenderAssetUsages::RENDER_WORLD)
}

/// A store of `capacity` bytes holding `bytes`.
#[cfg(target_arch = "wasm32")]
fn quad_store(bytes: &[u8], capacity: usize) -> QuadStore {
    use bevy::render::render_resource::{Extent3d, TextureDimension, TextureFormat};
    // Capacities are powers of two from 4 kB, 256 texels: rows are whole.
    let texels = capacity / 16;
    let width = texels.min(STORE_ROW_TEXELS);
    Image::new(
        Extent3d {
            width: width as u32,
            height: (texels / width) as u32,
            depth_or_array_layers: 1,
        },
        TextureDimension::D2,
        padded(bytes, capacity),
        TextureFormat::Rgba32Float,
        RenderAssetUsages::RENDER_WORLD,
    )
}

/// The GPU side of a batch: its store, mesh and material, and their capacities.
#[derive(Component)]
struct QuadGpu {
    store: Handle<QuadStore>,
    mesh: Handle<Mesh>,
    material: Handle<QuadMaterial>,
    /// Quads the mesh holds.
    quad_capacity: usize,
    /// Bytes the store holds.
    byte_capacity: usize,
}

const QUAD_SHADER: Handle<Shader> = uuid_handle!("6f2f4d3a-9b1e-4c21-8a55-3d7e1c0b9a42");

/// The material drawing a [`QuadSource`].
#[derive(Asset, TypePath, AsBindGroup, Clone, Debug)]
#[bind_group_data(QuadKey)]
pub(super) struct QuadMaterial {
    #[cfg(not(target_arch = "wasm32"))]
    #[storage(0, read_only)]
    quads: Handle<QuadStore>,
    #[cfg(target_arch = "wasm32")]
    #[texture(0, sample_type = "float", filterable = false)]
    quads: Handle<QuadStore>,
    order: f32,
    /// The store holds a [`SynapseField`].
    field: bool,
}

/// What specialises a [`QuadMaterial`]'s pipeline.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct QuadKey {
    field: bool,
}

impl From<&QuadMaterial> for QuadKey {
    fn from(material: &QuadMaterial) -> Self {
        QuadKey {
            field: material.field,
        }
    }
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
        key: MaterialPipelineKey<Self>,
    ) -> Result<(), SpecializedMeshPipelineError> {
        // A quad's winding depends on the view; draw both faces.
        descriptor.primitive.cull_mode = None;
        let mut defs = Vec::new();
        if cfg!(target_arch = "wasm32") {
            defs.push("QUADS_IN_TEXTURE");
        }
        if key.bind_group_data.field {
            defs.push("SYNAPSE_FIELD");
        }
        for def in defs {
            descriptor.vertex.shader_defs.push(def.into());
            if let Some(fragment) = descriptor.fragment.as_mut() {
                fragment.shader_defs.push(def.into());
            }
        }
        // Glowing quads read depth (bulbs hide what is behind them) but do not write it.
        if let Some(depth) = descriptor.depth_stencil.as_mut() {
            depth.depth_write_enabled = Some(false);
        }
        Ok(())
    }
}

/// Draws every [`QuadBatch`] and [`SynapseField`] entity.
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
                (
                    attach_gpu::<QuadBatch>,
                    upload::<QuadBatch>,
                    attach_gpu::<SynapseField>,
                    upload::<SynapseField>,
                )
                    .chain()
                    .in_set(AppSystems::Upload),
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

/// Rewrites a store with `bytes` (of `capacity`).
#[cfg(not(target_arch = "wasm32"))]
fn write_store(store: &mut QuadStore, bytes: &[u8], capacity: usize) {
    store.data = Some(padded(bytes, capacity));
}

/// Rewrites a store with `bytes` (of `capacity`).
#[cfg(target_arch = "wasm32")]
fn write_store(store: &mut QuadStore, bytes: &[u8], capacity: usize) {
    *store = quad_store(bytes, capacity);
}

/// Quads a mesh holds for `n` to draw.
fn quad_capacity_for(n: usize) -> usize {
    n.max(64).next_power_of_two()
}

/// Bytes a store holds for `n`: a power of two from 4 kB (64 instances).
fn byte_capacity_for(n: usize) -> usize {
    n.max(4096).next_power_of_two()
}

/// `bytes`, zeroed up to `capacity`: a zero quad or field draws nothing.
fn padded(bytes: &[u8], capacity: usize) -> Vec<u8> {
    let mut out = vec![0u8; capacity.max(bytes.len())];
    out[..bytes.len()].copy_from_slice(bytes);
    out
}

/// Gives new batches a mesh, a store and a material.
fn attach_gpu<S: QuadSource>(
    mut commands: Commands,
    batches: Query<(Entity, &S), Without<QuadGpu>>,
    mut meshes: ResMut<Assets<Mesh>>,
    mut stores: ResMut<Assets<QuadStore>>,
    mut materials: ResMut<Assets<QuadMaterial>>,
) {
    for (entity, batch) in &batches {
        let quad_capacity = quad_capacity_for(batch.quads());
        let byte_capacity = byte_capacity_for(batch.bytes().len());
        let store = stores.add(quad_store(batch.bytes(), byte_capacity));
        let mesh = meshes.add(quad_mesh(quad_capacity));
        let material = materials.add(QuadMaterial {
            quads: store.clone(),
            order: batch.order(),
            field: S::FIELD,
        });
        commands.entity(entity).insert((
            Mesh3d(mesh.clone()),
            MeshMaterial3d(material.clone()),
            Transform::default(),
            NoFrustumCulling,
            QuadGpu {
                store,
                mesh,
                material,
                quad_capacity,
                byte_capacity,
            },
        ));
    }
}

/// Writes each changed batch into its store (one upload), growing the store
/// and the mesh when needed.
fn upload<S: QuadSource>(
    mut batches: Query<(&S, &mut QuadGpu), Changed<S>>,
    mut meshes: ResMut<Assets<Mesh>>,
    mut stores: ResMut<Assets<QuadStore>>,
    mut materials: ResMut<Assets<QuadMaterial>>,
) {
    for (batch, mut gpu) in &mut batches {
        if batch.quads() > gpu.quad_capacity {
            gpu.quad_capacity = quad_capacity_for(batch.quads());
            if let Some(mut mesh) = meshes.get_mut(&gpu.mesh) {
                *mesh = quad_mesh(gpu.quad_capacity);
            }
        }
        let resized = batch.bytes().len() > gpu.byte_capacity;
        if resized {
            gpu.byte_capacity = byte_capacity_for(batch.bytes().len());
        }
        if let Some(mut store) = stores.get_mut(&gpu.store) {
            write_store(&mut store, batch.bytes(), gpu.byte_capacity);
        }
        // A resized buffer is a new GPU buffer, and a texture is a new GPU
        // texture on every write: rebuild the material's bind group.
        if (resized || cfg!(target_arch = "wasm32"))
            && let Some(mut material) = materials.get_mut(&gpu.material)
        {
            material.order = batch.order();
        }
    }
}
