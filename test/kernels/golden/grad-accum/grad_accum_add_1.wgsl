// grad_accum_add_1
// grad_accum: acc += grad over 1 floats
// bindings: grad (read), acc (read_write)
// dispatch: one invocation per element; i = (wid.x + wid.y * 1) * 256 + lid.x
@group(0) @binding(0) var<storage, read> grad: array<f32>;
@group(0) @binding(1) var<storage, read_write> acc: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = (wid.x + wid.y * 1u) * 256u + lid.x;
  if (i >= 1u) { return; }
  acc[i] = acc[i] + grad[i];
}
