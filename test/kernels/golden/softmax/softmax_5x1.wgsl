// softmax_5x1
// softmax: out[row, k] = exp(x[row, k] - max(row)) / sum(exp(x[row] - max(row))), rows of 1
// bindings: x (read), out (write)
// dispatch: ceil(5 / 256) workgroups spread over x and y, each 1 lanes per row x 256 rows;
//   row = (wid.x + wid.y * 1) * 256 + lid.y; one pass for (max, sum), one to write
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(1, 256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let row = (wid.x + wid.y * 1u) * 256u + lid.y;
  // Lanes of rows past the end read nothing but still reach every barrier.
  let end = select(0u, 1u, row < 5u);
  let base = row * 1u;
  // Running max m and sum s of exp(x - m), rescaled whenever m grows; every exponent is <= 0.
  var m = -3.4028234663852886e+38f;
  var s = 0.0f;
  for (var k = lid.x; k < end; k += 1u) {
    let v = x[base + k];
    let grown = max(m, v);
    s = s * exp(m - grown) + exp(v - grown);
    m = grown;
  }
  let invSum = 1.0f / s;
  for (var k = lid.x; k < end; k += 1u) {
    out[base + k] = exp(x[base + k] - m) * invSum;
  }
}
