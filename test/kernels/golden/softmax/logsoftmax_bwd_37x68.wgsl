// logsoftmax_bwd_37x68
// softmax_backward: dx[row, k] = dy[row, k] - exp(y[row, k]) * sum(dy[row]) (y = log-softmax output), rows of 68
// bindings: y (read), dy (read), dx (write)
// dispatch: ceil(37 / 64) workgroups spread over x and y, each 4 lanes per row x 64 rows;
//   row = (wid.x + wid.y * 1) * 64 + lid.y; one pass for the row sum merged through a shared-memory tree, one to write
@group(0) @binding(0) var<storage, read> y: array<f32>;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read_write> dx: array<f32>;

var<workgroup> partial: array<f32, 256>;

@compute @workgroup_size(4, 64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let row = (wid.x + wid.y * 1u) * 64u + lid.y;
  // Lanes of rows past the end read nothing but still reach every barrier.
  let end = select(0u, 68u, row < 37u);
  let base = row * 68u;
  var dot = 0.0f;
  for (var k = lid.x; k < end; k += 4u) {
    dot += dy[base + k];
  }
  let slot = lid.y * 4u + lid.x;
  partial[slot] = dot;
  workgroupBarrier();
  if (lid.x < 2u) {
    dot += partial[slot + 2u];
    partial[slot] = dot;
  }
  workgroupBarrier();
  if (lid.x < 1u) {
    dot += partial[slot + 1u];
    partial[slot] = dot;
  }
  workgroupBarrier();
  dot = partial[lid.y * 4u];
  for (var k = lid.x; k < end; k += 4u) {
    dx[base + k] = dy[base + k] - exp(y[base + k]) * dot;
  }
}
