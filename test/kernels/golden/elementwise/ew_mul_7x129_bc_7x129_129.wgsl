// ew_mul_7x129_bc_7x129_129
// elementwise: out[i] = x * y, x = a[ia], y = b[ib] (NumPy broadcasting)
// bindings: a (read), b (read), out (write)
// dispatch: ceil(n / 256) workgroups spread over x and y; i = (wid.x + wid.y * 4) * 256 + lid.x
@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = (wid.x + wid.y * 4u) * 256u + lid.x;
  if (i >= 903u) { return; }
  var rem = i;
  var ia = 0u;
  var ib = 0u;
  {
    let c = rem / 129u;
    rem -= c * 129u;
    ia += c * 129u;
    ib += c * 0u;
  }
  {
    let c = rem / 1u;
    rem -= c * 1u;
    ia += c * 1u;
    ib += c * 1u;
  }
  let x = a[ia];
  let y = b[ib];
  out[i] = x * y;
}
