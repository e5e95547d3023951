// rmsnorm_bwd_dw_130x65_add_lane
// rmsnorm backward, dx and dw in one dispatch, lane layout (CPU adapters): two independent loops
// side by side, split by workgroup: the first 3 workgroup(s) each take 32 columns of
//   dw[j] = sum over rows r of dy[r, j] * x[r, j] * rstd[r]   (serial over the 130 rows, in order)
// (first, since each is the longest), the next 5 take 32 rows each of
//   dx = rstd * dy * w - x * rstd^3 * mean(dy * w * x) + addend, rstd recomputed from x (one invocation per row).
// 130 rows of 65, eps = 9.999999974752427e-7f; bindings: dy, x, w, addend, rstd (read), dx (write), f32, dw (write).
// No shared memory, no barriers; a separate dw dispatch would cost its fixed cost and run alone.
@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read> addend: array<f32>;
@group(0) @binding(4) var<storage, read> rstd: array<f32>;
@group(0) @binding(5) var<storage, read_write> dx: array<f32>;
@group(0) @binding(6) var<storage, read_write> dw: array<f32>;

@compute @workgroup_size(32)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let group = wid.x + wid.y * 8u;
  if (group < 3u) {
    dwColumns(group * 32u + lid.x);
  } else {
    dxRows((group - 3u) * 32u + lid.x);
  }
}

// dw's columns (the lanes past the last column leave at once).
fn dwColumns(column: u32) {
  if (column >= 65u) { return; }
  var sum = 0.0f;
  for (var r = 0u; r < 130u; r++) {
    let i = r * 65u + column;
    sum = fma(dy[i] * x[i], rstd[r], sum);
  }
  dw[column] = sum;
}

// dx's rows. Every lane runs to the end (the broadcast variant's subgroupBroadcast needs the whole subgroup): rows
// past the last one compute on it and store nothing.
fn dxRows(rowIndex: u32) {
  let row = min(rowIndex, 130u - 1u);
  let keep = rowIndex < 130u;
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
    if (keep) { dx[base + j] = r * dy[base + j] * w[j] - x[base + j] * correction + addend[base + j]; }
  }
}
