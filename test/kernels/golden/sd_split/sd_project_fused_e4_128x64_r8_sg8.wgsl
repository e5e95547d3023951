enable subgroups;
// sd_project_fused_e4_128x64_r8_sg8
// sd_project_fused (project update in one dispatch, for CPU adapters): 5 workgroups, one per matrix M [128, 64]:
//   A = U^T M [8, 64] (workgroup memory), B = (M - U A) V [128, 8] (registers), part = U A + B V^T
//   (M's component in the common space; M - part = (I - P_U) M (I - P_V) = D(M)).
//   workgroup 0: M = dc: wc[k, n] += part (W_c += Δ_c - D(Δ_c))
//   workgroup 1 + e, e < 4: M = du[e]: wu[e, k, n] += du[e, k, n] - part (W_u(e) += D(Δ_u(e)))
// bindings: dc (read) [128, 64], du (read) [E, 128, 64], u (uniform) [128, 8], v (uniform) [64, 8],
//   wc (read_write) [128, 64], wu (read_write) [E, 128, 64]; storage bindings are array<vec4<f32>>:
//   needs cols and rank multiples of 4 (the builder checks).
// dispatch: (5, 1, 1) workgroups of 32 invocations. Phase 1: lanes along column quads (c4 = lid.x + 32 * step),
//   each keeps A's 8 sums for its quad in registers and stores them to workgroup memory. One barrier. Phase 2:
//   4 rows per lane (k = lid.x + 32 * row): B's rows in registers, then the output rows; each column quad
//   of A and four rows of v are loaded once for the whole tile. Steps past the end clamp to the last quad or row and write nothing.
// Why this shape: it replaces six dispatches (sd_split a, b, out for Δ_c, then for Δ_u), and on lavapipe every dispatch
//   has a fixed cost while a workgroup is a serial loop over SIMD-8 chunks on one thread: here the 5 matrices are
//   the workgroups the adapter's threads share. u and v are uniform buffers: a storage or workgroup load inside a loop is
//   a branch per lane and component (exec mask, bounds check), a uniform-buffer load a branch-free gather; with storage
//   u and v this kernel took twice as long. The tile loops have constant bounds and are unrolled (uk, bk, an, vn stay in
//   registers); the others are hidden from the shader compiler (x min(arrayLength, 1)): lavapipe would unroll them fully.
// Subgroup variant (8 lanes, as the split pair's): what every lane of a subgroup reads alike — U's rows in phase 1, A's column quad and V's rows in phase 2 — is loaded one vec4 per lane
//   and handed out with subgroupBroadcast (lavapipe gathers a uniform or workgroup load per lane unless its address is constant).
//   Same arithmetic in the same order: the same bits.
@group(0) @binding(0) var<storage, read> dc: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> du: array<vec4<f32>>;
@group(0) @binding(2) var<uniform> u: array<vec4<f32>, 256>;
@group(0) @binding(3) var<uniform> v: array<vec4<f32>, 128>;
@group(0) @binding(4) var<storage, read_write> wc: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> wu: array<vec4<f32>>;

var<workgroup> wa: array<vec4<f32>, 128>;

// Quad `at` of workgroup w's matrix (a uniform branch: w is the workgroup's).
fn src(w: u32, at: u32) -> vec4<f32> {
  if (w == 0u) {
    return dc[at];
  }
  return du[(w - 1u) * 2048u + at];
}

// A's column quad n4 (an[i] = A[i, 4 n4 .. 4 n4 + 3], from workgroup memory) and v's rows 4 n4 .. 4 n4 + 3
// (vn[c * rank4 + q] = v[4 n4 + c, 4 q .. 4 q + 3]): what every lane needs alike in phase 2, one vec4 per lane
// handed out by subgroupBroadcast (called in uniform control flow only).
struct Quads {
  an: array<vec4<f32>, 8>,
  vn: array<vec4<f32>, 8>,
}

