// router_sm_k3_g4of2_33x12_serial
// router forward, serial variant (CPU adapters): scores (softmax) of logits [33, 12], top-3 per token (ties → lower index), within the best 2 of 4 groups
// bindings: logits (read), topk_idx (write i32), topk_w (write), probs (write)
// dispatch: one invocation per token; t = (wid.x + wid.y * 1) * 64 + lid.x
// The k candidates live in 3 named registers (key0.., idx0..), not a dynamically indexed
// private array: a newcomer beating the k-th key is inserted by a fixed, branch-free shift, so a
// SIMD chunk of tokens never diverges into per-lane insertion loops (on lavapipe those made the
// router's cost per row grow ~3× faster than E).
@group(0) @binding(0) var<storage, read> logits: array<f32>;
@group(0) @binding(1) var<storage, read_write> topk_idx: array<i32>;
@group(0) @binding(2) var<storage, read_write> topk_w: array<f32>;
@group(0) @binding(3) var<storage, read_write> probs: array<f32>;

const E = 12u;
const K = 3u;
// Marks an empty candidate slot (slots fill from the top, so empties are always the last ones).
const EMPTY = 12u;
const GROUPS = 4u;
const GROUP_SIZE = 3u;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let t = (wid.x + wid.y * 1u) * 64u + lid.x;
  if (t >= 33u) { return; }
  let base = t * E;
  // Trip counts are multiplied by `one` (arrayLength ≥ 1, known only at dispatch) so lavapipe does
  // not fully unroll the loops over experts.
  let one = min(arrayLength(&probs), 1u);
  let experts = E * one;
  var m = logits[base];
  for (var e = 1u; e < experts; e++) { m = max(m, logits[base + e]); }
  var total = 0.0f;
  for (var e = 0u; e < experts; e++) { total += exp(logits[base + e] - m); }
  // Scores, written once, and the group scores (DeepSeek-V3): the group's best key.
  var groupScore: array<f32, 4>;
  for (var g = 0u; g < GROUPS * one; g++) {
    var best = 0.0f;
    var second = 0.0f;
    for (var i = 0u; i < GROUP_SIZE * one; i++) {
      let e = g * GROUP_SIZE + i;
      let x = logits[base + e];
      let s = exp(x - m) / total;
      probs[base + e] = s;
      let k = x;
      if (i == 0u) {
        best = k;
      } else if (k > best) {
        second = best;
        best = k;
      } else if (i == 1u || k > second) {
        second = k;
      }
    }
    groupScore[g] = best;
  }
  var keepGroup: array<bool, 4>;
  for (var s = 0u; s < 2u * one; s++) {
    var best = GROUPS;
    for (var g = 0u; g < GROUPS * one; g++) {
      if (!keepGroup[g] && (best == GROUPS || groupScore[g] > groupScore[best])) { best = g; }
    }
    keepGroup[best] = true;
  }

  var key0 = 0.0f;
  var idx0 = EMPTY;
  var key1 = 0.0f;
  var idx1 = EMPTY;
  var key2 = 0.0f;
  var idx2 = EMPTY;
  for (var e = 0u; e < experts; e++) {
    if (!keepGroup[e / GROUP_SIZE]) { continue; }
    let x = logits[base + e];
    // Strictly greater than the k-th kept key (or a free slot): ties keep the lower index.
    if (idx2 == EMPTY || x > key2) {
      // gt_s: the newcomer goes above slot s. Monotone in s (keys descend, empties last), so slot s
      // takes the newcomer where gt_s first holds and slot s - 1's old entry below it.
      let gt0 = idx0 == EMPTY || x > key0;
      let gt1 = idx1 == EMPTY || x > key1;
      let gt2 = idx2 == EMPTY || x > key2;
      key2 = select(key2, select(x, key1, gt1), gt2);
      idx2 = select(idx2, select(e, idx1, gt1), gt2);
      key1 = select(key1, select(x, key0, gt0), gt1);
      idx1 = select(idx1, select(e, idx0, gt0), gt1);
      key0 = select(key0, x, gt0);
      idx0 = select(idx0, e, gt0);
    }
  }
  // The selected scores, in selection order.
  let w0 = probs[base + idx0];
  let w1 = probs[base + idx1];
  let w2 = probs[base + idx2];
  let factor = 1.0f;
  topk_idx[t * K + 0u] = i32(idx0);
  topk_w[t * K + 0u] = w0 * factor;
  topk_idx[t * K + 1u] = i32(idx1);
  topk_w[t * K + 1u] = w1 * factor;
  topk_idx[t * K + 2u] = i32(idx2);
  topk_w[t * K + 2u] = w2 * factor;
}
