// grad_norm_partials_1234+33333of40000_p1of10
// grad norm partials: partials[1 + w] = Σ grad[1234 + i]² over chunk w (4096 elements) of a 33333-element range; 9 slots
// bindings: grad (read), partials (read_write; only this dispatch's slots are written)
// dispatch: one workgroup per chunk; w = wid.x + wid.y * 9
@group(0) @binding(0) var<storage, read> grad: array<f32>;
@group(0) @binding(1) var<storage, read_write> partials: array<f32>;

const WG = 256u;

var<workgroup> partial: array<f32, 256>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let w = wid.x + wid.y * 9u;
  if (w >= 9u) { return; }
  let lane = lid.x;
  let begin = w * 4096u;
  let end = min(begin + 4096u, 33333u);
  var acc = 0.0f;
  for (var i = begin + lane; i < end; i += WG) {
    let g = grad[1234u + i];
    acc = fma(g, g, acc);
  }
  partial[lane] = acc;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (lane < stride) { partial[lane] += partial[lane + stride]; }
    workgroupBarrier();
  }
  if (lane == 0u) { partials[1u + w] = partial[0]; }
}
