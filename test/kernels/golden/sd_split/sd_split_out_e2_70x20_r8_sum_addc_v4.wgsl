// sd_split_out_e2_70x20_r8_sum_addc_v4
// sd_split_out (vec4 along n): per expert e < 2, part = sum_i u[k, i] a[e, i, n] + sum_j b[e, k, j] v[n, j]
//   (the component of g[e] in the common space), for n..n+3 at once;
//   gc[k, n] += 1.0f * sum_e part (added to the buffer in place);
// bindings (all array<vec4<f32>>): g (read) [E, 70, 20], u (read) [70, 8], v (read) [20, 8],
//   a (read) [E, 8, 20], b (read) [E, 70, 8], gc [70, 20]
// dispatch: one invocation per (k, 4 columns), t = (wid.x + wid.y * 6) * 64 + lid.x < 350;
//   k = t / 5, n4 = t % 5. u's row k and v's rows n..n+3 stay in registers. Needs cols and rank
//   multiples of 4 (the builder checks). The expert loop's bound is hidden from the shader compiler.
@group(0) @binding(0) var<storage, read> g: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> u: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> v: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> a: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> b: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> gc: array<vec4<f32>>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let t = (wid.x + wid.y * 6u) * 64u + lid.x;
  if (t >= 350u) { return; }
  let k = t / 5u;
  let n4 = t - k * 5u;
  var uk: array<vec4<f32>, 2>;
  var v0: array<vec4<f32>, 2>;
  var v1: array<vec4<f32>, 2>;
  var v2: array<vec4<f32>, 2>;
  var v3: array<vec4<f32>, 2>;
  let vBase = 4u * n4 * 2u;
  for (var q = 0u; q < 2u; q++) {
    uk[q] = u[k * 2u + q];
    v0[q] = v[vBase + q];
    v1[q] = v[vBase + 2u + q];
    v2[q] = v[vBase + 2u * 2u + q];
    v3[q] = v[vBase + 3u * 2u + q];
  }
  let experts = 2u * min(arrayLength(&g), 1u);
  var sum = vec4<f32>(0.0f);
  for (var e = 0u; e < experts; e++) {
    var part = vec4<f32>(0.0f);
    let aBase = e * 8u * 5u + n4;
    let bBase = (e * 70u + k) * 2u;
    for (var q = 0u; q < 2u; q++) {
      let bq = b[bBase + q];
      part += vec4<f32>(dot(bq, v0[q]), dot(bq, v1[q]), dot(bq, v2[q]), dot(bq, v3[q]));
      let at = aBase + 4u * q * 5u;
      part = fma(vec4<f32>(uk[q].x), a[at], part);
      part = fma(vec4<f32>(uk[q].y), a[at + 5u], part);
      part = fma(vec4<f32>(uk[q].z), a[at + 2u * 5u], part);
      part = fma(vec4<f32>(uk[q].w), a[at + 3u * 5u], part);
    }
    sum += part;
  }
  gc[t] = gc[t] + sum * 1.0f;
}
