// reduce_max_5x129x7_ax1_strided_lane
// reduce_strided: out[o * 7 + j] = max of x[o * 903 + k * 7 + j], k < 129
// bindings: x (read), out (write)
// dispatch: ceil(35 / 64) workgroups spread over x and y, each 64 output elements x 1 lanes along the axis;
//   i = (wid.x + wid.y * 1) * 64 + lid.x; adjacent lanes read adjacent j (coalesced)
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(64, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = (wid.x + wid.y * 1u) * 64u + lid.x;
  if (i >= 35u) { return; }
  let end = 129u;
  let o = i / 7u;
  let base = o * 903u + (i - o * 7u);
  var acc = -3.4028234663852886e+38f;
  for (var k = lid.y; k < end; k += 1u) {
    let v = x[base + k * 7u];
    acc = max(acc, v);
  }
  out[i] = acc;
}
