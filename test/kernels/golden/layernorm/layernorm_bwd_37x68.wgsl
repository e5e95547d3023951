// layernorm_bwd_37x68
// layernorm backward (dx): with xh = (x - mean) * rstd and g = dy * w,
// dx = rstd * (g - mean(g) - xh * mean(g * xh)); mean and rstd are the forward's per-row statistics
// rows of 68; bindings: dy, x, w, mean, rstd (read), dx (write); one workgroup of 64 per row
@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read> mean: array<f32>;
@group(0) @binding(4) var<storage, read> rstd: array<f32>;
@group(0) @binding(5) var<storage, read_write> dx: array<f32>;

var<workgroup> partialG: array<f32, 64>;
var<workgroup> partialGX: array<f32, 64>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let row = wid.x + wid.y * 37u;
  if (row >= 37u) { return; }
  let base = row * 68u;
  let mu = mean[row];
  let r = rstd[row];
  var sumG = 0.0f;
  var sumGX = 0.0f;
  for (var j = lid.x; j < 68u; j += 64u) {
    let g = dy[base + j] * w[j];
    sumG += g;
    sumGX += g * (x[base + j] - mu) * r;
  }
  partialG[lid.x] = sumG;
  partialGX[lid.x] = sumGX;
  workgroupBarrier();
  for (var stride = 64u / 2u; stride > 0u; stride /= 2u) {
    if (lid.x < stride) {
      partialG[lid.x] += partialG[lid.x + stride];
      partialGX[lid.x] += partialGX[lid.x + stride];
    }
    workgroupBarrier();
  }
  let gMean = partialG[0] * 0.014705882407724857f;
  let gxMean = partialGX[0] * 0.014705882407724857f;
  for (var j = lid.x; j < 68u; j += 64u) {
    let xh = (x[base + j] - mu) * r;
    dx[base + j] = r * (dy[base + j] * w[j] - gMean - xh * gxMean);
  }
}
