// ew_max_4x5_bc_1_4x5
// elementwise: out[i] = max(x, y), x = a[ia], y = b[ib] (NumPy broadcasting)
// bindings: a (read), b (read), out (write)
// dispatch: ceil(n / 256) workgroups spread over x and y; i = (wid.x + wid.y * 1) * 256 + lid.x
@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = (wid.x + wid.y * 1u) * 256u + lid.x;
  if (i >= 20u) { return; }
  var rem = i;
  var ia = 0u;
  var ib = 0u;
  {
    let c = rem / 5u;
    rem -= c * 5u;
    ia += c * 0u;
    ib += c * 5u;
  }
  {
    let c = rem / 1u;
    rem -= c * 1u;
    ia += c * 0u;
    ib += c * 1u;
  }
  let x = a[ia];
  let y = b[ib];
  out[i] = max(x, y);
}
