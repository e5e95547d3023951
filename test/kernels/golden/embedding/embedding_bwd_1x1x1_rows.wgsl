// embedding_bwd_1x1x1_rows
// embedding backward, row-per-invocation variant: dTable[v, :] = sum over i in [rowStart[v], rowStart[v + 1]) of dOut[sortedTokens[i], :], width 1
// (buckets from embedding_sort, summed in ascending token order: deterministic; unused rows get 0)
// bindings: dOut, sortedTokens, rowStart (read), dTable (write)
// dispatch: one invocation per vocabulary row, serial loops (no barriers); v = (wid.x + wid.y * 1) * 64 + lid.x
@group(0) @binding(0) var<storage, read> dOut: array<f32>;
@group(0) @binding(1) var<storage, read> sortedTokens: array<i32>;
@group(0) @binding(2) var<storage, read> rowStart: array<i32>;
@group(0) @binding(3) var<storage, read_write> dTable: array<f32>;

alias V = f32;

// Row width in V units.
const DV = 1u;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let v = (wid.x + wid.y * 1u) * 64u + lid.x;
  if (v >= 1u) { return; }
  // The trip count is multiplied by `one` (arrayLength ≥ 1, known only at dispatch) so lavapipe
  // does not fully unroll the row loops.
  let one = min(arrayLength(&dTable), 1u);
  let dst = v * DV;
  let start = max(rowStart[v], 0);
  let end = min(rowStart[v + 1u], 1);
  // Most rows of a large vocabulary are unused in a batch: one pass of zeros, no loads.
  for (var d = 0u; d < DV * one; d++) { dTable[dst + d] = V(0.0f); }
  for (var k = start; k < end; k++) {
    let t = sortedTokens[k];
    if (t < 0 || t >= 1) { continue; }
    let src = u32(t) * DV;
    for (var d = 0u; d < DV * one; d++) { dTable[dst + d] += dOut[src + d]; }
  }
}
