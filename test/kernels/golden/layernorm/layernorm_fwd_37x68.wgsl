// layernorm_fwd_37x68
// layernorm forward: y = (x - mean) * rstd * w + b, rstd = 1 / sqrt(var + eps) (biased variance),
// rows of 68, eps = 0.000009999999747378752f; bindings: x, w, b (read), y, mean, rstd (write)
// one workgroup of 64 per row (row = wid.x + wid.y * 37); the variance is a second
// pass over the centred row, not E[x^2] - mean^2, which cancels badly in f32 when |mean| >> std.
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<storage, read_write> mean: array<f32>;
@group(0) @binding(5) var<storage, read_write> rstd: array<f32>;

var<workgroup> partial: array<f32, 64>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let row = wid.x + wid.y * 37u;
  if (row >= 37u) { return; }
  let base = row * 68u;
  var sum = 0.0f;
  for (var j = lid.x; j < 68u; j += 64u) { sum += x[base + j]; }
  partial[lid.x] = sum;
  workgroupBarrier();
  for (var stride = 64u / 2u; stride > 0u; stride /= 2u) {
    if (lid.x < stride) { partial[lid.x] += partial[lid.x + stride]; }
    workgroupBarrier();
  }
  let mu = partial[0] * 0.014705882407724857f;
  workgroupBarrier(); // every lane has read the mean before the slots are reused
  var sumSq = 0.0f;
  for (var j = lid.x; j < 68u; j += 64u) {
    let d = x[base + j] - mu;
    sumSq += d * d;
  }
  partial[lid.x] = sumSq;
  workgroupBarrier();
  for (var stride = 64u / 2u; stride > 0u; stride /= 2u) {
    if (lid.x < stride) { partial[lid.x] += partial[lid.x + stride]; }
    workgroupBarrier();
  }
  let r = inverseSqrt(partial[0] * 0.014705882407724857f + 0.000009999999747378752f);
  for (var j = lid.x; j < 68u; j += 64u) {
    y[base + j] = (x[base + j] - mu) * r * w[j] + b[j];
  }
  if (lid.x == 0u) {
    mean[row] = mu;
    rstd[row] = r;
  }
}
