// layernorm_fwd_3x1000_lane
// layernorm forward, lane layout (CPU adapters): y = (x - mean) * rstd * w + b, rstd = 1 / sqrt(var + eps)
// (biased variance), 3 rows of 1000, eps = 0.000009999999747378752f; bindings: x, w, b (read), y, mean, rstd (write)
// one invocation per row, serial loops over its 1000 elements: no shared memory, no barriers (on
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
  if (row >= 3u) { return; }
  let base = row * 1000u;
  var sum = 0.0f;
  for (var j = 0u; j < 1000u; j++) { sum += x[base + j]; }
  let mu = sum * 0.0010000000474974513f;
  var sumSq = 0.0f;
  for (var j = 0u; j < 1000u; j++) {
    let d = x[base + j] - mu;
    sumSq = fma(d, d, sumSq);
  }
  let r = inverseSqrt(sumSq * 0.0010000000474974513f + 0.000009999999747378752f);
  for (var j = 0u; j < 1000u; j++) {
    y[base + j] = (x[base + j] - mu) * r * w[j] + b[j];
  }
  mean[row] = mu;
  rstd[row] = r;
}
