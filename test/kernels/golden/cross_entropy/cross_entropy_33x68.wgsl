// cross_entropy_33x68
// cross-entropy: 33 rows of 68 logits, targets outside [0, 68) ignored
//   loss[t] = logsumexp(l_t) - l_t[target]
// one workgroup of 64 per row (row = wid.x + wid.y * 33); fixed reduction trees (deterministic)
@group(0) @binding(0) var<storage, read> logits: array<f32>;
@group(0) @binding(1) var<storage, read> targets: array<i32>;
@group(0) @binding(2) var<storage, read_write> loss: array<f32>;

var<workgroup> partial: array<f32, 64>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let row = wid.x + wid.y * 33u;
  if (row >= 33u) { return; }
  let base = row * 68u;
  let rowTarget = targets[row];
  let counted = rowTarget >= 0 && rowTarget < 68;
  var myMax = -3.4028234663852886e+38f;
  for (var j = lid.x; j < 68u; j += 64u) { myMax = max(myMax, logits[base + j]); }
  partial[lid.x] = myMax;
  workgroupBarrier();
  for (var stride = 64u / 2u; stride > 0u; stride /= 2u) {
    if (lid.x < stride) {
      partial[lid.x] = max(partial[lid.x], partial[lid.x + stride]);
    }
    workgroupBarrier();
  }
  let rowMax = partial[0];
  workgroupBarrier();
  var mySum = 0.0f;
  for (var j = lid.x; j < 68u; j += 64u) { mySum += exp(logits[base + j] - rowMax); }
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
}
