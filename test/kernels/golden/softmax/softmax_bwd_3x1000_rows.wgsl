// softmax_bwd_3x1000_rows
// softmax backward: 3 rows of 1000, dx = y * (dy - sum(dy * y)) (y = softmax output)
// CPU-adapter layout: one invocation per row, 32 rows per workgroup (row = (wid.x + wid.y * 1) * 32 + local index),
//   walking its row serially in vec4<f32>s (250 per row): one pass for the row sum,
//   one to write; no barrier, no shared memory. hmax/hsum fold one vec4<f32> to a scalar.
@group(0) @binding(0) var<storage, read> y: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> dy: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> dx: array<vec4<f32>>;

fn hmax(v: vec4<f32>) -> f32 { return max(max(v.x, v.y), max(v.z, v.w)); }
fn hsum(v: vec4<f32>) -> f32 { return (v.x + v.y) + (v.z + v.w); }

@compute @workgroup_size(32)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lidx: u32) {
  let row = (wid.x + wid.y * 1u) * 32u + lidx;
  if (row >= 3u) { return; }
  let base = row * 250u;
  var dot = 0.0f;
  for (var k = 0u; k < 250u; k++) { dot += hsum(dy[base + k] * y[base + k]); }
  for (var k = 0u; k < 250u; k++) {
    dx[base + k] = y[base + k] * (dy[base + k] - dot);
  }
}
