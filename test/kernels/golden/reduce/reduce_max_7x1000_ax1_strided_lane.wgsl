// reduce_max_7x1000_ax1_strided_lane
// reduce_strided: out[o * 1 + j] = max of x[o * 1000 + k * 1 + j], k < 1000
// bindings: x (read), out (write)
// dispatch: ceil(7 / 64) workgroups spread over x and y, each 64 output elements x 1 lanes along the axis;
//   i = (wid.x + wid.y * 1) * 64 + lid.x; adjacent lanes read adjacent j (coalesced)
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(64, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = (wid.x + wid.y * 1u) * 64u + lid.x;
  if (i >= 7u) { return; }
  let end = 1000u;
  let o = i / 1u;
  let base = o * 1000u + (i - o * 1u);
  var acc = -3.4028234663852886e+38f;
  for (var k = lid.y; k < end; k += 1u) {
    let v = x[base + k * 1u];
    acc = max(acc, v);
  }
  out[i] = acc;
}
