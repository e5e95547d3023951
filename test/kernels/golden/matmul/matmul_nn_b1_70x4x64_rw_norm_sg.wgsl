enable subgroups;
// matmul_nn_b1_70x4x64_rw_norm_sg
// matmul, row-per-invocation variant (CPU adapters, skinny shapes): c = a · b, M=70 N=4 K=64, batch strides a 0, b 0, c 0
// bindings: a (read, 70×64, as vec4), b (read, 64×4, as vec4), c (write, 70×4, as vec4)
// fuse-norm-matmul: a's rows are RMS-normalised first, y = x * rstd * norm_w with rstd = 1 / sqrt(mean(x^2) + 9.999999974752427e-7f) in the
// rmsnorm lane kernel's order (the same bits); y is stored in norm_y, rstd in rstd, and y is op(a) of the product.
// dispatch: (ceil(M/32), ceil(N/4), batch) workgroups of 32; invocation lid.x owns row m = wid.x·32 + lid.x, columns col0..col0+4-1 (col0 = wid.y·4)
// Every b address depends only on the workgroup and k, not on the invocation; lavapipe still loads
// it per lane, so this layout pays off only for one vec4 of columns (N ≤ 4, chosen in matmul.ts).
// With subgroups, lane 0 alone loads each b vector (a per-lane load costs a check and a load per active lane on
// lavapipe) and subgroupBroadcast hands it to the others: loadB4 wraps loadB4Lane. Same values, same arithmetic.
@group(0) @binding(0) var<storage, read> a: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> b: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> c: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> norm_w: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> norm_y: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> rstd: array<f32>;

// Elements col..col+3 of row r of stored a, clamped into the matrix (base in array elements).
fn loadA4(base: u32, r: u32, col: u32) -> vec4<f32> {
  return a[base + min(r, 70u - 1u) * 16u + min(col, 64u - 4u) / 4u];
}

// Elements col..col+3 of row r of stored b, clamped into the matrix (base in array elements).
fn loadB4Lane(base: u32, r: u32, col: u32) -> vec4<f32> {
  return b[base + min(r, 64u - 1u) * 1u + min(col, 4u - 4u) / 4u];
}

var<private> isLane0: bool;

// b's addresses depend only on the workgroup and k: lane 0 loads, every lane gets its value (called in uniform control flow).
fn loadB4(base: u32, r: u32, col: u32) -> vec4<f32> {
  var v = vec4<f32>(0.0f);
  if (isLane0) { v = loadB4Lane(base, r, col); }
  return subgroupBroadcast(v, 0u);
}

// norm_w[4q..4q+3]: the same for every lane, so lane 0 loads it and subgroupBroadcast hands it out (uniform control flow).
fn normW4(q: u32) -> vec4<f32> {
  var v = vec4<f32>(0.0f);
  if (isLane0) { v = norm_w[q]; }
  return subgroupBroadcast(v, 0u);
}

// Writes row `row`, columns col..col+3 of c; rows and columns outside the matrix are dropped.
fn store(base: u32, row: u32, col: u32, v: vec4<f32>) {
  if (row >= 70u) { return; }
  // N is a multiple of 4, so the 4 columns are all inside the matrix or all outside.
  if (col >= 4u) { return; }
  let i = (base + row * 4u + col) / 4u;
  c[i] = v;
}

@compute @workgroup_size(32)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {
  isLane0 = lane == 0u;
  let m = wid.x * 32u + lid.x;
  let col0 = wid.y * 4u;
  let aBase = wid.z * 0u;
  let bBase = wid.z * 0u;
  var acc0 = vec4<f32>(0.0f);
  // K is hidden from the shader compiler (arrayLength(&c) >= 1 is only known at dispatch): lavapipe
  // fully unrolls constant-trip loops, which made small-K pipelines compile for seconds.
  let kEnd = 64u * min(arrayLength(&c), 1u);
  // The row's sum of squares first (rows past M compute on the clamped last row and store nothing).
  var sumSq = 0.0f;
  for (var k = 0u; k < kEnd; k += 4u) {
    let v = loadA4(aBase, m, k);
    sumSq = fma(v.x, v.x, sumSq);
    sumSq = fma(v.y, v.y, sumSq);
    sumSq = fma(v.z, v.z, sumSq);
    sumSq = fma(v.w, v.w, sumSq);
  }
  let r = inverseSqrt(sumSq * 0.015625f + 9.999999974752427e-7f);
  for (var k = 0u; k < kEnd; k += 4u) {
    // x: op(a)[m, k..k+3] of this invocation's row.
    var x = loadA4(aBase, m, k);
    x = x * r * normW4(k / 4u);
    if (m < 70u) { norm_y[m * 16u + k / 4u] = x; }
    {
      // Columns col0+0..+3: b<i> = op(b)[k + i, those columns].
      acc0 = fma(vec4<f32>(x.x), loadB4(bBase, k, col0 + 0u), acc0);
      acc0 = fma(vec4<f32>(x.y), loadB4(bBase, k + 1u, col0 + 0u), acc0);
      acc0 = fma(vec4<f32>(x.z), loadB4(bBase, k + 2u, col0 + 0u), acc0);
      acc0 = fma(vec4<f32>(x.w), loadB4(bBase, k + 3u, col0 + 0u), acc0);
    }
  }
  if (m < 70u) { rstd[m] = r; }
  let cBase = wid.z * 0u;
  store(cBase, m, col0 + 0u, acc0);
}
