enable subgroups;
// matmul_nn_b1_19x13x21_alpha0.5_add_rw_sg
// matmul, row-per-invocation variant (CPU adapters, skinny shapes): c = d + 0.5f · a · b, M=19 N=13 K=21, batch strides a 0, b 0, c 0
// bindings: a (read, 19×21), b (read, 21×13), d (read, the addend), c (write, 19×13)
// dispatch: (ceil(M/32), ceil(N/16), batch) workgroups of 32; invocation lid.x owns row m = wid.x·32 + lid.x, columns col0..col0+16-1 (col0 = wid.y·16)
// Every b address depends only on the workgroup and k, not on the invocation; lavapipe still loads
// it per lane, so this layout pays off only for one vec4 of columns (N ≤ 4, chosen in matmul.ts).
// With subgroups, lane 0 alone loads each b vector (a per-lane load costs a check and a load per active lane on
// lavapipe) and subgroupBroadcast hands it to the others: loadB4 wraps loadB4Lane. Same values, same arithmetic.
@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read> d: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;

// Elements col..col+3 of row r of stored a, clamped into the matrix (base in array elements).
fn loadA4(base: u32, r: u32, col: u32) -> vec4<f32> {
  let row = base + min(r, 19u - 1u) * 21u;
  return vec4<f32>(a[row + min(col, 21u - 1u)], a[row + min(col + 1u, 21u - 1u)], a[row + min(col + 2u, 21u - 1u)], a[row + min(col + 3u, 21u - 1u)]);
}

// Elements col..col+3 of row r of stored b, clamped into the matrix (base in array elements).
fn loadB4Lane(base: u32, r: u32, col: u32) -> vec4<f32> {
  let row = base + min(r, 21u - 1u) * 13u;
  return vec4<f32>(b[row + min(col, 13u - 1u)], b[row + min(col + 1u, 13u - 1u)], b[row + min(col + 2u, 13u - 1u)], b[row + min(col + 3u, 13u - 1u)]);
}

var<private> isLane0: bool;

// b's addresses depend only on the workgroup and k: lane 0 loads, every lane gets its value (called in uniform control flow).
fn loadB4(base: u32, r: u32, col: u32) -> vec4<f32> {
  var v = vec4<f32>(0.0f);
  if (isLane0) { v = loadB4Lane(base, r, col); }
  return subgroupBroadcast(v, 0u);
}

// Writes row `row`, columns col..col+3 of c; rows and columns outside the matrix are dropped.
fn store(base: u32, row: u32, col: u32, v: vec4<f32>) {
  if (row >= 19u) { return; }
  let i = base + row * 13u + col;
  // The 4 is hidden from the compiler like K in main(): an unrolled guarded epilogue costs lavapipe compile time.
  let width = 4u * min(arrayLength(&c), 1u);
  for (var j = 0u; j < width; j++) {
    if (col + j < 13u) { c[i + j] = d[i + j] + 0.5f * v[j]; }
  }
}

@compute @workgroup_size(32)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {
  isLane0 = lane == 0u;
  let m = wid.x * 32u + lid.x;
  let col0 = wid.y * 16u;
  let aBase = wid.z * 0u;
  let bBase = wid.z * 0u;
  var acc0 = vec4<f32>(0.0f);
  var acc1 = vec4<f32>(0.0f);
  var acc2 = vec4<f32>(0.0f);
  var acc3 = vec4<f32>(0.0f);
  // K is hidden from the shader compiler (arrayLength(&c) >= 1 is only known at dispatch): lavapipe
  // fully unrolls constant-trip loops, which made small-K pipelines compile for seconds.
  let kEnd = 21u * min(arrayLength(&c), 1u);
  for (var k = 0u; k < kEnd; k += 4u) {
    // x: op(a)[m, k..k+3] of this invocation's row.
    var x = loadA4(aBase, m, k);
    // K is not a multiple of 4: past K, x is zero so the clamped b rows add nothing.
    x = select(vec4<f32>(0.0f), x, vec4<u32>(k, k + 1u, k + 2u, k + 3u) < vec4<u32>(21u));
    {
      // Columns col0+0..+3: b<i> = op(b)[k + i, those columns].
      acc0 = fma(vec4<f32>(x.x), loadB4(bBase, k, col0 + 0u), acc0);
      acc0 = fma(vec4<f32>(x.y), loadB4(bBase, k + 1u, col0 + 0u), acc0);
      acc0 = fma(vec4<f32>(x.z), loadB4(bBase, k + 2u, col0 + 0u), acc0);
      acc0 = fma(vec4<f32>(x.w), loadB4(bBase, k + 3u, col0 + 0u), acc0);
    }
    {
      // Columns col0+4..+3: b<i> = op(b)[k + i, those columns].
      acc1 = fma(vec4<f32>(x.x), loadB4(bBase, k, col0 + 4u), acc1);
      acc1 = fma(vec4<f32>(x.y), loadB4(bBase, k + 1u, col0 + 4u), acc1);
      acc1 = fma(vec4<f32>(x.z), loadB4(bBase, k + 2u, col0 + 4u), acc1);
      acc1 = fma(vec4<f32>(x.w), loadB4(bBase, k + 3u, col0 + 4u), acc1);
    }
    {
      // Columns col0+8..+3: b<i> = op(b)[k + i, those columns].
      acc2 = fma(vec4<f32>(x.x), loadB4(bBase, k, col0 + 8u), acc2);
      acc2 = fma(vec4<f32>(x.y), loadB4(bBase, k + 1u, col0 + 8u), acc2);
      acc2 = fma(vec4<f32>(x.z), loadB4(bBase, k + 2u, col0 + 8u), acc2);
      acc2 = fma(vec4<f32>(x.w), loadB4(bBase, k + 3u, col0 + 8u), acc2);
    }
    {
      // Columns col0+12..+3: b<i> = op(b)[k + i, those columns].
      acc3 = fma(vec4<f32>(x.x), loadB4(bBase, k, col0 + 12u), acc3);
      acc3 = fma(vec4<f32>(x.y), loadB4(bBase, k + 1u, col0 + 12u), acc3);
      acc3 = fma(vec4<f32>(x.z), loadB4(bBase, k + 2u, col0 + 12u), acc3);
      acc3 = fma(vec4<f32>(x.w), loadB4(bBase, k + 3u, col0 + 12u), acc3);
    }
  }
  let cBase = wid.z * 0u;
  store(cBase, m, col0 + 0u, acc0);
  store(cBase, m, col0 + 4u, acc1);
  store(cBase, m, col0 + 8u, acc2);
  store(cBase, m, col0 + 12u, acc3);
}
