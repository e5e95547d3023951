// adamw_1000_wd0.1_v4
// adamw: in-place step over 1000 elements as 250 vec4s; β1 0.8999999761581421f, β2 0.949999988079071f, eps 9.99999993922529e-9f, weight decay 0.10000000149011612f; lr, step and clip scale read from device buffers
// bindings: param, grad (read), m, v (read_write, as vec4), lr (read [1]), step (read u32 [1]), clip (read, scale at [0])
// layout: an invocation handles 1 vec4s strided by the workgroup size (neighbouring invocations, neighbouring memory); past the end, skipped
@group(0) @binding(0) var<storage, read_write> param: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> grad: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> m: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> v: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> lr: array<f32>;
@group(0) @binding(5) var<storage, read> step: array<u32>;
@group(0) @binding(6) var<storage, read> clip: array<f32>;

alias V = vec4<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let first = (wid.x + wid.y * 1u) * 256u + lid.x;
  let rate = lr[0];
  let t = f32(step[0]);
  let biasCorrection1 = 1.0f - pow(0.8999999761581421f, t);
  let biasCorrection2 = 1.0f - pow(0.949999988079071f, t);
  let scale = clip[0];
  // The trip count is hidden behind `one` (arrayLength ≥ 1, known only at dispatch): lavapipe
  // unrolls constant-trip loops (see swiglu.wgsl.hbs).
  let one = min(arrayLength(&m), 1u);
  for (var j = 0u; j < 1u * one; j++) {
    let i = first + j * 256u;
    if (i >= 250u) { return; }
    let decay = 0.10000000149011612f;
    let g = grad[i] * scale;
    let mi = 0.8999999761581421f * m[i] + 0.10000000149011612f * g;
    let vi = 0.949999988079071f * v[i] + 0.05000000074505806f * g * g;
    m[i] = mi;
    v[i] = vi;
    let decayed = param[i] * (1.0f - rate * decay);
    param[i] = decayed - (rate / biasCorrection1) * mi / (sqrt(vi) / sqrt(biasCorrection2) + V(9.99999993922529e-9f));
  }
}
