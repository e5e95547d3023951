// rmsnorm_bwd_37x68_lane4
// rmsnorm backward (dx), lane layout (CPU adapters): dx = rstd * dy * w - x * rstd^3 * mean(dy * w * x),
// rstd recomputed from x; 37 rows of 68, eps = 0.000009999999747378752f; bindings: dy, x, w (read), dx (write)
// one invocation per row, serial loops over its 68 elements as 17 vec4s: no shared memory, no barriers;
// row = (wid.x + wid.y * 5) * 8 + lid.x
@group(0) @binding(0) var<storage, read> dy: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> w: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> dx: array<vec4<f32>>;

@compute @workgroup_size(8)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let row = (wid.x + wid.y * 5u) * 8u + lid.x;
  if (row >= 37u) { return; }
  // every row binding as vec4s (17 per row); the trip count is hidden behind `one` (see rmsnorm_lane)
  let one = min(arrayLength(&w), 1u);
  let base = row * 17u;
  var sumSq = 0.0f;
  var sumDot = 0.0f;
  for (var j = 0u; j < 17u * one; j++) {
    // component by component, in the scalar kernel's order (bitwise its sums)
    let v = x[base + j];
    sumSq = fma(v.x, v.x, sumSq);
    sumSq = fma(v.y, v.y, sumSq);
    sumSq = fma(v.z, v.z, sumSq);
    sumSq = fma(v.w, v.w, sumSq);
    let dyw = dy[base + j] * w[j];
    sumDot = fma(dyw.x, v.x, sumDot);
    sumDot = fma(dyw.y, v.y, sumDot);
    sumDot = fma(dyw.z, v.z, sumDot);
    sumDot = fma(dyw.w, v.w, sumDot);
  }
  let r = inverseSqrt(sumSq * 0.014705882407724857f + 0.000009999999747378752f);
  let correction = r * r * r * sumDot * 0.014705882407724857f;
  for (var j = 0u; j < 17u * one; j++) {
    dx[base + j] = r * dy[base + j] * w[j] - x[base + j] * correction;
  }
}
