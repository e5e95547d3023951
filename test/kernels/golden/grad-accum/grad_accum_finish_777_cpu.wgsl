// grad_accum_finish_777_cpu
// grad_accum: grad = (grad + acc) * 0.3333333432674408f, acc = 0 over 777 floats
// bindings: grad (read_write), acc (read_write)
// layout: an invocation handles 16 elements strided by the workgroup size (neighbouring invocations, neighbouring memory); past the end, skipped
@group(0) @binding(0) var<storage, read_write> grad: array<f32>;
@group(0) @binding(1) var<storage, read_write> acc: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let first = (wid.x + wid.y * 1u) * 1024u + lid.x;
  // The trip count is hidden behind `one` (arrayLength ≥ 1, known only at dispatch): lavapipe
  // unrolls constant-trip loops (see swiglu.wgsl.hbs).
  let one = min(arrayLength(&acc), 1u);
  for (var j = 0u; j < 16u * one; j++) {
    let i = first + j * 64u;
    if (i >= 777u) { return; }
    grad[i] = (grad[i] + acc[i]) * 0.3333333432674408f;
    acc[i] = 0.0f;
  }
}
