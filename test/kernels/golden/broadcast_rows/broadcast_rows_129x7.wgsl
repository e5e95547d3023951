// broadcast_rows_129x7
// broadcast_rows: out[i] = row[i % 7] * scale[0] for i < 903
// bindings: row (read), scale (read), out (write)
// dispatch: ceil(n / 256) workgroups spread over x and y; i = (wid.x + wid.y * 4) * 256 + lid.x
@group(0) @binding(0) var<storage, read> row: array<f32>;
@group(0) @binding(1) var<storage, read> scale: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = (wid.x + wid.y * 4u) * 256u + lid.x;
  if (i >= 903u) { return; }
  out[i] = row[i % 7u] * scale[0];
}
