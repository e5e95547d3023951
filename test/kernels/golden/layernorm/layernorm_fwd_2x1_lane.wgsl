// layernorm_fwd_2x1_lane
// layernorm forward, lane layout (CPU adapters): y = (x - mean) * rstd * w + b, rstd = 1 / sqrt(var + eps)
// (biased variance), 2 rows of 1, eps = 0.5f; bindings: x, w, b (read), y, mean, rstd (write)
// one invocation per row, serial loops over its 1 elements: no shared memory, no barriers (on
// lavapipe a barrier is a pass over every SIMD chunk of the workgroup). The variance is a second pass
// over the centred row, not E[x^2] - mean^2, which cancels badly in f32 when |mean| >> std.
// row = (wid.x + wid.y * 1) * 8 + lid.x
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<storage, read_write> mean: array<f32>;
@group(0) @binding(5) var<storage, read_write> rstd: array<f32>;

@compute @workgroup_size(8)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let row = (wid.x + wid.y * 1u) * 8u + lid.x;
  if (row >= 2u) { return; }
  let base = row * 1u;
  var sum = 0.0f;
  for (var j = 0u; j < 1u; j++) { sum += x[base + j]; }
  let mu = sum * 1.0f;
  var sumSq = 0.0f;
  for (var j = 0u; j < 1u; j++) {
    let d = x[base + j] - mu;
    sumSq = fma(d, d, sumSq);
  }
  let r = inverseSqrt(sumSq * 1.0f + 0.5f);
  for (var j = 0u; j < 1u; j++) {
    y[base + j] = (x[base + j] - mu) * r * w[j] + b[j];
  }
  mean[row] = mu;
  rstd[row] = r;
}
