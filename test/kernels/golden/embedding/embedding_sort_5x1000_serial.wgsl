// embedding_sort_5x1000_serial
// embedding sort, serial variant: a stable counting sort of the 5 token indices by id in ONE invocation, O(T + V) work, no atomics, deterministic
//   sortedTokens: token indices ordered by clamp(id, -1, 1000) (ids below the range first, above it last), ties in ascending token order
//   rowStart[v] = #{t: ids[t] < v} for v = 0..1000
// bindings: ids (read), sortedTokens (write), rowStart (write; the per-id cursors while placing)
// dispatch: a single invocation. On a CPU adapter one thread does ~2T + 3V steps in microseconds,
// where the rank kernel does (T + V)·T comparisons; GPUs use that kernel instead.
@group(0) @binding(0) var<storage, read> ids: array<i32>;
@group(0) @binding(1) var<storage, read_write> sortedTokens: array<i32>;
@group(0) @binding(2) var<storage, read_write> rowStart: array<i32>;

fn sortIds() {
  // Trip counts are multiplied by `one` (arrayLength ≥ 1, known only at dispatch) so lavapipe does
  // not unroll these loops.
  let one = min(arrayLength(&rowStart), 1u);
  let tokens = 5u * one;
  // Counts: rowStart[v + 1] = #{t: ids[t] = v} for valid ids, `below` = #{t: ids[t] < 0}.
  for (var v = 0u; v <= 1000u * one; v++) { rowStart[v] = 0; }
  var below = 0;
  for (var t = 0u; t < tokens; t++) {
    let id = ids[t];
    if (id < 0) {
      below++;
    } else if (id < i32(1000u)) {
      rowStart[id + 1] = rowStart[id + 1] + 1;
    }
  }
  // Inclusive running sum from `below`: rowStart[v] = #{t: ids[t] < v}, the first slot of id v.
  rowStart[0] = below;
  for (var v = 1u; v <= 1000u * one; v++) { rowStart[v] = rowStart[v] + rowStart[v - 1u]; }
  // Place tokens in ascending order (stable), using rowStart[id] as id's cursor; ids below the
  // range fill slots 0.., ids above it the slots from rowStart[1000u] on.
  var low = 0;
  var high = rowStart[1000u];
  for (var t = 0u; t < tokens; t++) {
    let id = ids[t];
    if (id < 0) {
      sortedTokens[low] = i32(t);
      low++;
    } else if (id >= i32(1000u)) {
      sortedTokens[high] = i32(t);
      high++;
    } else {
      let slot = rowStart[id];
      sortedTokens[slot] = i32(t);
      rowStart[id] = slot + 1;
    }
  }
  // Each cursor now points at the next id's first slot: shift them back by one id.
  for (var v = 1000u * one - 1u; v >= 1u; v--) { rowStart[v] = rowStart[v - 1u]; }
  rowStart[0] = below;
}

@compute @workgroup_size(1)
fn main() {
  sortIds();
}
