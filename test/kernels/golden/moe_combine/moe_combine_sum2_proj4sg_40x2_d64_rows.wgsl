enable subgroups;
// moe_combine_sum2_proj4sg_40x2_d64_rows
// moe combine, row-per-invocation variant: out[t, :] = Σ_j (y + y2)[perm_row[t·2 + j], :] + proj_a[t, :] · proj_bᵀ (E = 4); row width 64 (as 16 vec4), dropped assignments (perm_row < 0) skipped
// bindings: y (read), y2 (read), perm_row (read i32), proj_a, proj_b (read), out (write)
// dispatch: one invocation per token row, serial loops over its top-2 rows and columns; t = (wid.x + wid.y * 1) * 64 + lid.x
@group(0) @binding(0) var<storage, read> y: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> y2: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> perm_row: array<i32>;
@group(0) @binding(3) var<storage, read> proj_a: array<f32>;
@group(0) @binding(4) var<storage, read> proj_b: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> out: array<vec4<f32>>;

alias V = vec4<f32>;

const K = 2u;
// Row width in V units.
const DV = 16u;
const PE = 4u;
// proj_b [D, E] as vec4s: row c's experts 4q..4q+3 at c·PQ + q.
const PQ = 1u;

var<private> isLane0: bool;

// proj_b is the same for every lane: lane 0 loads, subgroupBroadcast hands out (uniform control flow).
fn projRow(i: u32) -> vec4<f32> {
  var v = vec4<f32>(0.0f);
  if (isLane0) { v = proj_b[i]; }
  return subgroupBroadcast(v, 0u);
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {
  // Every lane runs the row loop (the broadcasts need uniform control flow): rows past the end
  // compute on the last row and store nothing.
  isLane0 = lane == 0u;
  let index = (wid.x + wid.y * 1u) * 64u + lid.x;
  let keep = index < 40u;
  let t = min(index, 40u - 1u);
  // Trip counts are multiplied by `one` (arrayLength ≥ 1, known only at dispatch) so lavapipe does
  // not fully unroll the row loops, which made these shaders compile for seconds.
  let one = min(arrayLength(&out), 1u);
  let dv = DV * one;
  let dst = t * DV;
  // Each assignment's source row (−1: dropped), read once.
  var src: array<i32, 2>;
  for (var j = 0u; j < K * one; j++) {
    src[j] = perm_row[t * K + j];
  }
  var pa: array<f32, 4>;
  for (var e = 0u; e < PE * one; e++) { pa[e] = proj_a[t * PE + e]; }
  // The same summation order as the element-per-invocation variant: assignments in ascending j,
  // then the addend, then the shared expert; one store per output.
  for (var d = 0u; d < dv; d++) {
    var acc = V(0.0f);
    for (var j = 0u; j < K * one; j++) {
      // (y + y2) first, then the sum over j: the order of the unfused add followed by this combine
      if (src[j] >= 0) { acc += y[u32(src[j]) * DV + d] + y2[u32(src[j]) * DV + d]; }
    }
    // fuse-gather-grad-matmul: the subgroup GEMM's FMA chain over e from 0 for these columns, then
    // added to the un-permuted sum as that GEMM's accumulate epilogue added it: the same bits.
    var term = V(0.0f);
    // proj_b's rows 4d..4d+3 transposed into the 4 columns' vectors per expert, as the GEMM's transB load
    for (var q = 0u; q < PQ * one; q++) {
      let r0 = projRow((4u * d) * PQ + q);
      let r1 = projRow((4u * d + 1u) * PQ + q);
      let r2 = projRow((4u * d + 2u) * PQ + q);
      let r3 = projRow((4u * d + 3u) * PQ + q);
      term = fma(vec4<f32>(pa[4u * q]), vec4<f32>(r0.x, r1.x, r2.x, r3.x), term);
      term = fma(vec4<f32>(pa[4u * q + 1u]), vec4<f32>(r0.y, r1.y, r2.y, r3.y), term);
      term = fma(vec4<f32>(pa[4u * q + 2u]), vec4<f32>(r0.z, r1.z, r2.z, r3.z), term);
      term = fma(vec4<f32>(pa[4u * q + 3u]), vec4<f32>(r0.w, r1.w, r2.w, r3.w), term);
    }
    acc += term;
    if (keep) { out[dst + d] = acc; }
  }
}
