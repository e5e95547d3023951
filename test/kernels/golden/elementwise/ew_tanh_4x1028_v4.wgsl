// ew_tanh_4x1028_v4
// elementwise, vec4 layout: out[v] = tanh(x), x = a[v] over the 1028 vec4s of 4112 contiguous elements
// bindings: a (read, vec4), out (write, vec4)
// dispatch: ceil(1028 / 256) workgroups spread over x and y; invocation lid.x takes the 1 vec4(s) v = first + lid.x + 256·j, first = (wid.x + wid.y * 5) * 256
// (strided by the workgroup size, so the invocations of a SIMD chunk touch neighbouring vectors)
@group(0) @binding(0) var<storage, read> a: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> out: array<vec4<f32>>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let first = (wid.x + wid.y * 5u) * 256u + lid.x;
  for (var j = 0u; j < 1u; j++) {
    let v = first + j * 256u;
    if (v >= 1028u) { return; }
    let x = a[v];
    out[v] = tanh(x);
  }
}
