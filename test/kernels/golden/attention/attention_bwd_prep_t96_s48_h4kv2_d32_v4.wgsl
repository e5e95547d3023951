// attention_bwd_prep_t96_s48_h4kv2_d32_v4
// attention backward, preparation (CPU adapters, before attention_bwd_row): D[t, h] = dOut[t, h, :] . out[t, h, :] for 96 rows
// and 4 heads, hd = 32, summed over the head's elements in ascending order.
// bindings: dOut, out (read) [T, 4 x 32], dsum (write) [T, 4]
// Why a dispatch of its own: attention_bwd_row's dk/dv invocations need D of every query they visit, once per key block, and
// formed it there from the loading lanes' shares of dOut and out and a subgroupAdd per query (≈ 20 % of that kernel on
// lavapipe); read from here it is one load. One invocation per (row, head), 64 per workgroup.
@group(0) @binding(0) var<storage, read> dOut: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> out: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> dsum: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = (wid.x + wid.y * 6u) * 64u + lid.x;
  if (i >= 384u) { return; }
  let at = (i / 4u) * 128u + (i % 4u) * 32u;
  var d = 0.0f;
  // a vec4 of each per step, its four products added in the scalar loop's order (the same bits)
  for (var c4 = 0u; c4 < 8u; c4++) {
    let g = dOut[at / 4u + c4];
    let o = out[at / 4u + c4];
    d += g.x * o.x;
    d += g.y * o.y;
    d += g.z * o.z;
    d += g.w * o.w;
  }
  dsum[i] = d;
}
