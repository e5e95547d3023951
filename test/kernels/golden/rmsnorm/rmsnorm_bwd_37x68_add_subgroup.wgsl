enable subgroups;
// rmsnorm_bwd_37x68_add_subgroup
// rmsnorm backward (dx), subgroup layout: dx = rstd * dy * w - x * rstd^3 * mean(dy * w * x), rstd
// recomputed from x; 37 rows of 68, eps = 0.000009999999747378752f; bindings: dy, x, w, addend (read), dx (dx + addend) (write), as vec4
// one subgroup per row, 8 rows per workgroup of 64: lanes stride over the row's 17 vec4s
// and meet in subgroupAdd (no shared memory, no barrier). Subgroups are taken to be runs of
// consecutive local invocation indices; the size is read at run time and subgroup s takes rows
// first + s, first + s + (subgroups per workgroup), ..., so every size covers all rows. Control flow
// depends only on the subgroup index, so it is uniform within each subgroup.
diagnostic(off, subgroup_uniformity);
@group(0) @binding(0) var<storage, read> dy: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> w: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> addend: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> dx: array<vec4<f32>>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32,
        @builtin(subgroup_invocation_id) lane: u32, @builtin(subgroup_size) sgSize: u32) {
  let lanes = min(sgSize, 64u);
  let first = (wid.x + wid.y * 5u) * 8u;
  for (var k = li / lanes; k < 8u; k += 64u / lanes) {
    let row = first + k;
    if (row >= 37u) { break; }
    let base = row * 17u;
    var accSq = vec4<f32>(0.0f);
    var accDot = vec4<f32>(0.0f);
    for (var j = lane; j < 17u; j += lanes) {
      let v = x[base + j];
      accSq = fma(v, v, accSq);
      accDot = fma(dy[base + j] * w[j], v, accDot);
    }
    let sums = subgroupAdd(vec2<f32>((accSq.x + accSq.y) + (accSq.z + accSq.w), (accDot.x + accDot.y) + (accDot.z + accDot.w)));
    let r = inverseSqrt(sums.x * 0.014705882407724857f + 0.000009999999747378752f);
    let correction = r * r * r * sums.y * 0.014705882407724857f;
    for (var j = lane; j < 17u; j += lanes) {
      dx[base + j] = r * dy[base + j] * w[j] - x[base + j] * correction + addend[base + j];
    }
  }
}
