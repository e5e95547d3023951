// router_sm_k2_70x4_serial_x64_norm
// router forward, serial variant (CPU adapters): scores (softmax) of logits [70, 4], top-2 per token (ties → lower index)
// bindings: x, norm_w, w_r (read, as vec4), logits (read_write: written by the prologue), topk_idx (write i32), topk_w (write), probs (write)
// dispatch: one invocation per token; t = (wid.x + wid.y * 2) * 64 + lid.x
// The k candidates live in 2 named registers (key0.., idx0..), not a dynamically indexed
// private array: a newcomer beating the k-th key is inserted by a fixed, branch-free shift, so a
// SIMD chunk of tokens never diverges into per-lane insertion loops (on lavapipe those made the
// router's cost per row grow ~3× faster than E).
// fuse-router-logits: each invocation first computes its token's logits = rmsnorm(x)·w_r (y = x * rstd * norm_w,
// rstd = 1 / sqrt(mean(x^2) + 9.999999974752427e-7f), the lane rmsnorm's sums; y stored in norm_y, rstd in rstd) with the rows
// matmul's FMA order (the same bits), stores them in logits and reads them back below as the unfused router would.
@group(0) @binding(0) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> norm_w: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> w_r: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> logits: array<f32>;
@group(0) @binding(4) var<storage, read_write> topk_idx: array<i32>;
@group(0) @binding(5) var<storage, read_write> topk_w: array<f32>;
@group(0) @binding(6) var<storage, read_write> probs: array<f32>;
@group(0) @binding(7) var<storage, read_write> norm_y: array<vec4<f32>>;
@group(0) @binding(8) var<storage, read_write> rstd: array<f32>;

const E = 4u;
const K = 2u;
// Marks an empty candidate slot (slots fill from the top, so empties are always the last ones).
const EMPTY = 4u;

// w_r and norm_w are the same for every lane.
fn weight4(i: u32) -> vec4<f32> {
  return w_r[i];
}
fn normW4(i: u32) -> vec4<f32> {
  return norm_w[i];
}

// Token t's logits (rows past the end compute on the last row and store nothing: every lane runs this).
fn projectLogits(t: u32) {
  let row = min(t, 70u - 1u);
  let keep = t < 70u;
  let one = min(arrayLength(&probs), 1u);
  let quads = 16u * one;
  var sumSq = 0.0f;
  for (var q = 0u; q < quads; q++) {
    let v = x[row * 16u + q];
    sumSq = fma(v.x, v.x, sumSq);
    sumSq = fma(v.y, v.y, sumSq);
    sumSq = fma(v.z, v.z, sumSq);
    sumSq = fma(v.w, v.w, sumSq);
  }
  let r = inverseSqrt(sumSq * 0.015625f + 9.999999974752427e-7f);
  var acc0 = vec4<f32>(0.0f);
  for (var q = 0u; q < quads; q++) {
    var a = x[row * 16u + q];
    a = a * r * normW4(q);
    if (keep) { norm_y[row * 16u + q] = a; }
    let k = 4u * q;
    acc0 = fma(vec4<f32>(a.x), weight4(k * 1u + 0u), acc0);
    acc0 = fma(vec4<f32>(a.y), weight4((k + 1u) * 1u + 0u), acc0);
    acc0 = fma(vec4<f32>(a.z), weight4((k + 2u) * 1u + 0u), acc0);
    acc0 = fma(vec4<f32>(a.w), weight4((k + 3u) * 1u + 0u), acc0);
  }
  if (keep) {
    rstd[row] = r;
    logits[row * E + 0u] = acc0.x;
    logits[row * E + 0u + 1u] = acc0.y;
    logits[row * E + 0u + 2u] = acc0.z;
    logits[row * E + 0u + 3u] = acc0.w;
  }
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let t = (wid.x + wid.y * 2u) * 64u + lid.x;
  projectLogits(t);
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
  for (var e = 0u; e < experts; e++) {
    let l = logits[base + e];
    let s = exp(l - m) / total;
    probs[base + e] = s;
    let x = l;
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
