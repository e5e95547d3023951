// ew_log_5x7
// elementwise: out[i] = log(x), x = a[ia] (NumPy broadcasting)
// bindings: a (read), out (write)
// dispatch: ceil(n / 256) workgroups spread over x and y; i = (wid.x + wid.y * 1) * 256 + lid.x
@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = (wid.x + wid.y * 1u) * 256u + lid.x;
  if (i >= 35u) { return; }
  let ia = i;
  let ib = i;
  let x = a[ia];
  out[i] = log(x);
}
