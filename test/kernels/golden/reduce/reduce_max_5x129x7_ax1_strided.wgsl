// reduce_max_5x129x7_ax1_strided
// reduce_strided: out[o * 7 + j] = max of x[o * 903 + k * 7 + j], k < 129
// bindings: x (read), out (write)
// dispatch: ceil(35 / 32) workgroups spread over x and y, each 32 output elements x 8 lanes along the axis;
//   i = (wid.x + wid.y * 2) * 32 + lid.x; adjacent lanes read adjacent j (coalesced); lane y takes k = y, y + 8, ..., then a shared-memory tree over y
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;

var<workgroup> partial: array<f32, 256>;

@compute @workgroup_size(32, 8)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = (wid.x + wid.y * 2u) * 32u + lid.x;
  // Lanes past the last output read nothing but still reach every barrier.
  let end = select(0u, 129u, i < 35u);
  let o = i / 7u;
  let base = o * 903u + (i - o * 7u);
  var acc = -3.4028234663852886e+38f;
  for (var k = lid.y; k < end; k += 8u) {
    let v = x[base + k * 7u];
    acc = max(acc, v);
  }
  let slot = lid.y * 32u + lid.x;
  partial[slot] = acc;
  workgroupBarrier();
  if (lid.y < 4u) {
    let v = partial[slot + 128u];
    acc = max(acc, v);
    partial[slot] = acc;
  }
  workgroupBarrier();
  if (lid.y < 2u) {
    let v = partial[slot + 64u];
    acc = max(acc, v);
    partial[slot] = acc;
  }
  workgroupBarrier();
  if (lid.y < 1u) {
    let v = partial[slot + 32u];
    acc = max(acc, v);
    partial[slot] = acc;
  }
  if (lid.y == 0u && i < 35u) {
    out[i] = acc;
  }
}
