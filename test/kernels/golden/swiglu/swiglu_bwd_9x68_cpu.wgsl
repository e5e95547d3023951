// swiglu_bwd_9x68_cpu
// swiglu backward: du = dh * silu(g), dg = dh * u * sigmoid(g) * (1 + g * (1 - sigmoid(g)))
// bindings: dh, g, u (read), dg, du (write), as vec4; n = 612 elements = 153 vectors
// layout: an invocation handles 16 vectors strided by the workgroup size (neighbouring invocations, neighbouring memory); vectors past the end are skipped
@group(0) @binding(0) var<storage, read> dh: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> g: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> u: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> dg: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> du: array<vec4<f32>>;

alias V = vec4<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let first = (wid.x + wid.y * 1u) * 1024u + lid.x;
  // The trip count is hidden behind `one` (arrayLength ≥ 1, known only at dispatch): lavapipe
  // unrolls constant-trip loops, which multiplied this pipeline's compile time for no speed.
  let one = min(arrayLength(&dh), 1u);
  for (var j = 0u; j < 16u * one; j++) {
    let i = first + j * 64u;
    if (i >= 153u) { return; }
    let gate: V = g[i];
    let up: V = u[i];
    let grad: V = dh[i];
    let s = 1.0f / (1.0f + exp(-gate));
    dg[i] = grad * up * s * (1.0f + gate * (1.0f - s));
    du[i] = grad * gate * s;
  }
}
