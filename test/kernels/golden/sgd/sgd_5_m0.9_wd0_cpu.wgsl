// sgd_5_m0.9_wd0_cpu
// sgd: in-place step over 5 elements (PyTorch SGD: dampening 0, no nesterov); momentum 0.8999999761581421f, L2 weight decay 0.0f; lr and clip scale read from device buffers
// bindings: param (read_write), grad (read), momentum_buf (read_write), lr (read [1]), clip (read, scale at [0])
// layout: an invocation handles 16 elements strided by the workgroup size (neighbouring invocations, neighbouring memory); past the end, skipped
@group(0) @binding(0) var<storage, read_write> param: array<f32>;
@group(0) @binding(1) var<storage, read> grad: array<f32>;
@group(0) @binding(2) var<storage, read_write> momentum_buf: array<f32>;
@group(0) @binding(3) var<storage, read> lr: array<f32>;
@group(0) @binding(4) var<storage, read> clip: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let first = (wid.x + wid.y * 1u) * 1024u + lid.x;
  // The trip count is hidden behind `one` (arrayLength ≥ 1, known only at dispatch): lavapipe
  // unrolls constant-trip loops (see swiglu.wgsl.hbs).
  let one = min(arrayLength(&momentum_buf), 1u);
  for (var j = 0u; j < 16u * one; j++) {
    let i = first + j * 64u;
    if (i >= 5u) { return; }
    let decay = 0.0f;
    // d = clip·g + wd·p (L2, coupled); buf = μ·buf + d; Δ = −lr·buf
    let d = grad[i] * clip[0] + decay * param[i];
    let b = 0.8999999761581421f * momentum_buf[i] + d;
    momentum_buf[i] = b;
    param[i] = param[i] - lr[0] * b;
  }
}
