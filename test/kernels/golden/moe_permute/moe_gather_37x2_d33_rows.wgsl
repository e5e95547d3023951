// moe_gather_37x2_d33_rows
// moe gather, row-per-invocation variant: xs[row, :] = x[src_token[row], :] for 74 rows of width 33; padding rows (src_token < 0) are zero
// bindings: x (read), src_token (read i32), xs (write)
// dispatch: one invocation per row of xs, a serial copy loop (no barriers); row = (wid.x + wid.y * 2) * 64 + lid.x
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> src_token: array<i32>;
@group(0) @binding(2) var<storage, read_write> xs: array<f32>;

alias V = f32;

// Row width in V units.
const DV = 33u;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let row = (wid.x + wid.y * 2u) * 64u + lid.x;
  if (row >= 74u) { return; }
  // The trip count is multiplied by `one` (arrayLength ≥ 1, known only at dispatch) so lavapipe
  // does not fully unroll the copy loop.
  let one = min(arrayLength(&xs), 1u);
  let t = src_token[row];
  let dst = row * DV;
  if (t >= 0) {
    let src = u32(t) * DV;
    for (var d = 0u; d < DV * one; d++) { xs[dst + d] = x[src + d]; }
  } else {
    for (var d = 0u; d < DV * one; d++) { xs[dst + d] = V(0.0f); }
  }
}
