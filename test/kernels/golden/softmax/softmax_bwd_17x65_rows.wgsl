// softmax_bwd_17x65_rows
// softmax backward: 17 rows of 65, dx = y * (dy - sum(dy * y)) (y = softmax output)
// CPU-adapter layout: one invocation per row, 32 rows per workgroup (row = (wid.x + wid.y * 1) * 32 + local index),
//   walking its row serially in f32s (65 per row): one pass for the row sum,
//   one to write; no barrier, no shared memory. hmax/hsum fold one f32 to a scalar.
@group(0) @binding(0) var<storage, read> y: array<f32>;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read_write> dx: array<f32>;

fn hmax(v: f32) -> f32 { return v; }
fn hsum(v: f32) -> f32 { return v; }

@compute @workgroup_size(32)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lidx: u32) {
  let row = (wid.x + wid.y * 1u) * 32u + lidx;
  if (row >= 17u) { return; }
  let base = row * 65u;
  var dot = 0.0f;
  for (var k = 0u; k < 65u; k++) { dot += hsum(dy[base + k] * y[base + k]); }
  for (var k = 0u; k < 65u; k++) {
    dx[base + k] = y[base + k] * (dy[base + k] - dot);
  }
}
