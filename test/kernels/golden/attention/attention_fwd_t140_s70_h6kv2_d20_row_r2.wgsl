enable subgroups;
// attention_fwd_t140_s70_h6kv2_d20_row_r2
// attention forward, one invocation per 2 (query row, head) pair(s), for CPU adapters with subgroups: causal softmax(q k^T * 0.22360679507255554f) v
// per sequence of 70, 6 heads over 2 kv heads, hd = 20 (as 5 vec4, zero-padded)
// bindings: q, k, v (read), out, lse (write); q/out rows of 120, k/v rows of 40
// grid: workgroup = (sequence, head, block of 32 queries), 3 blocks per sequence; each invocation owns
// 2 query row(s) (slot r: the subgroup's first query + r × 8 + its lane), each with an online softmax
// (running max m, sum l) over the keys in ascending order; no workgroup memory, no barriers.
// A storage load on a CPU adapter is a per-lane gather (~25 cycles), so the 8 lanes of a subgroup (at least 8: the
// adapter's minimum subgroup size) load each key row together, 3 element(s) per lane, and subgroupBroadcast hands every
// element to all lanes, where all 2 of a lane's rows use it: the loads and broadcasts of a key are paid once per
// 2 queries of a lane. The key loop depends on the workgroup only (uniform control flow, as the broadcasts need); keys past a
// row's query are masked (score -> -max, weight exp(-huge) = 0); every row sees key 0 first, so m is finite after it.
// The causal loops end where the subgroup's last query (start where its first key) stops needing them:
// bounds from subgroupMax / subgroupMin, uniform within the subgroup as its broadcasts need (not provably
// so to the uniformity analysis, hence the directive). The rows skipped would add exactly 0 to every lane.
diagnostic(off, subgroup_uniformity);
@group(0) @binding(0) var<storage, read> q: array<f32>;
@group(0) @binding(1) var<storage, read> k: array<f32>;
@group(0) @binding(2) var<storage, read> v: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<storage, read_write> lse: array<f32>;

