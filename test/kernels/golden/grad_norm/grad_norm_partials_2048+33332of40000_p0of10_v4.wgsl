// grad_norm_partials_2048+33332of40000_p0of10_v4
// grad norm partials: partials[0 + w] = Σ grad[512 + i]² over chunk w (1024 vec4s) of a 8333-vec4 range; 9 slots
// bindings: grad (read, as vec4), partials (read_write; only this dispatch's slots are written)
// dispatch: one workgroup per chunk; w = wid.x + wid.y * 9
@group(0) @binding(0) var<storage, read> grad: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> partials: array<f32>;

const WG = 256u;

var<workgroup> partial: array<f32, 256>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let w = wid.x + wid.y * 9u;
  if (w >= 9u) { return; }
  let lane = lid.x;
  let begin = w * 1024u;
  let end = min(begin + 1024u, 8333u);
  var acc = 0.0f;
  for (var i = begin + lane; i < end; i += WG) {
    let g = grad[512u + i];
    acc += dot(g, g);
  }
  partial[lane] = acc;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (lane < stride) { partial[lane] += partial[lane + stride]; }
    workgroupBarrier();
  }
  if (lane == 0u) { partials[0u + w] = partial[0]; }
}
