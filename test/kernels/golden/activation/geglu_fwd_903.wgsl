// geglu_fwd_903
// FFN activation forward, gelu gated: h = act(g) * u; one thread per element, n = 903
// gelu (tanh approximation) as x * sigmoid(2z), z = 0.7978845834732056f * (x + 0.044714998453855515f * x^3), which equals
// 0.5 * x * (1 + tanh(z)); exp overflowing to +inf gives 0, never inf / inf.
@group(0) @binding(0) var<storage, read> g: array<f32>;
@group(0) @binding(1) var<storage, read> u: array<f32>;
@group(0) @binding(2) var<storage, read_write> h: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = (wid.x + wid.y * 4u) * 256u + lid.x;
  if (i >= 903u) { return; }
  let v = g[i];
  let a = v / (1.0f + exp(-2.0f * 0.7978845834732056f * (v + 0.044714998453855515f * v * v * v)));
  h[i] = a * u[i];
}
