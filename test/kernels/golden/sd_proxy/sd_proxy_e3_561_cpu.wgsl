// sd_proxy_e3_561_cpu
// sd_proxy: out[i] = wc[i % 561] + wu[i] for i < 1683 (W_c + W_u(e) for every expert; elements as bound)
// bindings: wc (read) [K·N], wu (read) [E, K·N], out (write) [E, K·N]
// layout: an invocation handles 16 vectors strided by the workgroup size (neighbouring invocations, neighbouring memory); vectors past the end are skipped
@group(0) @binding(0) var<storage, read> wc: array<f32>;
@group(0) @binding(1) var<storage, read> wu: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let first = (wid.x + wid.y * 2u) * 1024u + lid.x;
  // The trip count is hidden behind `one` (arrayLength ≥ 1, known only at dispatch): lavapipe
  // unrolls constant-trip loops (see swiglu.wgsl.hbs).
  let one = min(arrayLength(&out), 1u);
  for (var j = 0u; j < 16u * one; j++) {
    let i = first + j * 64u;
    if (i >= 1683u) { return; }
    out[i] = wc[i % 561u] + wu[i];
  }
}
