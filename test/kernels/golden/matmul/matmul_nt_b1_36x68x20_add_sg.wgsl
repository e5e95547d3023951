enable subgroups;
// matmul_nt_b1_36x68x20_add_sg
// matmul, subgroup variant: c = d + a · bᵀ, M=36 N=68 K=20, batch strides a 0, b 0, c 0
// bindings: a (read, 36×20, as vec4), b (read, 68×20, as vec4), d (read, the addend), c (write, 36×68)
// dispatch: (ceil(M/(16·1)), ceil(N/32), batch) workgroups of 1 subgroup(s) of 8 lanes stacked along M; a lane owns rows m0..m0+16-1 × columns col..col+3
// (M tiles vary fastest, so workgroups running together reuse one K×32 panel of b from cache)
@group(0) @binding(0) var<storage, read> a: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> b: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> d: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;

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
  let i = base + row * 68u + col;
  // The 4 is hidden from the compiler like K in main(): unrolled, this epilogue cost lavapipe
  // seconds of compile time per pipeline (each guarded per-lane access becomes 8 branches).
  let width = 4u * min(arrayLength(&c), 1u);
  for (var j = 0u; j < width; j++) {
    if (col + j < 68u) { c[i + j] = d[i + j] + v[j]; }
  }
}

@compute @workgroup_size(8)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lidx: u32, @builtin(subgroup_invocation_id) lane: u32) {
  let m0 = (wid.x * 1u + lidx / 8u) * 16u;
  let col = wid.y * 32u + lane * 4u;
  let aBase = wid.z * 0u;
  let bBase = wid.z * 0u;
  var acc0 = vec4<f32>(0.0f);
  var acc1 = vec4<f32>(0.0f);
  var acc2 = vec4<f32>(0.0f);
  var acc3 = vec4<f32>(0.0f);
  var acc4 = vec4<f32>(0.0f);
  var acc5 = vec4<f32>(0.0f);
  var acc6 = vec4<f32>(0.0f);
  var acc7 = vec4<f32>(0.0f);
  var acc8 = vec4<f32>(0.0f);
  var acc9 = vec4<f32>(0.0f);
  var acc10 = vec4<f32>(0.0f);
  var acc11 = vec4<f32>(0.0f);
  var acc12 = vec4<f32>(0.0f);
  var acc13 = vec4<f32>(0.0f);
  var acc14 = vec4<f32>(0.0f);
  var acc15 = vec4<f32>(0.0f);
  // K is hidden from the shader compiler (arrayLength(&c) >= 1 is only known at dispatch): lavapipe
  // fully unrolls constant-trip loops, which made small-K pipelines compile for seconds.
  let kEnd = 20u * min(arrayLength(&c), 1u);
  for (var k = 0u; k < kEnd; k += 4u) {
    // b<i>: this lane's 4 columns at k + i.
    let t0 = loadB4(bBase, col, k);
    let t1 = loadB4(bBase, col + 1u, k);
    let t2 = loadB4(bBase, col + 2u, k);
    let t3 = loadB4(bBase, col + 3u, k);
    var b0 = vec4<f32>(t0.x, t1.x, t2.x, t3.x);
    var b1 = vec4<f32>(t0.y, t1.y, t2.y, t3.y);
    var b2 = vec4<f32>(t0.z, t1.z, t2.z, t3.z);
    var b3 = vec4<f32>(t0.w, t1.w, t2.w, t3.w);
    // a<slot>: this lane's share of the 16×4 block of a, broadcast to every lane below.
    let a0 = loadA4(aBase, m0 + lane + 0u, k);
    let a1 = loadA4(aBase, m0 + lane + 8u, k);
    {
      let v0 = subgroupBroadcast(a0, 0u);
      acc0 = fma(vec4<f32>(v0.x), b0, acc0);
      acc0 = fma(vec4<f32>(v0.y), b1, acc0);
      acc0 = fma(vec4<f32>(v0.z), b2, acc0);
      acc0 = fma(vec4<f32>(v0.w), b3, acc0);
    }
    {
      let v0 = subgroupBroadcast(a0, 1u);
      acc1 = fma(vec4<f32>(v0.x), b0, acc1);
      acc1 = fma(vec4<f32>(v0.y), b1, acc1);
      acc1 = fma(vec4<f32>(v0.z), b2, acc1);
      acc1 = fma(vec4<f32>(v0.w), b3, acc1);
    }
    {
      let v0 = subgroupBroadcast(a0, 2u);
      acc2 = fma(vec4<f32>(v0.x), b0, acc2);
      acc2 = fma(vec4<f32>(v0.y), b1, acc2);
      acc2 = fma(vec4<f32>(v0.z), b2, acc2);
      acc2 = fma(vec4<f32>(v0.w), b3, acc2);
    }
    {
      let v0 = subgroupBroadcast(a0, 3u);
      acc3 = fma(vec4<f32>(v0.x), b0, acc3);
      acc3 = fma(vec4<f32>(v0.y), b1, acc3);
      acc3 = fma(vec4<f32>(v0.z), b2, acc3);
      acc3 = fma(vec4<f32>(v0.w), b3, acc3);
    }
    {
      let v0 = subgroupBroadcast(a0, 4u);
      acc4 = fma(vec4<f32>(v0.x), b0, acc4);
      acc4 = fma(vec4<f32>(v0.y), b1, acc4);
      acc4 = fma(vec4<f32>(v0.z), b2, acc4);
      acc4 = fma(vec4<f32>(v0.w), b3, acc4);
    }
    {
      let v0 = subgroupBroadcast(a0, 5u);
      acc5 = fma(vec4<f32>(v0.x), b0, acc5);
      acc5 = fma(vec4<f32>(v0.y), b1, acc5);
      acc5 = fma(vec4<f32>(v0.z), b2, acc5);
      acc5 = fma(vec4<f32>(v0.w), b3, acc5);
    }
    {
      let v0 = subgroupBroadcast(a0, 6u);
      acc6 = fma(vec4<f32>(v0.x), b0, acc6);
      acc6 = fma(vec4<f32>(v0.y), b1, acc6);
      acc6 = fma(vec4<f32>(v0.z), b2, acc6);
      acc6 = fma(vec4<f32>(v0.w), b3, acc6);
    }
    {
      let v0 = subgroupBroadcast(a0, 7u);
      acc7 = fma(vec4<f32>(v0.x), b0, acc7);
      acc7 = fma(vec4<f32>(v0.y), b1, acc7);
      acc7 = fma(vec4<f32>(v0.z), b2, acc7);
      acc7 = fma(vec4<f32>(v0.w), b3, acc7);
    }
    {
      let v0 = subgroupBroadcast(a1, 0u);
      acc8 = fma(vec4<f32>(v0.x), b0, acc8);
      acc8 = fma(vec4<f32>(v0.y), b1, acc8);
      acc8 = fma(vec4<f32>(v0.z), b2, acc8);
      acc8 = fma(vec4<f32>(v0.w), b3, acc8);
    }
    {
      let v0 = subgroupBroadcast(a1, 1u);
      acc9 = fma(vec4<f32>(v0.x), b0, acc9);
      acc9 = fma(vec4<f32>(v0.y), b1, acc9);
      acc9 = fma(vec4<f32>(v0.z), b2, acc9);
      acc9 = fma(vec4<f32>(v0.w), b3, acc9);
    }
    {
      let v0 = subgroupBroadcast(a1, 2u);
      acc10 = fma(vec4<f32>(v0.x), b0, acc10);
      acc10 = fma(vec4<f32>(v0.y), b1, acc10);
      acc10 = fma(vec4<f32>(v0.z), b2, acc10);
      acc10 = fma(vec4<f32>(v0.w), b3, acc10);
    }
    {
      let v0 = subgroupBroadcast(a1, 3u);
      acc11 = fma(vec4<f32>(v0.x), b0, acc11);
      acc11 = fma(vec4<f32>(v0.y), b1, acc11);
      acc11 = fma(vec4<f32>(v0.z), b2, acc11);
      acc11 = fma(vec4<f32>(v0.w), b3, acc11);
    }
    {
      let v0 = subgroupBroadcast(a1, 4u);
      acc12 = fma(vec4<f32>(v0.x), b0, acc12);
      acc12 = fma(vec4<f32>(v0.y), b1, acc12);
      acc12 = fma(vec4<f32>(v0.z), b2, acc12);
      acc12 = fma(vec4<f32>(v0.w), b3, acc12);
    }
    {
      let v0 = subgroupBroadcast(a1, 5u);
      acc13 = fma(vec4<f32>(v0.x), b0, acc13);
      acc13 = fma(vec4<f32>(v0.y), b1, acc13);
      acc13 = fma(vec4<f32>(v0.z), b2, acc13);
      acc13 = fma(vec4<f32>(v0.w), b3, acc13);
    }
    {
      let v0 = subgroupBroadcast(a1, 6u);
      acc14 = fma(vec4<f32>(v0.x), b0, acc14);
      acc14 = fma(vec4<f32>(v0.y), b1, acc14);
      acc14 = fma(vec4<f32>(v0.z), b2, acc14);
      acc14 = fma(vec4<f32>(v0.w), b3, acc14);
    }
    {
      let v0 = subgroupBroadcast(a1, 7u);
      acc15 = fma(vec4<f32>(v0.x), b0, acc15);
      acc15 = fma(vec4<f32>(v0.y), b1, acc15);
      acc15 = fma(vec4<f32>(v0.z), b2, acc15);
      acc15 = fma(vec4<f32>(v0.w), b3, acc15);
    }
  }
  let cBase = wid.z * 0u;
  store(cBase, m0 + 0u, col, acc0);
  store(cBase, m0 + 1u, col, acc1);
  store(cBase, m0 + 2u, col, acc2);
  store(cBase, m0 + 3u, col, acc3);
  store(cBase, m0 + 4u, col, acc4);
  store(cBase, m0 + 5u, col, acc5);
  store(cBase, m0 + 6u, col, acc6);
  store(cBase, m0 + 7u, col, acc7);
  store(cBase, m0 + 8u, col, acc8);
  store(cBase, m0 + 9u, col, acc9);
  store(cBase, m0 + 10u, col, acc10);
  store(cBase, m0 + 11u, col, acc11);
  store(cBase, m0 + 12u, col, acc12);
  store(cBase, m0 + 13u, col, acc13);
  store(cBase, m0 + 14u, col, acc14);
  store(cBase, m0 + 15u, col, acc15);
}
