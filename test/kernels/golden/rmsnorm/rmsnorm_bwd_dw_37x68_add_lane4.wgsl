// rmsnorm_bwd_dw_37x68_add_lane4
// rmsnorm backward, dx and dw in one dispatch, lane layout (CPU adapters): two independent loops
// side by side, split by workgroup: the first 3 workgroup(s) each take 8 columns of
//   dw[j] = sum over rows r of dy[r, j] * x[r, j] * rstd[r]   (serial over the 37 rows, in order)
// (first, since each is the longest), the next 5 take 8 rows each of
//   dx = rstd * dy * w - x * rstd^3 * mean(dy * w * x) + addend, rstd recomputed from x (one invocation per row).
// 37 rows of 68, eps = 0.000009999999747378752f; bindings: dy, x, w, addend, rstd (read), dx (write), dw (write),
// every one but rstd as vec4s (the dx lanes walk their rows 17 vec4s at a time, the dw lanes take 4 columns each).
// No shared memory, no barriers; a separate dw dispatch would cost its fixed cost and run alone.
@group(0) @binding(0) var<storage, read> dy: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> w: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> addend: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> rstd: array<f32>;
@group(0) @binding(5) var<storage, read_write> dx: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read_write> dw: array<vec4<f32>>;

@compute @workgroup_size(8)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let group = wid.x + wid.y * 8u;
  if (group < 3u) {
    dwColumns(group * 8u + lid.x);
  } else {
    dxRows((group - 3u) * 8u + lid.x);
  }
}

// dw's columns (the lanes past the last column leave at once).
fn dwColumns(column: u32) {
  if (column >= 17u) { return; }
  var sum = vec4<f32>(0.0f);
  for (var r = 0u; r < 37u; r++) {
    let i = r * 17u + column;
    sum = fma(dy[i] * x[i], vec4<f32>(rstd[r]), sum);
  }
  dw[column] = sum;
}

// dx's rows. Every lane runs to the end (the broadcast variant's subgroupBroadcast needs the whole subgroup): rows
// past the last one compute on it and store nothing.
fn dxRows(rowIndex: u32) {
  let row = min(rowIndex, 37u - 1u);
  let keep = rowIndex < 37u;
  // every row binding as vec4s (17 per row); the trip count is hidden behind `one` (see rmsnorm_lane)
  let one = min(arrayLength(&rstd), 1u);
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
    let wj = w[j];
    if (keep) { dx[base + j] = r * dy[base + j] * wj - x[base + j] * correction + addend[base + j]; }
  }
}
