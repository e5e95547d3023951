enable subgroups;
// grouped_matmul_oi_acc_r75_e3_36x33_sg
// grouped matmul, subgroup variant: C[rows of e, :33] = A[rows of e, :36] · W[e], W stored [E, out, inner]; 3 experts, 75 worst-case rows
// bindings: a (read, as vec4), counts (read u32 [E]), w (read, as vec4), c (read_write: c + the product)
// dispatch: (ceil(rows/16) + E row tiles spread over x and z (tile = x + z·8), ceil(out/32) in y) workgroups of one 8-lane subgroup; a lane owns 16 rows × 4 columns; A vectors are shared by subgroupBroadcast
@group(0) @binding(0) var<storage, read> a: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> counts: array<u32>;
@group(0) @binding(2) var<storage, read> w: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;

const E = 3u;
const ROWS = 75u;
const INNER = 36u;
const OUT = 33u;
const TM = 16u;

// (expert, first row of this tile, end row of the expert, valid) for the whole workgroup.
var<workgroup> tileInfo: vec4<u32>;

// Elements k..k+3 of A row `row` (a row of a, or of x through src_token); k < INNER.
fn loadA4(row: u32, k: u32) -> vec4<f32> {
  let r = row;
  let keep = 1.0f;
  return keep * a[r * 9u + k / 4u];
}

// Weight column n (clamped), inner elements k..k+3 (clamped): stored [out, inner].
fn loadB4(weightBase: u32, n: u32, k: u32) -> vec4<f32> {
  let nn = min(n, OUT - 1u);
  let local = nn * 9u + k / 4u;
  return w[weightBase / 4u + local];
}

// One result element at index i of c: c, or nothing else.
fn put(i: u32, v: f32) {
  c[i] = c[i] + v;
}

fn store(row: u32, rowEnd: u32, col: u32, v: vec4<f32>) {
  if (row >= rowEnd) { return; }
  let i = row * OUT + col;
  if (col + 3u < OUT) {
    put(i, v.x);
    put(i + 1u, v.y);
    put(i + 2u, v.z);
    put(i + 3u, v.w);
    return;
  }
  for (var j = 0u; j < 4u; j++) {
    if (col + j < OUT) { put(i + j, v[j]); }
  }
}

@compute @workgroup_size(8)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {
  // Trip counts are multiplied by `one` (arrayLength ≥ 1, known only at dispatch): lavapipe fully
  // unrolls constant-trip loops, which makes pipelines compile for seconds.
  let one = min(arrayLength(&c), 1u);
  if (lane == 0u) {
    // Row tiles are spread over x and z (more than 65535 of them at real MoE scales).
    let tile = wid.x + wid.z * 8u;
    var info = vec4<u32>(0u, 0u, 0u, 0u);
    var start = 0u;
    var tilesBefore = 0u;
    for (var e = 0u; e < E * one; e++) {
      let rowStart = min(start, ROWS);
      let rowEnd = min(start + counts[e], ROWS);
      let tiles = (rowEnd - rowStart + TM - 1u) / TM;
      if (tile >= tilesBefore && tile < tilesBefore + tiles) {
        info = vec4<u32>(e, rowStart + (tile - tilesBefore) * TM, rowEnd, 1u);
        break;
      }
      tilesBefore += tiles;
      start += counts[e];
    }
    tileInfo = info;
  }
  let info = workgroupUniformLoad(&tileInfo);
  if (info.w == 0u) { return; }
  let m0 = info.y;
  let rowEnd = info.z;
  let lastRow = rowEnd - 1u;
  let weightBase = info.x * INNER * OUT;
  let col = wid.y * 32u + lane * 4u;
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
  let kEnd = INNER * one;
  for (var k = 0u; k < kEnd; k += 4u) {
    let t0 = loadB4(weightBase, col, k);
    let t1 = loadB4(weightBase, col + 1u, k);
    let t2 = loadB4(weightBase, col + 2u, k);
    let t3 = loadB4(weightBase, col + 3u, k);
    var b0 = vec4<f32>(t0.x, t1.x, t2.x, t3.x);
    var b1 = vec4<f32>(t0.y, t1.y, t2.y, t3.y);
    var b2 = vec4<f32>(t0.z, t1.z, t2.z, t3.z);
    var b3 = vec4<f32>(t0.w, t1.w, t2.w, t3.w);
    let a0 = loadA4(min(m0 + lane + 0u, lastRow), k);
    let a1 = loadA4(min(m0 + lane + 8u, lastRow), k);
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
  store(m0 + 0u, rowEnd, col, acc0);
  store(m0 + 1u, rowEnd, col, acc1);
  store(m0 + 2u, rowEnd, col, acc2);
  store(m0 + 3u, rowEnd, col, acc3);
  store(m0 + 4u, rowEnd, col, acc4);
  store(m0 + 5u, rowEnd, col, acc5);
  store(m0 + 6u, rowEnd, col, acc6);
  store(m0 + 7u, rowEnd, col, acc7);
  store(m0 + 8u, rowEnd, col, acc8);
  store(m0 + 9u, rowEnd, col, acc9);
  store(m0 + 10u, rowEnd, col, acc10);
  store(m0 + 11u, rowEnd, col, acc11);
  store(m0 + 12u, rowEnd, col, acc12);
  store(m0 + 13u, rowEnd, col, acc13);
  store(m0 + 14u, rowEnd, col, acc14);
  store(m0 + 15u, rowEnd, col, acc15);
}
