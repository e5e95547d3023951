// silu_fwd_1500
// FFN activation forward, silu: h = act(x); one thread per element, n = 1500
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> h: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = (wid.x + wid.y * 6u) * 256u + lid.x;
  if (i >= 1500u) { return; }
  let v = x[i];
  let a = v / (1.0f + exp(-v));
  h[i] = a;
}
