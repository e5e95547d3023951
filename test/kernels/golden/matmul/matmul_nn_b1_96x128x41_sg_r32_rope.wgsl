enable subgroups;
// matmul_nn_b1_96x128x41_sg_r32_rope
// matmul, subgroup variant: c = a · b, M=96 N=128 K=41, batch strides a 0, b 0, c 0
// bindings: a (read, 96×41), b (read, 41×128, as vec4), c (write, 96×128)
// dispatch: (ceil(M/(32·1)), ceil(N/32), batch) workgroups of 1 subgroup(s) of 8 lanes stacked along M; a lane owns rows m0..m0+32-1 × columns col..col+3
// (M tiles vary fastest, so workgroups running together reuse one K×32 panel of b from cache)
// rope on the product (fuse-matmul-rope), batch entries 0 .. 1 - 1: rows are tokens at position row mod 48, each head of
// 32 columns rotate_half-rotated (column i with i + 16), as the rope kernel would; the partner of a lane's 4 columns
// is in the lane 4 away (subgroupShuffleXor).
@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> c: array<vec4<f32>>;

// theta^(-2i/hd) / (2 pi): angle in turns per position, 4 angles per entry
const ROPE_TURNS = array<vec4<f32>, 4>(vec4<f32>(0.15915493667125702f, 0.06711508333683014f, 0.02830219641327858f, 0.011934936977922916f), vec4<f32>(0.005032921209931374f, 0.0021223651710897684f, 0.0008949940092861652f, 0.00037741585401818156f), vec4<f32>(0.0001591549371369183f, 0.00006711508467560634f, 0.000028302196369622834f, 0.000011934936992474832f), vec4<f32>(0.000005032921308156801f, 0.0000021223652311164187f, 8.94994002464955e-7f, 3.7741585856565507e-7f), );

// Elements col..col+3 of row r of stored a, clamped into the matrix (base in array elements).
fn loadA4(base: u32, r: u32, col: u32) -> vec4<f32> {
  let row = base + min(r, 96u - 1u) * 41u;
  return vec4<f32>(a[row + min(col, 41u - 1u)], a[row + min(col + 1u, 41u - 1u)], a[row + min(col + 2u, 41u - 1u)], a[row + min(col + 3u, 41u - 1u)]);
}

// Elements col..col+3 of row r of stored b, clamped into the matrix (base in array elements).
fn loadB4(base: u32, r: u32, col: u32) -> vec4<f32> {
  return b[base + min(r, 41u - 1u) * 32u + min(col, 128u - 4u) / 4u];
}

// Writes row `row`, columns col..col+3 of c; rows and columns outside the matrix are dropped.
fn store(base: u32, row: u32, col: u32, v: vec4<f32>) {
  if (row >= 96u) { return; }
  // N is a multiple of 4, so the 4 columns are all inside the matrix or all outside.
  if (col >= 128u) { return; }
  let i = (base + row * 128u + col) / 4u;
  c[i] = v;
}

