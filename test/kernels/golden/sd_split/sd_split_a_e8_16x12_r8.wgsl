// sd_split_a_e8_16x12_r8
// sd_split_a: a[e, j, n] = sum_k u[k, j] * g[e, k, n] for j < 8 (A = U^T G per expert)
// bindings: g (read) [E, 16, 12], u (read) [16, 8], a (write) [E, 8, 12]
// dispatch: one invocation per (e, n), t = (wid.x + wid.y * 2) * 64 + lid.x < 96; e = t / 12, n = t % 12
//   adjacent lanes read adjacent n of g; the 8 sums stay in registers. The k loop's bound is
//   hidden from the shader compiler (x min(arrayLength, 1)): lavapipe would unroll it fully.
@group(0) @binding(0) var<storage, read> g: array<f32>;
@group(0) @binding(1) var<storage, read> u: array<f32>;
@group(0) @binding(2) var<storage, read_write> a: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let t = (wid.x + wid.y * 2u) * 64u + lid.x;
  if (t >= 96u) { return; }
  let e = t / 12u;
  let n = t - e * 12u;
  let gBase = e * 16u * 12u + n;
  let rows = 16u * min(arrayLength(&a), 1u);
  var acc: array<f32, 8>;
  for (var k = 0u; k < rows; k++) {
    let x = g[gBase + k * 12u];
    for (var j = 0u; j < 8u; j++) {
      acc[j] = fma(u[k * 8u + j], x, acc[j]);
    }
  }
  for (var j = 0u; j < 8u; j++) {
    a[(e * 8u + j) * 12u + n] = acc[j];
  }
}
