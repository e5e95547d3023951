enable subgroups;
// moe_combine_bwd_normgrad_add_router_sm_k2_dpfull_40x2_d64_rows_sg
// moe combine backward with the RMSNorm backward in front of it (fuse-norm-grad-combine-grad), CPU adapters: one
// invocation per token t < 40 computes its row of the norm's
//   dx = rstd * dy * w - x * rstd^3 * mean(dy * w * x) + addend   (rstd recomputed from x, as rmsnorm_backward_dw_lane)
// and, vec4 by vec4 as it stores it, uses it as the combine backward's d_out: d_y[perm_row[t·2 + s], :] = topk_w[t·2 + s] · dx[t, :]
// (a scatter: row perm_row[a] belongs to assignment a alone) and d_topk_w[t·2 + s] = ⟨dx[t, :], y[perm_row[t·2 + s], :]⟩
// (ascending d), then the token's router backward (d_logits [40, 4]); it zeroes the padding rows
// t·2 … t·2 + 1 of d_y (src_token < 0). The first 2 workgroup(s) compute the norm's dw columns instead.
// The same expressions in the same order as the two kernels it replaces, so the same bits; dx is never read back.
// rows of 64 as 16 vec4; bindings: dy, x, w (uniform), addend, rstd, y, topk_w, perm_row (i32), src_token (i32) (read);
// dx, dw, d_y, d_topk_w (write); probs, topk_idx (i32), d_probs (read), d_logits (write). No shared memory, no barriers.
@group(0) @binding(0) var<storage, read> dy: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<uniform> w: array<vec4<f32>, 16>;
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

const K = 2u;
// Row width in vec4s.
const DV = 16u;

const E = 4u;

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
  var idx: array<u32, 2>;
  var w: array<f32, 2>;
  var dSel: array<f32, 2>;
  var weightSum = 0.0f;
  for (var j = 0u; j < topK; j++) {
    idx[j] = min(u32(topk_idx[t * K + j]), E - 1u);
    w[j] = probs[base + idx[j]];
    weightSum += w[j];
  }
  for (var j = 0u; j < topK; j++) { dSel[j] = 1.0f * d_topk_w[t * K + j]; }
  // Softmax backward: d_logits[e] = s[e] · (d(score)[e] − Σ_e' d(score)[e'] s[e']).
  var dotS = 0.0f;
  for (var e = 0u; e < experts; e++) { dotS += dProbsAt(base, e) * probs[base + e]; }
  for (var j = 0u; j < topK; j++) { dotS += dSel[j] * w[j]; }
  for (var e = 0u; e < experts; e++) {
    let s = probs[base + e];
    d_logits[base + e] = s * (dProbsAt(base, e) - dotS);
  }
  for (var j = 0u; j < topK; j++) { d_logits[base + idx[j]] += w[j] * dSel[j]; }
}

@compute @workgroup_size(8)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {
  isLane0 = lane == 0u;
  let group = wid.x + wid.y * 7u;
  if (group < 2u) {
    dwColumns(group * 8u + lid.x);
  } else {
    tokenRows((group - 2u) * 8u + lid.x);
  }
}

// dw's columns (the lanes past the last column leave at once).
fn dwColumns(column: u32) {
  if (column >= 16u) { return; }
  var sum = vec4<f32>(0.0f);
  for (var r = 0u; r < 40u; r++) {
    let i = r * 16u + column;
    sum = fma(dy[i] * x[i], vec4<f32>(rstd[r]), sum);
  }
  dw[column] = sum;
}

// Token rows. Every lane runs to the end (wAt's subgroupBroadcast needs the whole subgroup): lanes past the last
// token compute on it and store nothing.
fn tokenRows(tokenIndex: u32) {
  let row = min(tokenIndex, 40u - 1u);
  let keep = tokenIndex < 40u;
  // the trip counts are hidden behind `one` (arrayLength ≥ 1, known only at dispatch), as in rmsnorm_lane
  let one = min(arrayLength(&rstd), 1u);
  let base = row * 16u;
  var sumSq = 0.0f;
  var sumDot = 0.0f;
  for (var j = 0u; j < 16u * one; j++) {
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
  let r = inverseSqrt(sumSq * 0.015625f + 0.000009999999747378752f);
  let correction = r * r * r * sumDot * 0.015625f;
  // the token's assignments (slot s: its expert row and top-k weight) and their dots, every slot index a constant
  let row0 = perm_row[row * K + 0u];
  let weight0 = topk_w[row * K + 0u];
  var dot0 = 0.0f;
  let row1 = perm_row[row * K + 1u];
  let weight1 = topk_w[row * K + 1u];
  var dot1 = 0.0f;
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
    }
  }
  if (!keep) { return; }
  d_topk_w[row * K + 0u] = dot0;
  d_topk_w[row * K + 1u] = dot1;
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
