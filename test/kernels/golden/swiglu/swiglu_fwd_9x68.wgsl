// swiglu_fwd_9x68
// swiglu forward: h[t,f] = silu(g) * u
// bindings: g, u (read), h (write), as vec4; n = 612 elements = 153 vectors
// layout: an invocation handles 1 vectors strided by the workgroup size (neighbouring invocations, neighbouring memory); vectors past the end are skipped
@group(0) @binding(0) var<storage, read> g: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> u: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> h: array<vec4<f32>>;

alias V = vec4<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let first = (wid.x + wid.y * 1u) * 256u + lid.x;
  // The trip count is hidden behind `one` (arrayLength ≥ 1, known only at dispatch): lavapipe
  // unrolls constant-trip loops, which multiplied this pipeline's compile time for no speed.
  let one = min(arrayLength(&h), 1u);
  for (var j = 0u; j < 1u * one; j++) {
    let i = first + j * 256u;
    if (i >= 153u) { return; }
    let gate: V = g[i];
    let up: V = u[i];
    h[i] = gate / (1.0f + exp(-gate)) * up;
  }
}
