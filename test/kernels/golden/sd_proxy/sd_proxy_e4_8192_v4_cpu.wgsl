// sd_proxy_e4_8192_v4_cpu
// sd_proxy: out[i] = wc[i % 2048] + wu[i] for i < 8192 (W_c + W_u(e) for every expert; vec4s as bound)
// bindings: wc (read) [K·N], wu (read) [E, K·N], out (write) [E, K·N]
// layout: an invocation handles 16 vectors strided by the workgroup size (neighbouring invocations, neighbouring memory); vectors past the end are skipped
@group(0) @binding(0) var<storage, read> wc: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> wu: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> out: array<vec4<f32>>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let first = (wid.x + wid.y * 8u) * 1024u + lid.x;
  // The trip count is hidden behind `one` (arrayLength ≥ 1, known only at dispatch): lavapipe
  // unrolls constant-trip loops (see swiglu.wgsl.hbs).
  let one = min(arrayLength(&out), 1u);
  for (var j = 0u; j < 16u * one; j++) {
    let i = first + j * 64u;
    if (i >= 8192u) { return; }
    out[i] = wc[i % 2048u] + wu[i];
  }
}