@compute @workgroup_size(16)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(subgroup_invocation_id) sgLane: u32) {
  let group = wid.x + wid.y * 36u;
  let block = group % 3u;
  let seqHead = group / 3u;
  let head = seqHead % 6u;
  let firstRow = (seqHead / 6u) * 70u;
  let kvCol = (head / 3u) * 20u;
  // slot r's query: 8 × 2 consecutive queries per 8 invocations, slot-major
  let firstPos = block * 32u + (lid.x / 8u) * 16u + lid.x % 8u;
  let loadLane = sgLane % 8u;

  // every hd-level and slot index is a constant written out by the builder (#each): lavapipe keeps the rows in registers,
  // where a loop it declined to unroll (hd = 32) made them indirectly indexed memory, several times slower
  var qRow: array<array<vec4<f32>, 5>, 2>;
  var acc: array<array<vec4<f32>, 5>, 2>;
  // lanes past the sequence end compute on its last row and store nothing
  var rows: array<u32, 2>;
  var m: array<f32, 2>;
  var l: array<f32, 2>;
  {
    rows[0] = firstRow + min(firstPos + 0u, 70u - 1u);
    let qAt = rows[0] * 120u + head * 20u;
    qRow[0][0][0] = q[qAt + 0u] * 0.22360679507255554f;
    qRow[0][0][1] = q[qAt + 1u] * 0.22360679507255554f;
    qRow[0][0][2] = q[qAt + 2u] * 0.22360679507255554f;
    qRow[0][0][3] = q[qAt + 3u] * 0.22360679507255554f;
    qRow[0][1][0] = q[qAt + 4u] * 0.22360679507255554f;
    qRow[0][1][1] = q[qAt + 5u] * 0.22360679507255554f;
    qRow[0][1][2] = q[qAt + 6u] * 0.22360679507255554f;
    qRow[0][1][3] = q[qAt + 7u] * 0.22360679507255554f;
    qRow[0][2][0] = q[qAt + 8u] * 0.22360679507255554f;
    qRow[0][2][1] = q[qAt + 9u] * 0.22360679507255554f;
    qRow[0][2][2] = q[qAt + 10u] * 0.22360679507255554f;
    qRow[0][2][3] = q[qAt + 11u] * 0.22360679507255554f;
    qRow[0][3][0] = q[qAt + 12u] * 0.22360679507255554f;
    qRow[0][3][1] = q[qAt + 13u] * 0.22360679507255554f;
    qRow[0][3][2] = q[qAt + 14u] * 0.22360679507255554f;
    qRow[0][3][3] = q[qAt + 15u] * 0.22360679507255554f;
    qRow[0][4][0] = q[qAt + 16u] * 0.22360679507255554f;
    qRow[0][4][1] = q[qAt + 17u] * 0.22360679507255554f;
    qRow[0][4][2] = q[qAt + 18u] * 0.22360679507255554f;
    qRow[0][4][3] = q[qAt + 19u] * 0.22360679507255554f;
    m[0] = -3.4028234663852886e+38f;
  }
  {
    rows[1] = firstRow + min(firstPos + 8u, 70u - 1u);
    let qAt = rows[1] * 120u + head * 20u;
    qRow[1][0][0] = q[qAt + 0u] * 0.22360679507255554f;
    qRow[1][0][1] = q[qAt + 1u] * 0.22360679507255554f;
    qRow[1][0][2] = q[qAt + 2u] * 0.22360679507255554f;
    qRow[1][0][3] = q[qAt + 3u] * 0.22360679507255554f;
    qRow[1][1][0] = q[qAt + 4u] * 0.22360679507255554f;
    qRow[1][1][1] = q[qAt + 5u] * 0.22360679507255554f;
    qRow[1][1][2] = q[qAt + 6u] * 0.22360679507255554f;
    qRow[1][1][3] = q[qAt + 7u] * 0.22360679507255554f;
    qRow[1][2][0] = q[qAt + 8u] * 0.22360679507255554f;
    qRow[1][2][1] = q[qAt + 9u] * 0.22360679507255554f;
    qRow[1][2][2] = q[qAt + 10u] * 0.22360679507255554f;
    qRow[1][2][3] = q[qAt + 11u] * 0.22360679507255554f;
    qRow[1][3][0] = q[qAt + 12u] * 0.22360679507255554f;
    qRow[1][3][1] = q[qAt + 13u] * 0.22360679507255554f;
    qRow[1][3][2] = q[qAt + 14u] * 0.22360679507255554f;
    qRow[1][3][3] = q[qAt + 15u] * 0.22360679507255554f;
    qRow[1][4][0] = q[qAt + 16u] * 0.22360679507255554f;
    qRow[1][4][1] = q[qAt + 17u] * 0.22360679507255554f;
    qRow[1][4][2] = q[qAt + 18u] * 0.22360679507255554f;
    qRow[1][4][3] = q[qAt + 19u] * 0.22360679507255554f;
    m[1] = -3.4028234663852886e+38f;
  }
  // causal: the subgroup's last query is the last key any of its rows needs
  let keyEnd = firstRow + subgroupMax(min(firstPos + 8u, 70u - 1u)) + 1u;
  for (var key = firstRow; key < keyEnd; key++) {
    let at = key * 40u + kvCol;
    var kPart: array<f32, 3>;
    var vPart: array<f32, 3>;
    {
      let col = min(0u + loadLane, 20u - 1u);
      kPart[0] = k[at + col];
      vPart[0] = v[at + col];
    }
    {
      let col = min(8u + loadLane, 20u - 1u);
      kPart[1] = k[at + col];
      vPart[1] = v[at + col];
    }
    {
      let col = min(16u + loadLane, 20u - 1u);
      kPart[2] = k[at + col];
      vPart[2] = v[at + col];
    }
    var kRow: array<vec4<f32>, 5>;
    var vRow: array<vec4<f32>, 5>;
    kRow[0][0] = subgroupBroadcast(kPart[0], 0u);
    vRow[0][0] = subgroupBroadcast(vPart[0], 0u);
    kRow[0][1] = subgroupBroadcast(kPart[0], 1u);
    vRow[0][1] = subgroupBroadcast(vPart[0], 1u);
    kRow[0][2] = subgroupBroadcast(kPart[0], 2u);
    vRow[0][2] = subgroupBroadcast(vPart[0], 2u);
    kRow[0][3] = subgroupBroadcast(kPart[0], 3u);
    vRow[0][3] = subgroupBroadcast(vPart[0], 3u);
    kRow[1][0] = subgroupBroadcast(kPart[0], 4u);
    vRow[1][0] = subgroupBroadcast(vPart[0], 4u);
    kRow[1][1] = subgroupBroadcast(kPart[0], 5u);
    vRow[1][1] = subgroupBroadcast(vPart[0], 5u);
    kRow[1][2] = subgroupBroadcast(kPart[0], 6u);
    vRow[1][2] = subgroupBroadcast(vPart[0], 6u);
    kRow[1][3] = subgroupBroadcast(kPart[0], 7u);
    vRow[1][3] = subgroupBroadcast(vPart[0], 7u);
    kRow[2][0] = subgroupBroadcast(kPart[1], 0u);
    vRow[2][0] = subgroupBroadcast(vPart[1], 0u);
    kRow[2][1] = subgroupBroadcast(kPart[1], 1u);
    vRow[2][1] = subgroupBroadcast(vPart[1], 1u);
    kRow[2][2] = subgroupBroadcast(kPart[1], 2u);
    vRow[2][2] = subgroupBroadcast(vPart[1], 2u);
    kRow[2][3] = subgroupBroadcast(kPart[1], 3u);
    vRow[2][3] = subgroupBroadcast(vPart[1], 3u);
    kRow[3][0] = subgroupBroadcast(kPart[1], 4u);
    vRow[3][0] = subgroupBroadcast(vPart[1], 4u);
    kRow[3][1] = subgroupBroadcast(kPart[1], 5u);
    vRow[3][1] = subgroupBroadcast(vPart[1], 5u);
    kRow[3][2] = subgroupBroadcast(kPart[1], 6u);
    vRow[3][2] = subgroupBroadcast(vPart[1], 6u);
    kRow[3][3] = subgroupBroadcast(kPart[1], 7u);
    vRow[3][3] = subgroupBroadcast(vPart[1], 7u);
    kRow[4][0] = subgroupBroadcast(kPart[2], 0u);
    vRow[4][0] = subgroupBroadcast(vPart[2], 0u);
    kRow[4][1] = subgroupBroadcast(kPart[2], 1u);
    vRow[4][1] = subgroupBroadcast(vPart[2], 1u);
    kRow[4][2] = subgroupBroadcast(kPart[2], 2u);
    vRow[4][2] = subgroupBroadcast(vPart[2], 2u);
    kRow[4][3] = subgroupBroadcast(kPart[2], 3u);
    vRow[4][3] = subgroupBroadcast(vPart[2], 3u);
    {
      var s = 0.0f;
      s += dot(qRow[0][0], kRow[0]);
      s += dot(qRow[0][1], kRow[1]);
      s += dot(qRow[0][2], kRow[2]);
      s += dot(qRow[0][3], kRow[3]);
      s += dot(qRow[0][4], kRow[4]);
      s = select(-3.4028234663852886e+38f, s, key <= rows[0]);
      let mNew = max(m[0], s);
      let correction = exp(m[0] - mNew);
      let prob = exp(s - mNew);
      l[0] = l[0] * correction + prob;
      acc[0][0] = acc[0][0] * correction + prob * vRow[0];
      acc[0][1] = acc[0][1] * correction + prob * vRow[1];
      acc[0][2] = acc[0][2] * correction + prob * vRow[2];
      acc[0][3] = acc[0][3] * correction + prob * vRow[3];
      acc[0][4] = acc[0][4] * correction + prob * vRow[4];
      m[0] = mNew;
    }
    {
      var s = 0.0f;
      s += dot(qRow[1][0], kRow[0]);
      s += dot(qRow[1][1], kRow[1]);
      s += dot(qRow[1][2], kRow[2]);
      s += dot(qRow[1][3], kRow[3]);
      s += dot(qRow[1][4], kRow[4]);
      s = select(-3.4028234663852886e+38f, s, key <= rows[1]);
      let mNew = max(m[1], s);
      let correction = exp(m[1] - mNew);
      let prob = exp(s - mNew);
      l[1] = l[1] * correction + prob;
      acc[1][0] = acc[1][0] * correction + prob * vRow[0];
      acc[1][1] = acc[1][1] * correction + prob * vRow[1];
      acc[1][2] = acc[1][2] * correction + prob * vRow[2];
      acc[1][3] = acc[1][3] * correction + prob * vRow[3];
      acc[1][4] = acc[1][4] * correction + prob * vRow[4];
      m[1] = mNew;
    }
  }

  if (firstPos + 0u < 70u) {
    let qAt = rows[0] * 120u + head * 20u;
    let inverseSum = 1.0f / l[0];
    out[qAt + 0u] = acc[0][0][0] * inverseSum;
    out[qAt + 1u] = acc[0][0][1] * inverseSum;
    out[qAt + 2u] = acc[0][0][2] * inverseSum;
    out[qAt + 3u] = acc[0][0][3] * inverseSum;
    out[qAt + 4u] = acc[0][1][0] * inverseSum;
    out[qAt + 5u] = acc[0][1][1] * inverseSum;
    out[qAt + 6u] = acc[0][1][2] * inverseSum;
    out[qAt + 7u] = acc[0][1][3] * inverseSum;
    out[qAt + 8u] = acc[0][2][0] * inverseSum;
    out[qAt + 9u] = acc[0][2][1] * inverseSum;
    out[qAt + 10u] = acc[0][2][2] * inverseSum;
    out[qAt + 11u] = acc[0][2][3] * inverseSum;
    out[qAt + 12u] = acc[0][3][0] * inverseSum;
    out[qAt + 13u] = acc[0][3][1] * inverseSum;
    out[qAt + 14u] = acc[0][3][2] * inverseSum;
    out[qAt + 15u] = acc[0][3][3] * inverseSum;
    out[qAt + 16u] = acc[0][4][0] * inverseSum;
    out[qAt + 17u] = acc[0][4][1] * inverseSum;
    out[qAt + 18u] = acc[0][4][2] * inverseSum;
    out[qAt + 19u] = acc[0][4][3] * inverseSum;
    lse[rows[0] * 6u + head] = m[0] + log(l[0]);
  }
  if (firstPos + 8u < 70u) {
    let qAt = rows[1] * 120u + head * 20u;
    let inverseSum = 1.0f / l[1];
    out[qAt + 0u] = acc[1][0][0] * inverseSum;
    out[qAt + 1u] = acc[1][0][1] * inverseSum;
    out[qAt + 2u] = acc[1][0][2] * inverseSum;
    out[qAt + 3u] = acc[1][0][3] * inverseSum;
    out[qAt + 4u] = acc[1][1][0] * inverseSum;
    out[qAt + 5u] = acc[1][1][1] * inverseSum;
    out[qAt + 6u] = acc[1][1][2] * inverseSum;
    out[qAt + 7u] = acc[1][1][3] * inverseSum;
    out[qAt + 8u] = acc[1][2][0] * inverseSum;
    out[qAt + 9u] = acc[1][2][1] * inverseSum;
    out[qAt + 10u] = acc[1][2][2] * inverseSum;
    out[qAt + 11u] = acc[1][2][3] * inverseSum;
    out[qAt + 12u] = acc[1][3][0] * inverseSum;
    out[qAt + 13u] = acc[1][3][1] * inverseSum;
    out[qAt + 14u] = acc[1][3][2] * inverseSum;
    out[qAt + 15u] = acc[1][3][3] * inverseSum;
    out[qAt + 16u] = acc[1][4][0] * inverseSum;
    out[qAt + 17u] = acc[1][4][1] * inverseSum;
    out[qAt + 18u] = acc[1][4][2] * inverseSum;
    out[qAt + 19u] = acc[1][4][3] * inverseSum;
    lse[rows[1] * 6u + head] = m[1] + log(l[1]);
  }
}
