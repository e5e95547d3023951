// moe_permute_serial_aux_512x2_e4
// moe permute, serial variant (CPU adapters): the whole permutation of 1024 = T·2 assignments over 4 experts (capacity 1024 rows each) in ONE invocation, O(N + E): count, prefix, stable placement, padding
// bindings: topk_idx (read i32), cursor (write u32 [E], scratch: the next rank per expert), counts (write u32 [E]), offsets (write u32 [E+1]), perm_row (write i32 [T·k]), src_token (write i32 [T·k]), src_slot (write i32 [T·k]), probs (read [T, E]), d_loss (read [1]), loss_total (write [1]), d_x (write [T, E])
// dispatch: a single invocation. On a CPU adapter one thread walking the assignments twice costs
// less than the three block-parallel dispatches (count, scan, scatter) and their barriers; GPUs
// use those. Integer counting in assignment order: exact, stable and deterministic.
@group(0) @binding(0) var<storage, read> topk_idx: array<i32>;
@group(0) @binding(1) var<storage, read_write> cursor: array<u32>;
@group(0) @binding(2) var<storage, read_write> counts: array<u32>;
@group(0) @binding(3) var<storage, read_write> offsets: array<u32>;
@group(0) @binding(4) var<storage, read_write> perm_row: array<i32>;
@group(0) @binding(5) var<storage, read_write> src_token: array<i32>;
@group(0) @binding(6) var<storage, read_write> src_slot: array<i32>;
@group(0) @binding(7) var<storage, read> probs: array<vec4<f32>>;
@group(0) @binding(8) var<storage, read> d_loss: array<f32>;
@group(0) @binding(9) var<storage, read_write> loss_total: array<f32>;
@group(0) @binding(10) var<storage, read_write> d_x: array<vec4<f32>>;

const E = 4u;
const K = 2u;
const N = 1024u;
const CAPACITY = 1024u;

// fuse-aux-loss-dispatch: the load-balance loss L = coef·E·Σ_e f_e·P_e of this routing and d_x =
// d_loss · coef·E·f_e / T (the same for every token), f_e from the counting pass's histogram (every
// valid assignment, before the capacity), P_e the mean of probs' column e. Replayed from the aux_loss
// kernel of 8 lanes: each lane's column partials, the per-expert sums and the tree sum in
// the same order, so the same bits.
const T = 512u;
const LANES = 8u;
const LANES_PER_EXPERT = 2u;

fn auxLoss(one: u32) {
  let experts = E * one;
  var assignedTotal = 0u;
  for (var e = 0u; e < experts; e++) { assignedTotal += cursor[e]; }
  var term: array<f32, 8>;
  // probs as vec4s of experts 4q..4q+3 (EQ per token): accumulator (part, q) sums the tokens t ≡ part
  // (mod LANES_PER_EXPERT) in ascending order, each component as lane part·E + e summed its column.
  var acc0 = vec4<f32>(0.0f);
  var acc1 = vec4<f32>(0.0f);
  for (var t0 = 0u; t0 < T * one; t0 += LANES_PER_EXPERT) {
    if (t0 + 0u < T) { acc0 += probs[(t0 + 0u) * 1u + 0u]; }
    if (t0 + 1u < T) { acc1 += probs[(t0 + 1u) * 1u + 0u]; }
  }
  var grad: array<vec4<f32>, 1>;
  {
    // experts 4·0..: the parts' sums in part order, the mean, f_e, and the lanes' terms
    var mean = vec4<f32>(0.0f);
    mean += acc0;
    mean += acc1;
    mean *= 0.001953125f;
    var f = vec4<f32>(0.0f);
    if (assignedTotal > 0u) {
      let total = f32(assignedTotal);
      f = vec4<f32>(f32(cursor[4u * 0u]) / total, f32(cursor[4u * 0u + 1u]) / total, f32(cursor[4u * 0u + 2u]) / total, f32(cursor[4u * 0u + 3u]) / total);
    }
    let fm = f * mean;
    term[4u * 0u] = fm.x;
    term[4u * 0u + 1u] = fm.y;
    term[4u * 0u + 2u] = fm.z;
    term[4u * 0u + 3u] = fm.w;
    grad[0] = 0.11999999731779099f * f * 0.001953125f;
  }
  for (var stride = (LANES / 2u) * one; stride > 0u; stride /= 2u) {
    for (var lane = 0u; lane < stride; lane++) { term[lane] += term[lane + stride]; }
  }
  loss_total[0] = 0.11999999731779099f * term[0];
  let dLoss = d_loss[0];
  for (var q = 0u; q < 1u * one; q++) {
    let g = dLoss * grad[q];
    for (var t = 0u; t < T * one; t++) { d_x[t * 1u + q] = g; }
  }
}

@compute @workgroup_size(1)
fn main() {
  // Trip counts are multiplied by `one` (arrayLength ≥ 1, known only at dispatch) so lavapipe does
  // not unroll these loops.
  let one = min(arrayLength(&cursor), 1u);
  let experts = E * one;
  let assignments = N * one;
  for (var e = 0u; e < experts; e++) { cursor[e] = 0u; }
  for (var a = 0u; a < assignments; a++) {
    let x = topk_idx[a];
    if (x >= 0 && x < i32(E)) { cursor[u32(x)] = cursor[u32(x)] + 1u; }
  }
  auxLoss(one);
  // Kept counts, their exclusive prefix, and the cursors reset for the placement pass.
  var running = 0u;
  offsets[0] = 0u;
  for (var e = 0u; e < experts; e++) {
    let kept = min(cursor[e], CAPACITY);
    counts[e] = kept;
    running += kept;
    offsets[e + 1u] = running;
    cursor[e] = 0u;
  }
  // Placement in assignment order (stable); an expert keeps its first CAPACITY assignments.
  for (var a = 0u; a < assignments; a++) {
    let x = topk_idx[a];
    if (x < 0 || x >= i32(E)) {
      perm_row[a] = -1;
      continue;
    }
    let rank = cursor[u32(x)];
    cursor[u32(x)] = rank + 1u;
    if (rank < CAPACITY) {
      let row = offsets[u32(x)] + rank;
      perm_row[a] = i32(row);
      src_token[row] = i32(a / K);
      src_slot[row] = i32(a % K);
    } else {
      perm_row[a] = -1;
    }
  }
  // Rows past the kept total are padding.
  for (var r = running; r < assignments; r++) {
    src_token[r] = -1;
    src_slot[r] = -1;
  }
}
