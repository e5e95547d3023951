// embedding_fwd_70x33x12_rows
// embedding forward, row-per-invocation variant: out[t, :] = table[ids[t], :] for 70 tokens of width 12 (as 3 vec4); ids outside [0, 33) give a zero row
// bindings: table (read), ids (read), out (write)
// dispatch: one invocation per token, a serial copy loop (no barriers); t = (wid.x + wid.y * 2) * 64 + lid.x
@group(0) @binding(0) var<storage, read> table: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> ids: array<i32>;
@group(0) @binding(2) var<storage, read_write> out: array<vec4<f32>>;

alias V = vec4<f32>;

// Row width in V units.
const DV = 3u;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let t = (wid.x + wid.y * 2u) * 64u + lid.x;
  if (t >= 70u) { return; }
  // The trip count is multiplied by `one` (arrayLength ≥ 1, known only at dispatch) so lavapipe
  // does not fully unroll the copy loop.
  let one = min(arrayLength(&out), 1u);
  let id = ids[t];
  let dst = t * DV;
  if (id >= 0 && id < 33) {
    let src = u32(id) * DV;
    for (var d = 0u; d < DV * one; d++) { out[dst + d] = table[src + d]; }
  } else {
    for (var d = 0u; d < DV * one; d++) { out[dst + d] = V(0.0f); }
  }
}
