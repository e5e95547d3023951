// accumulate_777
// accumulate: y += x in place over 777 floats
// bindings: x (read), y (read_write)
// dispatch: one invocation per element; i = (wid.x + wid.y * 4) * 256 + lid.x
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = (wid.x + wid.y * 4u) * 256u + lid.x;
  if (i >= 777u) { return; }
  y[i] = y[i] + x[i];
}
