// reduce_mean_4x1x9_ax1_keep_strided_lane
// reduce_strided: out[o * 9 + j] = mean of x[o * 9 + k * 9 + j], k < 1
// bindings: x (read), out (write)
// dispatch: ceil(36 / 64) workgroups spread over x and y, each 64 output elements x 1 lanes along the axis;
//   i = (wid.x + wid.y * 1) * 64 + lid.x; adjacent lanes read adjacent j (coalesced)
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(64, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = (wid.x + wid.y * 1u) * 64u + lid.x;
  if (i >= 36u) { return; }
  let end = 1u;
  let o = i / 9u;
  let base = o * 9u + (i - o * 9u);
  var acc = 0.0f;
  for (var k = lid.y; k < end; k += 1u) {
    let v = x[base + k * 9u];
    acc = acc + v;
  }
  out[i] = acc / 1.0f;
}
