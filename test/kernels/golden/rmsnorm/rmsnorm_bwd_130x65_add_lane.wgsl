// rmsnorm_bwd_130x65_add_lane
// rmsnorm backward (dx), lane layout (CPU adapters): dx = rstd * dy * w - x * rstd^3 * mean(dy * w * x),
// rstd recomputed from x; 130 rows of 65, eps = 9.999999974752427e-7f; bindings: dy, x, w, addend (read), dx (dx + addend) (write)
// one invocation per row, serial loops over its 65 elements: no shared memory, no barriers;
// row = (wid.x + wid.y * 5) * 32 + lid.x
@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read> addend: array<f32>;
@group(0) @binding(4) var<storage, read_write> dx: array<f32>;

@compute @workgroup_size(32)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let row = (wid.x + wid.y * 5u) * 32u + lid.x;
  if (row >= 130u) { return; }
  let base = row * 65u;
  var sumSq = 0.0f;
  var sumDot = 0.0f;
  for (var j = 0u; j < 65u; j++) {
    let v = x[base + j];
    sumSq = fma(v, v, sumSq);
    sumDot = fma(dy[base + j] * w[j], v, sumDot);
  }
  let r = inverseSqrt(sumSq * 0.015384615398943424f + 9.999999974752427e-7f);
  let correction = r * r * r * sumDot * 0.015384615398943424f;
  for (var j = 0u; j < 65u; j++) {
    dx[base + j] = r * dy[base + j] * w[j] - x[base + j] * correction + addend[base + j];
  }
}
