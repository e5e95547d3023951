// grad_norm_finalize_301_max0p5_lane
// grad norm finalize, lane layout (CPU adapters): norm = sqrt(Σ partials[0..301]); clip = [min(1, 0.5f / (norm + 1e-6)), norm]
// bindings: partials (read), clip (write [2])
// dispatch: a single invocation sums the partials in order:
// a few thousand loads on one core cost less than a workgroup's barrier tree on lavapipe
@group(0) @binding(0) var<storage, read> partials: array<f32>;
@group(0) @binding(1) var<storage, read_write> clip: array<f32>;

@compute @workgroup_size(1)
fn main() {
  var acc = 0.0f;
  for (var i = 0u; i < 301u; i++) { acc += partials[i]; }
  let norm = sqrt(acc);
  clip[0] = min(1.0f, 0.5f / (norm + 1e-6f));
  clip[1] = norm;
}
