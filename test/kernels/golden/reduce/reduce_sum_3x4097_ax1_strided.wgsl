// reduce_sum_3x4097_ax1_strided
// reduce_strided: out[o * 1 + j] = sum of x[o * 4097 + k * 1 + j], k < 4097
// bindings: x (read), out (write)
// dispatch: ceil(3 / 256) workgroups spread over x and y, one lane per output element;
//   i = (wid.x + wid.y * 1) * 256 + lid.x; adjacent lanes read adjacent j (coalesced)
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = (wid.x + wid.y * 1u) * 256u + lid.x;
  if (i >= 3u) { return; }
  let o = i / 1u;
  let base = o * 4097u + (i - o * 1u);
  var acc = 0.0f;
  for (var k = 0u; k < 4097u; k++) {
    let v = x[base + k * 1u];
    acc = acc + v;
  }
  out[i] = acc;
}
