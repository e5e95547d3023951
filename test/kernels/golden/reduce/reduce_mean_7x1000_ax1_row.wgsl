// reduce_mean_7x1000_ax1_row
// reduce_row: out[row] = mean of x[row * 1000 + k], k < 1000 (reduced axis innermost)
// bindings: x (read), out (write)
// dispatch: ceil(7 / 8) workgroups spread over x and y, each 32 lanes per row x 8 rows;
//   row = (wid.x + wid.y * 1) * 8 + lid.y; lanes stride over the row, then combine through a shared-memory tree
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;

var<workgroup> partial: array<f32, 256>;

@compute @workgroup_size(32, 8)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let row = (wid.x + wid.y * 1u) * 8u + lid.y;
  // Lanes of rows past the end read nothing but still reach every barrier.
  let end = select(0u, 1000u, row < 7u);
  let base = row * 1000u;
  var acc = 0.0f;
  for (var k = lid.x; k < end; k += 32u) {
    let v = x[base + k];
    acc = acc + v;
  }
  let slot = lid.y * 32u + lid.x;
  partial[slot] = acc;
  workgroupBarrier();
  if (lid.x < 16u) {
    let v = partial[slot + 16u];
    acc = acc + v;
    partial[slot] = acc;
  }
  workgroupBarrier();
  if (lid.x < 8u) {
    let v = partial[slot + 8u];
    acc = acc + v;
    partial[slot] = acc;
  }
  workgroupBarrier();
  if (lid.x < 4u) {
    let v = partial[slot + 4u];
    acc = acc + v;
    partial[slot] = acc;
  }
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
  if (lid.x == 0u && row < 7u) {
    out[row] = acc / 1000.0f;
  }
}
