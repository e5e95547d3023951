// router_sig_k2_g6of3_20x6_serial
// router forward, serial variant (CPU adapters): scores (sigmoid) of logits [20, 6], top-2 per token (ties → lower index), within the best 3 of 6 groups
// bindings: logits (read), topk_idx (write i32), topk_w (write), probs (write)
// dispatch: one invocation per token; t = (wid.x + wid.y * 1) * 64 + lid.x
// The k candidates live in 2 named registers (key0.., idx0..), not a dynamically indexed
// private array: a newcomer beating the k-th key is inserted by a fixed, branch-free shift, so a
// SIMD chunk of tokens never diverges into per-lane insertion loops (on lavapipe those made the
// router's cost per row grow ~3× faster than E).
@group(0) @binding(0) var<storage, read> logits: array<f32>;
@group(0) @binding(1) var<storage, read_write> topk_idx: array<i32>;
@group(0) @binding(2) var<storage, read_write> topk_w: array<f32>;
@group(0) @binding(3) var<storage, read_write> probs: array<f32>;

const E = 6u;
const K = 2u;
// Marks an empty candidate slot (slots fill from the top, so empties are always the last ones).
const EMPTY = 6u;
const GROUPS = 6u;
const GROUP_SIZE = 1u;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let t = (wid.x + wid.y * 1u) * 64u + lid.x;
  if (t >= 20u) { return; }
  let base = t * E;
  // Trip counts are multiplied by `one` (arrayLength ≥ 1, known only at dispatch) so lavapipe does
  // not fully unroll the loops over experts.
  let one = min(arrayLength(&probs), 1u);
  let experts = E * one;
  // Scores, written once, and the group scores (DeepSeek-V3): the group's best key.
  var groupScore: array<f32, 6>;
  for (var g = 0u; g < GROUPS * one; g++) {
    var best = 0.0f;
    var second = 0.0f;
    for (var i = 0u; i < GROUP_SIZE * one; i++) {
      let e = g * GROUP_SIZE + i;
      let x = logits[base + e];
      let s = 1.0f / (1.0f + exp(-x));
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
  var keepGroup: array<bool, 6>;
  for (var s = 0u; s < 3u * one; s++) {
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
  for (var e = 0u; e < experts; e++) {
    if (!keepGroup[e / GROUP_SIZE]) { continue; }
    let x = logits[base + e];
    // Strictly greater than the k-th kept key (or a free slot): ties keep the lower index.
    if (idx1 == EMPTY || x > key1) {
      // gt_s: the newcomer goes above slot s. Monotone in s (keys descend, empties last), so slot s
      // takes the newcomer where gt_s first holds and slot s - 1's old entry below it.
      let gt0 = idx0 == EMPTY || x > key0;
      let gt1 = idx1 == EMPTY || x > key1;
      key1 = select(key1, select(x, key0, gt0), gt1);
      idx1 = select(idx1, select(e, idx0, gt0), gt1);
      key0 = select(key0, x, gt0);
      idx0 = select(idx0, e, gt0);
    }
  }
  // The selected scores, in selection order.
  let w0 = probs[base + idx0];
  let w1 = probs[base + idx1];
  let factor = 1.0f;
  topk_idx[t * K + 0u] = i32(idx0);
  topk_w[t * K + 0u] = w0 * factor;
  topk_idx[t * K + 1u] = i32(idx1);
  topk_w[t * K + 1u] = w1 * factor;
}
