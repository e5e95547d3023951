// logsoftmax_bwd_37x68_rows
// log-softmax backward: 37 rows of 68, dx = dy - exp(y) * sum(dy) (y = log-softmax output)
// CPU-adapter layout: one invocation per row, 32 rows per workgroup (row = (wid.x + wid.y * 2) * 32 + local index),
//   walking its row serially in vec4<f32>s (17 per row): one pass for the row sum,
//   one to write; no barrier, no shared memory. hmax/hsum fold one vec4<f32> to a scalar.
@group(0) @binding(0) var<storage, read> y: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> dy: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> dx: array<vec4<f32>>;

fn hmax(v: vec4<f32>) -> f32 { return max(max(v.x, v.y), max(v.z, v.w)); }
fn hsum(v: vec4<f32>) -> f32 { return (v.x + v.y) + (v.z + v.w); }

@compute @workgroup_size(32)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lidx: u32) {
  let row = (wid.x + wid.y * 2u) * 32u + lidx;
  if (row >= 37u) { return; }
  let base = row * 17u;
  var dot = 0.0f;
  for (var k = 0u; k < 17u; k++) { dot += hsum(dy[base + k]); }
  for (var k = 0u; k < 17u; k++) {
    dx[base + k] = dy[base + k] - exp(y[base + k]) * dot;
  }
}
