// router_sig_k8_norm_s2p5_g8of4_bias_65x64
// router forward: scores (sigmoid) of logits [65, 64], top-8 per token (ties → lower index)
// bindings: logits (read), bias (read, selection only), topk_idx (write i32), topk_w (write), probs (write)
// dispatch: one invocation per token; t = (wid.x + wid.y * 2) * 64 + lid.x
@group(0) @binding(0) var<storage, read> logits: array<f32>;
@group(0) @binding(1) var<storage, read> bias: array<f32>;
@group(0) @binding(2) var<storage, read_write> topk_idx: array<i32>;
@group(0) @binding(3) var<storage, read_write> topk_w: array<f32>;
@group(0) @binding(4) var<storage, read_write> probs: array<f32>;

const E = 64u;
const K = 8u;
const GROUPS = 8u;
const GROUP_SIZE = 8u;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let t = (wid.x + wid.y * 2u) * 64u + lid.x;
  if (t >= 65u) { return; }
  let base = t * E;
  // Trip counts are multiplied by `one` (arrayLength ≥ 1, known only at dispatch) so lavapipe does
  // not fully unroll these loops: for 64 experts and top-8 that multiplied compile time.
  let one = min(arrayLength(&probs), 1u);
  let experts = E * one;
  let topK = K * one;
  var score: array<f32, 64>;
  var key: array<f32, 64>;
  for (var e = 0u; e < experts; e++) {
    score[e] = 1.0f / (1.0f + exp(-logits[base + e]));
    probs[base + e] = score[e];
  }
  for (var e = 0u; e < experts; e++) {
    key[e] = score[e] + bias[e];
  }

  // `allowed` masks experts outside the kept groups; `taken` marks experts already chosen.
  var allowed: array<bool, 64>;
  var taken: array<bool, 64>;
  var groupScore: array<f32, 8>;
  for (var g = 0u; g < GROUPS; g++) {
    var first = g * GROUP_SIZE;
    for (var e = first + 1u; e < (g + 1u) * GROUP_SIZE; e++) { if (key[e] > key[first]) { first = e; } }
    var second = E;
    for (var e = g * GROUP_SIZE; e < (g + 1u) * GROUP_SIZE; e++) {
      if (e != first && (second == E || key[e] > key[second])) { second = e; }
    }
    groupScore[g] = key[first] + key[second];
  }
  var keepGroup: array<bool, 8>;
  for (var s = 0u; s < 4u; s++) {
    var best = GROUPS;
    for (var g = 0u; g < GROUPS; g++) {
      if (!keepGroup[g] && (best == GROUPS || groupScore[g] > groupScore[best])) { best = g; }
    }
    keepGroup[best] = true;
  }
  for (var e = 0u; e < experts; e++) { allowed[e] = keepGroup[e / GROUP_SIZE]; }

  var chosen: array<u32, 8>;
  var weightSum = 0.0f;
  for (var j = 0u; j < topK; j++) {
    var best = E;
    for (var e = 0u; e < experts; e++) {
      if (allowed[e] && !taken[e] && (best == E || key[e] > key[best])) { best = e; }
    }
    taken[best] = true;
    chosen[j] = best;
    weightSum += score[best];
  }
  let factor = 2.5f / weightSum;
  for (var j = 0u; j < topK; j++) {
    topk_idx[t * K + j] = i32(chosen[j]);
    topk_w[t * K + j] = score[chosen[j]] * factor;
  }
}
