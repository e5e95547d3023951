// embedding_fwd_40x50x64_norm_sort_rows
// embedding forward, row-per-invocation variant: out[t, :] = table[ids[t], :] for 40 tokens of width 64 (as 16 vec4); ids outside [0, 50) give a zero row
// bindings: table (read), ids (read), norm_w (read), out (read_write), norm_y, rstd (write): then norm_y[t, :] = out[t, :] · rstd[t] · norm_w, rstd[t] = 1 / sqrt(mean(out[t, :]²) + 9.999999974752427e-7f)
// dispatch: one invocation per token, a serial copy loop (no barriers); t = (group - 1) * 64 + lid.x, group = wid.x + wid.y * 2
// fuse-embedding-sort: workgroup 0 (one invocation of it) sorts the token indices by id for the backward instead
// (sortedTokens, rowStart: embedding_sort_serial's counting sort), in parallel with the rows on another thread.
@group(0) @binding(0) var<storage, read> table: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> ids: array<i32>;
@group(0) @binding(2) var<storage, read> norm_w: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> out: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> norm_y: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> rstd: array<f32>;
@group(0) @binding(6) var<storage, read_write> sortedTokens: array<i32>;
@group(0) @binding(7) var<storage, read_write> rowStart: array<i32>;

fn sortIds() {
  // Trip counts are multiplied by `one` (arrayLength ≥ 1, known only at dispatch) so lavapipe does
  // not unroll these loops.
  let one = min(arrayLength(&rowStart), 1u);
  let tokens = 40u * one;
  // Counts: rowStart[v + 1] = #{t: ids[t] = v} for valid ids, `below` = #{t: ids[t] < 0}.
  for (var v = 0u; v <= 50u * one; v++) { rowStart[v] = 0; }
  var below = 0;
  for (var t = 0u; t < tokens; t++) {
    let id = ids[t];
    if (id < 0) {
      below++;
    } else if (id < i32(50u)) {
      rowStart[id + 1] = rowStart[id + 1] + 1;
    }
  }
  // Inclusive running sum from `below`: rowStart[v] = #{t: ids[t] < v}, the first slot of id v.
  rowStart[0] = below;
  for (var v = 1u; v <= 50u * one; v++) { rowStart[v] = rowStart[v] + rowStart[v - 1u]; }
  // Place tokens in ascending order (stable), using rowStart[id] as id's cursor; ids below the
  // range fill slots 0.., ids above it the slots from rowStart[50u] on.
  var low = 0;
  var high = rowStart[50u];
  for (var t = 0u; t < tokens; t++) {
    let id = ids[t];
    if (id < 0) {
      sortedTokens[low] = i32(t);
      low++;
    } else if (id >= i32(50u)) {
      sortedTokens[high] = i32(t);
      high++;
    } else {
      let slot = rowStart[id];
      sortedTokens[slot] = i32(t);
      rowStart[id] = slot + 1;
    }
  }
  // Each cursor now points at the next id's first slot: shift them back by one id.
  for (var v = 50u * one - 1u; v >= 1u; v--) { rowStart[v] = rowStart[v - 1u]; }
  rowStart[0] = below;
}

alias V = vec4<f32>;

// Row width in V units.
const DV = 16u;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let group = wid.x + wid.y * 2u;
  if (group == 0u) {
    if (lid.x == 0u) { sortIds(); }
    return;
  }
  let t = (group - 1u) * 64u + lid.x;
  if (t >= 40u) { return; }
  // The trip count is multiplied by `one` (arrayLength ≥ 1, known only at dispatch) so lavapipe
  // does not fully unroll the copy loop.
  let one = min(arrayLength(&out), 1u);
  let id = ids[t];
  let dst = t * DV;
  var sumSq = 0.0f;
  if (id >= 0 && id < 50) {
    let src = u32(id) * DV;
    for (var d = 0u; d < DV * one; d++) {
      let v = table[src + d];
      out[dst + d] = v;
      sumSq = fma(v.x, v.x, sumSq);
      sumSq = fma(v.y, v.y, sumSq);
      sumSq = fma(v.z, v.z, sumSq);
      sumSq = fma(v.w, v.w, sumSq);
    }
  } else {
    for (var d = 0u; d < DV * one; d++) { out[dst + d] = V(0.0f); }
  }
  let r = inverseSqrt(sumSq * 0.015625f + 9.999999974752427e-7f);
  for (var d = 0u; d < DV * one; d++) { norm_y[dst + d] = out[dst + d] * r * norm_w[d]; }
  rstd[t] = r;
}
