// sd_split_out_e2_70x20_r8_sum_addc_rows
// sd_split_out (rows, for CPU adapters): per expert e < 2, part = sum_i u[k, i] a[e, i, n] + sum_j b[e, k, j] v[n, j]
//   (the component of g[e] in the common space), 4 columns n at a time;
//   gc[k, n] += 1.0f * sum_e part (added to the buffer in place);
// bindings: g (read, vec4) [E, 70, 20], u (uniform) [70, 8], v (uniform) [20, 8],
//   a (uniform) [E, 8, 20], b (uniform) [E, 70, 8], gc (vec4) [70, 20]
// dispatch: (2, 2) workgroups; an invocation owns 4 rows k = wid.x * 64 + lid.x + 16 * row
//   and walks column quads [wid.y * 3, min((wid.y + 1) * 3, 5)): the column split gives lavapipe's
//   threads at least a few workgroups when the matrix has few row tiles.
//   Needs cols and rank multiples of 4 (the builder checks). Rows past the end read row 69 and write nothing.
// Why this shape: lavapipe lowers a storage-buffer load at a per-lane address to a branch per lane and component,
//   most of both the run time and LLVM's compile time; a uniform-buffer load is a branch-free gather. So u, v, a, b
//   are uniform buffers and only g (and the outputs) go through storage; v's rows and a's column quad are loaded once
//   for 4 rows. The tile loops have constant bounds and are unrolled by the shader compiler (uk, vn, an,
//   sum stay in registers); the expert loop's bound is hidden from it (x min(arrayLength, 1)), the column loop's depends on the workgroup.
@group(0) @binding(0) var<storage, read> g: array<vec4<f32>>;
@group(0) @binding(1) var<uniform> u: array<vec4<f32>, 140>;
@group(0) @binding(2) var<uniform> v: array<vec4<f32>, 40>;
@group(0) @binding(3) var<uniform> a: array<vec4<f32>, 80>;
@group(0) @binding(4) var<uniform> b: array<vec4<f32>, 280>;
@group(0) @binding(5) var<storage, read_write> gc: array<vec4<f32>>;

@compute @workgroup_size(16)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let k0 = wid.x * 64u + lid.x;
  var uk: array<vec4<f32>, 8>;
  for (var row = 0u; row < 4u; row++) {
    let k = min(k0 + row * 16u, 69u);
    for (var q = 0u; q < 2u; q++) {
      uk[row * 2u + q] = u[k * 2u + q];
    }
  }
  let n1 = min((wid.y + 1u) * 3u, 5u);
  let experts = 2u * min(arrayLength(&g), 1u);
  for (var n4 = wid.y * 3u; n4 < n1; n4++) {
    // v's rows 4 n4 .. 4 n4 + 3: vn[c * rank4 + q] = v[4 n4 + c, 4 q .. 4 q + 3]
    var vn: array<vec4<f32>, 8>;
    for (var i = 0u; i < 8u; i++) {
      vn[i] = v[n4 * 8u + i];
    }
    var sum = array<vec4<f32>, 4>(); // zeroed explicitly: the declaration's implicit zeroing was not redone per column quad on lavapipe
    for (var e = 0u; e < experts; e++) {
      var an: array<vec4<f32>, 8>;
      for (var i = 0u; i < 8u; i++) {
        an[i] = a[(e * 8u + i) * 5u + n4];
      }
      for (var row = 0u; row < 4u; row++) {
        let k = min(k0 + row * 16u, 69u);
        var part = vec4<f32>(0.0f);
        for (var q = 0u; q < 2u; q++) {
          let bq = b[(e * 70u + k) * 2u + q];
          part += vec4<f32>(dot(bq, vn[q]), dot(bq, vn[2u + q]), dot(bq, vn[2u * 2u + q]), dot(bq, vn[3u * 2u + q]));
          let w = uk[row * 2u + q];
          part += w.x * an[4u * q] + w.y * an[4u * q + 1u] + w.z * an[4u * q + 2u] + w.w * an[4u * q + 3u];
        }
        sum[row] += part;
      }
    }
    for (var row = 0u; row < 4u; row++) {
      let k = k0 + row * 16u;
      if (k < 70u) {
        let at = k * 5u + n4;
        gc[at] = gc[at] + sum[row] * 1.0f;
      }
    }
  }
}
