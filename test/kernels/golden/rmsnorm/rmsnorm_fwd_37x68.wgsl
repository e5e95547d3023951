// rmsnorm_fwd_37x68
// rmsnorm forward: y = x * rstd * w, rstd = 1 / sqrt(mean(x^2) + eps), rows of 68, eps = 0.000009999999747378752f
// bindings: x, w (read), y, rstd (write); one workgroup of 64 per row (row = wid.x + wid.y * 37)
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<storage, read_write> rstd: array<f32>;

var<workgroup> partial: array<f32, 64>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let row = wid.x + wid.y * 37u;
  if (row >= 37u) { return; }
  let base = row * 68u;
  var sumSq = 0.0f;
  for (var j = lid.x; j < 68u; j += 64u) {
    let v = x[base + j];
    sumSq += v * v;
  }
  partial[lid.x] = sumSq;
  workgroupBarrier();
  for (var stride = 64u / 2u; stride > 0u; stride /= 2u) {
    if (lid.x < stride) { partial[lid.x] += partial[lid.x + stride]; }
    workgroupBarrier();
  }
  let r = inverseSqrt(partial[0] * 0.014705882407724857f + 0.000009999999747378752f);
  for (var j = lid.x; j < 68u; j += 64u) {
    y[base + j] = x[base + j] * r * w[j];
  }
  if (lid.x == 0u) { rstd[row] = r; }
}
