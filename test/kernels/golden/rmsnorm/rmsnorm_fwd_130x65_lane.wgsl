// rmsnorm_fwd_130x65_lane
// rmsnorm forward, lane layout (CPU adapters): y = x * rstd * w, rstd = 1 / sqrt(mean(x^2) + eps),
// 130 rows of 65, eps = 9.999999974752427e-7f; bindings: x, w (read), y, rstd (write)
// one invocation per row, a serial loop over its 65 elements: no shared memory, no barriers
// (on lavapipe a workgroup is a serial loop over SIMD chunks, so a barrier costs a pass over all of them);
// row = (wid.x + wid.y * 5) * 32 + lid.x
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<storage, read_write> rstd: array<f32>;

@compute @workgroup_size(32)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let row = (wid.x + wid.y * 5u) * 32u + lid.x;
  if (row >= 130u) { return; }
  let base = row * 65u;
  var sumSq = 0.0f;
  for (var j = 0u; j < 65u; j++) {
    let v = x[base + j];
    sumSq = fma(v, v, sumSq);
  }
  let r = inverseSqrt(sumSq * 0.015384615398943424f + 9.999999974752427e-7f);
  for (var j = 0u; j < 65u; j++) {
    y[base + j] = x[base + j] * r * w[j];
  }
  rstd[row] = r;
}
