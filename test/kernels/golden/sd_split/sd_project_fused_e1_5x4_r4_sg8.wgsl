enable subgroups;
// sd_project_fused_e1_5x4_r4_sg8
// sd_project_fused (project update in one dispatch, for CPU adapters): 2 workgroups, one per matrix M [5, 4]:
//   A = U^T M [4, 4] (workgroup memory), B = (M - U A) V [5, 4] (registers), part = U A + B V^T
//   (M's component in the common space; M - part = (I - P_U) M (I - P_V) = D(M)).
//   workgroup 0: M = dc: wc[k, n] += part (W_c += Δ_c - D(Δ_c))
//   workgroup 1 + e, e < 1: M = du[e]: wu[e, k, n] += du[e, k, n] - part (W_u(e) += D(Δ_u(e)))
// bindings: dc (read) [5, 4], du (read) [E, 5, 4], u (uniform) [5, 4], v (uniform) [4, 4],
//   wc (read_write) [5, 4], wu (read_write) [E, 5, 4]; storage bindings are array<vec4<f32>>:
//   needs cols and rank multiples of 4 (the builder checks).
// dispatch: (2, 1, 1) workgroups of 8 invocations. Phase 1: lanes along column quads (c4 = lid.x + 8 * step),
//   each keeps A's 4 sums for its quad in registers and stores them to workgroup memory. One barrier. Phase 2:
//   1 rows per lane (k = lid.x + 8 * row): B's rows in registers, then the output rows; each column quad
//   of A and four rows of v are loaded once for the whole tile. Steps past the end clamp to the last quad or row and write nothing.
// Why this shape: it replaces six dispatches (sd_split a, b, out for Δ_c, then for Δ_u), and on lavapipe every dispatch
//   has a fixed cost while a workgroup is a serial loop over SIMD-8 chunks on one thread: here the 2 matrices are
//   the workgroups the adapter's threads share. u and v are uniform buffers: a storage or workgroup load inside a loop is
//   a branch per lane and component (exec mask, bounds check), a uniform-buffer load a branch-free gather; with storage
//   u and v this kernel took twice as long. The tile loops have constant bounds and are unrolled (uk, bk, an, vn stay in
//   registers); the others are hidden from the shader compiler (x min(arrayLength, 1)): lavapipe would unroll them fully.
// Subgroup variant (8 lanes, as the split pair's): what every lane of a subgroup reads alike — U's rows in phase 1
//   (not here: 8 lanes do not hold whole rows of U), A's column quad and V's rows in phase 2 — is loaded one vec4 per lane
//   and handed out with subgroupBroadcast (lavapipe gathers a uniform or workgroup load per lane unless its address is constant).
//   Same arithmetic in the same order: the same bits.
@group(0) @binding(0) var<storage, read> dc: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> du: array<vec4<f32>>;
@group(0) @binding(2) var<uniform> u: array<vec4<f32>, 5>;
@group(0) @binding(3) var<uniform> v: array<vec4<f32>, 4>;
@group(0) @binding(4) var<storage, read_write> wc: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> wu: array<vec4<f32>>;

var<workgroup> wa: array<vec4<f32>, 4>;

// Quad `at` of workgroup w's matrix (a uniform branch: w is the workgroup's).
fn src(w: u32, at: u32) -> vec4<f32> {
  if (w == 0u) {
    return dc[at];
  }
  return du[(w - 1u) * 5u + at];
}

// A's column quad n4 (an[i] = A[i, 4 n4 .. 4 n4 + 3], from workgroup memory) and v's rows 4 n4 .. 4 n4 + 3
// (vn[c * rank4 + q] = v[4 n4 + c, 4 q .. 4 q + 3]): what every lane needs alike in phase 2, one vec4 per lane
// handed out by subgroupBroadcast (called in uniform control flow only).
struct Quads {
  an: array<vec4<f32>, 4>,
  vn: array<vec4<f32>, 4>,
}

fn quadsAt(n4: u32, sl: u32) -> Quads {
  var r: Quads;
  let am0 = wa[min(0u + sl, 3u) * 1u + n4];
  let vm0 = v[n4 * 4u + min(0u + sl, 3u)];
  r.an[0] = subgroupBroadcast(am0, 0u);
  r.vn[0] = subgroupBroadcast(vm0, 0u);
  r.an[1] = subgroupBroadcast(am0, 1u);
  r.vn[1] = subgroupBroadcast(vm0, 1u);
  r.an[2] = subgroupBroadcast(am0, 2u);
  r.vn[2] = subgroupBroadcast(vm0, 2u);
  r.an[3] = subgroupBroadcast(am0, 3u);
  r.vn[3] = subgroupBroadcast(vm0, 3u);
  return r;
}

