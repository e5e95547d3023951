enable subgroups;
// attention_fwd_t40_s20_h2kv2_d16_row_v4
// attention forward, one invocation per 1 (query row, head) pair(s), for CPU adapters with subgroups: causal softmax(q k^T * 0.25f) v
// per sequence of 20, 2 heads over 2 kv heads, hd = 16 (as 4 vec4, zero-padded)
// bindings: q, k, v (read), out, lse (write); q/out rows of 32, k/v rows of 32
// grid: workgroup = (sequence, head, block of 16 queries), 2 blocks per sequence; each invocation owns
// 1 query row(s) (slot r: the subgroup's first query + r × 4 + its lane), each with an online softmax
// (running max m, sum l) over the keys in ascending order; no workgroup memory, no barriers.
// A storage load on a CPU adapter is a per-lane gather (~25 cycles), so the 4 lanes of a subgroup (at least 4: the
// adapter's minimum subgroup size) load each key row together, one vec4 of k and of v per lane and slot (rows bound as vec4s), and subgroupBroadcast hands every
// element to all lanes, where all 1 of a lane's rows use it: the loads and broadcasts of a key are paid once per
// 1 queries of a lane. The key loop depends on the workgroup only (uniform control flow, as the broadcasts need); keys past a
// row's query are masked (score -> -max, weight exp(-huge) = 0); every row sees key 0 first, so m is finite after it.
// The causal loops end where the subgroup's last query (start where its first key) stops needing them:
// bounds from subgroupMax / subgroupMin, uniform within the subgroup as its broadcasts need (not provably
// so to the uniformity analysis, hence the directive). The rows skipped would add exactly 0 to every lane.
diagnostic(off, subgroup_uniformity);
@group(0) @binding(0) var<storage, read> q: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> k: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> v: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> out: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> lse: array<f32>;

@compute @workgroup_size(16)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(subgroup_invocation_id) sgLane: u32) {
  let group = wid.x + wid.y * 8u;
  let block = group % 2u;
  let seqHead = group / 2u;
  let head = seqHead % 2u;
  let firstRow = (seqHead / 2u) * 20u;
  let kvCol = (head / 1u) * 16u;
  // slot r's query: 4 × 1 consecutive queries per 4 invocations, slot-major
  let firstPos = block * 16u + (lid.x / 4u) * 4u + lid.x % 4u;
  let loadLane = sgLane % 4u;

  // every hd-level and slot index is a constant written out by the builder (#each): lavapipe keeps the rows in registers,
  // where a loop it declined to unroll (hd = 32) made them indirectly indexed memory, several times slower
  var qRow: array<array<vec4<f32>, 4>, 1>;
  var acc: array<array<vec4<f32>, 4>, 1>;
  // lanes past the sequence end compute on its last row and store nothing
  var rows: array<u32, 1>;
  var m: array<f32, 1>;
  var l: array<f32, 1>;
  {
    rows[0] = firstRow + min(firstPos + 0u, 20u - 1u);
    let qAt = rows[0] * 32u + head * 16u;
    qRow[0][0] = q[qAt / 4u + 0u] * 0.25f;
    qRow[0][1] = q[qAt / 4u + 1u] * 0.25f;
    qRow[0][2] = q[qAt / 4u + 2u] * 0.25f;
    qRow[0][3] = q[qAt / 4u + 3u] * 0.25f;
    m[0] = -3.4028234663852886e+38f;
  }
  // causal: the subgroup's last query is the last key any of its rows needs
  let keyEnd = firstRow + subgroupMax(min(firstPos + 0u, 20u - 1u)) + 1u;
  for (var key = firstRow; key < keyEnd; key++) {
    var kRow: array<vec4<f32>, 4>;
    var vRow: array<vec4<f32>, 4>;
    // one vector of k and one of v per lane and slot
    let atW = (key * 32u + kvCol) / 4u;
    let kw0 = k[atW + 0u + loadLane];
    let vw0 = v[atW + 0u + loadLane];
    kRow[0] = subgroupBroadcast(kw0, 0u);
    vRow[0] = subgroupBroadcast(vw0, 0u);
    kRow[1] = subgroupBroadcast(kw0, 1u);
    vRow[1] = subgroupBroadcast(vw0, 1u);
    kRow[2] = subgroupBroadcast(kw0, 2u);
    vRow[2] = subgroupBroadcast(vw0, 2u);
    kRow[3] = subgroupBroadcast(kw0, 3u);
    vRow[3] = subgroupBroadcast(vw0, 3u);
    {
      var s = 0.0f;
      s += dot(qRow[0][0], kRow[0]);
      s += dot(qRow[0][1], kRow[1]);
      s += dot(qRow[0][2], kRow[2]);
      s += dot(qRow[0][3], kRow[3]);
      s = select(-3.4028234663852886e+38f, s, key <= rows[0]);
      let mNew = max(m[0], s);
      let correction = exp(m[0] - mNew);
      let prob = exp(s - mNew);
      l[0] = l[0] * correction + prob;
      acc[0][0] = acc[0][0] * correction + prob * vRow[0];
      acc[0][1] = acc[0][1] * correction + prob * vRow[1];
      acc[0][2] = acc[0][2] * correction + prob * vRow[2];
      acc[0][3] = acc[0][3] * correction + prob * vRow[3];
      m[0] = mNew;
    }
  }

  if (firstPos + 0u < 20u) {
    let qAt = rows[0] * 32u + head * 16u;
    let inverseSum = 1.0f / l[0];
    out[qAt / 4u + 0u] = acc[0][0] * inverseSum;
    out[qAt / 4u + 1u] = acc[0][1] * inverseSum;
    out[qAt / 4u + 2u] = acc[0][2] * inverseSum;
    out[qAt / 4u + 3u] = acc[0][3] * inverseSum;
    lse[rows[0] * 2u + head] = m[0] + log(l[0]);
  }
}
