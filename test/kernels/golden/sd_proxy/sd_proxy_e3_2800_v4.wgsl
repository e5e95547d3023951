// sd_proxy_e3_2800_v4
// sd_proxy: out[outAt[j] + i] = wc[wcAt[j] + i % 700] + wu[wuAt[j] + i] for i < 2100, j < 1 (W_c + W_u(e) for every expert of 1 matrices; vec4s as bound)
// bindings: wc (read) [K·N at each wcAt], wu (read) [E, K·N at each wuAt], out (write) [E, K·N at each outAt]; offsets in vec4s
// layout: an invocation handles 1 vectors of the 2100 (members back to back) strided by the workgroup size (neighbouring invocations, neighbouring memory); vectors past the end are skipped
@group(0) @binding(0) var<storage, read> wc: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> wu: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> out: array<vec4<f32>>;

var<private> wcAt: array<u32, 1> = array<u32, 1>(0u);
var<private> wuAt: array<u32, 1> = array<u32, 1>(0u);
var<private> outAt: array<u32, 1> = array<u32, 1>(0u);

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let first = (wid.x + wid.y * 9u) * 256u + lid.x;
  // The trip count is hidden behind `one` (arrayLength ≥ 1, known only at dispatch): lavapipe
  // unrolls constant-trip loops (see swiglu.wgsl.hbs).
  let one = min(arrayLength(&out), 1u);
  for (var j = 0u; j < 1u * one; j++) {
    let i = first + j * 256u;
    if (i >= 2100u) { return; }
    let m = i / 2100u;
    let at = i - m * 2100u;
    out[outAt[m] + at] = wc[wcAt[m] + at % 700u] + wu[wuAt[m] + at];
  }
}
