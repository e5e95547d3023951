// router_sm_k8_norm_70x128_serial
// router forward, serial variant (CPU adapters): scores (softmax) of logits [70, 128], top-8 per token (ties → lower index)
// bindings: logits (read), topk_idx (write i32), topk_w (write), probs (write)
// dispatch: one invocation per token; t = (wid.x + wid.y * 2) * 64 + lid.x
// The k candidates live in 8 named registers (key0.., idx0..), not a dynamically indexed
// private array: a newcomer beating the k-th key is inserted by a fixed, branch-free shift, so a
// SIMD chunk of tokens never diverges into per-lane insertion loops (on lavapipe those made the
// router's cost per row grow ~3× faster than E).
@group(0) @binding(0) var<storage, read> logits: array<f32>;
@group(0) @binding(1) var<storage, read_write> topk_idx: array<i32>;
@group(0) @binding(2) var<storage, read_write> topk_w: array<f32>;
@group(0) @binding(3) var<storage, read_write> probs: array<f32>;

const E = 128u;
const K = 8u;
// Marks an empty candidate slot (slots fill from the top, so empties are always the last ones).
const EMPTY = 128u;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let t = (wid.x + wid.y * 2u) * 64u + lid.x;
  if (t >= 70u) { return; }
  let base = t * E;
  // Trip counts are multiplied by `one` (arrayLength ≥ 1, known only at dispatch) so lavapipe does
  // not fully unroll the loops over experts.
  let one = min(arrayLength(&probs), 1u);
  let experts = E * one;
  var m = logits[base];
  for (var e = 1u; e < experts; e++) { m = max(m, logits[base + e]); }
  var total = 0.0f;
  for (var e = 0u; e < experts; e++) { total += exp(logits[base + e] - m); }

  var key0 = 0.0f;
  var idx0 = EMPTY;
  var key1 = 0.0f;
  var idx1 = EMPTY;
  var key2 = 0.0f;
  var idx2 = EMPTY;
  var key3 = 0.0f;
  var idx3 = EMPTY;
  var key4 = 0.0f;
  var idx4 = EMPTY;
  var key5 = 0.0f;
  var idx5 = EMPTY;
  var key6 = 0.0f;
  var idx6 = EMPTY;
  var key7 = 0.0f;
  var idx7 = EMPTY;
  for (var e = 0u; e < experts; e++) {
    let l = logits[base + e];
    let s = exp(l - m) / total;
    probs[base + e] = s;
    let x = l;
    // Strictly greater than the k-th kept key (or a free slot): ties keep the lower index.
    if (idx7 == EMPTY || x > key7) {
      // gt_s: the newcomer goes above slot s. Monotone in s (keys descend, empties last), so slot s
      // takes the newcomer where gt_s first holds and slot s - 1's old entry below it.
      let gt0 = idx0 == EMPTY || x > key0;
      let gt1 = idx1 == EMPTY || x > key1;
      let gt2 = idx2 == EMPTY || x > key2;
      let gt3 = idx3 == EMPTY || x > key3;
      let gt4 = idx4 == EMPTY || x > key4;
      let gt5 = idx5 == EMPTY || x > key5;
      let gt6 = idx6 == EMPTY || x > key6;
      let gt7 = idx7 == EMPTY || x > key7;
      key7 = select(key7, select(x, key6, gt6), gt7);
      idx7 = select(idx7, select(e, idx6, gt6), gt7);
      key6 = select(key6, select(x, key5, gt5), gt6);
      idx6 = select(idx6, select(e, idx5, gt5), gt6);
      key5 = select(key5, select(x, key4, gt4), gt5);
      idx5 = select(idx5, select(e, idx4, gt4), gt5);
      key4 = select(key4, select(x, key3, gt3), gt4);
      idx4 = select(idx4, select(e, idx3, gt3), gt4);
      key3 = select(key3, select(x, key2, gt2), gt3);
      idx3 = select(idx3, select(e, idx2, gt2), gt3);
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
  let w3 = probs[base + idx3];
  let w4 = probs[base + idx4];
  let w5 = probs[base + idx5];
  let w6 = probs[base + idx6];
  let w7 = probs[base + idx7];
  let factor = 1.0f / (w0 + w1 + w2 + w3 + w4 + w5 + w6 + w7);
  topk_idx[t * K + 0u] = i32(idx0);
  topk_w[t * K + 0u] = w0 * factor;
  topk_idx[t * K + 1u] = i32(idx1);
  topk_w[t * K + 1u] = w1 * factor;
  topk_idx[t * K + 2u] = i32(idx2);
  topk_w[t * K + 2u] = w2 * factor;
  topk_idx[t * K + 3u] = i32(idx3);
  topk_w[t * K + 3u] = w3 * factor;
  topk_idx[t * K + 4u] = i32(idx4);
  topk_w[t * K + 4u] = w4 * factor;
  topk_idx[t * K + 5u] = i32(idx5);
  topk_w[t * K + 5u] = w5 * factor;
  topk_idx[t * K + 6u] = i32(idx6);
  topk_w[t * K + 6u] = w6 * factor;
  topk_idx[t * K + 7u] = i32(idx7);
  topk_w[t * K + 7u] = w7 * factor;
}
