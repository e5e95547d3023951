// attention_bwd_prep_t40_s20_h2kv2_d16_v4
// attention backward, preparation (CPU adapters, before attention_bwd_row): D[t, h] = dOut[t, h, :] . out[t, h, :] for 40 rows
// and 2 heads, hd = 16, summed over the head's elements in ascending order.
// bindings: dOut, out (read) [T, 2 x 16], dsum (write) [T, 2]
// Why a dispatch of its own: attention_bwd_row's dk/dv invocations need D of every query they visit, once per key block, and
// formed it there from the loading lanes' shares of dOut and out and a subgroupAdd per query (≈ 20 % of that kernel on
// lavapipe); read from here it is one load. One invocation per (row, head), 64 per workgroup.
@group(0) @binding(0) var<storage, read> dOut: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> out: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> dsum: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = (wid.x + wid.y * 2u) * 64u + lid.x;
  if (i >= 80u) { return; }
  let at = (i / 2u) * 32u + (i % 2u) * 16u;
  var d = 0.0f;
  // a vec4 of each per step, its four products added in the scalar loop's order (the same bits)
  for (var c4 = 0u; c4 < 4u; c4++) {
    let g = dOut[at / 4u + c4];
    let o = out[at / 4u + c4];
    d += g.x * o.x;
    d += g.y * o.y;
    d += g.z * o.z;
    d += g.w * o.w;
  }
  dsum[i] = d;
}
