// moe_combine_sum_proj8_37x3_d33_rows
// moe combine, row-per-invocation variant: out[t, :] = Σ_j y[perm_row[t·3 + j], :] + proj_a[t, :] · proj_bᵀ (E = 8); row width 33, dropped assignments (perm_row < 0) skipped
// bindings: y (read), perm_row (read i32), proj_a, proj_b (read), out (write)
// dispatch: one invocation per token row, serial loops over its top-3 rows and columns; t = (wid.x + wid.y * 1) * 64 + lid.x
@group(0) @binding(0) var<storage, read> y: array<f32>;
@group(0) @binding(1) var<storage, read> perm_row: array<i32>;
@group(0) @binding(2) var<storage, read> proj_a: array<f32>;
@group(0) @binding(3) var<storage, read> proj_b: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

alias V = f32;

const K = 3u;
// Row width in V units.
const DV = 33u;
const PE = 8u;

// proj_b's entries of this row's columns at e (proj_b is [D, E]: a column's E values are contiguous).
fn projB(d: u32, e: u32) -> V {
  return proj_b[d * PE + e];
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let t = (wid.x + wid.y * 1u) * 64u + lid.x;
  if (t >= 37u) { return; }
  // Trip counts are multiplied by `one` (arrayLength ≥ 1, known only at dispatch) so lavapipe does
  // not fully unroll the row loops, which made these shaders compile for seconds.
  let one = min(arrayLength(&out), 1u);
  let dv = DV * one;
  let dst = t * DV;
  // Each assignment's source row (−1: dropped), read once.
  var src: array<i32, 3>;
  for (var j = 0u; j < K * one; j++) {
    src[j] = perm_row[t * K + j];
  }
  var pa: array<f32, 8>;
  for (var e = 0u; e < PE * one; e++) { pa[e] = proj_a[t * PE + e]; }
  // The same summation order as the element-per-invocation variant: assignments in ascending j,
  // then the addend, then the shared expert; one store per output.
  for (var d = 0u; d < dv; d++) {
    var acc = V(0.0f);
    for (var j = 0u; j < K * one; j++) {
      if (src[j] >= 0) { acc += y[u32(src[j]) * DV + d]; }
    }
    // fuse-gather-grad-matmul: the subgroup GEMM's FMA chain over e from 0 for these columns, then
    // added to the un-permuted sum as that GEMM's accumulate epilogue added it: the same bits.
    var term = V(0.0f);
    for (var e = 0u; e < PE * one; e++) { term = fma(V(pa[e]), projB(d, e), term); }
    acc += term;
    out[dst + d] = acc;
  }
}
