// moe_permute_scatter_100x12_e64
// moe permute, scatter: each block of 64 assignments (of 1200 = T·12) walks its assignments in order and places them at offsets[e] + rank (capacity 1200 rows per expert); rows past the kept total are padding (-1)
// bindings: topk_idx (read i32), block_counts (read_write u32 [E·19]: next rank per expert and block), offsets (read u32 [E+1]), perm_row (write i32 [T·k]), src_token (write i32 [T·k]), src_slot (write i32 [T·k])
// dispatch: one invocation per block; b = (wid.x + wid.y * 1) * 64 + lid.x
@group(0) @binding(0) var<storage, read> topk_idx: array<i32>;
@group(0) @binding(1) var<storage, read_write> block_counts: array<u32>;
@group(0) @binding(2) var<storage, read> offsets: array<u32>;
@group(0) @binding(3) var<storage, read_write> perm_row: array<i32>;
@group(0) @binding(4) var<storage, read_write> src_token: array<i32>;
@group(0) @binding(5) var<storage, read_write> src_slot: array<i32>;

const E = 64u;
const K = 12u;
const N = 1200u;
const S = 64u;
const B = 19u;
const CAPACITY = 1200u;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let b = (wid.x + wid.y * 1u) * 64u + lid.x;
  if (b >= B) { return; }
  let begin = b * S;
  let end = min(begin + S, N);
  for (var a = begin; a < end; a++) {
    let x = topk_idx[a];
    if (x < 0 || x >= i32(E)) {
      perm_row[a] = -1;
      continue;
    }
    // Column b of the rank table belongs to this invocation: taking ranks in order keeps it stable.
    let slot = u32(x) * B + b;
    let rank = block_counts[slot];
    block_counts[slot] = rank + 1u;
    if (rank < CAPACITY) {
      let row = offsets[u32(x)] + rank;
      perm_row[a] = i32(row);
      src_token[row] = i32(a / K);
      src_slot[row] = i32(a % K);
    } else {
      perm_row[a] = -1;
    }
  }
  // Padding rows past the kept total, in this block's share [b·S, (b+1)·S) of the N rows.
  for (var r = max(begin, offsets[E]); r < end; r++) {
    src_token[r] = -1;
    src_slot[r] = -1;
  }
}
