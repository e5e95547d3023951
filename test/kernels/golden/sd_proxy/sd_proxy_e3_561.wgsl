// sd_proxy_e3_561
// sd_proxy: out[i] = wc[i % 561] + wu[i] for i < 1683 (W_c + W_u(e) for every expert; elements or vec4s as bound)
// bindings: wc (read) [K·N], wu (read) [E, K·N], out (write) [E, K·N]
// dispatch: ceil(1683 / 256) workgroups spread over x and y; i = (wid.x + wid.y * 7) * 256 + lid.x
@group(0) @binding(0) var<storage, read> wc: array<f32>;
@group(0) @binding(1) var<storage, read> wu: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = (wid.x + wid.y * 7u) * 256u + lid.x;
  if (i >= 1683u) { return; }
  out[i] = wc[i % 561u] + wu[i];
}
