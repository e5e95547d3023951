// moe_permute_serial_1000x6_e64
// moe permute, serial variant (CPU adapters): the whole permutation of 6000 = T·6 assignments over 64 experts (capacity 6000 rows each) in ONE invocation, O(N + E): count, prefix, stable placement, padding
// bindings: topk_idx (read i32), cursor (write u32 [E], scratch: the next rank per expert), counts (write u32 [E]), offsets (write u32 [E+1]), perm_row (write i32 [T·k]), src_token (write i32 [T·k]), src_slot (write i32 [T·k])
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

const E = 64u;
const K = 6u;
const N = 6000u;
const CAPACITY = 6000u;

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
