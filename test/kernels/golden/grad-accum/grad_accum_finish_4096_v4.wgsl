// grad_accum_finish_4096_v4
// grad_accum: grad = (grad + acc) * 0.25f, acc = 0 over 4096 floats as 1024 vec4s
// bindings: grad (read_write), acc (read_write)
// dispatch: one invocation per vec4; i = (wid.x + wid.y * 4) * 256 + lid.x
@group(0) @binding(0) var<storage, read_write> grad: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> acc: array<vec4<f32>>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = (wid.x + wid.y * 4u) * 256u + lid.x;
  if (i >= 1024u) { return; }
  grad[i] = (grad[i] + acc[i]) * 0.25f;
  acc[i] = vec4<f32>(0.0f);
}
