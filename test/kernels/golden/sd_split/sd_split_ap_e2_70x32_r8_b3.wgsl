// sd_split_ap_e2_70x32_r8_b3
// sd_split_ap (CPU adapters, first of the two-dispatch split): two jobs in one dispatch, chosen per workgroup
//   workgroups [0, 6):            a[e, j, n..n+3] = sum_k u[k, j] g[e, k, n..n+3]   (A = U^T G(e))
//   workgroups [6, 18):   p[e, k, j] = sum_n g[e, k, n] v[n, j]              (P = G(e) V)
//   P does not need A (B = (G − U A) V = P − U C with C = A V = U^T P, formed by sd_split_out_pc), so both run at once;
//   each P workgroup also writes its rows' part of C(e) = U^T P(e) [8, 8] to cpart (a lane sum in workgroup memory, one barrier).
// bindings: g (read, vec4) [E, 70, 32], u (uniform) [70, 8], v (uniform) [32, 8],
//   a (write, vec4) [E, 8, 32], p (write, vec4) [E, 70, 8], cpart (write, vec4) [E, 2, 8, 8]
// A batch of 3 matrices of this shape (2 experts each): g, a, p and cpart hold the matrices back to back (expert
//   index e over all 3·2), matrix e / 2 reads U at u[uAt[·]] and V at v[vAt[·]] (vec4s).
// dispatch: 18 workgroups along x. The job branch depends only on wid.x (workgroup-uniform).
//   A: invocation t = wid.x * 8 + lid.x < 48 owns column quad n4 = t % 8 of expert e = t / 8.
//   P: w = wid.x - 6, expert e = w / 2; an invocation owns 8 rows
//      k = (rg = w % 2) * 64 + lid.x + 8 * row and walks all column quads (rows past the end read row 69, write nothing).
// Why this shape: as sd_split_b's rows kernel, a storage-buffer load at a per-lane address is a branch per lane and
//   component on lavapipe, a uniform-buffer load a branch-free gather: u and v are uniform, only g streams through
//   storage. The tile loops have constant bounds (unrolled: uk/acc in registers); the k and column loops' bounds
//   are hidden from the shader compiler (x min(arrayLength, 1)): lavapipe would unroll them fully.
@group(0) @binding(0) var<storage, read> g: array<vec4<f32>>;
@group(0) @binding(1) var<uniform> u: array<vec4<f32>, 422>;
@group(0) @binding(2) var<uniform> v: array<vec4<f32>, 194>;
@group(0) @binding(3) var<storage, read_write> a: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> p: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> cpart: array<vec4<f32>>;

var<workgroup> cred: array<vec4<f32>, 128>;
var<private> uAt: array<u32, 3> = array<u32, 3>(282u, 141u, 0u);
var<private> vAt: array<u32, 3> = array<u32, 3>(130u, 65u, 0u);

@compute @workgroup_size(8)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  if (wid.x < 6u) {
    let t = wid.x * 8u + lid.x;
    if (t < 48u) {
      let e = t / 8u;
      let n4 = t - e * 8u;
      let gBase = e * 70u * 8u + n4;
      let ub = uAt[e / 2u];
      let rows = 70u * min(arrayLength(&a), 1u);
      var acc: array<vec4<f32>, 8>;
      for (var k = 0u; k < rows; k++) {
        let x = g[gBase + k * 8u];
        for (var q = 0u; q < 2u; q++) {
          let uq = u[ub + k * 2u + q];
          acc[4u * q] = fma(vec4<f32>(uq.x), x, acc[4u * q]);
          acc[4u * q + 1u] = fma(vec4<f32>(uq.y), x, acc[4u * q + 1u]);
          acc[4u * q + 2u] = fma(vec4<f32>(uq.z), x, acc[4u * q + 2u]);
          acc[4u * q + 3u] = fma(vec4<f32>(uq.w), x, acc[4u * q + 3u]);
        }
      }
      for (var j = 0u; j < 8u; j++) {
        a[(e * 8u + j) * 8u + n4] = acc[j];
      }
    }
  } else {
    pJob(wid.x - 6u, lid.x);
  }
}

fn pJob(w: u32, lane: u32) {
  let e = w / 2u;
  let rg = w - e * 2u;
  let k0 = rg * 64u + lane;
  let ub = uAt[e / 2u];
  let vb = vAt[e / 2u];
  var acc: array<vec4<f32>, 16>;
  let cols4 = 8u * min(arrayLength(&p), 1u);
  for (var n4 = 0u; n4 < cols4; n4++) {
    // v's rows 4 n4 .. 4 n4 + 3: vn[c * rank4 + q] = v[4 n4 + c, 4 q .. 4 q + 3]
    var vn: array<vec4<f32>, 8>;
    for (var i = 0u; i < 8u; i++) {
      vn[i] = v[vb + n4 * 8u + i];
    }
    for (var row = 0u; row < 8u; row++) {
      let k = min(k0 + row * 8u, 69u);
      let x = g[(e * 70u + k) * 8u + n4];
      for (var q = 0u; q < 2u; q++) {
        acc[row * 2u + q] += x.x * vn[q] + x.y * vn[2u + q] + x.z * vn[2u * 2u + q] + x.w * vn[3u * 2u + q];
      }
    }
  }
  // This lane's part of C(e) = U^T P(e) over its valid rows: cl[i * rank4 + q] = sum_k u[k, i] p[e, k, 4 q ..]
  var cl: array<vec4<f32>, 16>;
  for (var row = 0u; row < 8u; row++) {
    let k = k0 + row * 8u;
    if (k < 70u) {
      for (var q = 0u; q < 2u; q++) {
        p[(e * 70u + k) * 2u + q] = acc[row * 2u + q];
      }
    }
    let keep = select(0.0f, 1.0f, k < 70u);
    for (var i4 = 0u; i4 < 2u; i4++) {
      let w4 = u[ub + min(k, 69u) * 2u + i4] * keep;
      for (var q = 0u; q < 2u; q++) {
        let pq = acc[row * 2u + q];
        cl[(4u * i4) * 2u + q] += w4.x * pq;
        cl[(4u * i4 + 1u) * 2u + q] += w4.y * pq;
        cl[(4u * i4 + 2u) * 2u + q] += w4.z * pq;
        cl[(4u * i4 + 3u) * 2u + q] += w4.w * pq;
      }
    }
  }
  for (var m = 0u; m < 16u; m++) {
    cred[lane * 16u + m] = cl[m];
  }
  workgroupBarrier();
  // cpart[e, rg] = this workgroup's rows' part of C(e) (sd_split_out_pc sums the 2 row groups)
  for (var m = lane; m < 16u; m += 8u) {
    var c = vec4<f32>(0.0f);
    for (var l = 0u; l < 8u; l++) {
      c += cred[l * 16u + m];
    }
    cpart[(e * 2u + rg) * 16u + m] = c;
  }
}
