enable subgroups;
// grouped_matmul_dw_io_r75_e3_33x36_sg_cpu_v4_r32
// grouped matmul dW, subgroup variant: dW[e] = A[rows of e, :33]ᵀ · G[rows of e, :36] for 3 experts, written [E, in, out]; 75 worst-case rows
// bindings: a (read), g (read, as vec4), counts (read u32 [E]), dw (write, as vec4)
// dispatch: (ceil(out/32), ceil(in/32), E) workgroups of one 8-lane subgroup; a lane owns 32 in-rows × 4 out-columns of dW[e] and walks its expert's rows 4 at a time
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
  let i0 = wid.y * 32u;
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
  var acc16 = vec4<f32>(0.0f);
  var acc17 = vec4<f32>(0.0f);
  var acc18 = vec4<f32>(0.0f);
  var acc19 = vec4<f32>(0.0f);
  var acc20 = vec4<f32>(0.0f);
  var acc21 = vec4<f32>(0.0f);
  var acc22 = vec4<f32>(0.0f);
  var acc23 = vec4<f32>(0.0f);
  var acc24 = vec4<f32>(0.0f);
  var acc25 = vec4<f32>(0.0f);
  var acc26 = vec4<f32>(0.0f);
  var acc27 = vec4<f32>(0.0f);
  var acc28 = vec4<f32>(0.0f);
  var acc29 = vec4<f32>(0.0f);
  var acc30 = vec4<f32>(0.0f);
  var acc31 = vec4<f32>(0.0f);
  for (var r = range.x; r < range.y; r += 4u) {
    // b<kk>: this lane's 4 out-columns of G at row r + kk, zero past the expert's last row.
    let b0 = loadG4(r, col);
    let b1 = select(vec4<f32>(0.0f), loadG4(min(r + 1u, lastRow), col), r + 1u < range.y);
    let b2 = select(vec4<f32>(0.0f), loadG4(min(r + 2u, lastRow), col), r + 2u < range.y);
    let b3 = select(vec4<f32>(0.0f), loadG4(min(r + 3u, lastRow), col), r + 3u < range.y);
    let a0 = loadA4(min(r + (lane + 0u) / 8u, lastRow), i0 + ((lane + 0u) % 8u) * 4u);
    let a1 = loadA4(min(r + (lane + 8u) / 8u, lastRow), i0 + ((lane + 8u) % 8u) * 4u);
    let a2 = loadA4(min(r + (lane + 16u) / 8u, lastRow), i0 + ((lane + 16u) % 8u) * 4u);
    let a3 = loadA4(min(r + (lane + 24u) / 8u, lastRow), i0 + ((lane + 24u) % 8u) * 4u);
    {
      let v0 = subgroupBroadcast(a0, 0u);
      let v1 = subgroupBroadcast(a1, 0u);
      let v2 = subgroupBroadcast(a2, 0u);
      let v3 = subgroupBroadcast(a3, 0u);
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
      let v1 = subgroupBroadcast(a1, 1u);
      let v2 = subgroupBroadcast(a2, 1u);
      let v3 = subgroupBroadcast(a3, 1u);
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
      let v1 = subgroupBroadcast(a1, 2u);
      let v2 = subgroupBroadcast(a2, 2u);
      let v3 = subgroupBroadcast(a3, 2u);
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
      let v1 = subgroupBroadcast(a1, 3u);
      let v2 = subgroupBroadcast(a2, 3u);
      let v3 = subgroupBroadcast(a3, 3u);
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
    {
      let v0 = subgroupBroadcast(a0, 4u);
      let v1 = subgroupBroadcast(a1, 4u);
      let v2 = subgroupBroadcast(a2, 4u);
      let v3 = subgroupBroadcast(a3, 4u);
      acc16 = fma(vec4<f32>(v0.x), b0, acc16);
      acc16 = fma(vec4<f32>(v1.x), b1, acc16);
      acc16 = fma(vec4<f32>(v2.x), b2, acc16);
      acc16 = fma(vec4<f32>(v3.x), b3, acc16);
      acc17 = fma(vec4<f32>(v0.y), b0, acc17);
      acc17 = fma(vec4<f32>(v1.y), b1, acc17);
      acc17 = fma(vec4<f32>(v2.y), b2, acc17);
      acc17 = fma(vec4<f32>(v3.y), b3, acc17);
      acc18 = fma(vec4<f32>(v0.z), b0, acc18);
      acc18 = fma(vec4<f32>(v1.z), b1, acc18);
      acc18 = fma(vec4<f32>(v2.z), b2, acc18);
      acc18 = fma(vec4<f32>(v3.z), b3, acc18);
      acc19 = fma(vec4<f32>(v0.w), b0, acc19);
      acc19 = fma(vec4<f32>(v1.w), b1, acc19);
      acc19 = fma(vec4<f32>(v2.w), b2, acc19);
      acc19 = fma(vec4<f32>(v3.w), b3, acc19);
    }
    {
      let v0 = subgroupBroadcast(a0, 5u);
      let v1 = subgroupBroadcast(a1, 5u);
      let v2 = subgroupBroadcast(a2, 5u);
      let v3 = subgroupBroadcast(a3, 5u);
      acc20 = fma(vec4<f32>(v0.x), b0, acc20);
      acc20 = fma(vec4<f32>(v1.x), b1, acc20);
      acc20 = fma(vec4<f32>(v2.x), b2, acc20);
      acc20 = fma(vec4<f32>(v3.x), b3, acc20);
      acc21 = fma(vec4<f32>(v0.y), b0, acc21);
      acc21 = fma(vec4<f32>(v1.y), b1, acc21);
      acc21 = fma(vec4<f32>(v2.y), b2, acc21);
      acc21 = fma(vec4<f32>(v3.y), b3, acc21);
      acc22 = fma(vec4<f32>(v0.z), b0, acc22);
      acc22 = fma(vec4<f32>(v1.z), b1, acc22);
      acc22 = fma(vec4<f32>(v2.z), b2, acc22);
      acc22 = fma(vec4<f32>(v3.z), b3, acc22);
      acc23 = fma(vec4<f32>(v0.w), b0, acc23);
      acc23 = fma(vec4<f32>(v1.w), b1, acc23);
      acc23 = fma(vec4<f32>(v2.w), b2, acc23);
      acc23 = fma(vec4<f32>(v3.w), b3, acc23);
    }
    {
      let v0 = subgroupBroadcast(a0, 6u);
      let v1 = subgroupBroadcast(a1, 6u);
      let v2 = subgroupBroadcast(a2, 6u);
      let v3 = subgroupBroadcast(a3, 6u);
      acc24 = fma(vec4<f32>(v0.x), b0, acc24);
      acc24 = fma(vec4<f32>(v1.x), b1, acc24);
      acc24 = fma(vec4<f32>(v2.x), b2, acc24);
      acc24 = fma(vec4<f32>(v3.x), b3, acc24);
      acc25 = fma(vec4<f32>(v0.y), b0, acc25);
      acc25 = fma(vec4<f32>(v1.y), b1, acc25);
      acc25 = fma(vec4<f32>(v2.y), b2, acc25);
      acc25 = fma(vec4<f32>(v3.y), b3, acc25);
      acc26 = fma(vec4<f32>(v0.z), b0, acc26);
      acc26 = fma(vec4<f32>(v1.z), b1, acc26);
      acc26 = fma(vec4<f32>(v2.z), b2, acc26);
      acc26 = fma(vec4<f32>(v3.z), b3, acc26);
      acc27 = fma(vec4<f32>(v0.w), b0, acc27);
      acc27 = fma(vec4<f32>(v1.w), b1, acc27);
      acc27 = fma(vec4<f32>(v2.w), b2, acc27);
      acc27 = fma(vec4<f32>(v3.w), b3, acc27);
    }
    {
      let v0 = subgroupBroadcast(a0, 7u);
      let v1 = subgroupBroadcast(a1, 7u);
      let v2 = subgroupBroadcast(a2, 7u);
      let v3 = subgroupBroadcast(a3, 7u);
      acc28 = fma(vec4<f32>(v0.x), b0, acc28);
      acc28 = fma(vec4<f32>(v1.x), b1, acc28);
      acc28 = fma(vec4<f32>(v2.x), b2, acc28);
      acc28 = fma(vec4<f32>(v3.x), b3, acc28);
      acc29 = fma(vec4<f32>(v0.y), b0, acc29);
      acc29 = fma(vec4<f32>(v1.y), b1, acc29);
      acc29 = fma(vec4<f32>(v2.y), b2, acc29);
      acc29 = fma(vec4<f32>(v3.y), b3, acc29);
      acc30 = fma(vec4<f32>(v0.z), b0, acc30);
      acc30 = fma(vec4<f32>(v1.z), b1, acc30);
      acc30 = fma(vec4<f32>(v2.z), b2, acc30);
      acc30 = fma(vec4<f32>(v3.z), b3, acc30);
      acc31 = fma(vec4<f32>(v0.w), b0, acc31);
      acc31 = fma(vec4<f32>(v1.w), b1, acc31);
      acc31 = fma(vec4<f32>(v2.w), b2, acc31);
      acc31 = fma(vec4<f32>(v3.w), b3, acc31);
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
  store(base, i0 + 16u, col, acc16);
  store(base, i0 + 17u, col, acc17);
  store(base, i0 + 18u, col, acc18);
  store(base, i0 + 19u, col, acc19);
  store(base, i0 + 20u, col, acc20);
  store(base, i0 + 21u, col, acc21);
  store(base, i0 + 22u, col, acc22);
  store(base, i0 + 23u, col, acc23);
  store(base, i0 + 24u, col, acc24);
  store(base, i0 + 25u, col, acc25);
  store(base, i0 + 26u, col, acc26);
  store(base, i0 + 27u, col, acc27);
  store(base, i0 + 28u, col, acc28);
  store(base, i0 + 29u, col, acc29);
  store(base, i0 + 30u, col, acc30);
  store(base, i0 + 31u, col, acc31);
}
