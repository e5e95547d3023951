// embedding_sort_1x1
// embedding sort: stable counting sort of token indices by key = clamp(id, -1, 1), by ranks (no atomics, deterministic)
//   thread i < 1: sortedTokens[#{t: key[t] < key[i]} + #{t < i: key[t] = key[i]}] = i
//   thread v <= 1: rowStart[v] = #{t: ids[t] < v}
// (ids outside the range all sort as one key below or above it); ids are staged through workgroup memory 256 at a time; every thread reaches every barrier.
@group(0) @binding(0) var<storage, read> ids: array<i32>;
@group(0) @binding(1) var<storage, read_write> sortedTokens: array<i32>;
@group(0) @binding(2) var<storage, read_write> rowStart: array<i32>;

var<workgroup> idTile: array<i32, 256>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = (wid.x + wid.y * 1u) * 256u + lid.x;
  let isToken = i < 1u;
  let isRow = i <= 1u;
  var myId = 0;
  if (isToken) { myId = clamp(ids[i], -1, 1); }
  var rank = 0u;
  var below = 0;
  for (var tile = 0u; tile < 1u; tile++) {
    let base = tile * 256u;
    for (var k = lid.x; k < 256u; k += 256u) {
      if (base + k < 1u) { idTile[k] = clamp(ids[base + k], -1, 1); }
    }
    workgroupBarrier();
    let count = min(256u, 1u - base);
    for (var k = 0u; k < count; k++) {
      let other = idTile[k];
      let t = base + k;
      if (other < myId || (other == myId && t < i)) { rank++; }
      if (other < i32(i)) { below++; }
    }
    workgroupBarrier();
  }
  if (isToken) { sortedTokens[rank] = i32(i); }
  if (isRow) { rowStart[i] = below; }
}
