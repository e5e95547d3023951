// sd_split_b_e2_70x20_r8
// sd_split_b: b[e, k, j] = sum_n (g[e, k, n] - sum_i u[k, i] a[e, i, n]) v[n, j] for j < 8 (B = (I - P_U) G V per expert)
// bindings: g (read) [E, 70, 20], u (read) [70, 8], v (read) [20, 8], a (read) [E, 8, 20], b (write) [E, 70, 8]
// dispatch: one invocation per (e, k), t = (wid.x + wid.y * 3) * 64 + lid.x < 140; e = t / 70, k = t % 70
//   u's row k and the 8 sums stay in registers; the residual of each g element is formed
//   once and used for all 8 columns of v. The n loop's bound is hidden from the shader
//   compiler (x min(arrayLength, 1)): lavapipe would unroll it fully.
@group(0) @binding(0) var<storage, read> g: array<f32>;
@group(0) @binding(1) var<storage, read> u: array<f32>;
@group(0) @binding(2) var<storage, read> v: array<f32>;
@group(0) @binding(3) var<storage, read> a: array<f32>;
@group(0) @binding(4) var<storage, read_write> b: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let t = (wid.x + wid.y * 3u) * 64u + lid.x;
  if (t >= 140u) { return; }
  let e = t / 70u;
  let k = t - e * 70u;
  var uk: array<f32, 8>;
  for (var i = 0u; i < 8u; i++) {
    uk[i] = u[k * 8u + i];
  }
  let gBase = t * 20u;
  let aBase = e * 8u * 20u;
  let cols = 20u * min(arrayLength(&b), 1u);
  var acc: array<f32, 8>;
  for (var n = 0u; n < cols; n++) {
    var res = g[gBase + n];
    for (var i = 0u; i < 8u; i++) {
      res = fma(-uk[i], a[aBase + i * 20u + n], res);
    }
    for (var j = 0u; j < 8u; j++) {
      acc[j] = fma(res, v[n * 8u + j], acc[j]);
    }
  }
  for (var j = 0u; j < 8u; j++) {
    b[t * 8u + j] = acc[j];
  }
}
