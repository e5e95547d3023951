// grad_accum_finish_4096_v4_cpu
// grad_accum: grad = (grad + acc) * 0.25f, acc = 0 over 4096 floats as 1024 vec4s
// bindings: grad (read_write), acc (read_write)
// layout: an invocation handles 16 vec4s strided by the workgroup size (neighbouring invocations, neighbouring memory); past the end, skipped
@group(0) @binding(0) var<storage, read_write> grad: array<vec4<f32>>;
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
    grad[i] = (grad[i] + acc[i]) * 0.25f;
    acc[i] = vec4<f32>(0.0f);
  }
}
