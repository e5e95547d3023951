// router_sig_k1_s2p5_50x16
// router forward: scores (sigmoid) of logits [50, 16], top-1 per token (ties → lower index)
// bindings: logits (read), topk_idx (write i32), topk_w (write), probs (write)
// dispatch: one invocation per token; t = (wid.x + wid.y * 1) * 64 + lid.x
@group(0) @binding(0) var<storage, read> logits: array<f32>;
@group(0) @binding(1) var<storage, read_write> topk_idx: array<i32>;
@group(0) @binding(2) var<storage, read_write> topk_w: array<f32>;
@group(0) @binding(3) var<storage, read_write> probs: array<f32>;

const E = 16u;
const K = 1u;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let t = (wid.x + wid.y * 1u) * 64u + lid.x;
  if (t >= 50u) { return; }
  let base = t * E;
  // Trip counts are multiplied by `one` (arrayLength ≥ 1, known only at dispatch) so lavapipe does
  // not fully unroll these loops: for 64 experts and top-8 that multiplied compile time.
  let one = min(arrayLength(&probs), 1u);
  let experts = E * one;
  let topK = K * one;
  var score: array<f32, 16>;
  var key: array<f32, 16>;
  for (var e = 0u; e < experts; e++) {
    score[e] = 1.0f / (1.0f + exp(-logits[base + e]));
    probs[base + e] = score[e];
  }
  for (var e = 0u; e < experts; e++) {
    key[e] = logits[base + e];
  }

  // `allowed` masks experts outside the kept groups; `taken` marks experts already chosen.
  var allowed: array<bool, 16>;
  var taken: array<bool, 16>;
  for (var e = 0u; e < experts; e++) { allowed[e] = true; }

  var chosen: array<u32, 1>;
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
  let factor = 2.5f;
  for (var j = 0u; j < topK; j++) {
    topk_idx[t * K + j] = i32(chosen[j]);
    topk_w[t * K + j] = score[chosen[j]] * factor;
  }
}
