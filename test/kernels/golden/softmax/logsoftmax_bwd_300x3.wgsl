// logsoftmax_bwd_300x3
// softmax_backward: dx[row, k] = dy[row, k] - exp(y[row, k]) * sum(dy[row]) (y = log-softmax output), rows of 3
// bindings: y (read), dy (read), dx (write)
// dispatch: ceil(300 / 256) workgroups spread over x and y, each 1 lanes per row x 256 rows;
//   row = (wid.x + wid.y * 2) * 256 + lid.y; one pass for the row sum, one to write
@group(0) @binding(0) var<storage, read> y: array<f32>;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read_write> dx: array<f32>;

@compute @workgroup_size(1, 256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let row = (wid.x + wid.y * 2u) * 256u + lid.y;
  // Lanes of rows past the end read nothing but still reach every barrier.
  let end = select(0u, 3u, row < 300u);
  let base = row * 3u;
  var dot = 0.0f;
  for (var k = lid.x; k < end; k += 1u) {
    dot += dy[base + k];
  }
  for (var k = lid.x; k < end; k += 1u) {
    dx[base + k] = dy[base + k] - exp(y[base + k]) * dot;
  }
}
