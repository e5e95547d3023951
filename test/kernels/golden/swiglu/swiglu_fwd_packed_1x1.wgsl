// swiglu_fwd_packed_1x1
// swiglu forward: h[t,f] = silu(g) * u, g = gu[t, f], u = gu[t, 1 + f] (packed [g | u] rows)
// bindings: gu (read), h (write); one thread per (t, f), n = 1
@group(0) @binding(0) var<storage, read> gu: array<f32>;
@group(0) @binding(1) var<storage, read_write> h: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = (wid.x + wid.y * 1u) * 256u + lid.x;
  if (i >= 1u) { return; }
  let t = i / 1u;
  let f = i - t * 1u;
  let gate = gu[t * 1u * 2u + f];
  let up = gu[t * 1u * 2u + 1u + f];
  h[i] = gate / (1.0f + exp(-gate)) * up;
}
