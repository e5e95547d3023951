// grouped_matmul_dw_oi_r74_e5_33x70
// grouped matmul dW: dW[e] = A[rows of e, :33]ᵀ · G[rows of e, :70] for 5 experts, written [E, out, in]; 74 worst-case rows
// bindings: a (read), g (read), counts (read u32 [E]), dw (write)
// dispatch: (ceil(out/64), ceil(in/32), E); each workgroup reduces over its expert's rows 16 at a time (empty experts write zeros)
@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> g: array<f32>;
@group(0) @binding(2) var<storage, read> counts: array<u32>;
@group(0) @binding(3) var<storage, read_write> dw: array<f32>;

const E = 5u;
const ROWS = 74u;
const IN = 33u;
const OUT = 70u;
const TI = 32u;
const TO = 64u;
const TR = 16u;
const THREADS = 128u;

var<workgroup> rowRange: vec2<u32>;
var<workgroup> aTile: array<array<f32, 32>, 16>;
var<workgroup> gTile: array<array<f32, 64>, 16>;

@compute @workgroup_size(16, 8)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let linear = lid.y * 16u + lid.x;
  let expert = wid.z;
  // Trip counts are multiplied by `one` (arrayLength ≥ 1, known only at dispatch): lavapipe fully
  // unrolls constant-trip loops, and unrolled loops around barriers compiled for tens of seconds.
  let one = min(arrayLength(&dw), 1u);
  if (linear == 0u) {
    var start = 0u;
    for (var e = 0u; e < expert; e++) { start += counts[e]; }
    rowRange = vec2<u32>(min(start, ROWS), min(start + counts[expert], ROWS));
  }
  let range = workgroupUniformLoad(&rowRange);
  let inBase = wid.y * TI;
  let outBase = wid.x * TO;

  var acc: array<array<f32, 4>, 4>;
  for (var r0 = range.x; r0 < range.y; r0 += TR) {
    for (var q = 0u; q < 4u * one; q++) {
      let l = linear + q * THREADS;
      let rr = l / TI;
      let i = l % TI;
      let row = r0 + rr;
      var v = 0.0f;
      if (row < range.y && inBase + i < IN) {
        v = a[row * IN + inBase + i];
      }
      aTile[rr][i] = v;
    }
    for (var q = 0u; q < 8u * one; q++) {
      let l = linear + q * THREADS;
      let rr = l / TO;
      let o = l % TO;
      let row = r0 + rr;
      var v = 0.0f;
      if (row < range.y && outBase + o < OUT) { v = g[row * OUT + outBase + o]; }
      gTile[rr][o] = v;
    }
    workgroupBarrier();
    for (var rr = 0u; rr < TR; rr++) {
      var av: array<f32, 4>;
      var gv: array<f32, 4>;
      for (var i = 0u; i < 4u; i++) {
        av[i] = aTile[rr][lid.y + i * 8u];
        gv[i] = gTile[rr][lid.x + i * 16u];
      }
      for (var i = 0u; i < 4u; i++) {
        for (var j = 0u; j < 4u; j++) { acc[i][j] = fma(av[i], gv[j], acc[i][j]); }
      }
    }
    workgroupBarrier();
  }
  let dwBase = expert * IN * OUT;
  for (var i = 0u; i < 4u; i++) {
    let inIdx = inBase + lid.y + i * 8u;
    if (inIdx >= IN) { continue; }
    for (var j = 0u; j < 4u; j++) {
      let outIdx = outBase + lid.x + j * 16u;
      if (outIdx < OUT) {
        dw[dwBase + outIdx * IN + inIdx] = acc[i][j];
      }
    }
  }
}
