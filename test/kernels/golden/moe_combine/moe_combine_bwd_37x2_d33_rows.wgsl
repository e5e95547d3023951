// moe_combine_bwd_37x2_d33_rows
// moe combine backward, row-per-invocation variant: d_y[r, :] = topk_w[src_token[r]·2 + src_slot[r]] · d_out[src_token[r], :] (zero for padding rows), d_topk_w[t·2 + j] = ⟨d_out[t, :], y[perm_row[t·2 + j], :]⟩; row width 33
// bindings: d_out, y, topk_w, perm_row (i32), src_token (i32), src_slot (i32) (read); d_y, d_topk_w (write)
// dispatch: one invocation per index i < 74, serving row i and assignment i with serial loops over the row (no barriers); i = (wid.x + wid.y * 2) * 64 + lid.x
@group(0) @binding(0) var<storage, read> d_out: array<f32>;
@group(0) @binding(1) var<storage, read> y: array<f32>;
@group(0) @binding(2) var<storage, read> topk_w: array<f32>;
@group(0) @binding(3) var<storage, read> perm_row: array<i32>;
@group(0) @binding(4) var<storage, read> src_token: array<i32>;
@group(0) @binding(5) var<storage, read> src_slot: array<i32>;
@group(0) @binding(6) var<storage, read_write> d_y: array<f32>;
@group(0) @binding(7) var<storage, read_write> d_topk_w: array<f32>;

alias V = f32;
fn vdot(a: V, b: V) -> f32 { return a * b; }

const K = 2u;
// Row width in V units.
const DV = 33u;

// ⟨d_out[t, :], y[perm_row[a], :]⟩ of assignment a (token t = a / K), in ascending d order: deterministic.
fn assignmentDot(a: u32, dv: u32) -> f32 {
  let row = perm_row[a];
  var dot = 0.0f;
  if (row >= 0) {
    let g = (a / K) * DV;
    let src = u32(row) * DV;
    for (var d = 0u; d < dv; d++) { dot += vdot(d_out[g + d], y[src + d]); }
  }
  return dot;
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = (wid.x + wid.y * 2u) * 64u + lid.x;
  if (i >= 74u) { return; }
  // Trip counts are multiplied by `one` (arrayLength ≥ 1, known only at dispatch) so lavapipe does
  // not fully unroll the row loops, which made these shaders compile for seconds.
  let one = min(arrayLength(&d_topk_w), 1u);
  let dv = DV * one;

  let t = src_token[i];
  if (t >= 0) {
    let w = topk_w[u32(t) * K + u32(src_slot[i])];
    let src = u32(t) * DV;
    for (var d = 0u; d < dv; d++) { d_y[i * DV + d] = w * d_out[src + d]; }
  } else {
    for (var d = 0u; d < dv; d++) { d_y[i * DV + d] = V(0.0f); }
  }

  d_topk_w[i] = assignmentDot(i, dv);
}
