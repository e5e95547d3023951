// swiglu_bwd_packed_5x300_cpu
// swiglu backward: du = dh * silu(g), dg = dh * u * sigmoid(g) * (1 + g * (1 - sigmoid(g)))
// bindings: dh, gu (read), dgu (write), as vec4; n = 1500 elements = 375 vectors
// layout: an invocation handles 16 vectors strided by the workgroup size (neighbouring invocations, neighbouring memory); vectors past the end are skipped
@group(0) @binding(0) var<storage, read> dh: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> gu: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> dgu: array<vec4<f32>>;

alias V = vec4<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let first = (wid.x + wid.y * 1u) * 1024u + lid.x;
  // The trip count is hidden behind `one` (arrayLength ≥ 1, known only at dispatch): lavapipe
  // unrolls constant-trip loops, which multiplied this pipeline's compile time for no speed.
  let one = min(arrayLength(&dh), 1u);
  for (var j = 0u; j < 16u * one; j++) {
    let i = first + j * 64u;
    if (i >= 375u) { return; }
    // Row t holds 75 gate vectors, then 75 up vectors.
    let t = i / 75u;
    let gateAt = i + t * 75u;
    let upAt = gateAt + 75u;
    let gate: V = gu[gateAt];
    let up: V = gu[upAt];
    let grad: V = dh[i];
    let s = 1.0f / (1.0f + exp(-gate));
    dgu[gateAt] = grad * up * s * (1.0f + gate * (1.0f - s));
    dgu[upAt] = grad * gate * s;
  }
}
