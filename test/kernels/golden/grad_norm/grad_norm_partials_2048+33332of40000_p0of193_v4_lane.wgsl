// grad_norm_partials_2048+33332of40000_p0of193_v4_lane
// grad norm partials, lane layout (CPU adapters): partials[0 + w * 64 + l] = Σ grad[512 + i]² over the
// vec4s i = w * 4096 + l, + 64, ... of chunk w of a 8333-vec4 range; 3 chunks, 192 slots
// bindings: grad (read, as vec4), partials (read_write; only this dispatch's slots are written)
// every lane keeps its own slot, so there is no shared memory and no barrier (on lavapipe a
// barrier is a pass over every SIMD chunk of the workgroup); lanes read neighbouring vec4s.
// dispatch: one workgroup per chunk; w = wid.x + wid.y * 3
@group(0) @binding(0) var<storage, read> grad: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> partials: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let w = wid.x + wid.y * 3u;
  if (w >= 3u) { return; }
  let begin = w * 4096u;
  let end = min(begin + 4096u, 8333u);
  var acc = vec4<f32>(0.0f);
  for (var i = begin + lid.x; i < end; i += 64u) {
    let g = grad[512u + i];
    acc = fma(g, g, acc);
  }
  partials[0u + w * 64u + lid.x] = (acc.x + acc.y) + (acc.z + acc.w);
}
