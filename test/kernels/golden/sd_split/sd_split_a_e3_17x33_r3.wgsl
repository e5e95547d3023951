// sd_split_a_e3_17x33_r3
// sd_split_a: a[e, j, n] = sum_k u[k, j] * g[e, k, n] for j < 3 (A = U^T G per expert)
// bindings: g (read) [E, 17, 33], u (read) [17, 3], a (write) [E, 3, 33]
// dispatch: one invocation per (e, n), t = (wid.x + wid.y * 2) * 64 + lid.x < 99; e = t / 33, n = t % 33
//   adjacent lanes read adjacent n of g; the 3 sums stay in registers. The k loop's bound is
//   hidden from the shader compiler (x min(arrayLength, 1)): lavapipe would unroll it fully.
@group(0) @binding(0) var<storage, read> g: array<f32>;
@group(0) @binding(1) var<storage, read> u: array<f32>;
@group(0) @binding(2) var<storage, read_write> a: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let t = (wid.x + wid.y * 2u) * 64u + lid.x;
  if (t >= 99u) { return; }
  let e = t / 33u;
  let n = t - e * 33u;
  let gBase = e * 17u * 33u + n;
  let rows = 17u * min(arrayLength(&a), 1u);
  var acc: array<f32, 3>;
  for (var k = 0u; k < rows; k++) {
    let x = g[gBase + k * 33u];
    for (var j = 0u; j < 3u; j++) {
      acc[j] = fma(u[k * 3u + j], x, acc[j]);
    }
  }
  for (var j = 0u; j < 3u; j++) {
    a[(e * 3u + j) * 33u + n] = acc[j];
  }
}
