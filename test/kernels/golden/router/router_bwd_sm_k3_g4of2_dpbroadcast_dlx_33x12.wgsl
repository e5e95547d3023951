// router_bwd_sm_k3_g4of2_dpbroadcast_dlx_33x12
// router backward: d(logits) [33, 12] from d(topk_w) and d(probs), selection held fixed, through softmax
// bindings: probs (read), topk_idx (read i32), d_topk_w (read), d_probs (read, [E] broadcast over tokens), d_logits_extra (read, added), d_logits (write)
// dispatch: one invocation per token; t = (wid.x + wid.y * 1) * 64 + lid.x
@group(0) @binding(0) var<storage, read> probs: array<f32>;
@group(0) @binding(1) var<storage, read> topk_idx: array<i32>;
@group(0) @binding(2) var<storage, read> d_topk_w: array<f32>;
@group(0) @binding(3) var<storage, read> d_probs: array<f32>;
@group(0) @binding(4) var<storage, read> d_logits_extra: array<f32>;
@group(0) @binding(5) var<storage, read_write> d_logits: array<f32>;

const E = 12u;
const K = 3u;

// router backward of one token t (router_backward, and the combine backward's rows that differentiate the router: fuse-combine-router-grad):
// d_logits[t, :] from d_topk_w[t, :] and d_probs; needs consts E and K, bindings probs, topk_idx, d_topk_w, d_probs, d_logits_extra, d_logits
// The aux-loss gradient w.r.t. score e of the token at `base`.
fn dProbsAt(base: u32, e: u32) -> f32 {
  return d_probs[e];
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
  for (var j = 0u; j < topK; j++) { dSel[j] = 1.0f * d_topk_w[t * K + j]; }
  // Softmax backward: d_logits[e] = s[e] · (d(score)[e] − Σ_e' d(score)[e'] s[e']).
  var dotS = 0.0f;
  for (var e = 0u; e < experts; e++) { dotS += dProbsAt(base, e) * probs[base + e]; }
  for (var j = 0u; j < topK; j++) { dotS += dSel[j] * w[j]; }
  for (var e = 0u; e < experts; e++) {
    let s = probs[base + e];
    d_logits[base + e] = s * (dProbsAt(base, e) - dotS) + d_logits_extra[base + e];
  }
  for (var j = 0u; j < topK; j++) { d_logits[base + idx[j]] += w[j] * dSel[j]; }
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let t = (wid.x + wid.y * 1u) * 64u + lid.x;
  if (t >= 33u) { return; }
  routerBackward(t);
}
