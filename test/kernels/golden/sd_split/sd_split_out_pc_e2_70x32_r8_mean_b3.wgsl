// sd_split_out_pc_e2_70x32_r8_mean_b3
// sd_split_out_pc (CPU adapters, second of the two-dispatch split): from A = U^T G(e), P = G(e) V and C(e) = U^T P(e)
//   [8, 8] in 2 row-group parts (sd_split_ap), each invocation's rows of
//   B(e) = P(e) - U C(e) = (G(e) - U A(e)) V, and per expert e < 2, 4 columns n at a time,
//   part = sum_i u[k, i] a[e, i, n] + sum_j b[e, k, j] v[n, j] (the component of g[e] in the common space);
//   gu[e, k, n] = g[e, k, n] - part ((I - P_U) G (I - P_V)); gc[k, n] = 0.5f * sum_e part.
// bindings: g (read, vec4) [E, 70, 32], u (uniform) [70, 8], v (uniform) [32, 8],
//   a (uniform) [E, 8, 32], p (uniform) [E, 70, 8],
//   cpart (uniform) [E, 2, 8, 8], gc (write, vec4) [70, 32], gu (write, vec4) [E, 70, 32]
// A batch of 3 matrices of this shape: g, a, p and cpart hold them back to back, matrix wid.z reads U at u[uAt[·]], V at
//   v[vAt[·]] and writes Gc at gu[gcAt[·]], Gu at gu[guAt[·]] (vec4s).
// dispatch: (3, 2, 3) workgroups; an invocation owns 4 rows k = wid.x * 32 + lid.x + 8 * row
//   and walks column quads [wid.y * 4, min((wid.y + 1) * 4, 8)). Rows past the end read row 69
//   and write nothing.
// Why this shape: as sd_split_out's rows kernel (uniform operands: a per-lane storage load is a branch per lane and
//   component on lavapipe). B is formed once per invocation into a private array (E x tile vec4), not per column quad;
//   C comes with P (sd_split_ap) so no workgroup recomputes it. The expert loops have a constant bound, so the
//   shader compiler may unroll them and keep bk in registers (with the bound hidden from it, bk's dynamic index
//   made out_pc ~10-20 % slower on lavapipe; the builder caps E x tile); the tile and rank loops are constant too.
@group(0) @binding(0) var<storage, read> g: array<vec4<f32>>;
@group(0) @binding(1) var<uniform> u: array<vec4<f32>, 422>;
@group(0) @binding(2) var<uniform> v: array<vec4<f32>, 194>;
@group(0) @binding(3) var<uniform> a: array<vec4<f32>, 384>;
@group(0) @binding(4) var<uniform> p: array<vec4<f32>, 840>;
@group(0) @binding(5) var<uniform> cpart: array<vec4<f32>, 192>;
@group(0) @binding(6) var<storage, read_write> gu: array<vec4<f32>>;

var<private> uAt: array<u32, 3> = array<u32, 3>(282u, 141u, 0u);
var<private> vAt: array<u32, 3> = array<u32, 3>(130u, 65u, 0u);
var<private> gcAt: array<u32, 3> = array<u32, 3>(3364u, 1682u, 0u);
var<private> guAt: array<u32, 3> = array<u32, 3>(3925u, 2243u, 561u);

@compute @workgroup_size(8)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let k0 = wid.x * 32u + lid.x;
  let mat = wid.z;
  let e0 = mat * 2u; // this matrix's first expert in g, a, p and cpart
  let ub = uAt[mat];
  let vb = vAt[mat];
  var uk: array<vec4<f32>, 8>;
  for (var row = 0u; row < 4u; row++) {
    let k = min(k0 + row * 8u, 69u);
    for (var q = 0u; q < 2u; q++) {
      uk[row * 2u + q] = u[ub + k * 2u + q];
    }
  }
  let experts = 2u;
  // bk[e * tile + row * rank4 + q] = B(e)[k, 4 q .. 4 q + 3] = p[e, k, 4 q ..] - sum_i u[k, i] C(e)[i, 4 q ..],
  // C(e) = the sum of sd_split_ap's 2 row-group parts cpart[e, rg] (same address in every lane: broadcast loads)
  var bk: array<vec4<f32>, 16>;
  for (var e = 0u; e < experts; e++) {
    // ce[i * rank4 + q] = C(e)[i, 4 q .. 4 q + 3]
    var ce = array<vec4<f32>, 16>(); // zeroed explicitly: a plain declaration in a loop was not re-zeroed per expert on lavapipe
    for (var rg = 0u; rg < 2u; rg++) {
      for (var m = 0u; m < 16u; m++) {
        ce[m] += cpart[((e0 + e) * 2u + rg) * 16u + m];
      }
    }
    for (var row = 0u; row < 4u; row++) {
      let k = min(k0 + row * 8u, 69u);
      for (var q = 0u; q < 2u; q++) {
        var b = p[((e0 + e) * 70u + k) * 2u + q];
        for (var i4 = 0u; i4 < 2u; i4++) {
          let w = uk[row * 2u + i4];
          let c0 = 4u * i4 * 2u + q;
          b -= w.x * ce[c0] + w.y * ce[c0 + 2u] + w.z * ce[c0 + 2u * 2u] + w.w * ce[c0 + 3u * 2u];
        }
        bk[e * 8u + row * 2u + q] = b;
      }
    }
  }
  let n1 = min((wid.y + 1u) * 4u, 8u);
  for (var n4 = wid.y * 4u; n4 < n1; n4++) {
    // v's rows 4 n4 .. 4 n4 + 3: vn[c * rank4 + q] = v[4 n4 + c, 4 q .. 4 q + 3]
    var vn: array<vec4<f32>, 8>;
    for (var i = 0u; i < 8u; i++) {
      vn[i] = v[vb + n4 * 8u + i];
    }
    var sum = array<vec4<f32>, 4>(); // zeroed explicitly: the declaration's implicit zeroing was not redone per column quad on lavapipe
    for (var e = 0u; e < experts; e++) {
      var an: array<vec4<f32>, 8>;
      for (var i = 0u; i < 8u; i++) {
        an[i] = a[((e0 + e) * 8u + i) * 8u + n4];
      }
      for (var row = 0u; row < 4u; row++) {
        let k = min(k0 + row * 8u, 69u);
        var part = vec4<f32>(0.0f);
        for (var q = 0u; q < 2u; q++) {
          let bq = bk[e * 8u + row * 2u + q];
          part += vec4<f32>(dot(bq, vn[q]), dot(bq, vn[2u + q]), dot(bq, vn[2u * 2u + q]), dot(bq, vn[3u * 2u + q]));
          let w = uk[row * 2u + q];
          part += w.x * an[4u * q] + w.y * an[4u * q + 1u] + w.z * an[4u * q + 2u] + w.w * an[4u * q + 3u];
        }
        if (k0 + row * 8u < 70u) {
          let at = (e * 70u + k) * 8u + n4;
          gu[guAt[mat] + at] = g[e0 * 70u * 8u + at] - part;
        }
        sum[row] += part;
      }
    }
    for (var row = 0u; row < 4u; row++) {
      let k = k0 + row * 8u;
      if (k < 70u) {
        gu[gcAt[mat] + k * 8u + n4] = sum[row] * 0.5f;
      }
    }
  }
}
