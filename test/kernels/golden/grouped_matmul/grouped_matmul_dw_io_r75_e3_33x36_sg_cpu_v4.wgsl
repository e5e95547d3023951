enable subgroups;
// grouped_matmul_dw_io_r75_e3_33x36_sg_cpu_v4
// grouped matmul dW, subgroup variant: dW[e] = A[rows of e, :33]ᵀ · G[rows of e, :36] for 3 experts, written [E, in, out]; 75 worst-case rows
// bindings: a (read), g (read, as vec4), counts (read u32 [E]), dw (write, as vec4)
// dispatch: (ceil(out/32), ceil(in/16), E) workgroups of one 8-lane subgroup; a lane owns 16 in-rows × 4 out-columns of dW[e] and walks its expert's rows 4 at a time
@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> g: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> counts: array<u32>;
@group(0) @binding(3) var<storage, read_write> dw: array<vec4<f32>>;

const ROWS = 75u;
const IN = 33u;
const OUT = 36u;


// A row `row` (of a, or of x through src_token), in-columns i..i+3 (clamped).
fn loadA4(row: u32, i: u32) -> vec4<f32> {
  let r = row;
  let keep = 1.0f;
  let base = r * IN;
  return keep * vec4<f32>(a[base + min(i, IN - 1u)], a[base + min(i + 1u, IN - 1u)], a[base + min(i + 2u, IN - 1u)], a[base + min(i + 3u, IN - 1u)]);
}

// G row `row`, out-columns col..col+3 (clamped).
fn loadG4(row: u32, col: u32) -> vec4<f32> {
  return g[row * 9u + min(col, OUT - 4u) / 4u];
}

fn store(base: u32, i: u32, col: u32, v: vec4<f32>) {
  if (i >= IN) { return; }
  // OUT is a multiple of 4 (so is base): the lane's 4 columns are one vec4, all inside the row or all past it.
  if (col < OUT) { dw[(base + i * OUT + col) / 4u] = v; }
}

