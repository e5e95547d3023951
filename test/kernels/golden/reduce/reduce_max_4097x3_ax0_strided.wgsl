// reduce_max_4097x3_ax0_strided
// reduce_strided: out[o * 3 + j] = max of x[o * 12291 + k * 3 + j], k < 4097
// bindings: x (read), out (write)
// dispatch: ceil(3 / 1) workgroups spread over x and y, each 1 output elements x 256 lanes along the axis;
//   i = (wid.x + wid.y * 3) * 1 + lid.x; adjacent lanes read adjacent j (coalesced); lane y takes k = y, y + 256, ..., then a shared-memory tree over y
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;

var<workgroup> partial: array<f32, 256>;

@compute @workgroup_size(1, 256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = (wid.x + wid.y * 3u) * 1u + lid.x;
  // Lanes past the last output read nothing but still reach every barrier.
  let end = select(0u, 4097u, i < 3u);
  let o = i / 3u;
  let base = o * 12291u + (i - o * 3u);
  var acc = -3.4028234663852886e+38f;
  for (var k = lid.y; k < end; k += 256u) {
    let v = x[base + k * 3u];
    acc = max(acc, v);
  }
  let slot = lid.y * 1u + lid.x;
  partial[slot] = acc;
  workgroupBarrier();
  if (lid.y < 128u) {
    let v = partial[slot + 128u];
    acc = max(acc, v);
    partial[slot] = acc;
  }
  workgroupBarrier();
  if (lid.y < 64u) {
    let v = partial[slot + 64u];
    acc = max(acc, v);
    partial[slot] = acc;
  }
  workgroupBarrier();
  if (lid.y < 32u) {
    let v = partial[slot + 32u];
    acc = max(acc, v);
    partial[slot] = acc;
  }
  workgroupBarrier();
  if (lid.y < 16u) {
    let v = partial[slot + 16u];
    acc = max(acc, v);
    partial[slot] = acc;
  }
  workgroupBarrier();
  if (lid.y < 8u) {
    let v = partial[slot + 8u];
    acc = max(acc, v);
    partial[slot] = acc;
  }
  workgroupBarrier();
  if (lid.y < 4u) {
    let v = partial[slot + 4u];
    acc = max(acc, v);
    partial[slot] = acc;
  }
  workgroupBarrier();
  if (lid.y < 2u) {
    let v = partial[slot + 2u];
    acc = max(acc, v);
    partial[slot] = acc;
  }
  workgroupBarrier();
  if (lid.y < 1u) {
    let v = partial[slot + 1u];
    acc = max(acc, v);
    partial[slot] = acc;
  }
  if (lid.y == 0u && i < 3u) {
    out[i] = acc;
  }
}
