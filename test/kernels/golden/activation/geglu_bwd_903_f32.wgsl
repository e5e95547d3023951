// geglu_bwd_903_f32
// FFN activation backward, gelu gated: dg = dh * u * act'(g), du = dh * act(g); n = 903 elements = 903 f32 vectors, 1 per invocation strided by the workgroup size (neighbouring invocations, neighbouring memory)
// gelu (tanh approximation) = x * s with s = sigmoid(2z), z = 0.7978845834732056f * (x + 0.044714998453855515f * x^3):
// gelu'(x) = s + x * s * (1 - s) * 2 * 0.7978845834732056f * (1 + 3 * 0.044714998453855515f * x^2)
@group(0) @binding(0) var<storage, read> dh: array<f32>;
@group(0) @binding(1) var<storage, read> g: array<f32>;
@group(0) @binding(2) var<storage, read> u: array<f32>;
@group(0) @binding(3) var<storage, read_write> dg: array<f32>;
@group(0) @binding(4) var<storage, read_write> du: array<f32>;

alias V = f32;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let first = (wid.x + wid.y * 4u) * 256u + lid.x;
  // The trip count is hidden behind `one` (arrayLength ≥ 1, known only at dispatch): lavapipe
  // unrolls constant-trip loops, which multiplied the pipeline's compile time for no speed.
  let one = min(arrayLength(&dh), 1u);
  for (var j = 0u; j < 1u * one; j++) {
    let i = first + j * 256u;
    if (i >= 903u) { return; }
    let v: V = g[i];
    let s = 1.0f / (1.0f + exp(-2.0f * 0.7978845834732056f * (v + 0.044714998453855515f * v * v * v)));
    let a = v * s;
    let da = s + v * s * (1.0f - s) * 1.5957691669464111f * (1.0f + 0.13414500653743744f * v * v);
    dg[i] = dh[i] * u[i] * da;
    du[i] = dh[i] * a;
  }
}
