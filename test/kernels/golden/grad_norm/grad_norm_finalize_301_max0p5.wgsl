// grad_norm_finalize_301_max0p5
// grad norm finalize: norm = sqrt(Σ partials[0..301]); clip = [min(1, 0.5f / (norm + 1e-6)), norm]
// bindings: partials (read), clip (write [2])
// dispatch: a single workgroup
@group(0) @binding(0) var<storage, read> partials: array<f32>;
@group(0) @binding(1) var<storage, read_write> clip: array<f32>;

const WG = 256u;
const N = 301u;

var<workgroup> partial: array<f32, 256>;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_id) lid: vec3<u32>) {
  let lane = lid.x;
  var acc = 0.0f;
  for (var i = lane; i < N; i += WG) { acc += partials[i]; }
  partial[lane] = acc;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (lane < stride) { partial[lane] += partial[lane + stride]; }
    workgroupBarrier();
  }
  if (lane == 0u) {
    let norm = sqrt(partial[0]);
    clip[0] = min(1.0f, 0.5f / (norm + 1e-6f));
    clip[1] = norm;
  }
}
