// moe_combine_sum2_37x2_d64_rows
// moe combine, row-per-invocation variant: out[t, :] = Σ_j (y + y2)[perm_row[t·2 + j], :]; row width 64 (as 16 vec4), dropped assignments (perm_row < 0) skipped
// bindings: y (read), y2 (read), perm_row (read i32), out (write)
// dispatch: one invocation per token row, serial loops over its top-2 rows and columns; t = (wid.x + wid.y * 1) * 64 + lid.x
@group(0) @binding(0) var<storage, read> y: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> y2: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> perm_row: array<i32>;
@group(0) @binding(3) var<storage, read_write> out: array<vec4<f32>>;

alias V = vec4<f32>;

const K = 2u;
// Row width in V units.
const DV = 16u;

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
  var src: array<i32, 2>;
  for (var j = 0u; j < K * one; j++) {
    src[j] = perm_row[t * K + j];
  }
  // The same summation order as the element-per-invocation variant: assignments in ascending j,
  // then the addend, then the shared expert; one store per output.
  for (var d = 0u; d < dv; d++) {
    var acc = V(0.0f);
    for (var j = 0u; j < K * one; j++) {
      // (y + y2) first, then the sum over j: the order of the unfused add followed by this combine
      if (src[j] >= 0) { acc += y[u32(src[j]) * DV + d] + y2[u32(src[j]) * DV + d]; }
    }
    out[dst + d] = acc;
  }
}
