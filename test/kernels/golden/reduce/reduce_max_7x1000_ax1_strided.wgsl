// reduce_max_7x1000_ax1_strided
// reduce_strided: out[o * 1 + j] = max of x[o * 1000 + k * 1 + j], k < 1000
// bindings: x (read), out (write)
// dispatch: ceil(7 / 8) workgroups spread over x and y, each 8 output elements x 32 lanes along the axis;
//   i = (wid.x + wid.y * 1) * 8 + lid.x; adjacent lanes read adjacent j (coalesced); lane y takes k = y, y + 32, ..., then a shared-memory tree over y
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;

var<workgroup> partial: array<f32, 256>;

@compute @workgroup_size(8, 32)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = (wid.x + wid.y * 1u) * 8u + lid.x;
  // Lanes past the last output read nothing but still reach every barrier.
  let end = select(0u, 1000u, i < 7u);
  let o = i / 1u;
  let base = o * 1000u + (i - o * 1u);
  var acc = -3.4028234663852886e+38f;
  for (var k = lid.y; k < end; k += 32u) {
    let v = x[base + k * 1u];
    acc = max(acc, v);
  }
  let slot = lid.y * 8u + lid.x;
  partial[slot] = acc;
  workgroupBarrier();
  if (lid.y < 16u) {
    let v = partial[slot + 128u];
    acc = max(acc, v);
    partial[slot] = acc;
  }
  workgroupBarrier();
  if (lid.y < 8u) {
    let v = partial[slot + 64u];
    acc = max(acc, v);
    partial[slot] = acc;
  }
  workgroupBarrier();
  if (lid.y < 4u) {
    let v = partial[slot + 32u];
    acc = max(acc, v);
    partial[slot] = acc;
  }
  workgroupBarrier();
  if (lid.y < 2u) {
    let v = partial[slot + 16u];
    acc = max(acc, v);
    partial[slot] = acc;
  }
  workgroupBarrier();
  if (lid.y < 1u) {
    let v = partial[slot + 8u];
    acc = max(acc, v);
    partial[slot] = acc;
  }
  if (lid.y == 0u && i < 7u) {
    out[i] = acc;
  }
}
