// adamw_777_seg3
// adamw: in-place step over 777 elements; β1 0.8999999761581421f, β2 0.9990000128746033f, eps 9.99999993922529e-9f, weight decay per segment; lr, step and clip scale read from device buffers
// bindings: param, grad (read), m, v (read_write), lr (read [1]), step (read u32 [1]), clip (read, scale at [0])
// dispatch: one invocation per element; i = (wid.x + wid.y * 4) * 256 + lid.x
@group(0) @binding(0) var<storage, read_write> param: array<f32>;
@group(0) @binding(1) var<storage, read> grad: array<f32>;
@group(0) @binding(2) var<storage, read_write> m: array<f32>;
@group(0) @binding(3) var<storage, read_write> v: array<f32>;
@group(0) @binding(4) var<storage, read> lr: array<f32>;
@group(0) @binding(5) var<storage, read> step: array<u32>;
@group(0) @binding(6) var<storage, read> clip: array<f32>;

alias V = f32;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = (wid.x + wid.y * 4u) * 256u + lid.x;
  if (i >= 777u) { return; }
  let rate = lr[0];
  let t = f32(step[0]);
  let biasCorrection1 = 1.0f - pow(0.8999999761581421f, t);
  let biasCorrection2 = 1.0f - pow(0.9990000128746033f, t);
  var decay = 0.0f;
  if (i >= 0u && i < 500u) { decay = 0.10000000149011612f; }
  if (i >= 500u && i < 533u) { decay = 0.0f; }
  if (i >= 533u && i < 777u) { decay = 0.05000000074505806f; }
  let g = grad[i] * clip[0];
  let mi = 0.8999999761581421f * m[i] + 0.10000000149011612f * g;
  let vi = 0.9990000128746033f * v[i] + 0.0010000000474974513f * g * g;
  m[i] = mi;
  v[i] = vi;
  let decayed = param[i] * (1.0f - rate * decay);
  param[i] = decayed - (rate / biasCorrection1) * mi / (sqrt(vi) / sqrt(biasCorrection2) + V(9.99999993922529e-9f));
}
