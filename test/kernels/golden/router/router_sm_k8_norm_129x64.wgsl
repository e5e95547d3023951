// router_sm_k8_norm_129x64
// router forward: scores (softmax) of logits [129, 64], top-8 per token (ties → lower index)
// bindings: logits (read), topk_idx (write i32), topk_w (write), probs (write)
// dispatch: one invocation per token; t = (wid.x + wid.y * 3) * 64 + lid.x
@group(0) @binding(0) var<storage, read> logits: array<f32>;
@group(0) @binding(1) var<storage, read_write> topk_idx: array<i32>;
@group(0) @binding(2) var<storage, read_write> topk_w: array<f32>;
@group(0) @binding(3) var<storage, read_write> probs: array<f32>;

const E = 64u;
const K = 8u;

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
  var score: array<f32, 64>;
  var key: array<f32, 64>;
  var m = logits[base];
  for (var e = 1u; e < experts; e++) { m = max(m, logits[base + e]); }
  var total = 0.0f;
  for (var e = 0u; e < experts; e++) {
    let x = exp(logits[base + e] - m);
    score[e] = x;
    total += x;
  }
  for (var e = 0u; e < experts; e++) {
    score[e] = score[e] / total;
    probs[base + e] = score[e];
  }
  for (var e = 0u; e < experts; e++) {
    key[e] = logits[base + e];
  }

  // `allowed` masks experts outside the kept groups; `taken` marks experts already chosen.
  var allowed: array<bool, 64>;
  var taken: array<bool, 64>;
  for (var e = 0u; e < experts; e++) { allowed[e] = true; }

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
  let factor = 1.0f / weightSum;
  for (var j = 0u; j < topK; j++) {
    topk_idx[t * K + j] = i32(chosen[j]);
    topk_w[t * K + j] = score[chosen[j]] * factor;
  }
}
