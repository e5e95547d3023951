// silu_fwd_1500_cpu
// FFN activation forward, silu: h = act(x); n = 1500 elements = 375 vec4 vectors, 16 per invocation strided by the workgroup size (neighbouring invocations, neighbouring memory)
@group(0) @binding(0) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> h: array<vec4<f32>>;

alias V = vec4<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let first = (wid.x + wid.y * 1u) * 1024u + lid.x;
  // The trip count is hidden behind `one` (arrayLength ≥ 1, known only at dispatch): lavapipe
  // unrolls constant-trip loops, which multiplied the pipeline's compile time for no speed.
  let one = min(arrayLength(&h), 1u);
  for (var j = 0u; j < 16u * one; j++) {
    let i = first + j * 64u;
    if (i >= 375u) { return; }
    let v: V = x[i];
    let a = v / (1.0f + exp(-v));
    h[i] = a;
  }
}
