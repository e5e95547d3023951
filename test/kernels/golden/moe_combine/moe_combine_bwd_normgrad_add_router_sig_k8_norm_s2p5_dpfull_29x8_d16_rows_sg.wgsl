enable subgroups;
// moe_combine_bwd_normgrad_add_router_sig_k8_norm_s2p5_dpfull_29x8_d16_rows_sg
// moe combine backward with the RMSNorm backward in front of it (fuse-norm-grad-combine-grad), CPU adapters: one
// invocation per token t < 29 computes its row of the norm's
//   dx = rstd * dy * w - x * rstd^3 * mean(dy * w * x) + addend   (rstd recomputed from x, as rmsnorm_backward_dw_lane)
// and, vec4 by vec4 as it stores it, uses it as the combine backward's d_out: d_y[perm_row[t·8 + s], :] = topk_w[t·8 + s] · dx[t, :]
// (a scatter: row perm_row[a] belongs to assignment a alone) and d_topk_w[t·8 + s] = ⟨dx[t, :], y[perm_row[t·8 + s], :]⟩
// (ascending d), then the token's router backward (d_logits [29, 8]); it zeroes the padding rows
// t·8 … t·8 + 7 of d_y (src_token < 0). The first 1 workgroup(s) compute the norm's dw columns instead.
// The same expressions in the same order as the two kernels it replaces, so the same bits; dx is never read back.
// rows of 16 as 4 vec4; bindings: dy, x, w (uniform), addend, rstd, y, topk_w, perm_row (i32), src_token (i32) (read);
// dx, dw, d_y, d_topk_w (write); probs, topk_idx (i32), d_probs (read), d_logits (write). No shared memory, no barriers.
@group(0) @binding(0) var<storage, read> dy: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<uniform> w: array<vec4<f32>, 4>;
@group(0) @binding(3) var<storage, read> addend: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> rstd: array<f32>;
@group(0) @binding(5) var<storage, read> y: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read> topk_w: array<f32>;
@group(0) @binding(7) var<storage, read> perm_row: array<i32>;
@group(0) @binding(8) var<storage, read> src_token: array<i32>;
@group(0) @binding(9) var<storage, read_write> dx: array<vec4<f32>>;
@group(0) @binding(10) var<storage, read_write> dw: array<vec4<f32>>;
@group(0) @binding(11) var<storage, read_write> d_y: array<vec4<f32>>;
@group(0) @binding(12) var<storage, read_write> d_topk_w: array<f32>;
@group(0) @binding(13) var<storage, read> probs: array<f32>;
@group(0) @binding(14) var<storage, read> topk_idx: array<i32>;
@group(0) @binding(15) var<storage, read> d_probs: array<f32>;
@group(0) @binding(16) var<storage, read_write> d_logits: array<f32>;

var<private> isLane0: bool;

// w[j] is the same for every lane: lane 0 loads it and subgroupBroadcast hands it out (called in uniform control flow).
fn wAt(j: u32) -> vec4<f32> {
  var v = vec4<f32>(0.0f);
  if (isLane0) { v = w[j]; }
  return subgroupBroadcast(v, 0u);
}

const K = 8u;
// Row width in vec4s.
const DV = 4u;

const E = 8u;

// router backward of one token t (router_backward, and the combine backward's rows that differentiate the router: fuse-combine-router-grad):
// d_logits[t, :] from d_topk_w[t, :] and d_probs; needs consts E and K, bindings probs, topk_idx, d_topk_w, d_probs, d_logits
// The aux-loss gradient w.r.t. score e of the token at `base`.
fn dProbsAt(base: u32, e: u32) -> f32 {
  return d_probs[base + e];
}

fn routerBackward(t: u32) {
  let base = t * E;
  // Trip counts are multiplied by `one` (arrayLength ≥ 1, known only at dispatch) so lavapipe does
  // not fully unroll these loops: for 64 experts and top-8 that multiplied compile time.
  let one = min(arrayLength(&d_logits), 1u);
  let experts = E * one;
  let topK = K * one;
  // d(score)[e] = d_probs[e] + Σ_{j: idx_j = e} dSel[j]: only the k selected experts get more than
  // d_probs, so nothing of size E is kept privately; the k terms are added after the dense pass.
  var idx: array<u32, 8>;
  var w: array<f32, 8>;
  var dSel: array<f32, 8>;
  var weightSum = 0.0f;
  for (var j = 0u; j < topK; j++) {
    idx[j] = min(u32(topk_idx[t * K + j]), E - 1u);
    w[j] = probs[base + idx[j]];
    weightSum += w[j];
  }
  var dot = 0.0f;
  for (var j = 0u; j < topK; j++) { dot += 2.5f * d_topk_w[t * K + j] * w[j]; }
  dot = dot / weightSum;
  for (var j = 0u; j < topK; j++) { dSel[j] = (2.5f * d_topk_w[t * K + j] - dot) / weightSum; }
  // Sigmoid backward: d_logits[e] = d(score)[e] · s[e] (1 − s[e]).
  for (var e = 0u; e < experts; e++) {
    let s = probs[base + e];
    d_logits[base + e] = dProbsAt(base, e) * s * (1.0f - s);
  }
  for (var j = 0u; j < topK; j++) { d_logits[base + idx[j]] += dSel[j] * w[j] * (1.0f - w[j]); }
}

