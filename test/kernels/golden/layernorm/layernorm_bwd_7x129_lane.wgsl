// layernorm_bwd_7x129_lane
// layernorm backward (dx), lane layout (CPU adapters): with xh = (x - mean) * rstd and g = dy * w,
// dx = rstd * (g - mean(g) - xh * mean(g * xh)); mean and rstd are the forward's per-row statistics
// 7 rows of 129; bindings: dy, x, w, mean, rstd (read), dx (write)
// one invocation per row, serial loops over its 129 elements: no shared memory, no barriers;
// row = (wid.x + wid.y * 1) * 8 + lid.x
@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read> mean: array<f32>;
@group(0) @binding(4) var<storage, read> rstd: array<f32>;
@group(0) @binding(5) var<storage, read_write> dx: array<f32>;

@compute @workgroup_size(8)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let row = (wid.x + wid.y * 1u) * 8u + lid.x;
  if (row >= 7u) { return; }
  let base = row * 129u;
  let mu = mean[row];
  let r = rstd[row];
  var sumG = 0.0f;
  var sumGX = 0.0f;
  for (var j = 0u; j < 129u; j++) {
    let g = dy[base + j] * w[j];
    sumG += g;
    sumGX = fma(g, (x[base + j] - mu) * r, sumGX);
  }
  let gMean = sumG * 0.007751937955617905f;
  let gxMean = sumGX * 0.007751937955617905f;
  for (var j = 0u; j < 129u; j++) {
    let xh = (x[base + j] - mu) * r;
    dx[base + j] = r * (dy[base + j] * w[j] - gMean - xh * gxMean);
  }
}
