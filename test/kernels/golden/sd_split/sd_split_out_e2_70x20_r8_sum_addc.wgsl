// sd_split_out_e2_70x20_r8_sum_addc
// sd_split_out: per expert e < 2, part = sum_i u[k, i] a[e, i, n] + sum_j b[e, k, j] v[n, j] (the component of g[e] in the common space);
//   gc[k, n] += 1.0f * sum_e part (added to the buffer in place);
// bindings: g (read) [E, 70, 20], u (read) [70, 8], v (read) [20, 8], a (read) [E, 8, 20],
//   b (read) [E, 70, 8], gc [70, 20]
// dispatch: one invocation per (k, n), t = (wid.x + wid.y * 22) * 64 + lid.x < 1400; k = t / 20, n = t % 20
//   u's row k and v's row n stay in registers; adjacent lanes read and write adjacent n. The expert
//   loop's bound is hidden from the shader compiler (x min(arrayLength, 1)).
@group(0) @binding(0) var<storage, read> g: array<f32>;
@group(0) @binding(1) var<storage, read> u: array<f32>;
@group(0) @binding(2) var<storage, read> v: array<f32>;
@group(0) @binding(3) var<storage, read> a: array<f32>;
@group(0) @binding(4) var<storage, read> b: array<f32>;
@group(0) @binding(5) var<storage, read_write> gc: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let t = (wid.x + wid.y * 22u) * 64u + lid.x;
  if (t >= 1400u) { return; }
  let k = t / 20u;
  let n = t - k * 20u;
  var uk: array<f32, 8>;
  var vn: array<f32, 8>;
  for (var i = 0u; i < 8u; i++) {
    uk[i] = u[k * 8u + i];
    vn[i] = v[n * 8u + i];
  }
  let experts = 2u * min(arrayLength(&g), 1u);
  var sum = 0.0f;
  for (var e = 0u; e < experts; e++) {
    var part = 0.0f;
    let aBase = e * 8u * 20u + n;
    let bBase = (e * 70u + k) * 8u;
    for (var i = 0u; i < 8u; i++) {
      part = fma(uk[i], a[aBase + i * 20u], part);
      part = fma(b[bBase + i], vn[i], part);
    }
    sum += part;
  }
  gc[t] = gc[t] + sum * 1.0f;
}
