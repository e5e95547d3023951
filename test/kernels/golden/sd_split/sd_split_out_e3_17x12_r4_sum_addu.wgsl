// sd_split_out_e3_17x12_r4_sum_addu
// sd_split_out: per expert e < 3, part = sum_i u[k, i] a[e, i, n] + sum_j b[e, k, j] v[n, j] (the component of g[e] in the common space);
//   gu[e, k, n] += g[e, k, n] - part ((I - P_U) G (I - P_V), added to the buffer in place);
// bindings: g (read) [E, 17, 12], u (read) [17, 4], v (read) [12, 4], a (read) [E, 4, 12],
//   b (read) [E, 17, 4], gu [E, 17, 12]
// dispatch: one invocation per (k, n), t = (wid.x + wid.y * 4) * 64 + lid.x < 204; k = t / 12, n = t % 12
//   u's row k and v's row n stay in registers; adjacent lanes read and write adjacent n. The expert
//   loop's bound is hidden from the shader compiler (x min(arrayLength, 1)).
@group(0) @binding(0) var<storage, read> g: array<f32>;
@group(0) @binding(1) var<storage, read> u: array<f32>;
@group(0) @binding(2) var<storage, read> v: array<f32>;
@group(0) @binding(3) var<storage, read> a: array<f32>;
@group(0) @binding(4) var<storage, read> b: array<f32>;
@group(0) @binding(5) var<storage, read_write> gu: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let t = (wid.x + wid.y * 4u) * 64u + lid.x;
  if (t >= 204u) { return; }
  let k = t / 12u;
  let n = t - k * 12u;
  var uk: array<f32, 4>;
  var vn: array<f32, 4>;
  for (var i = 0u; i < 4u; i++) {
    uk[i] = u[k * 4u + i];
    vn[i] = v[n * 4u + i];
  }
  let experts = 3u * min(arrayLength(&g), 1u);
  for (var e = 0u; e < experts; e++) {
    var part = 0.0f;
    let aBase = e * 4u * 12u + n;
    let bBase = (e * 17u + k) * 4u;
    for (var i = 0u; i < 4u; i++) {
      part = fma(uk[i], a[aBase + i * 12u], part);
      part = fma(b[bBase + i], vn[i], part);
    }
    let at = e * 204u + t;
    gu[at] = gu[at] + (g[at] - part);
  }
}
