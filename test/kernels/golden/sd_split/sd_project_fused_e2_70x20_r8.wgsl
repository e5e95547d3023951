// sd_project_fused_e2_70x20_r8
// sd_project_fused (project update in one dispatch, for CPU adapters): 3 workgroups, one per matrix M [70, 20]:
//   A = U^T M [8, 20] (workgroup memory), B = (M - U A) V [70, 8] (registers), part = U A + B V^T
//   (M's component in the common space; M - part = (I - P_U) M (I - P_V) = D(M)).
//   workgroup 0: M = dc: wc[k, n] += part (W_c += Δ_c - D(Δ_c))
//   workgroup 1 + e, e < 2: M = du[e]: wu[e, k, n] += du[e, k, n] - part (W_u(e) += D(Δ_u(e)))
// bindings: dc (read) [70, 20], du (read) [E, 70, 20], u (uniform) [70, 8], v (uniform) [20, 8],
//   wc (read_write) [70, 20], wu (read_write) [E, 70, 20]; storage bindings are array<vec4<f32>>:
//   needs cols and rank multiples of 4 (the builder checks).
// dispatch: (3, 1, 1) workgroups of 24 invocations. Phase 1: lanes along column quads (c4 = lid.x + 24 * step),
//   each keeps A's 8 sums for its quad in registers and stores them to workgroup memory. One barrier. Phase 2:
//   3 rows per lane (k = lid.x + 24 * row): B's rows in registers, then the output rows; each column quad
//   of A and four rows of v are loaded once for the whole tile. Steps past the end clamp to the last quad or row and write nothing.
// Why this shape: it replaces six dispatches (sd_split a, b, out for Δ_c, then for Δ_u), and on lavapipe every dispatch
//   has a fixed cost while a workgroup is a serial loop over SIMD-8 chunks on one thread: here the 3 matrices are
//   the workgroups the adapter's threads share. u and v are uniform buffers: a storage or workgroup load inside a loop is
//   a branch per lane and component (exec mask, bounds check), a uniform-buffer load a branch-free gather; with storage
//   u and v this kernel took twice as long. The tile loops have constant bounds and are unrolled (uk, bk, an, vn stay in
//   registers); the others are hidden from the shader compiler (x min(arrayLength, 1)): lavapipe would unroll them fully.
@group(0) @binding(0) var<storage, read> dc: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> du: array<vec4<f32>>;
@group(0) @binding(2) var<uniform> u: array<vec4<f32>, 140>;
@group(0) @binding(3) var<uniform> v: array<vec4<f32>, 40>;
@group(0) @binding(4) var<storage, read_write> wc: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> wu: array<vec4<f32>>;

var<workgroup> wa: array<vec4<f32>, 40>;

// Quad `at` of workgroup w's matrix (a uniform branch: w is the workgroup's).
fn src(w: u32, at: u32) -> vec4<f32> {
  if (w == 0u) {
    return dc[at];
  }
  return du[(w - 1u) * 350u + at];
}

// A's column quad n4 (an[i] = A[i, 4 n4 .. 4 n4 + 3], from workgroup memory) and v's rows 4 n4 .. 4 n4 + 3
// (vn[c * rank4 + q] = v[4 n4 + c, 4 q .. 4 q + 3]): what every lane needs alike in phase 2.
struct Quads {
  an: array<vec4<f32>, 8>,
  vn: array<vec4<f32>, 8>,
}

fn quadsAt(n4: u32) -> Quads {
  var r: Quads;
  for (var i = 0u; i < 8u; i++) {
    r.an[i] = wa[i * 5u + n4];
    r.vn[i] = v[n4 * 8u + i];
  }
  return r;
}

@compute @workgroup_size(24)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let w = wid.x;
  let hide = min(arrayLength(&du), 1u);
  // Phase 1: A[j, c4] = sum_k u[k, j] M[k, c4] for this lane's column quads.
  for (var step = 0u; step < 1u * hide; step++) {
    let c = step * 24u + lid.x;
    let c4 = min(c, 4u);
    var acc = array<vec4<f32>, 8>(); // zeroed explicitly: lavapipe did not redo a declaration's implicit zeroing per iteration
    for (var k = 0u; k < 70u * hide; k++) {
      let x = src(w, k * 5u + c4);
      for (var q = 0u; q < 2u; q++) {
        let uq = u[k * 2u + q];
        acc[4u * q] = fma(vec4<f32>(uq.x), x, acc[4u * q]);
        acc[4u * q + 1u] = fma(vec4<f32>(uq.y), x, acc[4u * q + 1u]);
        acc[4u * q + 2u] = fma(vec4<f32>(uq.z), x, acc[4u * q + 2u]);
        acc[4u * q + 3u] = fma(vec4<f32>(uq.w), x, acc[4u * q + 3u]);
      }
    }
    if (c < 5u) {
      for (var j = 0u; j < 8u; j++) {
        wa[j * 5u + c4] = acc[j];
      }
    }
  }
  workgroupBarrier();
  // Phase 2: B[k, :] = sum_n (M[k, n] - U[k, :] A[:, n]) V[n, :] for this lane's rows, then part and the output rows.
  var uk: array<vec4<f32>, 6>;
  var bk = array<vec4<f32>, 6>();
  for (var row = 0u; row < 3u; row++) {
    let k = min(row * 24u + lid.x, 69u);
    for (var q = 0u; q < 2u; q++) {
      uk[row * 2u + q] = u[k * 2u + q];
    }
  }
  for (var n4 = 0u; n4 < 5u * hide; n4++) {
    let quads = quadsAt(n4);
    var an = quads.an;
    var vn = quads.vn;
    for (var row = 0u; row < 3u; row++) {
      let k = min(row * 24u + lid.x, 69u);
      var res = src(w, k * 5u + n4);
      for (var q = 0u; q < 2u; q++) {
        let uq = uk[row * 2u + q];
        res -= uq.x * an[4u * q] + uq.y * an[4u * q + 1u] + uq.z * an[4u * q + 2u] + uq.w * an[4u * q + 3u];
      }
      for (var q = 0u; q < 2u; q++) {
        bk[row * 2u + q] += res.x * vn[q] + res.y * vn[2u + q] + res.z * vn[2u * 2u + q] + res.w * vn[3u * 2u + q];
      }
    }
  }
  for (var n4 = 0u; n4 < 5u * hide; n4++) {
    let quads = quadsAt(n4);
    var an = quads.an;
    var vn = quads.vn;
    for (var row = 0u; row < 3u; row++) {
      let kk = row * 24u + lid.x;
      let k = min(kk, 69u);
      var part = vec4<f32>(0.0f);
      for (var q = 0u; q < 2u; q++) {
        let uq = uk[row * 2u + q];
        part += uq.x * an[4u * q] + uq.y * an[4u * q + 1u] + uq.z * an[4u * q + 2u] + uq.w * an[4u * q + 3u];
        let bq = bk[row * 2u + q];
        part += vec4<f32>(dot(bq, vn[q]), dot(bq, vn[2u + q]), dot(bq, vn[2u * 2u + q]), dot(bq, vn[3u * 2u + q]));
      }
      if (kk < 70u) {
        let at = k * 5u + n4;
        if (w == 0u) {
          wc[at] = wc[at] + part;
        } else {
          let ue = (w - 1u) * 350u + at;
          wu[ue] = wu[ue] + (du[ue] - part);
        }
      }
    }
  }
}