@compute @workgroup_size(8)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {
  let w = wid.x;
  let sl = min(lane, 7u); // in a wider subgroup than planned, the extra lanes load what lane 7 loads and are never read
  let hide = min(arrayLength(&du), 1u);
  // Phase 1: A[j, c4] = sum_k u[k, j] M[k, c4] for this lane's column quads.
  for (var step = 0u; step < 1u * hide; step++) {
    let c = step * 8u + lid.x;
    let c4 = min(c, 0u);
    var acc = array<vec4<f32>, 4>(); // zeroed explicitly: lavapipe did not redo a declaration's implicit zeroing per iteration
    for (var k = 0u; k < 5u * hide; k++) {
      let x = src(w, k * 1u + c4);
      for (var q = 0u; q < 1u; q++) {
        let uq = u[k * 1u + q];
        acc[4u * q] = fma(vec4<f32>(uq.x), x, acc[4u * q]);
        acc[4u * q + 1u] = fma(vec4<f32>(uq.y), x, acc[4u * q + 1u]);
        acc[4u * q + 2u] = fma(vec4<f32>(uq.z), x, acc[4u * q + 2u]);
        acc[4u * q + 3u] = fma(vec4<f32>(uq.w), x, acc[4u * q + 3u]);
      }
    }
    if (c < 1u) {
      for (var j = 0u; j < 4u; j++) {
        wa[j * 1u + c4] = acc[j];
      }
    }
  }
  workgroupBarrier();
  // Phase 2: B[k, :] = sum_n (M[k, n] - U[k, :] A[:, n]) V[n, :] for this lane's rows, then part and the output rows.
  var uk: array<vec4<f32>, 1>;
  var bk = array<vec4<f32>, 1>();
  for (var row = 0u; row < 1u; row++) {
    let k = min(row * 8u + lid.x, 4u);
    for (var q = 0u; q < 1u; q++) {
      uk[row * 1u + q] = u[k * 1u + q];
    }
  }
  for (var n4 = 0u; n4 < 1u * hide; n4++) {
    let quads = quadsAt(n4, sl);
    var an = quads.an;
    var vn = quads.vn;
    for (var row = 0u; row < 1u; row++) {
      let k = min(row * 8u + lid.x, 4u);
      var res = src(w, k * 1u + n4);
      for (var q = 0u; q < 1u; q++) {
        let uq = uk[row * 1u + q];
        res -= uq.x * an[4u * q] + uq.y * an[4u * q + 1u] + uq.z * an[4u * q + 2u] + uq.w * an[4u * q + 3u];
      }
      for (var q = 0u; q < 1u; q++) {
        bk[row * 1u + q] += res.x * vn[q] + res.y * vn[1u + q] + res.z * vn[2u * 1u + q] + res.w * vn[3u * 1u + q];
      }
    }
  }
  for (var n4 = 0u; n4 < 1u * hide; n4++) {
    let quads = quadsAt(n4, sl);
    var an = quads.an;
    var vn = quads.vn;
    for (var row = 0u; row < 1u; row++) {
      let kk = row * 8u + lid.x;
      let k = min(kk, 4u);
      var part = vec4<f32>(0.0f);
      for (var q = 0u; q < 1u; q++) {
        let uq = uk[row * 1u + q];
        part += uq.x * an[4u * q] + uq.y * an[4u * q + 1u] + uq.z * an[4u * q + 2u] + uq.w * an[4u * q + 3u];
        let bq = bk[row * 1u + q];
        part += vec4<f32>(dot(bq, vn[q]), dot(bq, vn[1u + q]), dot(bq, vn[2u * 1u + q]), dot(bq, vn[3u * 1u + q]));
      }
      if (kk < 5u) {
        let at = k * 1u + n4;
        if (w == 0u) {
          wc[at] = wc[at] + part;
        } else {
          let ue = (w - 1u) * 5u + at;
          wu[ue] = wu[ue] + (du[ue] - part);
        }
      }
    }
  }
}
