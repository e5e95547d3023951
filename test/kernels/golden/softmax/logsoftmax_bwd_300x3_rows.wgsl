// logsoftmax_bwd_300x3_rows
// log-softmax backward: 300 rows of 3, dx = dy - exp(y) * sum(dy) (y = log-softmax output)
// CPU-adapter layout: one invocation per row, 32 rows per workgroup (row = (wid.x + wid.y * 10) * 32 + local index),
//   walking its row serially in f32s (3 per row): one pass for the row sum,
//   one to write; no barrier, no shared memory. hmax/hsum fold one f32 to a scalar.
@group(0) @binding(0) var<storage, read> y: array<f32>;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read_write> dx: array<f32>;

fn hmax(v: f32) -> f32 { return v; }
fn hsum(v: f32) -> f32 { return v; }

@compute @workgroup_size(32)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lidx: u32) {
  let row = (wid.x + wid.y * 10u) * 32u + lidx;
  if (row >= 300u) { return; }
  let base = row * 3u;
  var dot = 0.0f;
  for (var k = 0u; k < 3u; k++) { dot += hsum(dy[base + k]); }
  for (var k = 0u; k < 3u; k++) {
    dx[base + k] = dy[base + k] - exp(y[base + k]) * dot;
  }
}
