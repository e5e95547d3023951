// geglu_fwd_1332
// FFN activation forward, gelu gated: h = act(g) * u; n = 1332 elements = 333 vec4 vectors, 1 per invocation strided by the workgroup size (neighbouring invocations, neighbouring memory)
// gelu (tanh approximation) as x * sigmoid(2z), z = 0.7978845834732056f * (x + 0.044714998453855515f * x^3), which equals
// 0.5 * x * (1 + tanh(z)); exp overflowing to +inf gives 0, never inf / inf.
@group(0) @binding(0) var<storage, read> g: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> u: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> h: array<vec4<f32>>;

alias V = vec4<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let first = (wid.x + wid.y * 2u) * 256u + lid.x;
  // The trip count is hidden behind `one` (arrayLength ≥ 1, known only at dispatch): lavapipe
  // unrolls constant-trip loops, which multiplied the pipeline's compile time for no speed.
  let one = min(arrayLength(&h), 1u);
  for (var j = 0u; j < 1u * one; j++) {
    let i = first + j * 256u;
    if (i >= 333u) { return; }
    let v: V = g[i];
    let a = v / (1.0f + exp(-2.0f * 0.7978845834732056f * (v + 0.044714998453855515f * v * v * v)));
    h[i] = a * u[i];
  }
}
