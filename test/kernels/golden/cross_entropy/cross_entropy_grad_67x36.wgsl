// cross_entropy_grad_67x36
// cross-entropy with gradient: 67 rows of 36 logits, targets outside [0, 36) ignored
//   loss[t] = logsumexp(l_t) - l_t[target], dlogits = (softmax(l_t) - onehot(target)) * gradScale[0] / count
// one workgroup of 64 per row (row = wid.x + wid.y * 67); fixed reduction trees (deterministic)
@group(0) @binding(0) var<storage, read> logits: array<f32>;
@group(0) @binding(1) var<storage, read> targets: array<i32>;
@group(0) @binding(2) var<storage, read> gradScale: array<f32>;
@group(0) @binding(3) var<storage, read_write> loss: array<f32>;
@group(0) @binding(4) var<storage, read_write> dlogits: array<f32>;

var<workgroup> partial: array<f32, 64>;
var<workgroup> partialCount: array<u32, 64>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let row = wid.x + wid.y * 67u;
  if (row >= 67u) { return; }
  let base = row * 36u;
  let rowTarget = targets[row];
  let counted = rowTarget >= 0 && rowTarget < 36;
  var myCount = 0u;
  for (var t = lid.x; t < 67u; t += 64u) {
    let other = targets[t];
    if (other >= 0 && other < 36) { myCount++; }
  }
  partialCount[lid.x] = myCount;
  var myMax = -3.4028234663852886e+38f;
  for (var j = lid.x; j < 36u; j += 64u) { myMax = max(myMax, logits[base + j]); }
  partial[lid.x] = myMax;
  workgroupBarrier();
  for (var stride = 64u / 2u; stride > 0u; stride /= 2u) {
    if (lid.x < stride) {
      partial[lid.x] = max(partial[lid.x], partial[lid.x + stride]);
      partialCount[lid.x] += partialCount[lid.x + stride];
    }
    workgroupBarrier();
  }
  let rowMax = partial[0];
  workgroupBarrier();
  var mySum = 0.0f;
  for (var j = lid.x; j < 36u; j += 64u) { mySum += exp(logits[base + j] - rowMax); }
  partial[lid.x] = mySum;
  workgroupBarrier();
  for (var stride = 64u / 2u; stride > 0u; stride /= 2u) {
    if (lid.x < stride) { partial[lid.x] += partial[lid.x + stride]; }
    workgroupBarrier();
  }
  // relative to the row max: no cancellation between two large numbers
  let logSum = log(partial[0]);
  if (lid.x == 0u) {
    var rowLoss = 0.0f;
    if (counted) { rowLoss = logSum - (logits[base + u32(rowTarget)] - rowMax); }
    loss[row] = rowLoss;
  }
  let count = partialCount[0];
  var scale = 0.0f;
  if (counted && count > 0u) { scale = gradScale[0] / f32(count); }
  for (var j = lid.x; j < 36u; j += 64u) {
    var g = exp(logits[base + j] - rowMax - logSum);
    if (i32(j) == rowTarget) { g -= 1.0f; }
    dlogits[base + j] = g * scale;
  }
}
