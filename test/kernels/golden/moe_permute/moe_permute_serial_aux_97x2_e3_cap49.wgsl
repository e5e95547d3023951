// moe_permute_serial_aux_97x2_e3_cap49
// moe permute, serial variant (CPU adapters): the whole permutation of 194 = T·2 assignments over 3 experts (capacity 49 rows each) in ONE invocation, O(N + E): count, prefix, stable placement, padding
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
@group(0) @binding(7) var<storage, read> probs: array<f32>;
@group(0) @binding(8) var<storage, read> d_loss: array<f32>;
@group(0) @binding(9) var<storage, read_write> loss_total: array<f32>;
@group(0) @binding(10) var<storage, read_write> d_x: array<f32>;

const E = 3u;
const K = 2u;
const N = 194u;
const CAPACITY = 49u;

// fuse-aux-loss-dispatch: the load-balance loss L = coef·E·Σ_e f_e·P_e of this routing and d_x =
// d_loss · coef·E·f_e / T (the same for every token), f_e from the counting pass's histogram (every
// valid assignment, before the capacity), P_e the mean of probs' column e. Replayed from the aux_loss
// kernel of 8 lanes: each lane's column partials, the per-expert sums and the tree sum in
// the same order, so the same bits.
const T = 97u;
const LANES = 8u;
const LANES_PER_EXPERT = 2u;

fn auxLoss(one: u32) {
  let experts = E * one;
  var assignedTotal = 0u;
  for (var e = 0u; e < experts; e++) { assignedTotal += cursor[e]; }
  var term: array<f32, 8>;
  // Lane part·E + e summed tokens part, part + LANES_PER_EXPERT, …; lane e added its expert's parts.
  for (var e = 0u; e < experts; e++) {
    var mean = 0.0f;
    for (var part = 0u; part < LANES_PER_EXPERT * one; part++) {
      var column = 0.0f;
      for (var t = part; t < T * one; t += LANES_PER_EXPERT) { column += probs[t * E + e]; }
      mean += column;
    }
    mean *= 0.010309278033673763f;
    var f = 0.0f;
    if (assignedTotal > 0u) { f = f32(cursor[e]) / f32(assignedTotal); }
    term[e] = f * mean;
  }
  for (var stride = (LANES / 2u) * one; stride > 0u; stride /= 2u) {
    for (var lane = 0u; lane < stride; lane++) { term[lane] += term[lane + stride]; }
  }
  loss_total[0] = 0.09000000357627869f * term[0];
  let dLoss = d_loss[0];
  for (var e = 0u; e < experts; e++) {
    var f = 0.0f;
    if (assignedTotal > 0u) { f = f32(cursor[e]) / f32(assignedTotal); }
    let g = dLoss * (0.09000000357627869f * f * 0.010309278033673763f);
    for (var t = 0u; t < T * one; t++) { d_x[t * E + e] = g; }
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
