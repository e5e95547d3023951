// sd_proxy_e2_5_b2_cpu
// sd_proxy: out[outAt[j] + i] = wc[wcAt[j] + i % 5] + wu[wuAt[j] + i] for i < 10, j < 2 (W_c + W_u(e) for every expert of 2 matrices; elements as bound)
// bindings: wc (read) [K·N at each wcAt], wu (read) [E, K·N at each wuAt], out (write) [E, K·N at each outAt]; offsets in elements
// layout: an invocation handles 16 vectors of the 20 (members back to back) strided by the workgroup size (neighbouring invocations, neighbouring memory); vectors past the end are skipped
@group(0) @binding(0) var<storage, read> wc: array<f32>;
@group(0) @binding(1) var<storage, read> wu: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

var<private> wcAt: array<u32, 2> = array<u32, 2>(3u, 0u);
var<private> wuAt: array<u32, 2> = array<u32, 2>(20u, 8u);
var<private> outAt: array<u32, 2> = array<u32, 2>(11u, 0u);

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let first = (wid.x + wid.y * 1u) * 1024u + lid.x;
  // The trip count is hidden behind `one` (arrayLength ≥ 1, known only at dispatch): lavapipe
  // unrolls constant-trip loops (see swiglu.wgsl.hbs).
  let one = min(arrayLength(&out), 1u);
  for (var j = 0u; j < 16u * one; j++) {
    let i = first + j * 64u;
    if (i >= 20u) { return; }
    let m = i / 10u;
    let at = i - m * 10u;
    out[outAt[m] + at] = wc[wcAt[m] + at % 5u] + wu[wuAt[m] + at];
  }
}
