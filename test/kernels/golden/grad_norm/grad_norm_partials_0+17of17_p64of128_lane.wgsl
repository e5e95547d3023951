// grad_norm_partials_0+17of17_p64of128_lane
// grad norm partials, lane layout (CPU adapters): partials[64 + w * 64 + l] = Σ grad[0 + i]² over the
// elements i = w * 16384 + l, + 64, ... of chunk w of a 17-element range; 1 chunks, 64 slots
// bindings: grad (read), partials (read_write; only this dispatch's slots are written)
// every lane keeps its own slot, so there is no shared memory and no barrier (on lavapipe a
// barrier is a pass over every SIMD chunk of the workgroup); lanes read neighbouring elements.
// dispatch: one workgroup per chunk; w = wid.x + wid.y * 1
@group(0) @binding(0) var<storage, read> grad: array<f32>;
@group(0) @binding(1) var<storage, read_write> partials: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let w = wid.x + wid.y * 1u;
  if (w >= 1u) { return; }
  let begin = w * 16384u;
  let end = min(begin + 16384u, 17u);
  var acc = 0.0f;
  for (var i = begin + lid.x; i < end; i += 64u) {
    let g = grad[0u + i];
    acc = fma(g, g, acc);
  }
  partials[64u + w * 64u + lid.x] = acc;
}
