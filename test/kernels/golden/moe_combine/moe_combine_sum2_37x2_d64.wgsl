// moe_combine_sum2_37x2_d64
// moe combine: out[t, d] = Σ_j (y + y2)[perm_row[t·2 + j], d]; row width 64, dropped assignments (perm_row < 0) skipped
// bindings: y (read), y2 (read), perm_row (read i32), out (write)
// dispatch: one invocation per output element; i = (wid.x + wid.y * 10) * 256 + lid.x
@group(0) @binding(0) var<storage, read> y: array<f32>;
@group(0) @binding(1) var<storage, read> y2: array<f32>;
@group(0) @binding(2) var<storage, read> perm_row: array<i32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

const K = 2u;
const D = 64u;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = (wid.x + wid.y * 10u) * 256u + lid.x;
  if (i >= 2368u) { return; }
  let t = i / D;
  let d = i - t * D;
  var acc = 0.0f;
  for (var j = 0u; j < K; j++) {
    let row = perm_row[t * K + j];
    if (row >= 0) {
      acc += y[u32(row) * D + d] + y2[u32(row) * D + d];
    }
  }
  out[i] = acc;
}
