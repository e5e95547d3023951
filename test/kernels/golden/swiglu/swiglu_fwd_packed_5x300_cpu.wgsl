// swiglu_fwd_packed_5x300_cpu
// swiglu forward: h[t,f] = silu(g) * u, g = gu[t, f], u = gu[t, 300 + f] (packed [g | u] rows)
// bindings: gu (read), h (write), as vec4; n = 1500 elements = 375 vectors
// layout: an invocation handles 16 vectors strided by the workgroup size (neighbouring invocations, neighbouring memory); vectors past the end are skipped
@group(0) @binding(0) var<storage, read> gu: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> h: array<vec4<f32>>;

alias V = vec4<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let first = (wid.x + wid.y * 1u) * 1024u + lid.x;
  // The trip count is hidden behind `one` (arrayLength ≥ 1, known only at dispatch): lavapipe
  // unrolls constant-trip loops, which multiplied this pipeline's compile time for no speed.
  let one = min(arrayLength(&h), 1u);
  for (var j = 0u; j < 16u * one; j++) {
    let i = first + j * 64u;
    if (i >= 375u) { return; }
    // Row t holds 75 gate vectors, then 75 up vectors.
    let t = i / 75u;
    let gateAt = i + t * 75u;
    let gate: V = gu[gateAt];
    let up: V = gu[gateAt + 75u];
    h[i] = gate / (1.0f + exp(-gate)) * up;
  }
}
