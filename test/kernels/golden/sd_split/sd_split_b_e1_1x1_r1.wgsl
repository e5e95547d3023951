// sd_split_b_e1_1x1_r1
// sd_split_b: b[e, k, j] = sum_n (g[e, k, n] - sum_i u[k, i] a[e, i, n]) v[n, j] for j < 1 (B = (I - P_U) G V per expert)
// bindings: g (read) [E, 1, 1], u (read) [1, 1], v (read) [1, 1], a (read) [E, 1, 1], b (write) [E, 1, 1]
// dispatch: one invocation per (e, k), t = (wid.x + wid.y * 1) * 64 + lid.x < 1; e = t / 1, k = t % 1
//   u's row k and the 1 sums stay in registers; the residual of each g element is formed
//   once and used for all 1 columns of v. The n loop's bound is hidden from the shader
//   compiler (x min(arrayLength, 1)): lavapipe would unroll it fully.
@group(0) @binding(0) var<storage, read> g: array<f32>;
@group(0) @binding(1) var<storage, read> u: array<f32>;
@group(0) @binding(2) var<storage, read> v: array<f32>;
@group(0) @binding(3) var<storage, read> a: array<f32>;
@group(0) @binding(4) var<storage, read_write> b: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let t = (wid.x + wid.y * 1u) * 64u + lid.x;
  if (t >= 1u) { return; }
  let e = t / 1u;
  let k = t - e * 1u;
  var uk: array<f32, 1>;
  for (var i = 0u; i < 1u; i++) {
    uk[i] = u[k * 1u + i];
  }
  let gBase = t * 1u;
  let aBase = e * 1u * 1u;
  let cols = 1u * min(arrayLength(&b), 1u);
  var acc: array<f32, 1>;
  for (var n = 0u; n < cols; n++) {
    var res = g[gBase + n];
    for (var i = 0u; i < 1u; i++) {
      res = fma(-uk[i], a[aBase + i * 1u + n], res);
    }
    for (var j = 0u; j < 1u; j++) {
      acc[j] = fma(res, v[n * 1u + j], acc[j]);
    }
  }
  for (var j = 0u; j < 1u; j++) {
    b[t * 1u + j] = acc[j];
  }
}
