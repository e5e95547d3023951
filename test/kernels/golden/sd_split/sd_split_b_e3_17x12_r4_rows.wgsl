// sd_split_b_e3_17x12_r4_rows
// sd_split_b (rows, for CPU adapters): b[e, k, j] = sum_n (g[e, k, n] - sum_i u[k, i] a[e, i, n]) v[n, j] for j < 4
// bindings: g (read, vec4) [E, 17, 12], u (uniform) [17, 4], v (uniform) [12, 4],
//   a (uniform) [E, 4, 12], b (write, vec4) [E, 17, 4]
// dispatch: (1, E) workgroups; an invocation owns 4 rows k = wid.x * 32 + lid.x + 8 * row
//   of expert e = wid.y and walks all columns 4 at a time. Needs cols and rank multiples of 4 (the builder checks).
// Why this shape: lavapipe lowers a storage-buffer load at a per-lane address to a branch per lane and component
//   (exec mask, bounds check), which is most of both the run time and LLVM's compile time; a uniform-buffer load is
//   a branch-free gather. So the small operands (u, v, a) are uniform buffers, only g streams through storage, and
//   each column quad of a and v is loaded once for 4 rows. The tile loops have constant bounds and are
//   unrolled by the shader compiler, so uk and acc stay in registers; the column loop's bound is hidden from it
//   (x min(arrayLength, 1)): lavapipe would unroll it fully.
@group(0) @binding(0) var<storage, read> g: array<vec4<f32>>;
@group(0) @binding(1) var<uniform> u: array<vec4<f32>, 17>;
@group(0) @binding(2) var<uniform> v: array<vec4<f32>, 12>;
@group(0) @binding(3) var<uniform> a: array<vec4<f32>, 36>;
@group(0) @binding(4) var<storage, read_write> b: array<vec4<f32>>;

@compute @workgroup_size(8)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let e = wid.y;
  let k0 = wid.x * 32u + lid.x;
  var uk: array<vec4<f32>, 4>;
  var acc: array<vec4<f32>, 4>;
  for (var row = 0u; row < 4u; row++) {
    let k = min(k0 + row * 8u, 16u);
    for (var q = 0u; q < 1u; q++) {
      uk[row * 1u + q] = u[k * 1u + q];
      acc[row * 1u + q] = vec4<f32>(0.0f);
    }
  }
  let cols4 = 3u * min(arrayLength(&b), 1u);
  for (var n4 = 0u; n4 < cols4; n4++) {
    // a[e, i, 4 n4 .. 4 n4 + 3] for every i; v's rows 4 n4 .. 4 n4 + 3 (vn[c * rank4 + q] = v[4 n4 + c, 4 q .. 4 q + 3])
    var an: array<vec4<f32>, 4>;
    var vn: array<vec4<f32>, 4>;
    for (var i = 0u; i < 4u; i++) {
      an[i] = a[(e * 4u + i) * 3u + n4];
      vn[i] = v[n4 * 4u + i];
    }
    for (var row = 0u; row < 4u; row++) {
      let k = min(k0 + row * 8u, 16u);
      var res = g[(e * 17u + k) * 3u + n4];
      for (var q = 0u; q < 1u; q++) {
        let w = uk[row * 1u + q];
        res -= w.x * an[4u * q] + w.y * an[4u * q + 1u] + w.z * an[4u * q + 2u] + w.w * an[4u * q + 3u];
      }
      for (var q = 0u; q < 1u; q++) {
        acc[row * 1u + q] += res.x * vn[q] + res.y * vn[1u + q] + res.z * vn[2u * 1u + q] + res.w * vn[3u * 1u + q];
      }
    }
  }
  for (var row = 0u; row < 4u; row++) {
    let k = k0 + row * 8u;
    if (k < 17u) {
      for (var q = 0u; q < 1u; q++) {
        b[(e * 17u + k) * 1u + q] = acc[row * 1u + q];
      }
    }
  }
}
