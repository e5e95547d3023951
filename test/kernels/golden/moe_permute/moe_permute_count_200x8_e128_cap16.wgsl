// moe_permute_count_200x8_e128_cap16
// moe permute, count: histogram of each block of 128 consecutive assignments (of 1600 = T·8) over 128 experts, into column b of block_counts [E, 13]
// bindings: topk_idx (read i32), block_counts (write u32 [E·B], expert-major)
// dispatch: one invocation per block; b = (wid.x + wid.y * 1) * 64 + lid.x
@group(0) @binding(0) var<storage, read> topk_idx: array<i32>;
@group(0) @binding(1) var<storage, read_write> block_counts: array<u32>;

const E = 128u;
const N = 1600u;
const S = 128u;
const B = 13u;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let b = (wid.x + wid.y * 1u) * 64u + lid.x;
  if (b >= B) { return; }
  // Loop bounds are multiplied by `one` (arrayLength ≥ 1, known only at dispatch) so lavapipe does
  // not fully unroll them.
  let one = min(arrayLength(&block_counts), 1u);
  // Column b belongs to this invocation alone: plain read-modify-writes, no atomics.
  for (var e = 0u; e < E * one; e++) { block_counts[e * B + b] = 0u; }
  let end = min((b + 1u) * S, N);
  for (var a = b * S; a < end; a++) {
    let x = topk_idx[a];
    if (x >= 0 && x < i32(E)) {
      let slot = u32(x) * B + b;
      block_counts[slot] = block_counts[slot] + 1u;
    }
  }
}
