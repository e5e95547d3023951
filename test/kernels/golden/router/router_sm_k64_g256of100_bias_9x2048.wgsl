// router_sm_k64_g256of100_bias_9x2048
// router forward: scores (softmax) of logits [9, 2048], top-64 per token (ties → lower index), within the best 100 of 256 groups
// bindings: logits (read), bias (read, selection only), topk_idx (write i32), topk_w (write), probs (write, read back as the selection scores)
// dispatch: one invocation per token; t = (wid.x + wid.y * 1) * 64 + lid.x
@group(0) @binding(0) var<storage, read> logits: array<f32>;
@group(0) @binding(1) var<storage, read> bias: array<f32>;
@group(0) @binding(2) var<storage, read_write> topk_idx: array<i32>;
@group(0) @binding(3) var<storage, read_write> topk_w: array<f32>;
@group(0) @binding(4) var<storage, read_write> probs: array<f32>;

const E = 2048u;
const K = 64u;
const GROUPS = 256u;
const GROUP_SIZE = 8u;

// Selection key of expert e of the token whose row starts at `base`: the biased score (its scores
// are already in probs) or the logit, which orders like the score.
fn keyOf(base: u32, e: u32) -> f32 {
  return probs[base + e] + bias[e];
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let t = (wid.x + wid.y * 1u) * 64u + lid.x;
  if (t >= 9u) { return; }
  let base = t * E;
  // Trip counts are multiplied by `one` (arrayLength ≥ 1, known only at dispatch) so lavapipe does
  // not fully unroll these loops: for 64 experts and top-8 that multiplied compile time.
  let one = min(arrayLength(&probs), 1u);
  let experts = E * one;
  let topK = K * one;
  var m = logits[base];
  for (var e = 1u; e < experts; e++) { m = max(m, logits[base + e]); }
  var total = 0.0f;
  for (var e = 0u; e < experts; e++) {
    let x = exp(logits[base + e] - m);
    probs[base + e] = x;
    total += x;
  }
  for (var e = 0u; e < experts; e++) { probs[base + e] = probs[base + e] / total; }

  // Group score (DeepSeek-V3): the sum of the group's two best keys.
  var groupScore: array<f32, 256>;
  for (var g = 0u; g < GROUPS * one; g++) {
    let first = g * GROUP_SIZE;
    var best = keyOf(base, first);
    var second = keyOf(base, first + 1u);
    if (second > best) {
      let x = best;
      best = second;
      second = x;
    }
    for (var e = first + 2u; e < first + GROUP_SIZE; e++) {
      let k = keyOf(base, e);
      if (k > best) {
        second = best;
        best = k;
      } else if (k > second) {
        second = k;
      }
    }
    groupScore[g] = best + second;
  }
  var keepGroup: array<bool, 256>;
  for (var s = 0u; s < 100u * one; s++) {
    var best = GROUPS;
    for (var g = 0u; g < GROUPS * one; g++) {
      if (!keepGroup[g] && (best == GROUPS || groupScore[g] > groupScore[best])) { best = g; }
    }
    keepGroup[best] = true;
  }

  // Sorted candidate list (descending key; equal keys keep ascending index): a newcomer must be
  // strictly greater than a kept candidate to pass it, so ties go to the lower index.
  var candKey: array<f32, 64>;
  var candIdx: array<u32, 64>;
  var filled = 0u;
  for (var e = 0u; e < experts; e++) {
    if (!keepGroup[e / GROUP_SIZE]) { continue; }
    let k = keyOf(base, e);
    if (filled == topK && !(k > candKey[topK - 1u])) { continue; }
    var pos = min(filled, topK - 1u);
    while (pos > 0u && k > candKey[pos - 1u]) {
      candKey[pos] = candKey[pos - 1u];
      candIdx[pos] = candIdx[pos - 1u];
      pos--;
    }
    candKey[pos] = k;
    candIdx[pos] = e;
    filled = min(filled + 1u, topK);
  }
  var weightSum = 0.0f;
  for (var j = 0u; j < topK; j++) { weightSum += probs[base + candIdx[j]]; }
  let factor = 1.0f;
  for (var j = 0u; j < topK; j++) {
    topk_idx[t * K + j] = i32(candIdx[j]);
    topk_w[t * K + j] = probs[base + candIdx[j]] * factor;
  }
}
