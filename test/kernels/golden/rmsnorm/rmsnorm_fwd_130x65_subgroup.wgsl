enable subgroups;
// rmsnorm_fwd_130x65_subgroup
// rmsnorm forward, subgroup layout: y = x * rstd * w, rstd = 1 / sqrt(mean(x^2) + eps),
// 130 rows of 65, eps = 9.999999974752427e-7f; bindings: x, w, y (f32), rstd (write)
// one subgroup per row, 8 rows per workgroup of 64: lanes stride over the row's 65 elements
// and meet in subgroupAdd, so there is no shared memory and no barrier.
// Subgroups are taken to be runs of consecutive local invocation indices (as on lavapipe and the
// usual GPU drivers); the subgroup size is read at run time, and subgroup s of the workgroup takes
// rows first + s, first + s + (subgroups per workgroup), ..., so every size covers all rows.
// Control flow below depends only on the subgroup index, so it is uniform within each subgroup.
diagnostic(off, subgroup_uniformity);
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<storage, read_write> rstd: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32,
        @builtin(subgroup_invocation_id) lane: u32, @builtin(subgroup_size) sgSize: u32) {
  let lanes = min(sgSize, 64u);
  let first = (wid.x + wid.y * 17u) * 8u;
  for (var k = li / lanes; k < 8u; k += 64u / lanes) {
    let row = first + k;
    if (row >= 130u) { break; }
    let base = row * 65u;
    var acc = 0.0f;
    for (var j = lane; j < 65u; j += lanes) {
      let v = x[base + j];
      acc = fma(v, v, acc);
    }
    let r = inverseSqrt(subgroupAdd(acc) * 0.015384615398943424f + 9.999999974752427e-7f);
    for (var j = lane; j < 65u; j += lanes) {
      y[base + j] = x[base + j] * r * w[j];
    }
    if (lane == 0u) { rstd[row] = r; }
  }
}
