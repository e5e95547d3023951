// reduce_sum_1500x70_ax1_row
// reduce_row: out[row] = sum of x[row * 70 + k], k < 70 (reduced axis innermost)
// bindings: x (read), out (write)
// dispatch: ceil(1500 / 64) workgroups spread over x and y, each 4 lanes per row x 64 rows;
//   row = (wid.x + wid.y * 24) * 64 + lid.y; lanes stride over the row, then combine through a shared-memory tree
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;

var<workgroup> partial: array<f32, 256>;

@compute @workgroup_size(4, 64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let row = (wid.x + wid.y * 24u) * 64u + lid.y;
  // Lanes of rows past the end read nothing but still reach every barrier.
  let end = select(0u, 70u, row < 1500u);
  let base = row * 70u;
  var acc = 0.0f;
  for (var k = lid.x; k < end; k += 4u) {
    let v = x[base + k];
    acc = acc + v;
  }
  let slot = lid.y * 4u + lid.x;
  partial[slot] = acc;
  workgroupBarrier();
  if (lid.x < 2u) {
    let v = partial[slot + 2u];
    acc = acc + v;
    partial[slot] = acc;
  }
  workgroupBarrier();
  if (lid.x < 1u) {
    let v = partial[slot + 1u];
    acc = acc + v;
    partial[slot] = acc;
  }
  if (lid.x == 0u && row < 1500u) {
    out[row] = acc;
  }
}
