// reduce_sumsq_17x33x65_ax0_strided_lane
// reduce_strided: out[o * 2145 + j] = sumsq of x[o * 36465 + k * 2145 + j], k < 17
// bindings: x (read), out (write)
// dispatch: ceil(2145 / 64) workgroups spread over x and y, each 64 output elements x 1 lanes along the axis;
//   i = (wid.x + wid.y * 34) * 64 + lid.x; adjacent lanes read adjacent j (coalesced)
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(64, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = (wid.x + wid.y * 34u) * 64u + lid.x;
  if (i >= 2145u) { return; }
  let end = 17u;
  let o = i / 2145u;
  let base = o * 36465u + (i - o * 2145u);
  var acc = 0.0f;
  for (var k = lid.y; k < end; k += 1u) {
    let v = x[base + k * 2145u];
    acc = acc + v * v;
  }
  out[i] = acc;
}
