// router_sig_k1_s2p5_50x16_serial
// router forward, serial variant (CPU adapters): scores (sigmoid) of logits [50, 16], top-1 per token (ties → lower index)
// bindings: logits (read), topk_idx (write i32), topk_w (write), probs (write)
// dispatch: one invocation per token; t = (wid.x + wid.y * 1) * 64 + lid.x
// The k candidates live in 1 named registers (key0.., idx0..), not a dynamically indexed
// private array: a newcomer beating the k-th key is inserted by a fixed, branch-free shift, so a
// SIMD chunk of tokens never diverges into per-lane insertion loops (on lavapipe those made the
// router's cost per row grow ~3× faster than E).
@group(0) @binding(0) var<storage, read> logits: array<f32>;
@group(0) @binding(1) var<storage, read_write> topk_idx: array<i32>;
@group(0) @binding(2) var<storage, read_write> topk_w: array<f32>;
@group(0) @binding(3) var<storage, read_write> probs: array<f32>;

const E = 16u;
const K = 1u;
// Marks an empty candidate slot (slots fill from the top, so empties are always the last ones).
const EMPTY = 16u;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let t = (wid.x + wid.y * 1u) * 64u + lid.x;
  if (t >= 50u) { return; }
  let base = t * E;
  // Trip counts are multiplied by `one` (arrayLength ≥ 1, known only at dispatch) so lavapipe does
  // not fully unroll the loops over experts.
  let one = min(arrayLength(&probs), 1u);
  let experts = E * one;

  var key0 = 0.0f;
  var idx0 = EMPTY;
  for (var e = 0u; e < experts; e++) {
    let l = logits[base + e];
    let s = 1.0f / (1.0f + exp(-l));
    probs[base + e] = s;
    let x = l;
    // Strictly greater than the k-th kept key (or a free slot): ties keep the lower index.
    if (idx0 == EMPTY || x > key0) {
      // gt_s: the newcomer goes above slot s. Monotone in s (keys descend, empties last), so slot s
      // takes the newcomer where gt_s first holds and slot s - 1's old entry below it.
      let gt0 = idx0 == EMPTY || x > key0;
      key0 = select(key0, x, gt0);
      idx0 = select(idx0, e, gt0);
    }
  }
  // The selected scores, in selection order.
  let w0 = probs[base + idx0];
  let factor = 2.5f;
  topk_idx[t * K + 0u] = i32(idx0);
  topk_w[t * K + 0u] = w0 * factor;
}
