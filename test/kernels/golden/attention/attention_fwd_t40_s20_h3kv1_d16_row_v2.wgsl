enable subgroups;
// attention_fwd_t40_s20_h3kv1_d16_row_v2
// attention forward, one invocation per 1 (query row, head) pair(s), for CPU adapters with subgroups: causal softmax(q k^T * 0.25f) v
// per sequence of 20, 3 heads over 1 kv heads, hd = 16 (as 4 vec4, zero-padded)
// bindings: q, k, v (read), out, lse (write); q/out rows of 48, k/v rows of 16
// grid: workgroup = (sequence, head, block of 16 queries), 2 blocks per sequence; each invocation owns
// 1 query row(s) (slot r: the subgroup's first query + r × 8 + its lane), each with an online softmax
// (running max m, sum l) over the keys in ascending order; no workgroup memory, no barriers.
// A storage load on a CPU adapter is a per-lane gather (~25 cycles), so the 8 lanes of a subgroup (at least 8: the
// adapter's minimum subgroup size) load each key row together, one vec2 of k and of v per lane and slot (rows bound as vec2s), and subgroupBroadcast hands every
// element to all lanes, where all 1 of a lane's rows use it: the loads and broadcasts of a key are paid once per
// 1 queries of a lane. The key loop depends on the workgroup only (uniform control flow, as the broadcasts need); keys past a
// row's query are masked (score -> -max, weight exp(-huge) = 0); every row sees key 0 first, so m is finite after it.
// The causal loops end where the subgroup's last query (start where its first key) stops needing them:
// bounds from subgroupMax / subgroupMin, uniform within the subgroup as its broadcasts need (not provably
// so to the uniformity analysis, hence the directive). The rows skipped would add exactly 0 to every lane.
diagnostic(off, subgroup_uniformity);
@group(0) @binding(0) var<storage, read> q: array<vec2<f32>>;
@group(0) @binding(1) var<storage, read> k: array<vec2<f32>>;
@group(0) @binding(2) var<storage, read> v: array<vec2<f32>>;
@group(0) @binding(3) var<storage, read_write> out: array<vec2<f32>>;
@group(0) @binding(4) var<storage, read_write> lse: array<f32>;

