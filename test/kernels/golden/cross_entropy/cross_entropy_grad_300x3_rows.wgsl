// cross_entropy_grad_300x3_rows
// cross_entropy with gradient: 300 rows of 3 logits, targets outside [0, 3) ignored
//   loss[t] = logsumexp(l_t) - l_t[target]; dlogits_t = (softmax(l_t) - onehot(target)) * gradScale[0] / count (0 for an ignored row)
// CPU-adapter layout: one invocation per row, 32 rows per workgroup (row = (wid.x + wid.y * 10) * 32 + local index),
//   walking its row serially in f32s (3 per row): one pass for the running max and the sum of exp(l - max) rescaled to it,
//   one pass for the gradient; no reduction tree, one barrier for the batch's target count.
// Each logit is read and rewritten by one invocation alone; the target logit is read before any write.
@group(0) @binding(0) var<storage, read> logits: array<f32>;
@group(0) @binding(1) var<storage, read> targets: array<i32>;
@group(0) @binding(2) var<storage, read> gradScale: array<f32>;
@group(0) @binding(3) var<storage, read_write> loss: array<f32>;
@group(0) @binding(4) var<storage, read_write> dlogits: array<f32>;

fn hmax(v: f32) -> f32 { return v; }
fn hsum(v: f32) -> f32 { return v; }

var<workgroup> partialCount: array<u32, 32>;

@compute @workgroup_size(32)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lidx: u32) {
  // The batch's count of non-ignored rows: each invocation counts a slice, then all read every slice.
  var myCount = 0u;
  for (var t = lidx; t < 300u; t += 32u) {
    let other = targets[t];
    if (other >= 0 && other < 3) { myCount++; }
  }
  partialCount[lidx] = myCount;
  workgroupBarrier();
  var count = 0u;
  for (var i = 0u; i < 32u; i++) { count += partialCount[i]; }
  let row = (wid.x + wid.y * 10u) * 32u + lidx;
  if (row >= 300u) { return; }
  let rowTarget = targets[row];
  let counted = rowTarget >= 0 && rowTarget < 3;
  let base = row * 3u;
  let targetStep = u32(rowTarget);
  var targetLogit = 0.0f;
  if (counted) { targetLogit = logits[base + targetStep]; }
  // Running max m and sum s of exp(l - m), rescaled once per f32 when m grows; every exponent is <= 0.
  var m = -3.4028234663852886e+38f;
  var s = 0.0f;
  for (var j = 0u; j < 3u; j++) {
    let v = logits[base + j];
    let grown = max(m, hmax(v));
    s = s * exp(m - grown) + hsum(exp(v - grown));
    m = grown;
  }
  // relative to the row max: no cancellation between two large numbers
  let logSum = log(s);
  var rowLoss = 0.0f;
  if (counted) { rowLoss = logSum - (targetLogit - m); }
  loss[row] = rowLoss;
  var scaleRow = 0.0f;
  if (counted && count > 0u) { scaleRow = gradScale[0] / f32(count); }
  // Each lane starts its gradient walk 16 f32s after the previous lane's: rows a multiple of 4 KiB
  // apart (V = 1024, 2048, …) otherwise put all of a SIMD chunk's logits loads and dlogits stores at the
  // same address modulo 4 KiB (one L1 set; 4K aliasing): 0.89–0.91 of the unskewed time at 512 × 1024
  // (ad hoc, interleaved). Elementwise: the same values either way.
  let skew = (lidx * 16u) % 3u;
  for (var jj = 0u; jj < 3u; jj++) {
    let j0 = jj + skew;
    let j = select(j0, j0 - 3u, j0 >= 3u);
    dlogits[base + j] = exp(logits[base + j] - m - logSum) * scaleRow;
  }
  if (counted) { dlogits[base + targetStep] -= scaleRow; }
}
