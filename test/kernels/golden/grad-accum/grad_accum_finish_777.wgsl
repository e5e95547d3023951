// grad_accum_finish_777
// grad_accum: grad = (grad + acc) * 0.3333333432674408f, acc = 0 over 777 floats
// bindings: grad (read_write), acc (read_write)
// dispatch: one invocation per element; i = (wid.x + wid.y * 4) * 256 + lid.x
@group(0) @binding(0) var<storage, read_write> grad: array<f32>;
@group(0) @binding(1) var<storage, read_write> acc: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = (wid.x + wid.y * 4u) * 256u + lid.x;
  if (i >= 777u) { return; }
  grad[i] = (grad[i] + acc[i]) * 0.3333333432674408f;
  acc[i] = 0.0f;
}
