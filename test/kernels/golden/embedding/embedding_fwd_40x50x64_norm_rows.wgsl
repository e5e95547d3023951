// embedding_fwd_40x50x64_norm_rows
// embedding forward, row-per-invocation variant: out[t, :] = table[ids[t], :] for 40 tokens of width 64 (as 16 vec4); ids outside [0, 50) give a zero row
// bindings: table (read), ids (read), norm_w (read), out (read_write), norm_y, rstd (write): then norm_y[t, :] = out[t, :] · rstd[t] · norm_w, rstd[t] = 1 / sqrt(mean(out[t, :]²) + 9.999999974752427e-7f)
// dispatch: one invocation per token, a serial copy loop (no barriers); t = (wid.x + wid.y * 1) * 64 + lid.x
@group(0) @binding(0) var<storage, read> table: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> ids: array<i32>;
@group(0) @binding(2) var<storage, read> norm_w: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> out: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> norm_y: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> rstd: array<f32>;

alias V = vec4<f32>;

// Row width in V units.
const DV = 16u;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let t = (wid.x + wid.y * 1u) * 64u + lid.x;
  if (t >= 40u) { return; }
  // The trip count is multiplied by `one` (arrayLength ≥ 1, known only at dispatch) so lavapipe
  // does not fully unroll the copy loop.
  let one = min(arrayLength(&out), 1u);
  let id = ids[t];
  let dst = t * DV;
  var sumSq = 0.0f;
  if (id >= 0 && id < 50) {
    let src = u32(id) * DV;
    for (var d = 0u; d < DV * one; d++) {
      let v = table[src + d];
      out[dst + d] = v;
      sumSq = fma(v.x, v.x, sumSq);
      sumSq = fma(v.y, v.y, sumSq);
      sumSq = fma(v.z, v.z, sumSq);
      sumSq = fma(v.w, v.w, sumSq);
    }
  } else {
    for (var d = 0u; d < DV * one; d++) { out[dst + d] = V(0.0f); }
  }
  let r = inverseSqrt(sumSq * 0.015625f + 9.999999974752427e-7f);
  for (var d = 0u; d < DV * one; d++) { norm_y[dst + d] = out[dst + d] * r * norm_w[d]; }
  rstd[t] = r;
}
