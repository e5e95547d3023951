// reduce_sum_300x37_ax0_strided
// reduce_strided: out[o * 37 + j] = sum of x[o * 11100 + k * 37 + j], k < 300
// bindings: x (read), out (write)
// dispatch: ceil(37 / 16) workgroups spread over x and y, each 16 output elements x 16 lanes along the axis;
//   i = (wid.x + wid.y * 3) * 16 + lid.x; adjacent lanes read adjacent j (coalesced); lane y takes k = y, y + 16, ..., then a shared-memory tree over y
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;

var<workgroup> partial: array<f32, 256>;

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = (wid.x + wid.y * 3u) * 16u + lid.x;
  // Lanes past the last output read nothing but still reach every barrier.
  let end = select(0u, 300u, i < 37u);
  let o = i / 37u;
  let base = o * 11100u + (i - o * 37u);
  var acc = 0.0f;
  for (var k = lid.y; k < end; k += 16u) {
    let v = x[base + k * 37u];
    acc = acc + v;
  }
  let slot = lid.y * 16u + lid.x;
  partial[slot] = acc;
  workgroupBarrier();
  if (lid.y < 8u) {
    let v = partial[slot + 128u];
    acc = acc + v;
    partial[slot] = acc;
  }
  workgroupBarrier();
  if (lid.y < 4u) {
    let v = partial[slot + 64u];
    acc = acc + v;
    partial[slot] = acc;
  }
  workgroupBarrier();
  if (lid.y < 2u) {
    let v = partial[slot + 32u];
    acc = acc + v;
    partial[slot] = acc;
  }
  workgroupBarrier();
  if (lid.y < 1u) {
    let v = partial[slot + 16u];
    acc = acc + v;
    partial[slot] = acc;
  }
  if (lid.y == 0u && i < 37u) {
    out[i] = acc;
  }
}
