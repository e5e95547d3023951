enable subgroups;
// sd_split_ap_e3_17x12_r4_sg4
// sd_split_ap (CPU adapters, first of the two-dispatch split): two jobs in one dispatch, chosen per workgroup
//   workgroups [0, 2):            a[e, j, n..n+3] = sum_k u[k, j] g[e, k, n..n+3]   (A = U^T G(e))
//   workgroups [2, 5):   p[e, k, j] = sum_n g[e, k, n] v[n, j]              (P = G(e) V)
//   P does not need A (B = (G − U A) V = P − U C with C = A V = U^T P, formed by sd_split_out_pc), so both run at once;
//   each P workgroup also writes its rows' part of C(e) = U^T P(e) [4, 4] to cpart (a lane sum in workgroup memory, one barrier).
// bindings: g (read, vec4) [E, 17, 12], u (uniform) [17, 4], v (uniform) [12, 4],
//   a (write, vec4) [E, 4, 12], p (write, vec4) [E, 17, 4], cpart (write, vec4) [E, 1, 4, 4]
// A batch of 1 matrices of this shape (3 experts each): g, a, p and cpart hold the matrices back to back (expert
//   index e over all 1·3), matrix e / 3 reads U at u[uAt[·]] and V at v[vAt[·]] (vec4s).
// dispatch: 5 workgroups along x. The job branch depends only on wid.x (workgroup-uniform).
//   A: invocation t = wid.x * 8 + lid.x < 9 owns column quad n4 = t % 3 of expert e = t / 3.
//   P: w = wid.x - 2, expert e = w / 1; an invocation owns 8 rows
//      k = (rg = w % 1) * 64 + lid.x + 8 * row and walks all column quads (rows past the end read row 16, write nothing).
// Why this shape: as sd_split_b's rows kernel, a storage-buffer load at a per-lane address is a branch per lane and
//   component on lavapipe, a uniform-buffer load a branch-free gather: u and v are uniform, only g streams through
//   storage. The tile loops have constant bounds (unrolled: uk/acc in registers); the k and column loops' bounds
//   are hidden from the shader compiler (x min(arrayLength, 1)): lavapipe would unroll them fully.
// Subgroup variant (4 lanes): a uniform-buffer load at a workgroup-uniform but not constant address is still an
//   8-lane gather per component on lavapipe, so the operands every lane needs alike (U's rows in the A job: not here,
//   4 lanes do not hold whole rows of U, V's rows in the P job) are loaded one vec4 per lane and handed out with
//   subgroupBroadcast (constant lanes, unrolled by the program builder). Same arithmetic in the same order: the same bits.
@group(0) @binding(0) var<storage, read> g: array<vec4<f32>>;
@group(0) @binding(1) var<uniform> u: array<vec4<f32>, 17>;
@group(0) @binding(2) var<uniform> v: array<vec4<f32>, 12>;
@group(0) @binding(3) var<storage, read_write> a: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> p: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> cpart: array<vec4<f32>>;

var<workgroup> cred: array<vec4<f32>, 32>;
var<private> uAt: array<u32, 1> = array<u32, 1>(0u);
var<private> vAt: array<u32, 1> = array<u32, 1>(0u);

@compute @workgroup_size(8)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {
  let sl = min(lane, 3u); // in a wider subgroup than planned, the extra lanes load what lane 3 loads and are never read
  if (wid.x < 2u) {
    let t = wid.x * 8u + lid.x;
    if (t < 9u) {
      let e = t / 3u;
      let n4 = t - e * 3u;
      let gBase = e * 17u * 3u + n4;
      let ub = uAt[e / 3u];
      let rows = 17u * min(arrayLength(&a), 1u);
      var acc: array<vec4<f32>, 4>;
      for (var k = 0u; k < rows; k++) {
        let x = g[gBase + k * 3u];
        for (var q = 0u; q < 1u; q++) {
          let uq = u[ub + k * 1u + q];
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
  } else {
    pJob(wid.x - 2u, lid.x, sl);
  }
}

fn pJob(w: u32, lane: u32, sl: u32) {
  let e = w / 1u;
  let rg = w - e * 1u;
  let k0 = rg * 64u + lane;
  let ub = uAt[e / 3u];
  let vb = vAt[e / 3u];
  var acc: array<vec4<f32>, 8>;
  let cols4 = 3u * min(arrayLength(&p), 1u);
  for (var n4 = 0u; n4 < cols4; n4++) {
    // v's rows 4 n4 .. 4 n4 + 3: vn[c * rank4 + q] = v[4 n4 + c, 4 q .. 4 q + 3]
    var vn: array<vec4<f32>, 4>;
    let vm0 = v[vb + n4 * 4u + min(0u + sl, 3u)];
    vn[0] = subgroupBroadcast(vm0, 0u);
    vn[1] = subgroupBroadcast(vm0, 1u);
    vn[2] = subgroupBroadcast(vm0, 2u);
    vn[3] = subgroupBroadcast(vm0, 3u);
    for (var row = 0u; row < 8u; row++) {
      let k = min(k0 + row * 8u, 16u);
      let x = g[(e * 17u + k) * 3u + n4];
      for (var q = 0u; q < 1u; q++) {
        acc[row * 1u + q] += x.x * vn[q] + x.y * vn[1u + q] + x.z * vn[2u * 1u + q] + x.w * vn[3u * 1u + q];
      }
    }
  }
  // This lane's part of C(e) = U^T P(e) over its valid rows: cl[i * rank4 + q] = sum_k u[k, i] p[e, k, 4 q ..]
  var cl: array<vec4<f32>, 4>;
  for (var row = 0u; row < 8u; row++) {
    let k = k0 + row * 8u;
    if (k < 17u) {
      for (var q = 0u; q < 1u; q++) {
        p[(e * 17u + k) * 1u + q] = acc[row * 1u + q];
      }
    }
    let keep = select(0.0f, 1.0f, k < 17u);
    for (var i4 = 0u; i4 < 1u; i4++) {
      let w4 = u[ub + min(k, 16u) * 1u + i4] * keep;
      for (var q = 0u; q < 1u; q++) {
        let pq = acc[row * 1u + q];
        cl[(4u * i4) * 1u + q] += w4.x * pq;
        cl[(4u * i4 + 1u) * 1u + q] += w4.y * pq;
        cl[(4u * i4 + 2u) * 1u + q] += w4.z * pq;
        cl[(4u * i4 + 3u) * 1u + q] += w4.w * pq;
      }
    }
  }
  for (var m = 0u; m < 4u; m++) {
    cred[lane * 4u + m] = cl[m];
  }
  workgroupBarrier();
  // cpart[e, rg] = this workgroup's rows' part of C(e) (sd_split_out_pc sums the 1 row groups)
  for (var m = lane; m < 4u; m += 8u) {
    var c = vec4<f32>(0.0f);
    for (var l = 0u; l < 8u; l++) {
      c += cred[l * 4u + m];
    }
    cpart[(e * 1u + rg) * 4u + m] = c;
  }
}
