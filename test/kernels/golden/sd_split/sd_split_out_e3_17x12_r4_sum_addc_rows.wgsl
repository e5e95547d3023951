// sd_split_out_e3_17x12_r4_sum_addc_rows
// sd_split_out (rows, for CPU adapters): per expert e < 3, part = sum_i u[k, i] a[e, i, n] + sum_j b[e, k, j] v[n, j]
//   (the component of g[e] in the common space), 4 columns n at a time;
//   gc[k, n] += 1.0f * sum_e part (added to the buffer in place);
// bindings: g (read, vec4) [E, 17, 12], u (uniform) [17, 4], v (uniform) [12, 4],
//   a (uniform) [E, 4, 12], b (uniform) [E, 17, 4], gc (vec4) [17, 12]
// dispatch: (1, 3) workgroups; an invocation owns 4 rows k = wid.x * 32 + lid.x + 8 * row
//   and walks column quads [wid.y * 1, min((wid.y + 1) * 1, 3)): the column split gives lavapipe's
//   threads at least a few workgroups when the matrix has few row tiles.
//   Needs cols and rank multiples of 4 (the builder checks). Rows past the end read row 16 and write nothing.
// Why this shape: lavapipe lowers a storage-buffer load at a per-lane address to a branch per lane and component,
//   most of both the run time and LLVM's compile time; a uniform-buffer load is a branch-free gather. So u, v, a, b
//   are uniform buffers and only g (and the outputs) go through storage; v's rows and a's column quad are loaded once
//   for 4 rows. The tile loops have constant bounds and are unrolled by the shader compiler (uk, vn, an,
//   sum stay in registers); the expert loop's bound is hidden from it (x min(arrayLength, 1)), the column loop's depends on the workgroup.
@group(0) @binding(0) var<storage, read> g: array<vec4<f32>>;
@group(0) @binding(1) var<uniform> u: array<vec4<f32>, 17>;
@group(0) @binding(2) var<uniform> v: array<vec4<f32>, 12>;
@group(0) @binding(3) var<uniform> a: array<vec4<f32>, 36>;
@group(0) @binding(4) var<uniform> b: array<vec4<f32>, 51>;
@group(0) @binding(5) var<storage, read_write> gc: array<vec4<f32>>;

@compute @workgroup_size(8)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let k0 = wid.x * 32u + lid.x;
  var uk: array<vec4<f32>, 4>;
  for (var row = 0u; row < 4u; row++) {
    let k = min(k0 + row * 8u, 16u);
    for (var q = 0u; q < 1u; q++) {
      uk[row * 1u + q] = u[k * 1u + q];
    }
  }
  let n1 = min((wid.y + 1u) * 1u, 3u);
  let experts = 3u * min(arrayLength(&g), 1u);
  for (var n4 = wid.y * 1u; n4 < n1; n4++) {
    // v's rows 4 n4 .. 4 n4 + 3: vn[c * rank4 + q] = v[4 n4 + c, 4 q .. 4 q + 3]
    var vn: array<vec4<f32>, 4>;
    for (var i = 0u; i < 4u; i++) {
      vn[i] = v[n4 * 4u + i];
    }
    var sum = array<vec4<f32>, 4>(); // zeroed explicitly: the declaration's implicit zeroing was not redone per column quad on lavapipe
    for (var e = 0u; e < experts; e++) {
      var an: array<vec4<f32>, 4>;
      for (var i = 0u; i < 4u; i++) {
        an[i] = a[(e * 4u + i) * 3u + n4];
      }
      for (var row = 0u; row < 4u; row++) {
        let k = min(k0 + row * 8u, 16u);
        var part = vec4<f32>(0.0f);
        for (var q = 0u; q < 1u; q++) {
          let bq = b[(e * 17u + k) * 1u + q];
          part += vec4<f32>(dot(bq, vn[q]), dot(bq, vn[1u + q]), dot(bq, vn[2u * 1u + q]), dot(bq, vn[3u * 1u + q]));
          let w = uk[row * 1u + q];
          part += w.x * an[4u * q] + w.y * an[4u * q + 1u] + w.z * an[4u * q + 2u] + w.w * an[4u * q + 3u];
        }
        sum[row] += part;
      }
    }
    for (var row = 0u; row < 4u; row++) {
      let k = k0 + row * 8u;
      if (k < 17u) {
        let at = k * 3u + n4;
        gc[at] = gc[at] + sum[row] * 1.0f;
      }
    }
  }
}
