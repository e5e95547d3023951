// grad_norm_finalize_128_max1_lane
// grad norm finalize, lane layout (CPU adapters): norm = sqrt(Σ partials[0..128]); clip = [min(1, 1.0f / (norm + 1e-6)), norm]
// bindings: partials (read, as 32 vec4s), clip (write [2])
// dispatch: a single invocation sums the partials in order (four running sums, one per vec4 component):
// a few thousand loads on one core cost less than a workgroup's barrier tree on lavapipe
@group(0) @binding(0) var<storage, read> partials: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> clip: array<f32>;

@compute @workgroup_size(1)
fn main() {
  var acc4 = vec4<f32>(0.0f);
  for (var i = 0u; i < 32u; i++) { acc4 += partials[i]; }
  let acc = (acc4.x + acc4.y) + (acc4.z + acc4.w);
  let norm = sqrt(acc);
  clip[0] = min(1.0f, 1.0f / (norm + 1e-6f));
  clip[1] = norm;
}
