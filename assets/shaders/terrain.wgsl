// The height field's columns: their colour is baked into the vertices
// (tops full, walls darker, the boundary brighter), so a fragment only
// passes it on. The standard material's unlit path costs a software
// renderer several times more per fragment.
#import bevy_pbr::forward_io::VertexOutput

@fragment
fn fragment(in: VertexOutput) -> @location(0) vec4<f32> {
#ifdef VERTEX_COLORS
    return in.color;
#else
    return vec4<f32>(1.0, 1.0, 1.0, 1.0);
#endif
}
