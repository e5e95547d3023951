// sd_split_out_e1_1x1_r1_sum_addu
// sd_split_out: per expert e < 1, part = sum_i u[k, i] a[e, i, n] + sum_j b[e, k, j] v[n, j] (the component of g[e] in the common space);
//   gu[e, k, n] += g[e, k, n] - part ((I - P_U) G (I - P_V), added to the buffer in place);
// bindings: g (read) [E, 1, 1], u (read) [1, 1], v (read) [1, 1], a (read) [E, 1, 1],
//   b (read) [E, 1, 1], gu [E, 1, 1]
// dispatch: one invocation per (k, n), t = (wid.x + wid.y * 1) * 64 + lid.x < 1; k = t / 1, n = t % 1
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
  let t = (wid.x + wid.y * 1u) * 64u + lid.x;
  if (t >= 1u) { return; }
  let k = t / 1u;
  let n = t - k * 1u;
  var uk: array<f32, 1>;
  var vn: array<f32, 1>;
  for (var i = 0u; i < 1u; i++) {
    uk[i] = u[k * 1u + i];
    vn[i] = v[n * 1u + i];
  }
  let experts = 1u * min(arrayLength(&g), 1u);
  for (var e = 0u; e < experts; e++) {
    var part = 0.0f;
    let aBase = e * 1u * 1u + n;
    let bBase = (e * 1u + k) * 1u;
    for (var i = 0u; i < 1u; i++) {
      part = fma(uk[i], a[aBase + i * 1u], part);
      part = fma(b[bBase + i], vn[i], part);
    }
    let at = e * 1u + t;
    gu[at] = gu[at] + (g[at] - part);
  }
}
