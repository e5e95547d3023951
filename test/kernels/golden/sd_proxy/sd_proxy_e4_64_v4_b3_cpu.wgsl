// sd_proxy_e4_64_v4_b3_cpu
// sd_proxy: out[outAt[j] + i] = wc[wcAt[j] + i % 16] + wu[wuAt[j] + i] for i < 64, j < 3 (W_c + W_u(e) for every expert of 3 matrices; vec4s as bound)
// bindings: wc (read) [K·N at each wcAt], wu (read) [E, K·N at each wuAt], out (write) [E, K·N at each outAt]; offsets in vec4s
// layout: an invocation handles 16 vectors of the 192 (members back to back) strided by the workgroup size (neighbouring invocations, neighbouring memory); vectors past the end are skipped
@group(0) @binding(0) var<storage, read> wc: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> wu: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> out: array<vec4<f32>>;

var<private> wcAt: array<u32, 3> = array<u32, 3>(512u, 16u, 528u);
var<private> wuAt: array<u32, 3> = array<u32, 3>(0u, 256u, 320u);
var<private> outAt: array<u32, 3> = array<u32, 3>(128u, 0u, 272u);

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let first = (wid.x + wid.y * 1u) * 1024u + lid.x;
  // The trip count is hidden behind `one` (arrayLength ≥ 1, known only at dispatch): lavapipe
  // unrolls constant-trip loops (see swiglu.wgsl.hbs).
  let one = min(arrayLength(&out), 1u);
  for (var j = 0u; j < 16u * one; j++) {
    let i = first + j * 64u;
    if (i >= 192u) { return; }
    let m = i / 64u;
    let at = i - m * 64u;
    out[outAt[m] + at] = wc[wcAt[m] + at % 16u] + wu[wuAt[m] + at];
  }
}
