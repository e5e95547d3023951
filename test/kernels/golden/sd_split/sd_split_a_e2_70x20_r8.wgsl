// sd_split_a_e2_70x20_r8
// sd_split_a: a[e, j, n] = sum_k u[k, j] * g[e, k, n] for j < 8 (A = U^T G per expert)
// bindings: g (read) [E, 70, 20], u (read) [70, 8], a (write) [E, 8, 20]
// dispatch: one invocation per (e, n), t = (wid.x + wid.y * 1) * 64 + lid.x < 40; e = t / 20, n = t % 20
//   adjacent lanes read adjacent n of g; the 8 sums stay in registers. The k loop's bound is
//   hidden from the shader compiler (x min(arrayLength, 1)): lavapipe would unroll it fully.
@group(0) @binding(0) var<storage, read> g: array<f32>;
@group(0) @binding(1) var<storage, read> u: array<f32>;
@group(0) @binding(2) var<storage, read_write> a: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let t = (wid.x + wid.y * 1u) * 64u + lid.x;
  if (t >= 40u) { return; }
  let e = t / 20u;
  let n = t - e * 20u;
  let gBase = e * 70u * 20u + n;
  let rows = 70u * min(arrayLength(&a), 1u);
  var acc: array<f32, 8>;
  for (var k = 0u; k < rows; k++) {
    let x = g[gBase + k * 20u];
    for (var j = 0u; j < 8u; j++) {
      acc[j] = fma(u[k * 8u + j], x, acc[j]);
    }
  }
  for (var j = 0u; j < 8u; j++) {
    a[(e * 8u + j) * 20u + n] = acc[j];
  }
}
