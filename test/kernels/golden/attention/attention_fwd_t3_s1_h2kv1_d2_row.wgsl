enable subgroups;
// attention_fwd_t3_s1_h2kv1_d2_row
// attention forward, one invocation per 1 (query row, head) pair(s), for CPU adapters with subgroups: causal softmax(q k^T * 0.7071067690849304f) v
// per sequence of 1, 2 heads over 1 kv heads, hd = 2 (as 1 vec4, zero-padded)
// bindings: q, k, v (read), out, lse (write); q/out rows of 4, k/v rows of 2
// grid: workgroup = (sequence, head, block of 16 queries), 1 blocks per sequence; each invocation owns
// 1 query row(s) (slot r: the subgroup's first query + r × 8 + its lane), each with an online softmax
// (running max m, sum l) over the keys in ascending order; no workgroup memory, no barriers.
// A storage load on a CPU adapter is a per-lane gather (~25 cycles), so the 8 lanes of a subgroup (at least 8: the
// adapter's minimum subgroup size) load each key row together, 1 element(s) per lane, and subgroupBroadcast hands every
// element to all lanes, where all 1 of a lane's rows use it: the loads and broadcasts of a key are paid once per
// 1 queries of a lane. The key loop depends on the workgroup only (uniform control flow, as the broadcasts need); keys past a
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
  let group = wid.x + wid.y * 6u;
  let block = group % 1u;
  let seqHead = group / 1u;
  let head = seqHead % 2u;
  let firstRow = (seqHead / 2u) * 1u;
  let kvCol = (head / 2u) * 2u;
  // slot r's query: 8 × 1 consecutive queries per 8 invocations, slot-major
  let firstPos = block * 16u + (lid.x / 8u) * 8u + lid.x % 8u;
  let loadLane = sgLane % 8u;

  // every hd-level and slot index is a constant written out by the builder (#each): lavapipe keeps the rows in registers,
  // where a loop it declined to unroll (hd = 32) made them indirectly indexed memory, several times slower
  var qRow: array<array<vec4<f32>, 1>, 1>;
  var acc: array<array<vec4<f32>, 1>, 1>;
  // lanes past the sequence end compute on its last row and store nothing
  var rows: array<u32, 1>;
  var m: array<f32, 1>;
  var l: array<f32, 1>;
  {
    rows[0] = firstRow + min(firstPos + 0u, 1u - 1u);
    let qAt = rows[0] * 4u + head * 2u;
    qRow[0][0][0] = q[qAt + 0u] * 0.7071067690849304f;
    qRow[0][0][1] = q[qAt + 1u] * 0.7071067690849304f;
    m[0] = -3.4028234663852886e+38f;
  }
  // causal: the subgroup's last query is the last key any of its rows needs
  let keyEnd = firstRow + subgroupMax(min(firstPos + 0u, 1u - 1u)) + 1u;
  for (var key = firstRow; key < keyEnd; key++) {
    let at = key * 2u + kvCol;
    var kPart: array<f32, 1>;
    var vPart: array<f32, 1>;
    {
      let col = min(0u + loadLane, 2u - 1u);
      kPart[0] = k[at + col];
      vPart[0] = v[at + col];
    }
    var kRow: array<vec4<f32>, 1>;
    var vRow: array<vec4<f32>, 1>;
    kRow[0][0] = subgroupBroadcast(kPart[0], 0u);
    vRow[0][0] = subgroupBroadcast(vPart[0], 0u);
    kRow[0][1] = subgroupBroadcast(kPart[0], 1u);
    vRow[0][1] = subgroupBroadcast(vPart[0], 1u);
    {
      var s = 0.0f;
      s += dot(qRow[0][0], kRow[0]);
      s = select(-3.4028234663852886e+38f, s, key <= rows[0]);
      let mNew = max(m[0], s);
      let correction = exp(m[0] - mNew);
      let prob = exp(s - mNew);
      l[0] = l[0] * correction + prob;
      acc[0][0] = acc[0][0] * correction + prob * vRow[0];
      m[0] = mNew;
    }
  }

  if (firstPos + 0u < 1u) {
    let qAt = rows[0] * 4u + head * 2u;
    let inverseSum = 1.0f / l[0];
    out[qAt + 0u] = acc[0][0][0] * inverseSum;
    out[qAt + 1u] = acc[0][0][1] * inverseSum;
    lse[rows[0] * 2u + head] = m[0] + log(l[0]);
  }
}