fn quadsAt(n4: u32, sl: u32) -> Quads {
  var r: Quads;
  let am0 = wa[min(0u + sl, 7u) * 16u + n4];
  let vm0 = v[n4 * 8u + min(0u + sl, 7u)];
  r.an[0] = subgroupBroadcast(am0, 0u);
  r.vn[0] = subgroupBroadcast(vm0, 0u);
  r.an[1] = subgroupBroadcast(am0, 1u);
  r.vn[1] = subgroupBroadcast(vm0, 1u);
  r.an[2] = subgroupBroadcast(am0, 2u);
  r.vn[2] = subgroupBroadcast(vm0, 2u);
  r.an[3] = subgroupBroadcast(am0, 3u);
  r.vn[3] = subgroupBroadcast(vm0, 3u);
  r.an[4] = subgroupBroadcast(am0, 4u);
  r.vn[4] = subgroupBroadcast(vm0, 4u);
  r.an[5] = subgroupBroadcast(am0, 5u);
  r.vn[5] = subgroupBroadcast(vm0, 5u);
  r.an[6] = subgroupBroadcast(am0, 6u);
  r.vn[6] = subgroupBroadcast(vm0, 6u);
  r.an[7] = subgroupBroadcast(am0, 7u);
  r.vn[7] = subgroupBroadcast(vm0, 7u);
  return r;
}

