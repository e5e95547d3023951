// matmul_nn_b1_70x4x64_add_rw
// matmul, row-per-invocation variant (CPU adapters, skinny shapes): c = d + a · b, M=70 N=4 K=64, batch strides a 0, b 0, c 0
// bindings: a (read, 70×64, as vec4), b (read, 64×4, as vec4), d (read, the addend), c (write, 70×4, as vec4)
// dispatch: (ceil(M/32), ceil(N/4), batch) workgroups of 32; invocation lid.x owns row m = wid.x·32 + lid.x, columns col0..col0+4-1 (col0 = wid.y·4)
// Every b address depends only on the workgroup and k, not on the invocation; lavapipe still loads
// it per lane, so this layout pays off only for one vec4 of columns (N ≤ 4, chosen in matmul.ts).
@group(0) @binding(0) var<storage, read> a: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> b: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> d: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> c: array<vec4<f32>>;

// Elements col..col+3 of row r of stored a, clamped into the matrix (base in array elements).
fn loadA4(base: u32, r: u32, col: u32) -> vec4<f32> {
  return a[base + min(r, 70u - 1u) * 16u + min(col, 64u - 4u) / 4u];
}

// Elements col..col+3 of row r of stored b, clamped into the matrix (base in array elements).
fn loadB4(base: u32, r: u32, col: u32) -> vec4<f32> {
  return b[base + min(r, 64u - 1u) * 1u + min(col, 4u - 4u) / 4u];
}

// Writes row `row`, columns col..col+3 of c; rows and columns outside the matrix are dropped.
fn store(base: u32, row: u32, col: u32, v: vec4<f32>) {
  if (row >= 70u) { return; }
  // N is a multiple of 4, so the 4 columns are all inside the matrix or all outside.
  if (col >= 4u) { return; }
  let i = (base + row * 4u + col) / 4u;
  c[i] = d[i] + v;
}

@compute @workgroup_size(32)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let m = wid.x * 32u + lid.x;
  let col0 = wid.y * 4u;
  let aBase = wid.z * 0u;
  let bBase = wid.z * 0u;
  var acc0 = vec4<f32>(0.0f);
  // K is hidden from the shader compiler (arrayLength(&c) >= 1 is only known at dispatch): lavapipe
  // fully unrolls constant-trip loops, which made small-K pipelines compile for seconds.
  let kEnd = 64u * min(arrayLength(&c), 1u);
  for (var k = 0u; k < kEnd; k += 4u) {
    // x: op(a)[m, k..k+3] of this invocation's row.
    var x = loadA4(aBase, m, k);
    {
      // Columns col0+0..+3: b<i> = op(b)[k + i, those columns].
      acc0 = fma(vec4<f32>(x.x), loadB4(bBase, k, col0 + 0u), acc0);
      acc0 = fma(vec4<f32>(x.y), loadB4(bBase, k + 1u, col0 + 0u), acc0);
      acc0 = fma(vec4<f32>(x.z), loadB4(bBase, k + 2u, col0 + 0u), acc0);
      acc0 = fma(vec4<f32>(x.w), loadB4(bBase, k + 3u, col0 + 0u), acc0);
    }
  }
  let cBase = wid.z * 0u;
  store(cBase, m, col0 + 0u, acc0);
}