@compute @workgroup_size(8)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lidx: u32, @builtin(subgroup_invocation_id) lane: u32) {
  let m0 = (wid.x * 1u + lidx / 8u) * 32u;
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
  // K is hidden from the shader compiler (arrayLength(&c) >= 1 is only known at dispatch): lavapipe
  // fully unrolls constant-trip loops, which made small-K pipelines compile for seconds.
  let kEnd = 41u * min(arrayLength(&c), 1u);
  for (var k = 0u; k < kEnd; k += 4u) {
    // b<i>: this lane's 4 columns at k + i.
    var b0 = loadB4(bBase, k, col);
    var b1 = loadB4(bBase, k + 1u, col);
    var b2 = loadB4(bBase, k + 2u, col);
    var b3 = loadB4(bBase, k + 3u, col);
    // K is not a multiple of 4: past K, b is zero so the clamped a values add nothing.
    b1 = select(vec4<f32>(0.0f), b1, k + 1u < 41u);
    b2 = select(vec4<f32>(0.0f), b2, k + 2u < 41u);
    b3 = select(vec4<f32>(0.0f), b3, k + 3u < 41u);
    // a<slot>: this lane's share of the 32×4 block of a, broadcast to every lane below.
    let a0 = loadA4(aBase, m0 + lane + 0u, k);
    let a1 = loadA4(aBase, m0 + lane + 8u, k);
    let a2 = loadA4(aBase, m0 + lane + 16u, k);
    let a3 = loadA4(aBase, m0 + lane + 24u, k);
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
    {
      let v0 = subgroupBroadcast(a2, 0u);
      acc16 = fma(vec4<f32>(v0.x), b0, acc16);
      acc16 = fma(vec4<f32>(v0.y), b1, acc16);
      acc16 = fma(vec4<f32>(v0.z), b2, acc16);
      acc16 = fma(vec4<f32>(v0.w), b3, acc16);
    }
    {
      let v0 = subgroupBroadcast(a2, 1u);
      acc17 = fma(vec4<f32>(v0.x), b0, acc17);
      acc17 = fma(vec4<f32>(v0.y), b1, acc17);
      acc17 = fma(vec4<f32>(v0.z), b2, acc17);
      acc17 = fma(vec4<f32>(v0.w), b3, acc17);
    }
    {
      let v0 = subgroupBroadcast(a2, 2u);
      acc18 = fma(vec4<f32>(v0.x), b0, acc18);
      acc18 = fma(vec4<f32>(v0.y), b1, acc18);
      acc18 = fma(vec4<f32>(v0.z), b2, acc18);
      acc18 = fma(vec4<f32>(v0.w), b3, acc18);
    }
    {
      let v0 = subgroupBroadcast(a2, 3u);
      acc19 = fma(vec4<f32>(v0.x), b0, acc19);
      acc19 = fma(vec4<f32>(v0.y), b1, acc19);
      acc19 = fma(vec4<f32>(v0.z), b2, acc19);
      acc19 = fma(vec4<f32>(v0.w), b3, acc19);
    }
    {
      let v0 = subgroupBroadcast(a2, 4u);
      acc20 = fma(vec4<f32>(v0.x), b0, acc20);
      acc20 = fma(vec4<f32>(v0.y), b1, acc20);
      acc20 = fma(vec4<f32>(v0.z), b2, acc20);
      acc20 = fma(vec4<f32>(v0.w), b3, acc20);
    }
    {
      let v0 = subgroupBroadcast(a2, 5u);
      acc21 = fma(vec4<f32>(v0.x), b0, acc21);
      acc21 = fma(vec4<f32>(v0.y), b1, acc21);
      acc21 = fma(vec4<f32>(v0.z), b2, acc21);
      acc21 = fma(vec4<f32>(v0.w), b3, acc21);
    }
    {
      let v0 = subgroupBroadcast(a2, 6u);
      acc22 = fma(vec4<f32>(v0.x), b0, acc22);
      acc22 = fma(vec4<f32>(v0.y), b1, acc22);
      acc22 = fma(vec4<f32>(v0.z), b2, acc22);
      acc22 = fma(vec4<f32>(v0.w), b3, acc22);
    }
    {
      let v0 = subgroupBroadcast(a2, 7u);
      acc23 = fma(vec4<f32>(v0.x), b0, acc23);
      acc23 = fma(vec4<f32>(v0.y), b1, acc23);
      acc23 = fma(vec4<f32>(v0.z), b2, acc23);
      acc23 = fma(vec4<f32>(v0.w), b3, acc23);
    }
    {
      let v0 = subgroupBroadcast(a3, 0u);
      acc24 = fma(vec4<f32>(v0.x), b0, acc24);
      acc24 = fma(vec4<f32>(v0.y), b1, acc24);
      acc24 = fma(vec4<f32>(v0.z), b2, acc24);
      acc24 = fma(vec4<f32>(v0.w), b3, acc24);
    }
    {
      let v0 = subgroupBroadcast(a3, 1u);
      acc25 = fma(vec4<f32>(v0.x), b0, acc25);
      acc25 = fma(vec4<f32>(v0.y), b1, acc25);
      acc25 = fma(vec4<f32>(v0.z), b2, acc25);
      acc25 = fma(vec4<f32>(v0.w), b3, acc25);
    }
    {
      let v0 = subgroupBroadcast(a3, 2u);
      acc26 = fma(vec4<f32>(v0.x), b0, acc26);
      acc26 = fma(vec4<f32>(v0.y), b1, acc26);
      acc26 = fma(vec4<f32>(v0.z), b2, acc26);
      acc26 = fma(vec4<f32>(v0.w), b3, acc26);
    }
    {
      let v0 = subgroupBroadcast(a3, 3u);
      acc27 = fma(vec4<f32>(v0.x), b0, acc27);
      acc27 = fma(vec4<f32>(v0.y), b1, acc27);
      acc27 = fma(vec4<f32>(v0.z), b2, acc27);
      acc27 = fma(vec4<f32>(v0.w), b3, acc27);
    }
    {
      let v0 = subgroupBroadcast(a3, 4u);
      acc28 = fma(vec4<f32>(v0.x), b0, acc28);
      acc28 = fma(vec4<f32>(v0.y), b1, acc28);
      acc28 = fma(vec4<f32>(v0.z), b2, acc28);
      acc28 = fma(vec4<f32>(v0.w), b3, acc28);
    }
    {
      let v0 = subgroupBroadcast(a3, 5u);
      acc29 = fma(vec4<f32>(v0.x), b0, acc29);
      acc29 = fma(vec4<f32>(v0.y), b1, acc29);
      acc29 = fma(vec4<f32>(v0.z), b2, acc29);
      acc29 = fma(vec4<f32>(v0.w), b3, acc29);
    }
    {
      let v0 = subgroupBroadcast(a3, 6u);
      acc30 = fma(vec4<f32>(v0.x), b0, acc30);
      acc30 = fma(vec4<f32>(v0.y), b1, acc30);
      acc30 = fma(vec4<f32>(v0.z), b2, acc30);
      acc30 = fma(vec4<f32>(v0.w), b3, acc30);
    }
    {
      let v0 = subgroupBroadcast(a3, 7u);
      acc31 = fma(vec4<f32>(v0.x), b0, acc31);
      acc31 = fma(vec4<f32>(v0.y), b1, acc31);
      acc31 = fma(vec4<f32>(v0.z), b2, acc31);
      acc31 = fma(vec4<f32>(v0.w), b3, acc31);
    }
  }
  // wid.z is the same for the whole workgroup: the shuffles run in uniform control flow.
  if (wid.z < 1u) {
    let inHead = col % 32u;
    let firstHalf = inHead < 16u;
    let turnsPerPosition = ROPE_TURNS[(inHead % 16u) / 4u];
    {
      let partner = subgroupShuffleXor(acc0, 4u);
      let turns = f32((m0 + 0u) % 48u) * turnsPerPosition;
      let angle = (turns - round(turns)) * 6.283185307179586f;
      let c = cos(angle);
      let s = sin(angle);
      acc0 = select(acc0 * c + partner * s, acc0 * c - partner * s, firstHalf);
    }
    {
      let partner = subgroupShuffleXor(acc1, 4u);
      let turns = f32((m0 + 1u) % 48u) * turnsPerPosition;
      let angle = (turns - round(turns)) * 6.283185307179586f;
      let c = cos(angle);
      let s = sin(angle);
      acc1 = select(acc1 * c + partner * s, acc1 * c - partner * s, firstHalf);
    }
    {
      let partner = subgroupShuffleXor(acc2, 4u);
      let turns = f32((m0 + 2u) % 48u) * turnsPerPosition;
      let angle = (turns - round(turns)) * 6.283185307179586f;
      let c = cos(angle);
      let s = sin(angle);
      acc2 = select(acc2 * c + partner * s, acc2 * c - partner * s, firstHalf);
    }
    {
      let partner = subgroupShuffleXor(acc3, 4u);
      let turns = f32((m0 + 3u) % 48u) * turnsPerPosition;
      let angle = (turns - round(turns)) * 6.283185307179586f;
      let c = cos(angle);
      let s = sin(angle);
      acc3 = select(acc3 * c + partner * s, acc3 * c - partner * s, firstHalf);
    }
    {
      let partner = subgroupShuffleXor(acc4, 4u);
      let turns = f32((m0 + 4u) % 48u) * turnsPerPosition;
      let angle = (turns - round(turns)) * 6.283185307179586f;
      let c = cos(angle);
      let s = sin(angle);
      acc4 = select(acc4 * c + partner * s, acc4 * c - partner * s, firstHalf);
    }
    {
      let partner = subgroupShuffleXor(acc5, 4u);
      let turns = f32((m0 + 5u) % 48u) * turnsPerPosition;
      let angle = (turns - round(turns)) * 6.283185307179586f;
      let c = cos(angle);
      let s = sin(angle);
      acc5 = select(acc5 * c + partner * s, acc5 * c - partner * s, firstHalf);
    }
    {
      let partner = subgroupShuffleXor(acc6, 4u);
      let turns = f32((m0 + 6u) % 48u) * turnsPerPosition;
      let angle = (turns - round(turns)) * 6.283185307179586f;
      let c = cos(angle);
      let s = sin(angle);
      acc6 = select(acc6 * c + partner * s, acc6 * c - partner * s, firstHalf);
    }
    {
      let partner = subgroupShuffleXor(acc7, 4u);
      let turns = f32((m0 + 7u) % 48u) * turnsPerPosition;
      let angle = (turns - round(turns)) * 6.283185307179586f;
      let c = cos(angle);
      let s = sin(angle);
      acc7 = select(acc7 * c + partner * s, acc7 * c - partner * s, firstHalf);
    }
    {
      let partner = subgroupShuffleXor(acc8, 4u);
      let turns = f32((m0 + 8u) % 48u) * turnsPerPosition;
      let angle = (turns - round(turns)) * 6.283185307179586f;
      let c = cos(angle);
      let s = sin(angle);
      acc8 = select(acc8 * c + partner * s, acc8 * c - partner * s, firstHalf);
    }
    {
      let partner = subgroupShuffleXor(acc9, 4u);
      let turns = f32((m0 + 9u) % 48u) * turnsPerPosition;
      let angle = (turns - round(turns)) * 6.283185307179586f;
      let c = cos(angle);
      let s = sin(angle);
      acc9 = select(acc9 * c + partner * s, acc9 * c - partner * s, firstHalf);
    }
    {
      let partner = subgroupShuffleXor(acc10, 4u);
      let turns = f32((m0 + 10u) % 48u) * turnsPerPosition;
      let angle = (turns - round(turns)) * 6.283185307179586f;
      let c = cos(angle);
      let s = sin(angle);
      acc10 = select(acc10 * c + partner * s, acc10 * c - partner * s, firstHalf);
    }
    {
      let partner = subgroupShuffleXor(acc11, 4u);
      let turns = f32((m0 + 11u) % 48u) * turnsPerPosition;
      let angle = (turns - round(turns)) * 6.283185307179586f;
      let c = cos(angle);
      let s = sin(angle);
      acc11 = select(acc11 * c + partner * s, acc11 * c - partner * s, firstHalf);
    }
    {
      let partner = subgroupShuffleXor(acc12, 4u);
      let turns = f32((m0 + 12u) % 48u) * turnsPerPosition;
      let angle = (turns - round(turns)) * 6.283185307179586f;
      let c = cos(angle);
      let s = sin(angle);
      acc12 = select(acc12 * c + partner * s, acc12 * c - partner * s, firstHalf);
    }
    {
      let partner = subgroupShuffleXor(acc13, 4u);
      let turns = f32((m0 + 13u) % 48u) * turnsPerPosition;
      let angle = (turns - round(turns)) * 6.283185307179586f;
      let c = cos(angle);
      let s = sin(angle);
      acc13 = select(acc13 * c + partner * s, acc13 * c - partner * s, firstHalf);
    }
    {
      let partner = subgroupShuffleXor(acc14, 4u);
      let turns = f32((m0 + 14u) % 48u) * turnsPerPosition;
      let angle = (turns - round(turns)) * 6.283185307179586f;
      let c = cos(angle);
      let s = sin(angle);
      acc14 = select(acc14 * c + partner * s, acc14 * c - partner * s, firstHalf);
    }
    {
      let partner = subgroupShuffleXor(acc15, 4u);
      let turns = f32((m0 + 15u) % 48u) * turnsPerPosition;
      let angle = (turns - round(turns)) * 6.283185307179586f;
      let c = cos(angle);
      let s = sin(angle);
      acc15 = select(acc15 * c + partner * s, acc15 * c - partner * s, firstHalf);
    }
    {
      let partner = subgroupShuffleXor(acc16, 4u);
      let turns = f32((m0 + 16u) % 48u) * turnsPerPosition;
      let angle = (turns - round(turns)) * 6.283185307179586f;
      let c = cos(angle);
      let s = sin(angle);
      acc16 = select(acc16 * c + partner * s, acc16 * c - partner * s, firstHalf);
    }
    {
      let partner = subgroupShuffleXor(acc17, 4u);
      let turns = f32((m0 + 17u) % 48u) * turnsPerPosition;
      let angle = (turns - round(turns)) * 6.283185307179586f;
      let c = cos(angle);
      let s = sin(angle);
      acc17 = select(acc17 * c + partner * s, acc17 * c - partner * s, firstHalf);
    }
    {
      let partner = subgroupShuffleXor(acc18, 4u);
      let turns = f32((m0 + 18u) % 48u) * turnsPerPosition;
      let angle = (turns - round(turns)) * 6.283185307179586f;
      let c = cos(angle);
      let s = sin(angle);
      acc18 = select(acc18 * c + partner * s, acc18 * c - partner * s, firstHalf);
    }
    {
      let partner = subgroupShuffleXor(acc19, 4u);
      let turns = f32((m0 + 19u) % 48u) * turnsPerPosition;
      let angle = (turns - round(turns)) * 6.283185307179586f;
      let c = cos(angle);
      let s = sin(angle);
      acc19 = select(acc19 * c + partner * s, acc19 * c - partner * s, firstHalf);
    }
    {
      let partner = subgroupShuffleXor(acc20, 4u);
      let turns = f32((m0 + 20u) % 48u) * turnsPerPosition;
      let angle = (turns - round(turns)) * 6.283185307179586f;
      let c = cos(angle);
      let s = sin(angle);
      acc20 = select(acc20 * c + partner * s, acc20 * c - partner * s, firstHalf);
    }
    {
      let partner = subgroupShuffleXor(acc21, 4u);
      let turns = f32((m0 + 21u) % 48u) * turnsPerPosition;
      let angle = (turns - round(turns)) * 6.283185307179586f;
      let c = cos(angle);
      let s = sin(angle);
      acc21 = select(acc21 * c + partner * s, acc21 * c - partner * s, firstHalf);
    }
    {
      let partner = subgroupShuffleXor(acc22, 4u);
      let turns = f32((m0 + 22u) % 48u) * turnsPerPosition;
      let angle = (turns - round(turns)) * 6.283185307179586f;
      let c = cos(angle);
      let s = sin(angle);
      acc22 = select(acc22 * c + partner * s, acc22 * c - partner * s, firstHalf);
    }
    {
      let partner = subgroupShuffleXor(acc23, 4u);
      let turns = f32((m0 + 23u) % 48u) * turnsPerPosition;
      let angle = (turns - round(turns)) * 6.283185307179586f;
      let c = cos(angle);
      let s = sin(angle);
      acc23 = select(acc23 * c + partner * s, acc23 * c - partner * s, firstHalf);
    }
    {
      let partner = subgroupShuffleXor(acc24, 4u);
      let turns = f32((m0 + 24u) % 48u) * turnsPerPosition;
      let angle = (turns - round(turns)) * 6.283185307179586f;
      let c = cos(angle);
      let s = sin(angle);
      acc24 = select(acc24 * c + partner * s, acc24 * c - partner * s, firstHalf);
    }
    {
      let partner = subgroupShuffleXor(acc25, 4u);
      let turns = f32((m0 + 25u) % 48u) * turnsPerPosition;
      let angle = (turns - round(turns)) * 6.283185307179586f;
      let c = cos(angle);
      let s = sin(angle);
      acc25 = select(acc25 * c + partner * s, acc25 * c - partner * s, firstHalf);
    }
    {
      let partner = subgroupShuffleXor(acc26, 4u);
      let turns = f32((m0 + 26u) % 48u) * turnsPerPosition;
      let angle = (turns - round(turns)) * 6.283185307179586f;
      let c = cos(angle);
      let s = sin(angle);
      acc26 = select(acc26 * c + partner * s, acc26 * c - partner * s, firstHalf);
    }
    {
      let partner = subgroupShuffleXor(acc27, 4u);
      let turns = f32((m0 + 27u) % 48u) * turnsPerPosition;
      let angle = (turns - round(turns)) * 6.283185307179586f;
      let c = cos(angle);
      let s = sin(angle);
      acc27 = select(acc27 * c + partner * s, acc27 * c - partner * s, firstHalf);
    }
    {
      let partner = subgroupShuffleXor(acc28, 4u);
      let turns = f32((m0 + 28u) % 48u) * turnsPerPosition;
      let angle = (turns - round(turns)) * 6.283185307179586f;
      let c = cos(angle);
      let s = sin(angle);
      acc28 = select(acc28 * c + partner * s, acc28 * c - partner * s, firstHalf);
    }
    {
      let partner = subgroupShuffleXor(acc29, 4u);
      let turns = f32((m0 + 29u) % 48u) * turnsPerPosition;
      let angle = (turns - round(turns)) * 6.283185307179586f;
      let c = cos(angle);
      let s = sin(angle);
      acc29 = select(acc29 * c + partner * s, acc29 * c - partner * s, firstHalf);
    }
    {
      let partner = subgroupShuffleXor(acc30, 4u);
      let turns = f32((m0 + 30u) % 48u) * turnsPerPosition;
      let angle = (turns - round(turns)) * 6.283185307179586f;
      let c = cos(angle);
      let s = sin(angle);
      acc30 = select(acc30 * c + partner * s, acc30 * c - partner * s, firstHalf);
    }
    {
      let partner = subgroupShuffleXor(acc31, 4u);
      let turns = f32((m0 + 31u) % 48u) * turnsPerPosition;
      let angle = (turns - round(turns)) * 6.283185307179586f;
      let c = cos(angle);
      let s = sin(angle);
      acc31 = select(acc31 * c + partner * s, acc31 * c - partner * s, firstHalf);
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
  store(cBase, m0 + 16u, col, acc16);
  store(cBase, m0 + 17u, col, acc17);
  store(cBase, m0 + 18u, col, acc18);
  store(cBase, m0 + 19u, col, acc19);
  store(cBase, m0 + 20u, col, acc20);
  store(cBase, m0 + 21u, col, acc21);
  store(cBase, m0 + 22u, col, acc22);
  store(cBase, m0 + 23u, col, acc23);
  store(cBase, m0 + 24u, col, acc24);
  store(cBase, m0 + 25u, col, acc25);
  store(cBase, m0 + 26u, col, acc26);
  store(cBase, m0 + 27u, col, acc27);
  store(cBase, m0 + 28u, col, acc28);
  store(cBase, m0 + 29u, col, acc29);
  store(cBase, m0 + 30u, col, acc30);
  store(cBase, m0 + 31u, col, acc31);
}
