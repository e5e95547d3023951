// matmul_nt_b1_36x68x20_add_rw
// matmul, row-per-invocation variant (CPU adapters, skinny shapes): c = d + a · bᵀ, M=36 N=68 K=20, batch strides a 0, b 0, c 0
// bindings: a (read, 36×20, as vec4), b (read, 68×20, as vec4), d (read, the addend), c (write, 36×68, as vec4)
// dispatch: (ceil(M/32), ceil(N/16), batch) workgroups of 32; invocation lid.x owns row m = wid.x·32 + lid.x, columns col0..col0+16-1 (col0 = wid.y·16)
// Every b address depends only on the workgroup and k, not on the invocation; lavapipe still loads
// it per lane, so this layout pays off only for one vec4 of columns (N ≤ 4, chosen in matmul.ts).
@group(0) @binding(0) var<storage, read> a: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> b: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> d: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> c: array<vec4<f32>>;

// Elements col..col+3 of row r of stored a, clamped into the matrix (base in array elements).
fn loadA4(base: u32, r: u32, col: u32) -> vec4<f32> {
  return a[base + min(r, 36u - 1u) * 5u + min(col, 20u - 4u) / 4u];
}

// Elements col..col+3 of row r of stored b, clamped into the matrix (base in array elements).
fn loadB4(base: u32, r: u32, col: u32) -> vec4<f32> {
  return b[base + min(r, 68u - 1u) * 5u + min(col, 20u - 4u) / 4u];
}

// Writes row `row`, columns col..col+3 of c; rows and columns outside the matrix are dropped.
fn store(base: u32, row: u32, col: u32, v: vec4<f32>) {
  if (row >= 36u) { return; }
  // N is a multiple of 4, so the 4 columns are all inside the matrix or all outside.
  if (col >= 68u) { return; }
  let i = (base + row * 68u + col) / 4u;
  c[i] = d[i] + v;
}

@compute @workgroup_size(32)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
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
  let kEnd = 20u * min(arrayLength(&c), 1u);
  for (var k = 0u; k < kEnd; k += 4u) {
    // x: op(a)[m, k..k+3] of this invocation's row.
    var x = loadA4(aBase, m, k);
    {
      // Columns col0+0..+3: b<i> = op(b)[k + i, those columns].
      let t0 = loadB4(bBase, col0 + 0u, k);
      let t1 = loadB4(bBase, col0 + 0u + 1u, k);
      let t2 = loadB4(bBase, col0 + 0u + 2u, k);
      let t3 = loadB4(bBase, col0 + 0u + 3u, k);
      acc0 = fma(vec4<f32>(x.x), vec4<f32>(t0.x, t1.x, t2.x, t3.x), acc0);
      acc0 = fma(vec4<f32>(x.y), vec4<f32>(t0.y, t1.y, t2.y, t3.y), acc0);
      acc0 = fma(vec4<f32>(x.z), vec4<f32>(t0.z, t1.z, t2.z, t3.z), acc0);
      acc0 = fma(vec4<f32>(x.w), vec4<f32>(t0.w, t1.w, t2.w, t3.w), acc0);
    }
    {
      // Columns col0+4..+3: b<i> = op(b)[k + i, those columns].
      let t0 = loadB4(bBase, col0 + 4u, k);
      let t1 = loadB4(bBase, col0 + 4u + 1u, k);
      let t2 = loadB4(bBase, col0 + 4u + 2u, k);
      let t3 = loadB4(bBase, col0 + 4u + 3u, k);
      acc1 = fma(vec4<f32>(x.x), vec4<f32>(t0.x, t1.x, t2.x, t3.x), acc1);
      acc1 = fma(vec4<f32>(x.y), vec4<f32>(t0.y, t1.y, t2.y, t3.y), acc1);
      acc1 = fma(vec4<f32>(x.z), vec4<f32>(t0.z, t1.z, t2.z, t3.z), acc1);
      acc1 = fma(vec4<f32>(x.w), vec4<f32>(t0.w, t1.w, t2.w, t3.w), acc1);
    }
    {
      // Columns col0+8..+3: b<i> = op(b)[k + i, those columns].
      let t0 = loadB4(bBase, col0 + 8u, k);
      let t1 = loadB4(bBase, col0 + 8u + 1u, k);
      let t2 = loadB4(bBase, col0 + 8u + 2u, k);
      let t3 = loadB4(bBase, col0 + 8u + 3u, k);
      acc2 = fma(vec4<f32>(x.x), vec4<f32>(t0.x, t1.x, t2.x, t3.x), acc2);
      acc2 = fma(vec4<f32>(x.y), vec4<f32>(t0.y, t1.y, t2.y, t3.y), acc2);
      acc2 = fma(vec4<f32>(x.z), vec4<f32>(t0.z, t1.z, t2.z, t3.z), acc2);
      acc2 = fma(vec4<f32>(x.w), vec4<f32>(t0.w, t1.w, t2.w, t3.w), acc2);
    }
    {
      // Columns col0+12..+3: b<i> = op(b)[k + i, those columns].
      let t0 = loadB4(bBase, col0 + 12u, k);
      let t1 = loadB4(bBase, col0 + 12u + 1u, k);
      let t2 = loadB4(bBase, col0 + 12u + 2u, k);
      let t3 = loadB4(bBase, col0 + 12u + 3u, k);
      acc3 = fma(vec4<f32>(x.x), vec4<f32>(t0.x, t1.x, t2.x, t3.x), acc3);
      acc3 = fma(vec4<f32>(x.y), vec4<f32>(t0.y, t1.y, t2.y, t3.y), acc3);
      acc3 = fma(vec4<f32>(x.z), vec4<f32>(t0.z, t1.z, t2.z, t3.z), acc3);
      acc3 = fma(vec4<f32>(x.w), vec4<f32>(t0.w, t1.w, t2.w, t3.w), acc3);
    }
  }
  let cBase = wid.z * 0u;
  store(cBase, m, col0 + 0u, acc0);
  store(cBase, m, col0 + 4u, acc1);
  store(cBase, m, col0 + 8u, acc2);
  store(cBase, m, col0 + 12u, acc3);
}
