// gelu_bwd_1500
// FFN activation backward, gelu: dx = dh * act'(x); n = 1500 elements = 375 vec4 vectors, 1 per invocation strided by the workgroup size (neighbouring invocations, neighbouring memory)
// gelu (tanh approximation) = x * s with s = sigmoid(2z), z = 0.7978845834732056f * (x + 0.044714998453855515f * x^3):
// gelu'(x) = s + x * s * (1 - s) * 2 * 0.7978845834732056f * (1 + 3 * 0.044714998453855515f * x^2)
@group(0) @binding(0) var<storage, read> dh: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> dx: array<vec4<f32>>;

alias V = vec4<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let first = (wid.x + wid.y * 2u) * 256u + lid.x;
  // The trip count is hidden behind `one` (arrayLength ≥ 1, known only at dispatch): lavapipe
  // unrolls constant-trip loops, which multiplied the pipeline's compile time for no speed.
  let one = min(arrayLength(&dh), 1u);
  for (var j = 0u; j < 1u * one; j++) {
    let i = first + j * 256u;
    if (i >= 375u) { return; }
    let v: V = x[i];
    let s = 1.0f / (1.0f + exp(-2.0f * 0.7978845834732056f * (v + 0.044714998453855515f * v * v * v)));
    let a = v * s;
    let da = s + v * s * (1.0f - s) * 1.5957691669464111f * (1.0f + 0.13414500653743744f * v * v);
    dx[i] = dh[i] * da;
  }
}
