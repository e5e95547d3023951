// logsoftmax_2x4097_rows
// log-softmax: 2 rows of 4097, out = x - max(row) - log(sum(exp(x - max(row))))
// CPU-adapter layout: one invocation per row, 32 rows per workgroup (row = (wid.x + wid.y * 1) * 32 + local index),
//   walking its row serially in f32s (4097 per row): one pass for the running max and the sum of exp(x - max) rescaled to it,
//   one to write; no barrier, no shared memory. hmax/hsum fold one f32 to a scalar.
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;

fn hmax(v: f32) -> f32 { return v; }
fn hsum(v: f32) -> f32 { return v; }

@compute @workgroup_size(32)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lidx: u32) {
  let row = (wid.x + wid.y * 1u) * 32u + lidx;
  if (row >= 2u) { return; }
  let base = row * 4097u;
  // Running max m and sum s of exp(x - m), rescaled whenever m grows; every exponent is <= 0.
  var m = -3.4028234663852886e+38f;
  var s = 0.0f;
  for (var k = 0u; k < 4097u; k++) {
    let v = x[base + k];
    let grown = max(m, hmax(v));
    s = s * exp(m - grown) + hsum(exp(v - grown));
    m = grown;
  }
  // x - m first (exact when x is near m), then the log-sum: no rounding of m + log(s) at m's magnitude
  let logSum = log(s);
  for (var k = 0u; k < 4097u; k++) { out[base + k] = x[base + k] - m - logSum; }
}
