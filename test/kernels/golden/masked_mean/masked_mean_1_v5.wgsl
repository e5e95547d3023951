// masked_mean_1_v5
// masked_mean: mean[0] = Σ values[t] / count over rows with 0 <= targets[t] < 5 (count >= 1)
// bindings: values (read), targets (read), mean (write)
// dispatch: one workgroup of 256 lanes; lane l sums rows l, l + 256, …, then a tree
@group(0) @binding(0) var<storage, read> values: array<f32>;
@group(0) @binding(1) var<storage, read> targets: array<i32>;
@group(0) @binding(2) var<storage, read_write> mean: array<f32>;

var<workgroup> partialSum: array<f32, 256>;
var<workgroup> partialCount: array<u32, 256>;

// The mean.
fn store(m: f32) {
  mean[0] = m;
}

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_id) lid: vec3<u32>) {
  var sum = 0.0f;
  var count = 0u;
  for (var t = lid.x; t < 1u; t += 256u) {
    let tgt = targets[t];
    if (tgt >= 0 && tgt < 5) {
      sum += values[t];
      count += 1u;
    }
  }
  partialSum[lid.x] = sum;
  partialCount[lid.x] = count;
  workgroupBarrier();
  if (lid.x < 128u) {
    partialSum[lid.x] += partialSum[lid.x + 128u];
    partialCount[lid.x] += partialCount[lid.x + 128u];
  }
  workgroupBarrier();
  if (lid.x < 64u) {
    partialSum[lid.x] += partialSum[lid.x + 64u];
    partialCount[lid.x] += partialCount[lid.x + 64u];
  }
  workgroupBarrier();
  if (lid.x < 32u) {
    partialSum[lid.x] += partialSum[lid.x + 32u];
    partialCount[lid.x] += partialCount[lid.x + 32u];
  }
  workgroupBarrier();
  if (lid.x < 16u) {
    partialSum[lid.x] += partialSum[lid.x + 16u];
    partialCount[lid.x] += partialCount[lid.x + 16u];
  }
  workgroupBarrier();
  if (lid.x < 8u) {
    partialSum[lid.x] += partialSum[lid.x + 8u];
    partialCount[lid.x] += partialCount[lid.x + 8u];
  }
  workgroupBarrier();
  if (lid.x < 4u) {
    partialSum[lid.x] += partialSum[lid.x + 4u];
    partialCount[lid.x] += partialCount[lid.x + 4u];
  }
  workgroupBarrier();
  if (lid.x < 2u) {
    partialSum[lid.x] += partialSum[lid.x + 2u];
    partialCount[lid.x] += partialCount[lid.x + 2u];
  }
  workgroupBarrier();
  if (lid.x < 1u) {
    partialSum[lid.x] += partialSum[lid.x + 1u];
    partialCount[lid.x] += partialCount[lid.x + 1u];
  }
  workgroupBarrier();
  if (lid.x == 0u) {
    store(partialSum[0] / f32(max(partialCount[0], 1u)));
  }
}
