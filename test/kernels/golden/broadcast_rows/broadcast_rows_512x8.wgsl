// broadcast_rows_512x8
// broadcast_rows: out[i] = row[i % 8] * scale[0] for i < 4096
// bindings: row (read), scale (read), out (write)
// dispatch: ceil(n / 256) workgroups spread over x and y; i = (wid.x + wid.y * 16) * 256 + lid.x
@group(0) @binding(0) var<storage, read> row: array<f32>;
@group(0) @binding(1) var<storage, read> scale: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = (wid.x + wid.y * 16u) * 256u + lid.x;
  if (i >= 4096u) { return; }
  out[i] = row[i % 8u] * scale[0];
}
