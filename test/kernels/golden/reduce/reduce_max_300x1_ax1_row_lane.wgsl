// reduce_max_300x1_ax1_row_lane
// reduce_row: out[row] = max of x[row * 1 + k], k < 1 (reduced axis innermost)
// bindings: x (read), out (write)
// dispatch: ceil(300 / 64) workgroups spread over x and y, each 1 lanes per row x 64 rows;
//   row = (wid.x + wid.y * 5) * 64 + lid.y; lanes stride over the row
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(1, 64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let row = (wid.x + wid.y * 5u) * 64u + lid.y;
  // Lanes of rows past the end read nothing but still reach every barrier.
  let end = select(0u, 1u, row < 300u);
  let base = row * 1u;
  var acc = -3.4028234663852886e+38f;
  for (var k = lid.x; k < end; k += 1u) {
    let v = x[base + k];
    acc = max(acc, v);
  }
  if (lid.x == 0u && row < 300u) {
    out[row] = acc;
  }
}