@compute @workgroup_size(32)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {
  let w = wid.x;
  let sl = min(lane, 7u); // in a wider subgroup than planned, the extra lanes load what lane 7 loads and are never read
  let hide = min(arrayLength(&du), 1u);
  // Phase 1: A[j, c4] = sum_k u[k, j] M[k, c4] for this lane's column quads.
  for (var step = 0u; step < 1u * hide; step++) {
    let c = step * 32u + lid.x;
    let c4 = min(c, 15u);
    var acc = array<vec4<f32>, 8>(); // zeroed explicitly: lavapipe did not redo a declaration's implicit zeroing per iteration
    for (var kg = 0u; kg < 32u * hide; kg++) {
      // U's rows 4 kg .. 4 kg + 3: 8 vec4s, one per lane
      let um = u[kg * 8u + sl];
      {
        let x = src(w, (4u * kg + 0u) * 16u + c4);
        let u0 = subgroupBroadcast(um, 0u);
        acc[0] = fma(vec4<f32>(u0.x), x, acc[0]);
        acc[1] = fma(vec4<f32>(u0.y), x, acc[1]);
        acc[2] = fma(vec4<f32>(u0.z), x, acc[2]);
        acc[3] = fma(vec4<f32>(u0.w), x, acc[3]);
        let u1 = subgroupBroadcast(um, 1u);
        acc[4] = fma(vec4<f32>(u1.x), x, acc[4]);
        acc[5] = fma(vec4<f32>(u1.y), x, acc[5]);
        acc[6] = fma(vec4<f32>(u1.z), x, acc[6]);
        acc[7] = fma(vec4<f32>(u1.w), x, acc[7]);
      }
      {
        let x = src(w, (4u * kg + 1u) * 16u + c4);
        let u0 = subgroupBroadcast(um, 2u);
        acc[0] = fma(vec4<f32>(u0.x), x, acc[0]);
        acc[1] = fma(vec4<f32>(u0.y), x, acc[1]);
        acc[2] = fma(vec4<f32>(u0.z), x, acc[2]);
        acc[3] = fma(vec4<f32>(u0.w), x, acc[3]);
        let u1 = subgroupBroadcast(um, 3u);
        acc[4] = fma(vec4<f32>(u1.x), x, acc[4]);
        acc[5] = fma(vec4<f32>(u1.y), x, acc[5]);
        acc[6] = fma(vec4<f32>(u1.z), x, acc[6]);
        acc[7] = fma(vec4<f32>(u1.w), x, acc[7]);
      }
      {
        let x = src(w, (4u * kg + 2u) * 16u + c4);
        let u0 = subgroupBroadcast(um, 4u);
        acc[0] = fma(vec4<f32>(u0.x), x, acc[0]);
        acc[1] = fma(vec4<f32>(u0.y), x, acc[1]);
        acc[2] = fma(vec4<f32>(u0.z), x, acc[2]);
        acc[3] = fma(vec4<f32>(u0.w), x, acc[3]);
        let u1 = subgroupBroadcast(um, 5u);
        acc[4] = fma(vec4<f32>(u1.x), x, acc[4]);
        acc[5] = fma(vec4<f32>(u1.y), x, acc[5]);
        acc[6] = fma(vec4<f32>(u1.z), x, acc[6]);
        acc[7] = fma(vec4<f32>(u1.w), x, acc[7]);
      }
      {
        let x = src(w, (4u * kg + 3u) * 16u + c4);
        let u0 = subgroupBroadcast(um, 6u);
        acc[0] = fma(vec4<f32>(u0.x), x, acc[0]);
        acc[1] = fma(vec4<f32>(u0.y), x, acc[1]);
        acc[2] = fma(vec4<f32>(u0.z), x, acc[2]);
        acc[3] = fma(vec4<f32>(u0.w), x, acc[3]);
        let u1 = subgroupBroadcast(um, 7u);
        acc[4] = fma(vec4<f32>(u1.x), x, acc[4]);
        acc[5] = fma(vec4<f32>(u1.y), x, acc[5]);
        acc[6] = fma(vec4<f32>(u1.z), x, acc[6]);
        acc[7] = fma(vec4<f32>(u1.w), x, acc[7]);
      }
    }
    if (c < 16u) {
      for (var j = 0u; j < 8u; j++) {
        wa[j * 16u + c4] = acc[j];
      }
    }
  }
  workgroupBarrier();
  // Phase 2: B[k, :] = sum_n (M[k, n] - U[k, :] A[:, n]) V[n, :] for this lane's rows, then part and the output rows.
  var uk: array<vec4<f32>, 8>;
  var bk = array<vec4<f32>, 8>();
  for (var row = 0u; row < 4u; row++) {
    let k = min(row * 32u + lid.x, 127u);
    for (var q = 0u; q < 2u; q++) {
      uk[row * 2u + q] = u[k * 2u + q];
    }
  }
  for (var n4 = 0u; n4 < 16u * hide; n4++) {
    let quads = quadsAt(n4, sl);
    var an = quads.an;
    var vn = quads.vn;
    for (var row = 0u; row < 4u; row++) {
      let k = min(row * 32u + lid.x, 127u);
      var res = src(w, k * 16u + n4);
      for (var q = 0u; q < 2u; q++) {
        let uq = uk[row * 2u + q];
        res -= uq.x * an[4u * q] + uq.y * an[4u * q + 1u] + uq.z * an[4u * q + 2u] + uq.w * an[4u * q + 3u];
      }
      for (var q = 0u; q < 2u; q++) {
        bk[row * 2u + q] += res.x * vn[q] + res.y * vn[2u + q] + res.z * vn[2u * 2u + q] + res.w * vn[3u * 2u + q];
      }
    }
  }
  for (var n4 = 0u; n4 < 16u * hide; n4++) {
    let quads = quadsAt(n4, sl);
    var an = quads.an;
    var vn = quads.vn;
    for (var row = 0u; row < 4u; row++) {
      let kk = row * 32u + lid.x;
      let k = min(kk, 127u);
      var part = vec4<f32>(0.0f);
      for (var q = 0u; q < 2u; q++) {
        let uq = uk[row * 2u + q];
        part += uq.x * an[4u * q] + uq.y * an[4u * q + 1u] + uq.z * an[4u * q + 2u] + uq.w * an[4u * q + 3u];
        let bq = bk[row * 2u + q];
        part += vec4<f32>(dot(bq, vn[q]), dot(bq, vn[2u + q]), dot(bq, vn[2u * 2u + q]), dot(bq, vn[3u * 2u + q]));
      }
      if (kk < 128u) {
        let at = k * 16u + n4;
        if (w == 0u) {
          wc[at] = wc[at] + part;
        } else {
          let ue = (w - 1u) * 2048u + at;
          wu[ue] = wu[ue] + (du[ue] - part);
        }
      }
    }
  }
}
