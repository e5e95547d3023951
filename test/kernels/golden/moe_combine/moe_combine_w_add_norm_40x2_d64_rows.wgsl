// moe_combine_w_add_norm_40x2_d64_rows
// moe combine, row-per-invocation variant: out[t, :] = Σ_j topk_w[t·2 + j] · y[perm_row[t·2 + j], :] + addend[t, :], then norm_y[t, :] = out[t, :] · rstd[t] · norm_w, rstd[t] = 1 / sqrt(mean(out[t, :]²) + 9.999999974752427e-7f); row width 64 (as 16 vec4), dropped assignments (perm_row < 0) skipped
// bindings: y (read), perm_row (read i32), topk_w (read), addend (read), norm_w (read), out (read_write), norm_y, rstd (write)
// dispatch: one invocation per token row, serial loops over its top-2 rows and columns; t = (wid.x + wid.y * 1) * 64 + lid.x
@group(0) @binding(0) var<storage, read> y: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> perm_row: array<i32>;
@group(0) @binding(2) var<storage, read> topk_w: array<f32>;
@group(0) @binding(3) var<storage, read> addend: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> norm_w: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> out: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read_write> norm_y: array<vec4<f32>>;
@group(0) @binding(7) var<storage, read_write> rstd: array<f32>;

alias V = vec4<f32>;

const K = 2u;
// Row width in V units.
const DV = 16u;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let t = (wid.x + wid.y * 1u) * 64u + lid.x;
  if (t >= 40u) { return; }
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
  var sumSq = 0.0f;
  for (var d = 0u; d < dv; d++) {
    var acc = V(0.0f);
    for (var j = 0u; j < K * one; j++) {
      if (src[j] >= 0) { acc += w[j] * y[u32(src[j]) * DV + d]; }
    }
    acc += addend[dst + d];
    out[dst + d] = acc;
    sumSq = fma(acc.x, acc.x, sumSq);
    sumSq = fma(acc.y, acc.y, sumSq);
    sumSq = fma(acc.z, acc.z, sumSq);
    sumSq = fma(acc.w, acc.w, sumSq);
  }
  let r = inverseSqrt(sumSq * 0.015625f + 9.999999974752427e-7f);
  for (var d = 0u; d < dv; d++) { norm_y[dst + d] = out[dst + d] * r * norm_w[d]; }
  rstd[t] = r;
}