@compute @workgroup_size(8)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {
  isLane0 = lane == 0u;
  let group = wid.x + wid.y * 5u;
  if (group < 1u) {
    dwColumns(group * 8u + lid.x);
  } else {
    tokenRows((group - 1u) * 8u + lid.x);
  }
}

// dw's columns (the lanes past the last column leave at once).
fn dwColumns(column: u32) {
  if (column >= 4u) { return; }
  var sum = vec4<f32>(0.0f);
  for (var r = 0u; r < 29u; r++) {
    let i = r * 4u + column;
    sum = fma(dy[i] * x[i], vec4<f32>(rstd[r]), sum);
  }
  dw[column] = sum;
}

// Token rows. Every lane runs to the end (wAt's subgroupBroadcast needs the whole subgroup): lanes past the last
// token compute on it and store nothing.
fn tokenRows(tokenIndex: u32) {
  let row = min(tokenIndex, 29u - 1u);
  let keep = tokenIndex < 29u;
  // the trip counts are hidden behind `one` (arrayLength ≥ 1, known only at dispatch), as in rmsnorm_lane
  let one = min(arrayLength(&rstd), 1u);
  let base = row * 4u;
  var sumSq = 0.0f;
  var sumDot = 0.0f;
  for (var j = 0u; j < 4u * one; j++) {
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
  let r = inverseSqrt(sumSq * 0.0625f + 0.000009999999747378752f);
  let correction = r * r * r * sumDot * 0.0625f;
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
  let row3 = perm_row[row * K + 3u];
  let weight3 = topk_w[row * K + 3u];
  var dot3 = 0.0f;
  let row4 = perm_row[row * K + 4u];
  let weight4 = topk_w[row * K + 4u];
  var dot4 = 0.0f;
  let row5 = perm_row[row * K + 5u];
  let weight5 = topk_w[row * K + 5u];
  var dot5 = 0.0f;
  let row6 = perm_row[row * K + 6u];
  let weight6 = topk_w[row * K + 6u];
  var dot6 = 0.0f;
  let row7 = perm_row[row * K + 7u];
  let weight7 = topk_w[row * K + 7u];
  var dot7 = 0.0f;
  for (var j = 0u; j < DV * one; j++) {
    let wj = wAt(j);
    let g = r * dy[base + j] * wj - x[base + j] * correction + addend[base + j];
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
      if (row3 >= 0) {
        let at = u32(row3) * DV + j;
        // y before d_y: a planner that put d_y in y's buffer (it dies here) would still read y
        let yv = y[at];
        d_y[at] = weight3 * g;
        dot3 += dot(g, yv);
      }
      if (row4 >= 0) {
        let at = u32(row4) * DV + j;
        // y before d_y: a planner that put d_y in y's buffer (it dies here) would still read y
        let yv = y[at];
        d_y[at] = weight4 * g;
        dot4 += dot(g, yv);
      }
      if (row5 >= 0) {
        let at = u32(row5) * DV + j;
        // y before d_y: a planner that put d_y in y's buffer (it dies here) would still read y
        let yv = y[at];
        d_y[at] = weight5 * g;
        dot5 += dot(g, yv);
      }
      if (row6 >= 0) {
        let at = u32(row6) * DV + j;
        // y before d_y: a planner that put d_y in y's buffer (it dies here) would still read y
        let yv = y[at];
        d_y[at] = weight6 * g;
        dot6 += dot(g, yv);
      }
      if (row7 >= 0) {
        let at = u32(row7) * DV + j;
        // y before d_y: a planner that put d_y in y's buffer (it dies here) would still read y
        let yv = y[at];
        d_y[at] = weight7 * g;
        dot7 += dot(g, yv);
      }
    }
  }
  if (!keep) { return; }
  d_topk_w[row * K + 0u] = dot0;
  d_topk_w[row * K + 1u] = dot1;
  d_topk_w[row * K + 2u] = dot2;
  d_topk_w[row * K + 3u] = dot3;
  d_topk_w[row * K + 4u] = dot4;
  d_topk_w[row * K + 5u] = dot5;
  d_topk_w[row * K + 6u] = dot6;
  d_topk_w[row * K + 7u] = dot7;
  // padding rows (no assignment writes them): zero
  for (var s = 0u; s < K * one; s++) {
    let padding = row * K + s;
    if (src_token[padding] < 0) {
      for (var j = 0u; j < DV * one; j++) { d_y[padding * DV + j] = vec4<f32>(0.0f); }
    }
  }
  // fuse-combine-router-grad: the token's router backward reads its k dots back (this invocation's own stores)
  routerBackward(row);
}
