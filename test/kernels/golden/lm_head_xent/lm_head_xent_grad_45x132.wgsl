// lm_head_xent_grad_45x132
// lm_head_xent with gradient, in place: one chunk of the LM head, 45 rows of 132 logits, targets outside [0, 132) ignored
//   loss[t] = logsumexp(l_t) - l_t[target]; then l_t <- (softmax(l_t) - onehot(target)) * scale[0] (0 for an ignored row)
// bindings: logits (read_write), targets (read), scale (read: dMean / count of the whole batch), loss (write)
// dispatch: one workgroup of 64 per row (row = wid.x + wid.y * 45); fixed reduction trees (deterministic).
// Every logit is read and rewritten by the same lane; the target logit is read by all lanes before any write.
@group(0) @binding(0) var<storage, read_write> logits: array<f32>;
@group(0) @binding(1) var<storage, read> targets: array<i32>;
@group(0) @binding(2) var<storage, read> scale: array<f32>;
@group(0) @binding(3) var<storage, read_write> loss: array<f32>;

var<workgroup> partial: array<f32, 64>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let row = wid.x + wid.y * 45u;
  if (row >= 45u) { return; }
  let base = row * 132u;
  let rowTarget = targets[row];
  let counted = rowTarget >= 0 && rowTarget < 132;
  var targetLogit = 0.0f;
  if (counted) { targetLogit = logits[base + u32(rowTarget)]; }
  var myMax = -3.4028234663852886e+38f;
  for (var j = lid.x; j < 132u; j += 64u) { myMax = max(myMax, logits[base + j]); }
  partial[lid.x] = myMax;
  workgroupBarrier();
  for (var stride = 64u / 2u; stride > 0u; stride /= 2u) {
    if (lid.x < stride) { partial[lid.x] = max(partial[lid.x], partial[lid.x + stride]); }
    workgroupBarrier();
  }
  let rowMax = partial[0];
  workgroupBarrier();
  var mySum = 0.0f;
  for (var j = lid.x; j < 132u; j += 64u) { mySum += exp(logits[base + j] - rowMax); }
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
    if (counted) { rowLoss = logSum - (targetLogit - rowMax); }
    loss[row] = rowLoss;
  }
  storageBarrier();
  var s = 0.0f;
  if (counted) { s = scale[0]; }
  for (var j = lid.x; j < 132u; j += 64u) {
    var g = exp(logits[base + j] - rowMax - logSum);
    if (i32(j) == rowTarget) { g -= 1.0f; }
    logits[base + j] = g * s;
  }
}
