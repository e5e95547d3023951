// sd_proxy_e3_204_grid
// sd_proxy (grid, for CPU adapters): out[e, j] = wc[j] + wu[e, j] for the 51 vec4s j of one expert matrix (W_c + W_u(e))
// bindings: wc (uniform) [K·N], wu (read, vec4) [E, K·N], out (write, vec4) [E, K·N]
// dispatch: (ceil(51 / (64 * 4)), E) workgroups; e = wid.y, an invocation's vec4s are
//   j = (wid.x * 4 + step) * 64 + lid.x for step < 4 (adjacent lanes, adjacent j).
// Why: the expert is the workgroup's, so W_c's index needs no per-lane division (lavapipe has no vector integer
//   division), and W_c, read by every expert, is a uniform buffer (a branch-free gather on lavapipe, where a
//   storage load at a per-lane address is a branch per lane and component). Needs K·N a multiple of 4.
@group(0) @binding(0) var<uniform> wc: array<vec4<f32>, 51>;
@group(0) @binding(1) var<storage, read> wu: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> out: array<vec4<f32>>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let base = wid.y * 51u;
  for (var step = 0u; step < 4u; step++) {
    let j = (wid.x * 4u + step) * 64u + lid.x;
    if (j < 51u) {
      out[base + j] = wc[j] + wu[base + j];
    }
  }
}
