// moe_combine_w_add_41x2_d35
// moe combine: out[t, d] = Σ_j topk_w[t·2 + j] · y[perm_row[t·2 + j], d] + addend[t, d]; row width 35, dropped assignments (perm_row < 0) skipped
// bindings: y (read), perm_row (read i32), topk_w (read), addend (read), out (write)
// dispatch: one invocation per output element; i = (wid.x + wid.y * 6) * 256 + lid.x
@group(0) @binding(0) var<storage, read> y: array<f32>;
@group(0) @binding(1) var<storage, read> perm_row: array<i32>;
@group(0) @binding(2) var<storage, read> topk_w: array<f32>;
@group(0) @binding(3) var<storage, read> addend: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

const K = 2u;
const D = 35u;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = (wid.x + wid.y * 6u) * 256u + lid.x;
  if (i >= 1435u) { return; }
  let t = i / D;
  let d = i - t * D;
  var acc = 0.0f;
  for (var j = 0u; j < K; j++) {
    let row = perm_row[t * K + j];
    if (row >= 0) {
      acc += topk_w[t * K + j] * y[u32(row) * D + d];
    }
  }
  acc += addend[i];
  out[i] = acc;
}
