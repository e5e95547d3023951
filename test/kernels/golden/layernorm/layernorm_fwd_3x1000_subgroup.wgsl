enable subgroups;
// layernorm_fwd_3x1000_subgroup
// layernorm forward, subgroup layout: y = (x - mean) * rstd * w + b, rstd = 1 / sqrt(var + eps) (biased
// variance), 3 rows of 1000, eps = 0.000009999999747378752f; bindings: x, w, b, y (as vec4), mean, rstd (write)
// one subgroup per row, 8 rows per workgroup of 64: lanes stride over the row's 250 vec4s and
// meet in subgroupAdd (no shared memory, no barrier); the variance is a second pass over the centred
// row. Subgroups are taken to be runs of consecutive local invocation indices; the size is read at
// run time and subgroup s takes rows first + s, first + s + (subgroups per workgroup), ..., so every
// size covers all rows. Control flow depends only on the subgroup index (uniform per subgroup).
diagnostic(off, subgroup_uniformity);
@group(0) @binding(0) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> w: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> b: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> y: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> mean: array<f32>;
@group(0) @binding(5) var<storage, read_write> rstd: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32,
        @builtin(subgroup_invocation_id) lane: u32, @builtin(subgroup_size) sgSize: u32) {
  let lanes = min(sgSize, 64u);
  let first = (wid.x + wid.y * 1u) * 8u;
  for (var k = li / lanes; k < 8u; k += 64u / lanes) {
    let row = first + k;
    if (row >= 3u) { break; }
    let base = row * 250u;
    var acc = vec4<f32>(0.0f);
    for (var j = lane; j < 250u; j += lanes) { acc += x[base + j]; }
    let mu = subgroupAdd((acc.x + acc.y) + (acc.z + acc.w)) * 0.0010000000474974513f;
    var accSq = vec4<f32>(0.0f);
    for (var j = lane; j < 250u; j += lanes) {
      let d = x[base + j] - mu;
      accSq = fma(d, d, accSq);
    }
    let r = inverseSqrt(subgroupAdd((accSq.x + accSq.y) + (accSq.z + accSq.w)) * 0.0010000000474974513f + 0.000009999999747378752f);
    for (var j = lane; j < 250u; j += lanes) {
      y[base + j] = (x[base + j] - mu) * r * w[j] + b[j];
    }
    if (lane == 0u) {
      mean[row] = mu;
      rstd[row] = r;
    }
  }
}
