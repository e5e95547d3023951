// softmax_45x36
// softmax: out[row, k] = exp(x[row, k] - max(row)) / sum(exp(x[row] - max(row))), rows of 36
// bindings: x (read), out (write)
// dispatch: ceil(45 / 128) workgroups spread over x and y, each 2 lanes per row x 128 rows;
//   row = (wid.x + wid.y * 1) * 128 + lid.y; one pass for (max, sum) merged through a shared-memory tree, one to write
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;

var<workgroup> partialMax: array<f32, 256>;
var<workgroup> partialSum: array<f32, 256>;

@compute @workgroup_size(2, 128)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let row = (wid.x + wid.y * 1u) * 128u + lid.y;
  // Lanes of rows past the end read nothing but still reach every barrier.
  let end = select(0u, 36u, row < 45u);
  let base = row * 36u;
  // Running max m and sum s of exp(x - m), rescaled whenever m grows; every exponent is <= 0.
  var m = -3.4028234663852886e+38f;
  var s = 0.0f;
  for (var k = lid.x; k < end; k += 2u) {
    let v = x[base + k];
    let grown = max(m, v);
    s = s * exp(m - grown) + exp(v - grown);
    m = grown;
  }
  let slot = lid.y * 2u + lid.x;
  partialMax[slot] = m;
  partialSum[slot] = s;
  workgroupBarrier();
  if (lid.x < 1u) {
    let mo = partialMax[slot + 1u];
    let so = partialSum[slot + 1u];
    let grown = max(m, mo);
    s = s * exp(m - grown) + so * exp(mo - grown);
    m = grown;
    partialMax[slot] = m;
    partialSum[slot] = s;
  }
  workgroupBarrier();
  m = partialMax[lid.y * 2u];
  s = partialSum[lid.y * 2u];
  let invSum = 1.0f / s;
  for (var k = lid.x; k < end; k += 2u) {
    out[base + k] = exp(x[base + k] - m) * invSum;
  }
}
