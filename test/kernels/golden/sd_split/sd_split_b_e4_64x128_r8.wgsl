// sd_split_b_e4_64x128_r8
// sd_split_b: b[e, k, j] = sum_n (g[e, k, n] - sum_i u[k, i] a[e, i, n]) v[n, j] for j < 8 (B = (I - P_U) G V per expert)
// bindings: g (read) [E, 64, 128], u (read) [64, 8], v (read) [128, 8], a (read) [E, 8, 128], b (write) [E, 64, 8]
// dispatch: one invocation per (e, k), t = (wid.x + wid.y * 4) * 64 + lid.x < 256; e = t / 64, k = t % 64
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
  let t = (wid.x + wid.y * 4u) * 64u + lid.x;
  if (t >= 256u) { return; }
  let e = t / 64u;
  let k = t - e * 64u;
  var uk: array<f32, 8>;
  for (var i = 0u; i < 8u; i++) {
    uk[i] = u[k * 8u + i];
  }
  let gBase = t * 128u;
  let aBase = e * 8u * 128u;
  let cols = 128u * min(arrayLength(&b), 1u);
  var acc: array<f32, 8>;
  for (var n = 0u; n < cols; n++) {
    var res = g[gBase + n];
    for (var i = 0u; i < 8u; i++) {
      res = fma(-uk[i], a[aBase + i * 128u + n], res);
    }
    for (var j = 0u; j < 8u; j++) {
      acc[j] = fma(res, v[n * 8u + j], acc[j]);
    }
  }
  for (var j = 0u; j < 8u; j++) {
    b[t * 8u + j] = acc[j];
  }
}
