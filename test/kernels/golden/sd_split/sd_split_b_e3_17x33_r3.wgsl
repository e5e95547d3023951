// sd_split_b_e3_17x33_r3
// sd_split_b: b[e, k, j] = sum_n (g[e, k, n] - sum_i u[k, i] a[e, i, n]) v[n, j] for j < 3 (B = (I - P_U) G V per expert)
// bindings: g (read) [E, 17, 33], u (read) [17, 3], v (read) [33, 3], a (read) [E, 3, 33], b (write) [E, 17, 3]
// dispatch: one invocation per (e, k), t = (wid.x + wid.y * 1) * 64 + lid.x < 51; e = t / 17, k = t % 17
//   u's row k and the 3 sums stay in registers; the residual of each g element is formed
//   once and used for all 3 columns of v. The n loop's bound is hidden from the shader
//   compiler (x min(arrayLength, 1)): lavapipe would unroll it fully.
@group(0) @binding(0) var<storage, read> g: array<f32>;
@group(0) @binding(1) var<storage, read> u: array<f32>;
@group(0) @binding(2) var<storage, read> v: array<f32>;
@group(0) @binding(3) var<storage, read> a: array<f32>;
@group(0) @binding(4) var<storage, read_write> b: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let t = (wid.x + wid.y * 1u) * 64u + lid.x;
  if (t >= 51u) { return; }
  let e = t / 17u;
  let k = t - e * 17u;
  var uk: array<f32, 3>;
  for (var i = 0u; i < 3u; i++) {
    uk[i] = u[k * 3u + i];
  }
  let gBase = t * 33u;
  let aBase = e * 3u * 33u;
  let cols = 33u * min(arrayLength(&b), 1u);
  var acc: array<f32, 3>;
  for (var n = 0u; n < cols; n++) {
    var res = g[gBase + n];
    for (var i = 0u; i < 3u; i++) {
      res = fma(-uk[i], a[aBase + i * 33u + n], res);
    }
    for (var j = 0u; j < 3u; j++) {
      acc[j] = fma(res, v[n * 3u + j], acc[j]);
    }
  }
  for (var j = 0u; j < 3u; j++) {
    b[t * 3u + j] = acc[j];
  }
}
