// swiglu_bwd_7x129
// swiglu backward: du = dh * silu(g), dg = dh * u * sigmoid(g) * (1 + g * (1 - sigmoid(g)))
// bindings: dh, g, u (read), dg, du (write); one thread per (t, f), n = 903
@group(0) @binding(0) var<storage, read> dh: array<f32>;
@group(0) @binding(1) var<storage, read> g: array<f32>;
@group(0) @binding(2) var<storage, read> u: array<f32>;
@group(0) @binding(3) var<storage, read_write> dg: array<f32>;
@group(0) @binding(4) var<storage, read_write> du: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = (wid.x + wid.y * 4u) * 256u + lid.x;
  if (i >= 903u) { return; }
  let gate = g[i];
  let up = u[i];
  let grad = dh[i];
  let s = 1.0f / (1.0f + exp(-gate));
  dg[i] = grad * up * s * (1.0f + gate * (1.0f - s));
  du[i] = grad * gate * s;
}
