// softmax_3x1000_rows
// softmax: 3 rows of 1000, out = exp(x - max(row)) / sum(exp(x - max(row)))
// CPU-adapter layout: one invocation per row, 32 rows per workgroup (row = (wid.x + wid.y * 1) * 32 + local index),
//   walking its row serially in vec4<f32>s (250 per row): one pass for the running max and the sum of exp(x - max) rescaled to it,
//   one to write; no barrier, no shared memory. hmax/hsum fold one vec4<f32> to a scalar.
@group(0) @binding(0) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> out: array<vec4<f32>>;

fn hmax(v: vec4<f32>) -> f32 { return max(max(v.x, v.y), max(v.z, v.w)); }
fn hsum(v: vec4<f32>) -> f32 { return (v.x + v.y) + (v.z + v.w); }

@compute @workgroup_size(32)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lidx: u32) {
  let row = (wid.x + wid.y * 1u) * 32u + lidx;
  if (row >= 3u) { return; }
  let base = row * 250u;
  // Running max m and sum s of exp(x - m), rescaled whenever m grows; every exponent is <= 0.
  var m = -3.4028234663852886e+38f;
  var s = 0.0f;
  for (var k = 0u; k < 250u; k++) {
    let v = x[base + k];
    let grown = max(m, hmax(v));
    s = s * exp(m - grown) + hsum(exp(v - grown));
    m = grown;
  }
  let invSum = 1.0f / s;
  for (var k = 0u; k < 250u; k++) { out[base + k] = exp(x[base + k] - m) * invSum; }
}
