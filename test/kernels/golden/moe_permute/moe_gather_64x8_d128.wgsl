// moe_gather_64x8_d128
// moe gather: xs[row, d] = x[src_token[row], d] for 65536 elements (row width 128); padding rows (src_token < 0) are zero
// bindings: x (read), src_token (read i32), xs (write)
// dispatch: one invocation per element of xs; i = (wid.x + wid.y * 256) * 256 + lid.x
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> src_token: array<i32>;
@group(0) @binding(2) var<storage, read_write> xs: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = (wid.x + wid.y * 256u) * 256u + lid.x;
  if (i >= 65536u) { return; }
  let row = i / 128u;
  let d = i - row * 128u;
  let t = src_token[row];
  var v = 0.0f;
  if (t >= 0) { v = x[u32(t) * 128u + d]; }
  xs[i] = v;
}
