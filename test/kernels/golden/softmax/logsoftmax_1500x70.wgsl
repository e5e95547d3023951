// logsoftmax_1500x70
// softmax: out[row, k] = x[row, k] - max(row) - log(sum(exp(x[row] - max(row)))), rows of 70
// bindings: x (read), out (write)
// dispatch: ceil(1500 / 64) workgroups spread over x and y, each 4 lanes per row x 64 rows;
//   row = (wid.x + wid.y * 24) * 64 + lid.y; one pass for (max, sum) merged through a shared-memory tree, one to write
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;

var<workgroup> partialMax: array<f32, 256>;
var<workgroup> partialSum: array<f32, 256>;

@compute @workgroup_size(4, 64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let row = (wid.x + wid.y * 24u) * 64u + lid.y;
  // Lanes of rows past the end read nothing but still reach every barrier.
  let end = select(0u, 70u, row < 1500u);
  let base = row * 70u;
  // Running max m and sum s of exp(x - m), rescaled whenever m grows; every exponent is <= 0.
  var m = -3.4028234663852886e+38f;
  var s = 0.0f;
  for (var k = lid.x; k < end; k += 4u) {
    let v = x[base + k];
    let grown = max(m, v);
    s = s * exp(m - grown) + exp(v - grown);
    m = grown;
  }
  let slot = lid.y * 4u + lid.x;
  partialMax[slot] = m;
  partialSum[slot] = s;
  workgroupBarrier();
  if (lid.x < 2u) {
    let mo = partialMax[slot + 2u];
    let so = partialSum[slot + 2u];
    let grown = max(m, mo);
    s = s * exp(m - grown) + so * exp(mo - grown);
    m = grown;
    partialMax[slot] = m;
    partialSum[slot] = s;
  }
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
  m = partialMax[lid.y * 4u];
  s = partialSum[lid.y * 4u];
  let logSum = log(s);
  for (var k = lid.x; k < end; k += 4u) {
    out[base + k] = x[base + k] - m - logSum;
  }
}
