enable subgroups;
// rmsnorm_fwd_3x1000_lane4_sg
// rmsnorm forward, lane layout (CPU adapters): y = x * rstd * w, rstd = 1 / sqrt(mean(x^2) + eps),
// 3 rows of 1000, eps = 0.000009999999747378752f; bindings: x, w (read), y, rstd (write)
// one invocation per row, a serial loop over its 1000 elements as 250 vec4s: no shared memory, no barriers
// (on lavapipe a workgroup is a serial loop over SIMD chunks, so a barrier costs a pass over all of them);
// row = (wid.x + wid.y * 1) * 8 + lid.x
@group(0) @binding(0) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> w: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> y: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> rstd: array<f32>;

var<private> isLane0: bool;

// w[j] is the same for every lane: lane 0 loads it (a per-lane load costs a check and a load per active lane on
// lavapipe) and subgroupBroadcast hands it out (called in uniform control flow).
fn wAt(j: u32) -> vec4<f32> {
  var v = vec4<f32>(0.0f);
  if (isLane0) { v = w[j]; }
  return subgroupBroadcast(v, 0u);
}

@compute @workgroup_size(8)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {
  isLane0 = lane == 0u;
  // Every invocation runs to the end (subgroupBroadcast needs the whole subgroup): rows past the end compute on the
  // last row and store nothing.
  let rowIndex = (wid.x + wid.y * 1u) * 8u + lid.x;
  let row = min(rowIndex, 3u - 1u);
  let keep = rowIndex < 3u;
  // x, w, y as vec4s (250 per row); the trip count is hidden behind `one` (arrayLength >= 1, known only at
  // dispatch): unrolled, lavapipe's LLVM took tens of seconds to compile these per-lane vec4 gathers.
  let one = min(arrayLength(&rstd), 1u);
  let base = row * 250u;
  var sumSq = 0.0f;
  for (var j = 0u; j < 250u * one; j++) {
    // component by component, in the scalar kernel's order (bitwise its sums)
    let v = x[base + j];
    sumSq = fma(v.x, v.x, sumSq);
    sumSq = fma(v.y, v.y, sumSq);
    sumSq = fma(v.z, v.z, sumSq);
    sumSq = fma(v.w, v.w, sumSq);
  }
  let r = inverseSqrt(sumSq * 0.0010000000474974513f + 0.000009999999747378752f);
  for (var j = 0u; j < 250u * one; j++) {
    let wj = wAt(j);
    if (keep) { y[base + j] = x[base + j] * r * wj; }
  }
  if (keep) { rstd[row] = r; }
}
