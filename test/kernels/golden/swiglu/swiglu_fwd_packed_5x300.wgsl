// swiglu_fwd_packed_5x300
// swiglu forward: h[t,f] = silu(g) * u, g = gu[t, f], u = gu[t, 300 + f] (packed [g | u] rows)
// bindings: gu (read), h (write); one thread per (t, f), n = 1500
@group(0) @binding(0) var<storage, read> gu: array<f32>;
@group(0) @binding(1) var<storage, read_write> h: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = (wid.x + wid.y * 6u) * 256u + lid.x;
  if (i >= 1500u) { return; }
  let t = i / 300u;
  let f = i - t * 300u;
  let gate = gu[t * 300u * 2u + f];
  let up = gu[t * 300u * 2u + 300u + f];
  h[i] = gate / (1.0f + exp(-gate)) * up;
}
