// sd_split_a_e1_1x1_r1
// sd_split_a: a[e, j, n] = sum_k u[k, j] * g[e, k, n] for j < 1 (A = U^T G per expert)
// bindings: g (read) [E, 1, 1], u (read) [1, 1], a (write) [E, 1, 1]
// dispatch: one invocation per (e, n), t = (wid.x + wid.y * 1) * 64 + lid.x < 1; e = t / 1, n = t % 1
//   adjacent lanes read adjacent n of g; the 1 sums stay in registers. The k loop's bound is
//   hidden from the shader compiler (x min(arrayLength, 1)): lavapipe would unroll it fully.
@group(0) @binding(0) var<storage, read> g: array<f32>;
@group(0) @binding(1) var<storage, read> u: array<f32>;
@group(0) @binding(2) var<storage, read_write> a: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let t = (wid.x + wid.y * 1u) * 64u + lid.x;
  if (t >= 1u) { return; }
  let e = t / 1u;
  let n = t - e * 1u;
  let gBase = e * 1u * 1u + n;
  let rows = 1u * min(arrayLength(&a), 1u);
  var acc: array<f32, 1>;
  for (var k = 0u; k < rows; k++) {
    let x = g[gBase + k * 1u];
    for (var j = 0u; j < 1u; j++) {
      acc[j] = fma(u[k * 1u + j], x, acc[j]);
    }
  }
  for (var j = 0u; j < 1u; j++) {
    a[(e * 1u + j) * 1u + n] = acc[j];
  }
}
