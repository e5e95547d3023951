// router_sm_k8_norm_129x64
// router forward: scores (softmax) of logits [129, 64], top-8 per token (ties → lower index)
// bindings: logits (read), topk_idx (write i32), topk_w (write), probs (write, read back as the selection scores)
// dispatch: one invocation per token; t = (wid.x + wid.y * 3) * 64 + lid.x
@group(0) @binding(0) var<storage, read> logits: array<f32>;
@group(0) @binding(1) var<storage, read_write> topk_idx: array<i32>;
@group(0) @binding(2) var<storage, read_write> topk_w: array<f32>;
@group(0) @binding(3) var<storage, read_write> probs: array<f32>;

const E = 64u;
const K = 8u;

// Selection key of expert e of the token whose row starts at `base`: the biased score (its scores
// are already in probs) or the logit, which orders like the score.
fn keyOf(base: u32, e: u32) -> f32 {
  return logits[base + e];
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let t = (wid.x + wid.y * 3u) * 64u + lid.x;
  if (t >= 129u) { return; }
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


  // Sorted candidate list (descending key; equal keys keep ascending index): a newcomer must be
  // strictly greater than a kept candidate to pass it, so ties go to the lower index.
  var candKey: array<f32, 8>;
  var candIdx: array<u32, 8>;
  var filled = 0u;
  for (var e = 0u; e < experts; e++) {
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
  let factor = 1.0f / weightSum;
  for (var j = 0u; j < topK; j++) {
    topk_idx[t * K + j] = i32(candIdx[j]);
    topk_w[t * K + j] = probs[base + candIdx[j]] * factor;
  }
}
