// logsoftmax_bwd_2x4097
// softmax_backward: dx[row, k] = dy[row, k] - exp(y[row, k]) * sum(dy[row]) (y = log-softmax output), rows of 4097
// bindings: y (read), dy (read), dx (write)
// dispatch: ceil(2 / 1) workgroups spread over x and y, each 256 lanes per row x 1 rows;
//   row = (wid.x + wid.y * 2) * 1 + lid.y; one pass for the row sum merged through a shared-memory tree, one to write
@group(0) @binding(0) var<storage, read> y: array<f32>;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read_write> dx: array<f32>;

var<workgroup> partial: array<f32, 256>;

@compute @workgroup_size(256, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let row = (wid.x + wid.y * 2u) * 1u + lid.y;
  // Lanes of rows past the end read nothing but still reach every barrier.
  let end = select(0u, 4097u, row < 2u);
  let base = row * 4097u;
  var dot = 0.0f;
  for (var k = lid.x; k < end; k += 256u) {
    dot += dy[base + k];
  }
  let slot = lid.y * 256u + lid.x;
  partial[slot] = dot;
  workgroupBarrier();
  if (lid.x < 128u) {
    dot += partial[slot + 128u];
    partial[slot] = dot;
  }
  workgroupBarrier();
  if (lid.x < 64u) {
    dot += partial[slot + 64u];
    partial[slot] = dot;
  }
  workgroupBarrier();
  if (lid.x < 32u) {
    dot += partial[slot + 32u];
    partial[slot] = dot;
  }
  workgroupBarrier();
  if (lid.x < 16u) {
    dot += partial[slot + 16u];
    partial[slot] = dot;
  }
  workgroupBarrier();
  if (lid.x < 8u) {
    dot += partial[slot + 8u];
    partial[slot] = dot;
  }
  workgroupBarrier();
  if (lid.x < 4u) {
    dot += partial[slot + 4u];
    partial[slot] = dot;
  }
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
  dot = partial[lid.y * 256u];
  for (var k = lid.x; k < end; k += 256u) {
    dx[base + k] = dy[base + k] - exp(y[base + k]) * dot;
  }
}
