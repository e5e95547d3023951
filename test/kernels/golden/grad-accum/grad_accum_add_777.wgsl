// grad_accum_add_777
// grad_accum: acc += grad over 777 floats
// bindings: grad (read), acc (read_write)
// layout: an invocation handles 1 elements strided by the workgroup size (neighbouring invocations, neighbouring memory); past the end, skipped
@group(0) @binding(0) var<storage, read> grad: array<f32>;
@group(0) @binding(1) var<storage, read_write> acc: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let first = (wid.x + wid.y * 4u) * 256u + lid.x;
  // The trip count is hidden behind `one` (arrayLength ≥ 1, known only at dispatch): lavapipe
  // unrolls constant-trip loops (see swiglu.wgsl.hbs).
  let one = min(arrayLength(&acc), 1u);
  for (var j = 0u; j < 1u * one; j++) {
    let i = first + j * 256u;
    if (i >= 777u) { return; }
    acc[i] = acc[i] + grad[i];
  }
}
