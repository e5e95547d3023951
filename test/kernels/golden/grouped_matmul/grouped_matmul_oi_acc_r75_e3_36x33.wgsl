// grouped_matmul_oi_acc_r75_e3_36x33
// grouped matmul: C[rows of e, :33] = A[rows of e, :36] · W[e], W stored [E, out, inner]; 3 experts, 75 worst-case rows
// bindings: a (read), counts (read u32 [E]), w (read), c (read_write: c + the product)
// dispatch: (ceil(rows/32) + E row tiles spread over x and z (tile = x + z·6), ceil(out/64) in y column tiles); row tiles never straddle experts; tiles past the last expert exit
@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> counts: array<u32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;

// One result element: c, or nothing else.
fn put(i: u32, v: f32) {
  c[i] = c[i] + v;
}

const E = 3u;
const ROWS = 75u;
const INNER = 36u;
const OUT = 33u;
const TM = 32u;
const TN = 64u;
const TK = 16u;
const THREADS = 128u;

// (expert, first row of this tile, end row of the expert, valid) for the whole workgroup.
var<workgroup> tileInfo: vec4<u32>;
var<workgroup> aTile: array<array<f32, 32>, 16>;
var<workgroup> bTile: array<array<f32, 64>, 16>;

@compute @workgroup_size(16, 8)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let linear = lid.y * 16u + lid.x;
  // Trip counts are multiplied by `one` (arrayLength ≥ 1, known only at dispatch): lavapipe fully
  // unrolls constant-trip loops, and unrolled loops around barriers compiled for tens of seconds.
  let one = min(arrayLength(&c), 1u);
  if (linear == 0u) {
    // Row tiles are spread over x and z (more than 65535 of them at real MoE scales).
    let tile = wid.x + wid.z * 6u;
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
  let expert = info.x;
  let rowBase = info.y;
  let rowEnd = info.z;
  let colBase = wid.y * TN;
  let weightBase = expert * INNER * OUT;

  var acc: array<array<f32, 4>, 4>;
  for (var kt = 0u; kt < 3u * one; kt++) {
    let k0 = kt * TK;
    for (var q = 0u; q < 4u * one; q++) {
      let l = linear + q * THREADS;
      let r = l / TK;
      let kk = l % TK;
      let row = rowBase + r;
      var v = 0.0f;
      if (row < rowEnd && k0 + kk < INNER) {
        v = a[row * INNER + k0 + kk];
      }
      aTile[kk][r] = v;
    }
    for (var q = 0u; q < 8u * one; q++) {
      let l = linear + q * THREADS;
      let n = l / TK;
      let kk = l % TK;
      let local = (colBase + n) * INNER + k0 + kk;
      var v = 0.0f;
      if (k0 + kk < INNER && colBase + n < OUT) {
        v = w[weightBase + local];
      }
      bTile[kk][n] = v;
    }
    workgroupBarrier();
    for (var kk = 0u; kk < TK; kk++) {
      var av: array<f32, 4>;
      var bv: array<f32, 4>;
      for (var i = 0u; i < 4u; i++) {
        av[i] = aTile[kk][lid.y + i * 8u];
        bv[i] = bTile[kk][lid.x + i * 16u];
      }
      for (var i = 0u; i < 4u; i++) {
        for (var j = 0u; j < 4u; j++) { acc[i][j] = fma(av[i], bv[j], acc[i][j]); }
      }
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < 4u; i++) {
    let row = rowBase + lid.y + i * 8u;
    if (row >= rowEnd) { continue; }
    for (var j = 0u; j < 4u; j++) {
      let col = colBase + lid.x + j * 16u;
      if (col < OUT) { put(row * OUT + col, acc[i][j]); }
    }
  }
}
