// attention_bwd_prep_t3_s1_h2kv1_d2
// attention backward, preparation (CPU adapters, before attention_bwd_row): D[t, h] = dOut[t, h, :] . out[t, h, :] for 3 rows
// and 2 heads, hd = 2, summed over the head's elements in ascending order.
// bindings: dOut, out (read) [T, 2 x 2], dsum (write) [T, 2]
// Why a dispatch of its own: attention_bwd_row's dk/dv invocations need D of every query they visit, once per key block, and
// formed it there from the loading lanes' shares of dOut and out and a subgroupAdd per query (≈ 20 % of that kernel on
// lavapipe); read from here it is one load. One invocation per (row, head), 64 per workgroup.
@group(0) @binding(0) var<storage, read> dOut: array<f32>;
@group(0) @binding(1) var<storage, read> out: array<f32>;
@group(0) @binding(2) var<storage, read_write> dsum: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = (wid.x + wid.y * 1u) * 64u + lid.x;
  if (i >= 6u) { return; }
  let at = (i / 2u) * 4u + (i % 2u) * 2u;
  var d = 0.0f;
  for (var c = 0u; c < 2u; c++) {
    d += dOut[at + c] * out[at + c];
  }
  dsum[i] = d;
}
