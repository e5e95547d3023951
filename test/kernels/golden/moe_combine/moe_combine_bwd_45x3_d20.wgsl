// moe_combine_bwd_45x3_d20
// moe combine backward: d_y[r, :] = topk_w[src_token[r]·3 + src_slot[r]] · d_out[src_token[r], :] (zero for padding rows), d_topk_w[t·3 + j] = ⟨d_out[t, :], y[perm_row[t·3 + j], :]⟩; row width 20
// bindings: d_out, y, topk_w, perm_row (i32), src_token (i32), src_slot (i32) (read); d_y, d_topk_w (write)
// dispatch: one workgroup per index i < 135, serving row i and assignment i; i = wid.x + wid.y * 135
@group(0) @binding(0) var<storage, read> d_out: array<f32>;
@group(0) @binding(1) var<storage, read> y: array<f32>;
@group(0) @binding(2) var<storage, read> topk_w: array<f32>;
@group(0) @binding(3) var<storage, read> perm_row: array<i32>;
@group(0) @binding(4) var<storage, read> src_token: array<i32>;
@group(0) @binding(5) var<storage, read> src_slot: array<i32>;
@group(0) @binding(6) var<storage, read_write> d_y: array<f32>;
@group(0) @binding(7) var<storage, read_write> d_topk_w: array<f32>;

const K = 3u;
const D = 20u;
const WG = 64u;

var<workgroup> partial: array<f32, 64>;

// Fixed-order tree sum over the workgroup (deterministic); every invocation must call it.
fn workgroupSum(lane: u32, value: f32) -> f32 {
  partial[lane] = value;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (lane < stride) { partial[lane] += partial[lane + stride]; }
    workgroupBarrier();
  }
  let total = partial[0];
  workgroupBarrier();
  return total;
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = wid.x + wid.y * 135u;
  if (i >= 135u) { return; }
  let lane = lid.x;

  let t = src_token[i];
  if (t >= 0) {
    let w = topk_w[u32(t) * K + u32(src_slot[i])];
    for (var d = lane; d < D; d += WG) { d_y[i * D + d] = w * d_out[u32(t) * D + d]; }
  } else {
    for (var d = lane; d < D; d += WG) { d_y[i * D + d] = 0.0f; }
  }

  let row = perm_row[i];
  let token = i / K;
  var dot = 0.0f;
  if (row >= 0) {
    for (var d = lane; d < D; d += WG) { dot += d_out[token * D + d] * y[u32(row) * D + d]; }
  }
  let dW = workgroupSum(lane, dot);
  if (lane == 0u) { d_topk_w[i] = dW; }
}
