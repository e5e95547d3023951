// sd_split_out_e8_16x12_r8_sum_addc
// sd_split_out: per expert e < 8, part = sum_i u[k, i] a[e, i, n] + sum_j b[e, k, j] v[n, j] (the component of g[e] in the common space);
//   gc[k, n] += 1.0f * sum_e part (added to the buffer in place);
// bindings: g (read) [E, 16, 12], u (read) [16, 8], v (read) [12, 8], a (read) [E, 8, 12],
//   b (read) [E, 16, 8], gc [16, 12]
// dispatch: one invocation per (k, n), t = (wid.x + wid.y * 3) * 64 + lid.x < 192; k = t / 12, n = t % 12
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
  let t = (wid.x + wid.y * 3u) * 64u + lid.x;
  if (t >= 192u) { return; }
  let k = t / 12u;
  let n = t - k * 12u;
  var uk: array<f32, 8>;
  var vn: array<f32, 8>;
  for (var i = 0u; i < 8u; i++) {
    uk[i] = u[k * 8u + i];
    vn[i] = v[n * 8u + i];
  }
  let experts = 8u * min(arrayLength(&g), 1u);
  var sum = 0.0f;
  for (var e = 0u; e < experts; e++) {
    var part = 0.0f;
    let aBase = e * 8u * 12u + n;
    let bBase = (e * 16u + k) * 8u;
    for (var i = 0u; i < 8u; i++) {
      part = fma(uk[i], a[aBase + i * 12u], part);
      part = fma(b[bBase + i], vn[i], part);
    }
    sum += part;
  }
  gc[t] = gc[t] + sum * 1.0f;
}
