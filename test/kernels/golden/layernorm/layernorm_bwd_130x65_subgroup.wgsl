enable subgroups;
// layernorm_bwd_130x65_subgroup
// layernorm backward (dx), subgroup layout: with xh = (x - mean) * rstd and g = dy * w,
// dx = rstd * (g - mean(g) - xh * mean(g * xh)); mean and rstd are the forward's per-row statistics
// 130 rows of 65; bindings: dy, x, w, dx (f32), mean, rstd (read)
// one subgroup per row, 8 rows per workgroup of 64: lanes stride over the row's 65 elements and
// meet in subgroupAdd (no shared memory, no barrier). Subgroups are taken to be runs of consecutive
// local invocation indices; the size is read at run time and subgroup s takes rows first + s,
// first + s + (subgroups per workgroup), ..., so every size covers all rows. Control flow depends
// only on the subgroup index (uniform per subgroup).
diagnostic(off, subgroup_uniformity);
@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read> mean: array<f32>;
@group(0) @binding(4) var<storage, read> rstd: array<f32>;
@group(0) @binding(5) var<storage, read_write> dx: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32,
        @builtin(subgroup_invocation_id) lane: u32, @builtin(subgroup_size) sgSize: u32) {
  let lanes = min(sgSize, 64u);
  let first = (wid.x + wid.y * 17u) * 8u;
  for (var k = li / lanes; k < 8u; k += 64u / lanes) {
    let row = first + k;
    if (row >= 130u) { break; }
    let base = row * 65u;
    let mu = mean[row];
    let r = rstd[row];
    var accG = 0.0f;
    var accGX = 0.0f;
    for (var j = lane; j < 65u; j += lanes) {
      let g = dy[base + j] * w[j];
      accG += g;
      accGX = fma(g, (x[base + j] - mu) * r, accGX);
    }
    let sums = subgroupAdd(vec2<f32>(accG, accGX));
    let gMean = sums.x * 0.015384615398943424f;
    let gxMean = sums.y * 0.015384615398943424f;
    for (var j = lane; j < 65u; j += lanes) {
      let xh = (x[base + j] - mu) * r;
      dx[base + j] = r * (dy[base + j] * w[j] - gMean - xh * gxMean);
    }
  }
}
