enable subgroups;
// moe_combine_bwd_normgrad_37x3_d32_rows_sg
// moe combine backward with the RMSNorm backward in front of it (fuse-norm-grad-combine-grad), CPU adapters: one
// invocation per token t < 37 computes its row of the norm's
//   dx = rstd * dy * w - x * rstd^3 * mean(dy * w * x)   (rstd recomputed from x, as rmsnorm_backward_dw_lane)
// and, vec4 by vec4 as it stores it, uses it as the combine backward's d_out: d_y[perm_row[t·3 + s], :] = topk_w[t·3 + s] · dx[t, :]
// (a scatter: row perm_row[a] belongs to assignment a alone) and d_topk_w[t·3 + s] = ⟨dx[t, :], y[perm_row[t·3 + s], :]⟩
// (ascending d); it zeroes the padding rows
// t·3 … t·3 + 2 of d_y (src_token < 0). The first 1 workgroup(s) compute the norm's dw columns instead.
// The same expressions in the same order as the two kernels it replaces, so the same bits; dx is never read back.
// rows of 32 as 8 vec4; bindings: dy, x, w (uniform), rstd, y, topk_w, perm_row (i32), src_token (i32) (read);
// dx, dw, d_y, d_topk_w (write). No shared memory, no barriers.
@group(0) @binding(0) var<storage, read> dy: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<uniform> w: array<vec4<f32>, 8>;
@group(0) @binding(3) var<storage, read> rstd: array<f32>;
@group(0) @binding(4) var<storage, read> y: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read> topk_w: array<f32>;
@group(0) @binding(6) var<storage, read> perm_row: array<i32>;
@group(0) @binding(7) var<storage, read> src_token: array<i32>;
@group(0) @binding(8) var<storage, read_write> dx: array<vec4<f32>>;
@group(0) @binding(9) var<storage, read_write> dw: array<vec4<f32>>;
@group(0) @binding(10) var<storage, read_write> d_y: array<vec4<f32>>;
@group(0) @binding(11) var<storage, read_write> d_topk_w: array<f32>;

var<private> isLane0: bool;

// w[j] is the same for every lane: lane 0 loads it and subgroupBroadcast hands it out (called in uniform control flow).
fn wAt(j: u32) -> vec4<f32> {
  var v = vec4<f32>(0.0f);
  if (isLane0) { v = w[j]; }
  return subgroupBroadcast(v, 0u);
}

const K = 3u;
// Row width in vec4s.
const DV = 8u;

@compute @workgroup_size(8)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {
  isLane0 = lane == 0u;
  let group = wid.x + wid.y * 6u;
  if (group < 1u) {
    dwColumns(group * 8u + lid.x);
  } else {
    tokenRows((group - 1u) * 8u + lid.x);
  }
}

// dw's columns (the lanes past the last column leave at once).
fn dwColumns(column: u32) {
  if (column >= 8u) { return; }
  var sum = vec4<f32>(0.0f);
  for (var r = 0u; r < 37u; r++) {
    let i = r * 8u + column;
    sum = fma(dy[i] * x[i], vec4<f32>(rstd[r]), sum);
  }
  dw[column] = sum;
}

// Token rows. Every lane runs to the end (wAt's subgroupBroadcast needs the whole subgroup): lanes past the last
// token compute on it and store nothing.
fn tokenRows(tokenIndex: u32) {
  let row = min(tokenIndex, 37u - 1u);
  let keep = tokenIndex < 37u;
  // the trip counts are hidden behind `one` (arrayLength ≥ 1, known only at dispatch), as in rmsnorm_lane
  let one = min(arrayLength(&rstd), 1u);
  let base = row * 8u;
  var sumSq = 0.0f;
  var sumDot = 0.0f;
  for (var j = 0u; j < 8u * one; j++) {
    // component by component, in the scalar kernel's order (bitwise its sums)
    let v = x[base + j];
    sumSq = fma(v.x, v.x, sumSq);
    sumSq = fma(v.y, v.y, sumSq);
    sumSq = fma(v.z, v.z, sumSq);
    sumSq = fma(v.w, v.w, sumSq);
    let dyw = dy[base + j] * wAt(j);
    sumDot = fma(dyw.x, v.x, sumDot);
    sumDot = fma(dyw.y, v.y, sumDot);
    sumDot = fma(dyw.z, v.z, sumDot);
    sumDot = fma(dyw.w, v.w, sumDot);
  }
  let r = inverseSqrt(sumSq * 0.03125f + 9.999999974752427e-7f);
  let correction = r * r * r * sumDot * 0.03125f;
  // the token's assignments (slot s: its expert row and top-k weight) and their dots, every slot index a constant
  let row0 = perm_row[row * K + 0u];
  let weight0 = topk_w[row * K + 0u];
  var dot0 = 0.0f;
  let row1 = perm_row[row * K + 1u];
  let weight1 = topk_w[row * K + 1u];
  var dot1 = 0.0f;
  let row2 = perm_row[row * K + 2u];
  let weight2 = topk_w[row * K + 2u];
  var dot2 = 0.0f;
  for (var j = 0u; j < DV * one; j++) {
    let wj = wAt(j);
    let g = r * dy[base + j] * wj - x[base + j] * correction;
    if (keep) {
      dx[base + j] = g;
      if (row0 >= 0) {
        let at = u32(row0) * DV + j;
        // y before d_y: a planner that put d_y in y's buffer (it dies here) would still read y
        let yv = y[at];
        d_y[at] = weight0 * g;
        dot0 += dot(g, yv);
      }
      if (row1 >= 0) {
        let at = u32(row1) * DV + j;
        // y before d_y: a planner that put d_y in y's buffer (it dies here) would still read y
        let yv = y[at];
        d_y[at] = weight1 * g;
        dot1 += dot(g, yv);
      }
      if (row2 >= 0) {
        let at = u32(row2) * DV + j;
        // y before d_y: a planner that put d_y in y's buffer (it dies here) would still read y
        let yv = y[at];
        d_y[at] = weight2 * g;
        dot2 += dot(g, yv);
      }
    }
  }
  if (!keep) { return; }
  d_topk_w[row * K + 0u] = dot0;
  d_topk_w[row * K + 1u] = dot1;
  d_topk_w[row * K + 2u] = dot2;
  // padding rows (no assignment writes them): zero
  for (var s = 0u; s < K * one; s++) {
    let padding = row * K + s;
    if (src_token[padding] < 0) {
      for (var j = 0u; j < DV * one; j++) { d_y[padding * DV + j] = vec4<f32>(0.0f); }
    }
  }
}
