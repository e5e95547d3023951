// swiglu_fwd_7x129
// swiglu forward: h[t,f] = silu(g) * u
// bindings: g, u (read), h (write); one thread per (t, f), n = 903
@group(0) @binding(0) var<storage, read> g: array<f32>;
@group(0) @binding(1) var<storage, read> u: array<f32>;
@group(0) @binding(2) var<storage, read_write> h: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = (wid.x + wid.y * 4u) * 256u + lid.x;
  if (i >= 903u) { return; }
  let gate = g[i];
  let up = u[i];
  h[i] = gate / (1.0f + exp(-gate)) * up;
}
