// grad_accum_add_4096_v4_cpu
// grad_accum: acc += grad over 4096 floats as 1024 vec4s
// bindings: grad (read), acc (read_write)
// layout: an invocation handles 16 vec4s strided by the workgroup size (neighbouring invocations, neighbouring memory); past the end, skipped
@group(0) @binding(0) var<storage, read> grad: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> acc: array<vec4<f32>>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let first = (wid.x + wid.y * 1u) * 1024u + lid.x;
  // The trip count is hidden behind `one` (arrayLength ≥ 1, known only at dispatch): lavapipe
  // unrolls constant-trip loops (see swiglu.wgsl.hbs).
  let one = min(arrayLength(&acc), 1u);
  for (var j = 0u; j < 16u * one; j++) {
    let i = first + j * 64u;
    if (i >= 1024u) { return; }
    acc[i] = acc[i] + grad[i];
  }
}
