// sd_split_a_e3_17x12_r4_rows
// sd_split_a (vec4 along n): a[e, j, n..n+3] = sum_k u[k, j] * g[e, k, n..n+3] for j < 4 (A = U^T G per expert)
// bindings (all array<vec4<f32>>): g (read) [E, 17, 12], u (read) [17, 4], a (write) [E, 4, 12]
// dispatch: one invocation per (e, 4 columns), t = (wid.x + wid.y * 1) * 64 + lid.x < 9;
//   e = t / 3, n4 = t % 3. Needs cols and rank multiples of 4 (the builder checks): on lavapipe every
//   per-lane load is scalarised, so one vec4 load instead of four is most of the speed. The k loop's
//   bound is hidden from the shader compiler (x min(arrayLength, 1)): lavapipe would unroll it fully.
@group(0) @binding(0) var<storage, read> g: array<vec4<f32>>;
@group(0) @binding(1) var<uniform> u: array<vec4<f32>, 17>;
@group(0) @binding(2) var<storage, read_write> a: array<vec4<f32>>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let t = (wid.x + wid.y * 1u) * 64u + lid.x;
  if (t >= 9u) { return; }
  let e = t / 3u;
  let n4 = t - e * 3u;
  let gBase = e * 17u * 3u + n4;
  let rows = 17u * min(arrayLength(&a), 1u);
  var acc: array<vec4<f32>, 4>;
  for (var k = 0u; k < rows; k++) {
    let x = g[gBase + k * 3u];
    for (var q = 0u; q < 1u; q++) {
      let uq = u[k * 1u + q];
      acc[4u * q] = fma(vec4<f32>(uq.x), x, acc[4u * q]);
      acc[4u * q + 1u] = fma(vec4<f32>(uq.y), x, acc[4u * q + 1u]);
      acc[4u * q + 2u] = fma(vec4<f32>(uq.z), x, acc[4u * q + 2u]);
      acc[4u * q + 3u] = fma(vec4<f32>(uq.w), x, acc[4u * q + 3u]);
    }
  }
  for (var j = 0u; j < 4u; j++) {
    a[(e * 4u + j) * 3u + n4] = acc[j];
  }
}