@compute @workgroup_size(16)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(subgroup_invocation_id) sgLane: u32) {
  let group = wid.x + wid.y * 12u;
  let block = group % 2u;
  let seqHead = group / 2u;
  let head = seqHead % 3u;
  let firstRow = (seqHead / 3u) * 20u;
  let kvCol = (head / 3u) * 16u;
  // slot r's query: 8 × 1 consecutive queries per 8 invocations, slot-major
  let firstPos = block * 16u + (lid.x / 8u) * 8u + lid.x % 8u;
  let loadLane = sgLane % 8u;

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
    let qAt = rows[0] * 48u + head * 16u;
    {
      let t = q[qAt / 2u + 0u] * 0.25f;
      qRow[0][0][0] = t.x;
      qRow[0][0][1] = t.y;
    }
    {
      let t = q[qAt / 2u + 1u] * 0.25f;
      qRow[0][0][2] = t.x;
      qRow[0][0][3] = t.y;
    }
    {
      let t = q[qAt / 2u + 2u] * 0.25f;
      qRow[0][1][0] = t.x;
      qRow[0][1][1] = t.y;
    }
    {
      let t = q[qAt / 2u + 3u] * 0.25f;
      qRow[0][1][2] = t.x;
      qRow[0][1][3] = t.y;
    }
    {
      let t = q[qAt / 2u + 4u] * 0.25f;
      qRow[0][2][0] = t.x;
      qRow[0][2][1] = t.y;
    }
    {
      let t = q[qAt / 2u + 5u] * 0.25f;
      qRow[0][2][2] = t.x;
      qRow[0][2][3] = t.y;
    }
    {
      let t = q[qAt / 2u + 6u] * 0.25f;
      qRow[0][3][0] = t.x;
      qRow[0][3][1] = t.y;
    }
    {
      let t = q[qAt / 2u + 7u] * 0.25f;
      qRow[0][3][2] = t.x;
      qRow[0][3][3] = t.y;
    }
    m[0] = -3.4028234663852886e+38f;
  }
  // causal: the subgroup's last query is the last key any of its rows needs
  let keyEnd = firstRow + subgroupMax(min(firstPos + 0u, 20u - 1u)) + 1u;
  for (var key = firstRow; key < keyEnd; key++) {
    var kRow: array<vec4<f32>, 4>;
    var vRow: array<vec4<f32>, 4>;
    // one vector of k and one of v per lane and slot
    let atW = (key * 16u + kvCol) / 2u;
    let kw0 = k[atW + 0u + loadLane];
    let vw0 = v[atW + 0u + loadLane];
    {
      let kb = subgroupBroadcast(kw0, 0u);
      let vb = subgroupBroadcast(vw0, 0u);
      kRow[0][0] = kb.x;
      vRow[0][0] = vb.x;
      kRow[0][1] = kb.y;
      vRow[0][1] = vb.y;
    }
    {
      let kb = subgroupBroadcast(kw0, 1u);
      let vb = subgroupBroadcast(vw0, 1u);
      kRow[0][2] = kb.x;
      vRow[0][2] = vb.x;
      kRow[0][3] = kb.y;
      vRow[0][3] = vb.y;
    }
    {
      let kb = subgroupBroadcast(kw0, 2u);
      let vb = subgroupBroadcast(vw0, 2u);
      kRow[1][0] = kb.x;
      vRow[1][0] = vb.x;
      kRow[1][1] = kb.y;
      vRow[1][1] = vb.y;
    }
    {
      let kb = subgroupBroadcast(kw0, 3u);
      let vb = subgroupBroadcast(vw0, 3u);
      kRow[1][2] = kb.x;
      vRow[1][2] = vb.x;
      kRow[1][3] = kb.y;
      vRow[1][3] = vb.y;
    }
    {
      let kb = subgroupBroadcast(kw0, 4u);
      let vb = subgroupBroadcast(vw0, 4u);
      kRow[2][0] = kb.x;
      vRow[2][0] = vb.x;
      kRow[2][1] = kb.y;
      vRow[2][1] = vb.y;
    }
    {
      let kb = subgroupBroadcast(kw0, 5u);
      let vb = subgroupBroadcast(vw0, 5u);
      kRow[2][2] = kb.x;
      vRow[2][2] = vb.x;
      kRow[2][3] = kb.y;
      vRow[2][3] = vb.y;
    }
    {
      let kb = subgroupBroadcast(kw0, 6u);
      let vb = subgroupBroadcast(vw0, 6u);
      kRow[3][0] = kb.x;
      vRow[3][0] = vb.x;
      kRow[3][1] = kb.y;
      vRow[3][1] = vb.y;
    }
    {
      let kb = subgroupBroadcast(kw0, 7u);
      let vb = subgroupBroadcast(vw0, 7u);
      kRow[3][2] = kb.x;
      vRow[3][2] = vb.x;
      kRow[3][3] = kb.y;
      vRow[3][3] = vb.y;
    }
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
    let qAt = rows[0] * 48u + head * 16u;
    let inverseSum = 1.0f / l[0];
    out[qAt / 2u + 0u] = vec2<f32>(acc[0][0][0], acc[0][0][1]) * inverseSum;
    out[qAt / 2u + 1u] = vec2<f32>(acc[0][0][2], acc[0][0][3]) * inverseSum;
    out[qAt / 2u + 2u] = vec2<f32>(acc[0][1][0], acc[0][1][1]) * inverseSum;
    out[qAt / 2u + 3u] = vec2<f32>(acc[0][1][2], acc[0][1][3]) * inverseSum;
    out[qAt / 2u + 4u] = vec2<f32>(acc[0][2][0], acc[0][2][1]) * inverseSum;
    out[qAt / 2u + 5u] = vec2<f32>(acc[0][2][2], acc[0][2][3]) * inverseSum;
    out[qAt / 2u + 6u] = vec2<f32>(acc[0][3][0], acc[0][3][1]) * inverseSum;
    out[qAt / 2u + 7u] = vec2<f32>(acc[0][3][2], acc[0][3][3]) * inverseSum;
    lse[rows[0] * 3u + head] = m[0] + log(l[0]);
  }
}
