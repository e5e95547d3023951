// accumulate_4096_v4
// accumulate: y += x in place over 4096 floats as 1024 vec4s
// bindings: x (read), y (read_write, as vec4)
// dispatch: one invocation per vec4; i = (wid.x + wid.y * 4) * 256 + lid.x
@group(0) @binding(0) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> y: array<vec4<f32>>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = (wid.x + wid.y * 4u) * 256u + lid.x;
  if (i >= 1024u) { return; }
  y[i] = y[i] + x[i];
}