@compute @workgroup_size(8)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {
  let expert = wid.z;
  // Every lane sums the counts before its expert (the workgroup is one subgroup, so this costs what
  // one lane's sum costs): the same range everywhere, without a workgroup variable and barrier.
  var start = 0u;
  for (var e = 0u; e < expert; e++) { start += counts[e]; }
  let range = vec2<u32>(min(start, ROWS), min(start + counts[expert], ROWS));
  let lastRow = max(range.y, 1u) - 1u;
  let i0 = wid.y * 16u;
  let col = wid.x * 32u + lane * 4u;
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
  for (var r = range.x; r < range.y; r += 4u) {
    // b<kk>: this lane's 4 out-columns of G at row r + kk, zero past the expert's last row.
    let b0 = loadG4(r, col);
    let b1 = select(vec4<f32>(0.0f), loadG4(min(r + 1u, lastRow), col), r + 1u < range.y);
    let b2 = select(vec4<f32>(0.0f), loadG4(min(r + 2u, lastRow), col), r + 2u < range.y);
    let b3 = select(vec4<f32>(0.0f), loadG4(min(r + 3u, lastRow), col), r + 3u < range.y);
    let a0 = loadA4(min(r + (lane + 0u) / 4u, lastRow), i0 + ((lane + 0u) % 4u) * 4u);
    let a1 = loadA4(min(r + (lane + 8u) / 4u, lastRow), i0 + ((lane + 8u) % 4u) * 4u);
    {
      let v0 = subgroupBroadcast(a0, 0u);
      let v1 = subgroupBroadcast(a0, 4u);
      let v2 = subgroupBroadcast(a1, 0u);
      let v3 = subgroupBroadcast(a1, 4u);
      acc0 = fma(vec4<f32>(v0.x), b0, acc0);
      acc0 = fma(vec4<f32>(v1.x), b1, acc0);
      acc0 = fma(vec4<f32>(v2.x), b2, acc0);
      acc0 = fma(vec4<f32>(v3.x), b3, acc0);
      acc1 = fma(vec4<f32>(v0.y), b0, acc1);
      acc1 = fma(vec4<f32>(v1.y), b1, acc1);
      acc1 = fma(vec4<f32>(v2.y), b2, acc1);
      acc1 = fma(vec4<f32>(v3.y), b3, acc1);
      acc2 = fma(vec4<f32>(v0.z), b0, acc2);
      acc2 = fma(vec4<f32>(v1.z), b1, acc2);
      acc2 = fma(vec4<f32>(v2.z), b2, acc2);
      acc2 = fma(vec4<f32>(v3.z), b3, acc2);
      acc3 = fma(vec4<f32>(v0.w), b0, acc3);
      acc3 = fma(vec4<f32>(v1.w), b1, acc3);
      acc3 = fma(vec4<f32>(v2.w), b2, acc3);
      acc3 = fma(vec4<f32>(v3.w), b3, acc3);
    }
    {
      let v0 = subgroupBroadcast(a0, 1u);
      let v1 = subgroupBroadcast(a0, 5u);
      let v2 = subgroupBroadcast(a1, 1u);
      let v3 = subgroupBroadcast(a1, 5u);
      acc4 = fma(vec4<f32>(v0.x), b0, acc4);
      acc4 = fma(vec4<f32>(v1.x), b1, acc4);
      acc4 = fma(vec4<f32>(v2.x), b2, acc4);
      acc4 = fma(vec4<f32>(v3.x), b3, acc4);
      acc5 = fma(vec4<f32>(v0.y), b0, acc5);
      acc5 = fma(vec4<f32>(v1.y), b1, acc5);
      acc5 = fma(vec4<f32>(v2.y), b2, acc5);
      acc5 = fma(vec4<f32>(v3.y), b3, acc5);
      acc6 = fma(vec4<f32>(v0.z), b0, acc6);
      acc6 = fma(vec4<f32>(v1.z), b1, acc6);
      acc6 = fma(vec4<f32>(v2.z), b2, acc6);
      acc6 = fma(vec4<f32>(v3.z), b3, acc6);
      acc7 = fma(vec4<f32>(v0.w), b0, acc7);
      acc7 = fma(vec4<f32>(v1.w), b1, acc7);
      acc7 = fma(vec4<f32>(v2.w), b2, acc7);
      acc7 = fma(vec4<f32>(v3.w), b3, acc7);
    }
    {
      let v0 = subgroupBroadcast(a0, 2u);
      let v1 = subgroupBroadcast(a0, 6u);
      let v2 = subgroupBroadcast(a1, 2u);
      let v3 = subgroupBroadcast(a1, 6u);
      acc8 = fma(vec4<f32>(v0.x), b0, acc8);
      acc8 = fma(vec4<f32>(v1.x), b1, acc8);
      acc8 = fma(vec4<f32>(v2.x), b2, acc8);
      acc8 = fma(vec4<f32>(v3.x), b3, acc8);
      acc9 = fma(vec4<f32>(v0.y), b0, acc9);
      acc9 = fma(vec4<f32>(v1.y), b1, acc9);
      acc9 = fma(vec4<f32>(v2.y), b2, acc9);
      acc9 = fma(vec4<f32>(v3.y), b3, acc9);
      acc10 = fma(vec4<f32>(v0.z), b0, acc10);
      acc10 = fma(vec4<f32>(v1.z), b1, acc10);
      acc10 = fma(vec4<f32>(v2.z), b2, acc10);
      acc10 = fma(vec4<f32>(v3.z), b3, acc10);
      acc11 = fma(vec4<f32>(v0.w), b0, acc11);
      acc11 = fma(vec4<f32>(v1.w), b1, acc11);
      acc11 = fma(vec4<f32>(v2.w), b2, acc11);
      acc11 = fma(vec4<f32>(v3.w), b3, acc11);
    }
    {
      let v0 = subgroupBroadcast(a0, 3u);
      let v1 = subgroupBroadcast(a0, 7u);
      let v2 = subgroupBroadcast(a1, 3u);
      let v3 = subgroupBroadcast(a1, 7u);
      acc12 = fma(vec4<f32>(v0.x), b0, acc12);
      acc12 = fma(vec4<f32>(v1.x), b1, acc12);
      acc12 = fma(vec4<f32>(v2.x), b2, acc12);
      acc12 = fma(vec4<f32>(v3.x), b3, acc12);
      acc13 = fma(vec4<f32>(v0.y), b0, acc13);
      acc13 = fma(vec4<f32>(v1.y), b1, acc13);
      acc13 = fma(vec4<f32>(v2.y), b2, acc13);
      acc13 = fma(vec4<f32>(v3.y), b3, acc13);
      acc14 = fma(vec4<f32>(v0.z), b0, acc14);
      acc14 = fma(vec4<f32>(v1.z), b1, acc14);
      acc14 = fma(vec4<f32>(v2.z), b2, acc14);
      acc14 = fma(vec4<f32>(v3.z), b3, acc14);
      acc15 = fma(vec4<f32>(v0.w), b0, acc15);
      acc15 = fma(vec4<f32>(v1.w), b1, acc15);
      acc15 = fma(vec4<f32>(v2.w), b2, acc15);
      acc15 = fma(vec4<f32>(v3.w), b3, acc15);
    }
  }
  let base = expert * IN * OUT;
  store(base, i0 + 0u, col, acc0);
  store(base, i0 + 1u, col, acc1);
  store(base, i0 + 2u, col, acc2);
  store(base, i0 + 3u, col, acc3);
  store(base, i0 + 4u, col, acc4);
  store(base, i0 + 5u, col, acc5);
  store(base, i0 + 6u, col, acc6);
  store(base, i0 + 7u, col, acc7);
  store(base, i0 + 8u, col, acc8);
  store(base, i0 + 9u, col, acc9);
  store(base, i0 + 10u, col, acc10);
  store(base, i0 + 11u, col, acc11);
  store(base, i0 + 12u, col, acc12);
  store(base, i0 + 13u, col, acc13);
  store(base, i0 + 14u, col, acc14);
  store(base, i0 + 15u, col, acc15);
}
