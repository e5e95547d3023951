// silu_bwd_1500
// FFN activation backward, silu: dx = dh * act'(x); one thread per element, n = 1500
@group(0) @binding(0) var<storage, read> dh: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> dx: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = (wid.x + wid.y * 6u) * 256u + lid.x;
  if (i >= 1500u) { return; }
  let v = x[i];
  let s = 1.0f / (1.0f + exp(-v));
  let a = v * s;
  let da = s * (1.0f + v * (1.0f - s));
  dx[i] = dh[i] * da;
}
