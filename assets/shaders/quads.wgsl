// Instanced quads for NN Microscope: synapse lines, neuron bulbs and particles.
//
// One mesh holds four vertices per instance; uv.x is the instance index and uv.y
// the corner (0..3). Per-instance data lives in a storage buffer (a texture
// on WebGL2) that the app rewrites once per frame, so 110k synapses cost one
// draw and one upload; synapse lines are built here from the raw weights.

#import bevy_pbr::mesh_view_bindings::view

struct Quad {
    start: vec3<f32>,
    width: f32,
    end: vec3<f32>,
    kind: f32,
    color: vec4<f32>,
    extra: vec4<f32>,
};

#ifdef SYNAPSE_FIELD
// Synapse lines built here from the raw weights: the store is one array of
// floats (`SynapseField` in quads.rs documents its sections), and quad i
// draws synapse i, or the i-th of a list of the strongest.

#ifdef QUADS_IN_TEXTURE
// WebGL2 has no storage buffers in the vertex stage: there the floats are
// the texels' RGBA, row after row.
@group(#{MATERIAL_BIND_GROUP}) @binding(0) var store: texture_2d<f32>;

fn field(i: u32) -> f32 {
    let width = textureDimensions(store).x;
    let t = i / 4u;
    return textureLoad(store, vec2<i32>(i32(t % width), i32(t / width)), 0)[i % 4u];
}
#else
@group(#{MATERIAL_BIND_GROUP}) @binding(0) var<storage, read> store: array<f32>;

fn field(i: u32) -> f32 {
    return store[i];
}
#endif

fn field_index(i: u32) -> u32 {
    return u32(field(i) + 0.5);
}

fn field_position(neuron: u32) -> vec4<f32> {
    let at = field_index(4u) + 4u * neuron;
    return vec4<f32>(field(at), field(at + 1u), field(at + 2u), field(at + 3u));
}

// The header's and a layer record's fields (FIELD_* and LAYER_* in quads.rs).
const FIELD_QUADS: u32 = 0u;
const FIELD_LAYERS: u32 = 1u;
const FIELD_COMPACT: u32 = 2u;
const FIELD_LAYER_RECORDS: u32 = 3u;
const FIELD_IDS: u32 = 5u;
const FIELD_WEIGHTS: u32 = 6u;
const FIELD_DIMMED: u32 = 7u;
const FIELD_MIN_ALPHA: u32 = 8u;
const FIELD_POSITIVE: u32 = 9u;
const FIELD_NEGATIVE: u32 = 12u;
const FIELD_LAYER: u32 = 8u;
const LAYER_SOURCES: u32 = 1u;
const LAYER_TARGETS: u32 = 2u;
const LAYER_TARGET_COUNT: u32 = 3u;
const LAYER_MAX_WEIGHT: u32 = 4u;
const LAYER_MAX_WIDTH: u32 = 5u;
const LAYER_ALPHA: u32 = 6u;

fn quad(i: u32) -> Quad {
    var q: Quad;
    // Width 0: nothing drawn.
    q.width = 0.0;
    q.kind = 0.0;
    q.extra = vec4<f32>(0.0);
    if i >= field_index(FIELD_QUADS) {
        return q;
    }
    var s = i;
    if field(FIELD_COMPACT) > 0.5 {
        s = field_index(field_index(FIELD_IDS) + i);
    }
    // The synapse's layer: the last whose first synapse is not after it.
    let records = field_index(FIELD_LAYER_RECORDS);
    let layers = field_index(FIELD_LAYERS);
    var layer = records;
    for (var l = 1u; l < layers; l++) {
        let record = records + l * FIELD_LAYER;
        if field_index(record) > s {
            break;
        }
        layer = record;
    }
    let k = s - field_index(layer);
    let targets = max(field_index(layer + LAYER_TARGET_COUNT), 1u);
    let tail = field_position(field_index(layer + LAYER_SOURCES) + k / targets);
    let head = field_position(field_index(layer + LAYER_TARGETS) + k % targets);
    let w = field(field_index(FIELD_WEIGHTS) + s);
    let max_w = field(layer + LAYER_MAX_WEIGHT);
    var rel = 0.0;
    if max_w > 0.0 {
        rel = clamp(abs(w) / max_w, 0.0, 1.0);
    }
    // Strong weights stand out: rel^1.5.
    var alpha = field(layer + LAYER_ALPHA) * (0.04 + 0.96 * rel * sqrt(rel));
    if head.w > 1.5 {
        alpha *= field(FIELD_DIMMED);
    } else if head.w > 0.5 {
        // Highlighted synapses stand out even when weak.
        alpha = max(alpha, 0.25 + 0.5 * rel);
    }
    // Never what would be invisible: it would still cost fragments.
    if alpha < field(FIELD_MIN_ALPHA) {
        return q;
    }
    var hue = FIELD_NEGATIVE;
    if w >= 0.0 {
        hue = FIELD_POSITIVE;
    }
    q.start = tail.xyz;
    q.end = head.xyz;
    q.width = field(layer + LAYER_MAX_WIDTH) * (0.12 + 0.88 * rel);
    q.color = vec4<f32>(field(hue), field(hue + 1u), field(hue + 2u), alpha);
    return q;
}
#else ifdef QUADS_IN_TEXTURE
// WebGL2 has no storage buffers in the vertex stage: there, each quad is four
// RGBA32F texels of a texture, row after row.
@group(#{MATERIAL_BIND_GROUP}) @binding(0) var quads: texture_2d<f32>;

fn quad(i: u32) -> Quad {
    let width = textureDimensions(quads).x;
    let t = i * 4u;
    let at = vec2<i32>(i32(t % width), i32(t / width));
    let a = textureLoad(quads, at, 0);
    let b = textureLoad(quads, at + vec2<i32>(1, 0), 0);
    var q: Quad;
    q.start = a.xyz;
    q.width = a.w;
    q.end = b.xyz;
    q.kind = b.w;
    q.color = textureLoad(quads, at + vec2<i32>(2, 0), 0);
    q.extra = textureLoad(quads, at + vec2<i32>(3, 0), 0);
    return q;
}
#else
@group(#{MATERIAL_BIND_GROUP}) @binding(0) var<storage, read> quads: array<Quad>;

fn quad(i: u32) -> Quad {
    return quads[i];
}
#endif

struct VertexIn {
    @location(0) position: vec3<f32>,
    @location(2) uv: vec2<f32>,
};

struct VertexOut {
    @builtin(position) clip: vec4<f32>,
    @location(0) color: vec4<f32>,
    @location(1) extra: vec4<f32>,
    @location(2) local: vec2<f32>,
    // Flat: an interpolated float need not equal the value at every vertex.
    @location(3) @interpolate(flat) kind: u32,
};

const KIND_LINE: u32 = 0u;
const KIND_BULB: u32 = 1u;
// Bulb quads are larger than the bulb so that the glow and halo fit.
const BULB_QUAD_SCALE: f32 = 2.2;

// Pixels covered by a world-space length `w` at clip position `c`.
fn pixels(w: f32, c: vec4<f32>) -> f32 {
    return w * view.clip_from_view[1][1] * 0.5 * view.viewport.w / max(c.w, 1e-4);
}

@vertex
fn vertex(v: VertexIn) -> VertexOut {
    let q = quad(u32(v.uv.x + 0.5));
    let corner = u32(v.uv.y + 0.5);
    let kind = u32(q.kind + 0.5);
    let along = f32(corner >> 1u);
    let side = f32(corner & 1u) * 2.0 - 1.0;
    var out: VertexOut;
    out.color = q.color;
    out.extra = q.extra;
    out.kind = kind;
    if q.width <= 0.0 {
        // An unused slot: a degenerate quad outside the view.
        out.clip = vec4<f32>(0.0, 0.0, -2.0, 1.0);
        return out;
    }
    if kind == KIND_LINE {
        let c0 = view.clip_from_world * vec4<f32>(q.start, 1.0);
        let c1 = view.clip_from_world * vec4<f32>(q.end, 1.0);
        var c = select(c0, c1, along > 0.5);
        let half_screen = 0.5 * view.viewport.zw;
        let s0 = c0.xy / max(c0.w, 1e-4) * half_screen;
        let s1 = c1.xy / max(c1.w, 1e-4) * half_screen;
        var dir = s1 - s0;
        if length(dir) < 1e-4 {
            dir = vec2<f32>(1.0, 0.0);
        }
        dir = normalize(dir);
        let normal = vec2<f32>(-dir.y, dir.x);
        // Lines thinner than a pixel stay one pixel wide and fade instead.
        let px = pixels(q.width, c);
        let drawn = max(px, 1.2);
        out.color.a = q.color.a * min(px / 1.2, 1.0);
        c = vec4<f32>(c.xy + normal * side * 0.5 * drawn / half_screen * c.w, c.zw);
        out.clip = c;
        out.local = vec2<f32>(along, side);
    } else {
        // Bulbs and particles face the camera.
        let right = view.world_from_view[0].xyz;
        let up = view.world_from_view[1].xyz;
        let scale = select(1.0, BULB_QUAD_SCALE, kind == KIND_BULB);
        let r = 0.5 * q.width * scale;
        let u = along * 2.0 - 1.0;
        let p = q.start + (right * u + up * side) * r;
        out.clip = view.clip_from_world * vec4<f32>(p, 1.0);
        out.local = vec2<f32>(u, side) * scale;
    }
    return out;
}

@fragment
fn fragment(in: VertexOut) -> @location(0) vec4<f32> {
    if in.kind == KIND_LINE {
        // Soft edges across the line's width.
        let edge = 1.0 - smoothstep(0.55, 1.0, abs(in.local.y));
        let a = in.color.a * edge;
        return vec4<f32>(in.color.rgb * a, 0.0);
    }
    let d = length(in.local);
    if in.kind == KIND_BULB {
        // A glass bulb: a faint body, a core lit by the activation (color, HDR),
        // an outer glow, and a warm ring for a large gradient (extra).
        let body = 1.0 - smoothstep(0.92, 1.0, d);
        let shade = 0.55 + 0.45 * sqrt(max(1.0 - d * d, 0.0));
        let core = in.color.rgb * shade * body;
        // The glow fades to nothing before the quad's edge, so no square shows.
        let edge_fade = 1.0 - smoothstep(0.6 * BULB_QUAD_SCALE, BULB_QUAD_SCALE, d);
        let glow = in.color.rgb * 0.45 * exp(-5.0 * max(d - 1.0, 0.0)) * (1.0 - body) * edge_fade;
        // (x·x, not pow: pow of a negative base is undefined in WGSL.)
        let r = (d - 1.45) / 0.18;
        let ring = in.extra.rgb * in.extra.a * exp(-r * r);
        let base = vec3<f32>(0.035, 0.04, 0.05) * body;
        let rgb = base + core + glow + ring;
        let alpha = 0.85 * body;
        return vec4<f32>(rgb, alpha);
    }
    // Particles: a soft dot.
    let a = in.color.a * exp(-4.0 * d * d) * (1.0 - smoothstep(0.8, 1.0, d));
    return vec4<f32>(in.color.rgb * a, 0.0);
}
