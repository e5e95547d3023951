// moe_combine_w_add_41x2_d35_rows
// moe combine, row-per-invocation variant: out[t, :] = Σ_j topk_w[t·2 + j] · y[perm_row[t·2 + j], :] + addend[t, :]; row width 35, dropped assignments (perm_row < 0) skipped
// bindings: y (read), perm_row (read i32), topk_w (read), addend (read), out (write)
// dispatch: one invocation per token row, serial loops over its top-2 rows and columns; t = (wid.x + wid.y * 1) * 64 + lid.x
@group(0) @binding(0) var<storage, read> y: array<f32>;
@group(0) @binding(1) var<storage, read> perm_row: array<i32>;
@group(0) @binding(2) var<storage, read> topk_w: array<f32>;
@group(0) @binding(3) var<storage, read> addend: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

alias V = f32;

const K = 2u;
// Row width in V units.
const DV = 35u;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let t = (wid.x + wid.y * 1u) * 64u + lid.x;
  if (t >= 41u) { return; }
  // Trip counts are multiplied by `one` (arrayLength ≥ 1, known only at dispatch) so lavapipe does
  // not fully unroll the row loops, which made these shaders compile for seconds.
  let one = min(arrayLength(&out), 1u);
  let dv = DV * one;
  let dst = t * DV;
  // Each assignment's source row (−1: dropped) and weight, read once.
  var src: array<i32, 2>;
  var w: array<f32, 2>;
  for (var j = 0u; j < K * one; j++) {
    src[j] = perm_row[t * K + j];
    w[j] = topk_w[t * K + j];
  }
  // The same summation order as the element-per-invocation variant: assignments in ascending j,
  // then the addend, then the shared expert; one store per output.
  for (var d = 0u; d < dv; d++) {
    var acc = V(0.0f);
    for (var j = 0u; j < K * one; j++) {
      if (src[j] >= 0) { acc += w[j] * y[u32(src[j]) * DV + d]; }
    }
    acc += addend[dst + d];
    out[dst + d] = acc;
  }
}
