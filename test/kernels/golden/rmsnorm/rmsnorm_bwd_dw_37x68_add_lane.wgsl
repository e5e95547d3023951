// rmsnorm_bwd_dw_37x68_add_lane
// rmsnorm backward, dx and dw in one dispatch, lane layout (CPU adapters): two independent loops
// side by side, split by workgroup: the first 3 workgroup(s) each take 8 columns of
//   dw[j] = sum over rows r of dy[r, j] * x[r, j] * rstd[r]   (serial over the 37 rows, in order)
// (first, since each is the longest), the next 5 take 8 rows each of
//   dx = rstd * dy * w - x * rstd^3 * mean(dy * w * x) + addend, rstd recomputed from x (one invocation per row).
// 37 rows of 68, eps = 0.000009999999747378752f; bindings: dy, x, w, addend, rstd (read), dx (write), f32;
// dy4, x4: dy and x again as vec4 (read-only aliases: a dw lane takes 4 columns, one load instruction
// each, as the separate weight-gradient kernel does), dw (write) as vec4.
// No shared memory, no barriers; a separate dw dispatch would cost its fixed cost and run alone.
@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read> addend: array<f32>;
@group(0) @binding(4) var<storage, read> rstd: array<f32>;
@group(0) @binding(5) var<storage, read_write> dx: array<f32>;
@group(0) @binding(6) var<storage, read> dy4: array<vec4<f32>>;
@group(0) @binding(7) var<storage, read> x4: array<vec4<f32>>;
@group(0) @binding(8) var<storage, read_write> dw: array<vec4<f32>>;

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
    sum = fma(dy4[i] * x4[i], vec4<f32>(rstd[r]), sum);
  }
  dw[column] = sum;
}

// dx's rows. Every lane runs to the end (the broadcast variant's subgroupBroadcast needs the whole subgroup): rows
// past the last one compute on it and store nothing.
fn dxRows(rowIndex: u32) {
  let row = min(rowIndex, 37u - 1u);
  let keep = rowIndex < 37u;
  let base = row * 68u;
  var sumSq = 0.0f;
  var sumDot = 0.0f;
  for (var j = 0u; j < 68u; j++) {
    let v = x[base + j];
    sumSq = fma(v, v, sumSq);
    sumDot = fma(dy[base + j] * w[j], v, sumDot);
  }
  let r = inverseSqrt(sumSq * 0.014705882407724857f + 0.000009999999747378752f);
  let correction = r * r * r * sumDot * 0.014705882407724857f;
  for (var j = 0u; j < 68u; j++) {
    if (keep) { dx[base + j] = r * dy[base + j] * w[j] - x[base + j] * correction + addend[base + j]; }
  }
}
