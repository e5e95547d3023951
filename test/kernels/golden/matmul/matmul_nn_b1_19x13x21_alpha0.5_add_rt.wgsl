// matmul_nn_b1_19x13x21_alpha0.5_add_rt
// matmul, portable register-tiled variant: c = d + 0.5f · a · b, M=19 N=13 K=21, batch strides a 0, b 0, c 0
// bindings: a (read, 19×21), b (read, 21×13), d (read, the addend), c (write, 19×13)
// dispatch: (ceil(N/8/4), ceil(M/8/4), batch) workgroups of 8×8; an invocation owns a 4×4 block of c
@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read> d: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;

// Element (m, k) of op(a), the row clamped into the matrix.
fn loadA(base: u32, m: u32, k: u32) -> f32 {
  return a[base + min(m, 19u - 1u) * 21u + k];
}

// Element (k, n) of op(b), the column clamped into the matrix.
fn loadB(base: u32, k: u32, n: u32) -> f32 {
  return b[base + k * 13u + min(n, 13u - 1u)];
}

// Writes row `row`, columns col..col+3 of c; rows and columns outside the matrix are dropped.
fn store(base: u32, row: u32, col: u32, v: vec4<f32>) {
  if (row >= 19u) { return; }
  let i = base + row * 13u + col;
  // The 4 is hidden from the compiler like K in main(): unrolled, this epilogue cost lavapipe
  // seconds of compile time per pipeline (each guarded per-lane access becomes 8 branches).
  let width = 4u * min(arrayLength(&c), 1u);
  for (var j = 0u; j < width; j++) {
    if (col + j < 13u) { c[i + j] = d[i + j] + 0.5f * v[j]; }
  }
}

@compute @workgroup_size(8, 8)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let col = gid.x * 4u;
  let m0 = gid.y * 4u;
  let aBase = gid.z * 0u;
  let bBase = gid.z * 0u;
  var acc0 = vec4<f32>(0.0f);
  var acc1 = vec4<f32>(0.0f);
  var acc2 = vec4<f32>(0.0f);
  var acc3 = vec4<f32>(0.0f);
  // K is hidden from the shader compiler (arrayLength(&c) >= 1 is only known at dispatch): lavapipe
  // fully unrolls constant-trip loops, which made small-K pipelines compile for seconds.
  let kEnd = 21u * min(arrayLength(&c), 1u);
  for (var k = 0u; k < kEnd; k += 1u) {
    let bk = vec4<f32>(loadB(bBase, k, col), loadB(bBase, k, col + 1u), loadB(bBase, k, col + 2u), loadB(bBase, k, col + 3u));
    acc0 = fma(vec4<f32>(loadA(aBase, m0 + 0u, k)), bk, acc0);
    acc1 = fma(vec4<f32>(loadA(aBase, m0 + 1u, k)), bk, acc1);
    acc2 = fma(vec4<f32>(loadA(aBase, m0 + 2u, k)), bk, acc2);
    acc3 = fma(vec4<f32>(loadA(aBase, m0 + 3u, k)), bk, acc3);
  }
  let cBase = gid.z * 0u;
  store(cBase, m0 + 0u, col, acc0);
  store(cBase, m0 + 1u, col, acc1);
  store(cBase, m0 + 2u, col, acc2);
  store(cBase, m0 + 3u, col, acc3);
}
