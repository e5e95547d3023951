// swiglu_bwd_packed_1x1
// swiglu backward: du = dh * silu(g), dg = dh * u * sigmoid(g) * (1 + g * (1 - sigmoid(g)))
// bindings: dh, gu (read), dgu (write); one thread per (t, f), n = 1
@group(0) @binding(0) var<storage, read> dh: array<f32>;
@group(0) @binding(1) var<storage, read> gu: array<f32>;
@group(0) @binding(2) var<storage, read_write> dgu: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = (wid.x + wid.y * 1u) * 256u + lid.x;
  if (i >= 1u) { return; }
  let t = i / 1u;
  let f = i - t * 1u;
  let gateAt = t * 1u * 2u + f;
  let upAt = gateAt + 1u;
  let gate = gu[gateAt];
  let up = gu[upAt];
  let grad = dh[i];
  let s = 1.0f / (1.0f + exp(-gate));
  dgu[gateAt] = grad * up * s * (1.0f + gate * (1.0f - s));
  dgu[upAt] = grad * gate * s;
}
