// moe_combine_bwd_router_sig_k3_norm_s2p5_dpfull_37x3_d33_rows
// moe combine backward, row-per-invocation variant: d_y[r, :] = topk_w[src_token[r]·3 + src_slot[r]] · d_out[src_token[r], :] (zero for padding rows), d_topk_w[t·3 + j] = ⟨d_out[t, :], y[perm_row[t·3 + j], :]⟩, then the router backward's d_logits [37, 8] of each token from its d_topk_w; row width 33
// bindings: d_out, y, topk_w, perm_row (i32), src_token (i32), src_slot (i32) (read); d_y, d_topk_w (write); probs, topk_idx (i32), d_probs (read), d_logits (write)
// dispatch: one invocation per index i < 111, serving row i and token i's 3 assignments and router backward when i < 37 with serial loops over the row (no barriers); i = (wid.x + wid.y * 2) * 64 + lid.x
@group(0) @binding(0) var<storage, read> d_out: array<f32>;
@group(0) @binding(1) var<storage, read> y: array<f32>;
@group(0) @binding(2) var<storage, read> topk_w: array<f32>;
@group(0) @binding(3) var<storage, read> perm_row: array<i32>;
@group(0) @binding(4) var<storage, read> src_token: array<i32>;
@group(0) @binding(5) var<storage, read> src_slot: array<i32>;
@group(0) @binding(6) var<storage, read_write> d_y: array<f32>;
@group(0) @binding(7) var<storage, read_write> d_topk_w: array<f32>;
@group(0) @binding(8) var<storage, read> probs: array<f32>;
@group(0) @binding(9) var<storage, read> topk_idx: array<i32>;
@group(0) @binding(10) var<storage, read> d_probs: array<f32>;
@group(0) @binding(11) var<storage, read_write> d_logits: array<f32>;

alias V = f32;
fn vdot(a: V, b: V) -> f32 { return a * b; }

const K = 3u;
// Row width in V units.
const DV = 33u;

// ⟨d_out[t, :], y[perm_row[a], :]⟩ of assignment a (token t = a / K), in ascending d order: deterministic.
fn assignmentDot(a: u32, dv: u32) -> f32 {
  let row = perm_row[a];
  var dot = 0.0f;
  if (row >= 0) {
    let g = (a / K) * DV;
    let src = u32(row) * DV;
    for (var d = 0u; d < dv; d++) { dot += vdot(d_out[g + d], y[src + d]); }
  }
  return dot;
}

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
  var idx: array<u32, 3>;
  var w: array<f32, 3>;
  var dSel: array<f32, 3>;
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

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = (wid.x + wid.y * 2u) * 64u + lid.x;
  if (i >= 111u) { return; }
  // Trip counts are multiplied by `one` (arrayLength ≥ 1, known only at dispatch) so lavapipe does
  // not fully unroll the row loops, which made these shaders compile for seconds.
  let one = min(arrayLength(&d_topk_w), 1u);
  let dv = DV * one;

  let t = src_token[i];
  if (t >= 0) {
    let w = topk_w[u32(t) * K + u32(src_slot[i])];
    let src = u32(t) * DV;
    for (var d = 0u; d < dv; d++) { d_y[i * DV + d] = w * d_out[src + d]; }
  } else {
    for (var d = 0u; d < dv; d++) { d_y[i * DV + d] = V(0.0f); }
  }

  // fuse-combine-router-grad: token i's k assignment dots (the same sums as one per invocation), then
  // its router backward, which reads them back (this invocation's own stores).
  if (i < 37u) {
    for (var j = 0u; j < K * one; j++) { d_topk_w[i * K + j] = assignmentDot(i * K + j, dv); }
    routerBackward(i);
  }
}
