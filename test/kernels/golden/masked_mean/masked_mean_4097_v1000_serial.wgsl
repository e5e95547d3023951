// masked_mean_4097_v1000_serial
// masked_mean: mean[0] = Σ values[t] / count over rows with 0 <= targets[t] < 1000 (count >= 1)
// bindings: values (read), targets (read), mean (write)
// dispatch: one workgroup of 64 lanes; lane l sums rows l, l + 64, …, then lane 0 adds the 64 partial sums in order (one barrier)
@group(0) @binding(0) var<storage, read> values: array<f32>;
@group(0) @binding(1) var<storage, read> targets: array<i32>;
@group(0) @binding(2) var<storage, read_write> mean: array<f32>;

var<workgroup> partialSum: array<f32, 64>;
var<workgroup> partialCount: array<u32, 64>;

// The mean.
fn store(m: f32) {
  mean[0] = m;
}

@compute @workgroup_size(64)
fn main(@builtin(local_invocation_id) lid: vec3<u32>) {
  var sum = 0.0f;
  var count = 0u;
  for (var t = lid.x; t < 4097u; t += 64u) {
    let tgt = targets[t];
    if (tgt >= 0 && tgt < 1000) {
      sum += values[t];
      count += 1u;
    }
  }
  partialSum[lid.x] = sum;
  partialCount[lid.x] = count;
  workgroupBarrier();
  if (lid.x == 0u) {
    var total = 0.0f;
    var totalCount = 0u;
    for (var i = 0u; i < 64u; i++) {
      total += partialSum[i];
      totalCount += partialCount[i];
    }
    store(total / f32(max(totalCount, 1u)));
  }
}
