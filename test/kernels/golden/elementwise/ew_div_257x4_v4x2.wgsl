// ew_div_257x4_v4x2
// elementwise, vec4 layout: out[v] = x / y, x = a[v], y = b[v] over the 257 vec4s of 1028 contiguous elements
// bindings: a (read, vec4), b (read, vec4), out (write, vec4)
// dispatch: ceil(257 / 256) workgroups spread over x and y; invocation lid.x takes the 2 vec4(s) v = first + lid.x + 128·j, first = (wid.x + wid.y * 2) * 256
// (strided by the workgroup size, so the invocations of a SIMD chunk touch neighbouring vectors)
@group(0) @binding(0) var<storage, read> a: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> b: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> out: array<vec4<f32>>;

@compute @workgroup_size(128)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let first = (wid.x + wid.y * 2u) * 256u + lid.x;
  for (var j = 0u; j < 2u; j++) {
    let v = first + j * 128u;
    if (v >= 257u) { return; }
    let x = a[v];
    let y = b[v];
    out[v] = x / y;
  }
}
