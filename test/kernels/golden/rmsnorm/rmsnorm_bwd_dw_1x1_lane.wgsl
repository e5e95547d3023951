// rmsnorm_bwd_dw_1x1_lane
// rmsnorm backward, dx and dw in one dispatch, lane layout (CPU adapters): two independent loops
// side by side, split by workgroup: the first 1 workgroup(s) each take 8 columns of
//   dw[j] = sum over rows r of dy[r, j] * x[r, j] * rstd[r]   (serial over the 1 rows, in order)
// (first, since each is the longest), the next 1 take 8 rows each of
//   dx = rstd * dy * w - x * rstd^3 * mean(dy * w * x), rstd recomputed from x (one invocation per row).
// 1 rows of 1, eps = 0.5f; bindings: dy, x, w, rstd (read), dx (write), f32, dw (write).
// No shared memory, no barriers; a separate dw dispatch would cost its fixed cost and run alone.
@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read> rstd: array<f32>;
@group(0) @binding(4) var<storage, read_write> dx: array<f32>;
@group(0) @binding(5) var<storage, read_write> dw: array<f32>;

@compute @workgroup_size(8)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let group = wid.x + wid.y * 2u;
  if (group < 1u) {
    dwColumns(group * 8u + lid.x);
  } else {
    dxRows((group - 1u) * 8u + lid.x);
  }
}

// dw's columns (the lanes past the last column leave at once).
fn dwColumns(column: u32) {
  if (column >= 1u) { return; }
  var sum = 0.0f;
  for (var r = 0u; r < 1u; r++) {
    let i = r * 1u + column;
    sum = fma(dy[i] * x[i], rstd[r], sum);
  }
  dw[column] = sum;
}

// dx's rows. Every lane runs to the end (the broadcast variant's subgroupBroadcast needs the whole subgroup): rows
// past the last one compute on it and store nothing.
fn dxRows(rowIndex: u32) {
  let row = min(rowIndex, 1u - 1u);
  let keep = rowIndex < 1u;
  let base = row * 1u;
  var sumSq = 0.0f;
  var sumDot = 0.0f;
  for (var j = 0u; j < 1u; j++) {
    let v = x[base + j];
    sumSq = fma(v, v, sumSq);
    sumDot = fma(dy[base + j] * w[j], v, sumDot);
  }
  let r = inverseSqrt(sumSq * 1.0f + 0.5f);
  let correction = r * r * r * sumDot * 1.0f;
  for (var j = 0u; j < 1u; j++) {
    if (keep) { dx[base + j] = r * dy[base + j] * w[j] - x[base + j] * correction; }
  }
}
