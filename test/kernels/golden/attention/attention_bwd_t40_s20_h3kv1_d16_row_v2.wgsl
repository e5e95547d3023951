enable subgroups;
// attention_bwd_t40_s20_h3kv1_d16_row_v2
// attention backward, dq, dk and dv in one dispatch, for CPU adapters with subgroups; P_ij = exp(s_ij - lse_i), D_i = dOut_i . out_i
//   dq_i = 0.25f * sum_{j<=i} P_ij (dOut_i . v_j - D_i) k_j           (invocation per 1 query rows of a head)
//   dv_j = sum_h sum_{i>=j} P_ij dOut_i,  dk_j = 0.25f * sum_h sum_{i>=j} P_ij (dOut_i . v_j - D_i) q_i
//                                                                         (invocation per 1 key rows of a kv head, over its 3 query heads h)
// causal per sequence of 20, 3 heads over 1 kv heads, hd = 16 (as 4 vec4, zero-padded)
// bindings: dOut, q, k, v, lse, dsum (read: D_i from attention_bwd_prep), dq, dk, dv (write)
// grid: workgroups 0 .. 12 - 1 = (sequence, head, block of 16 queries) for dq, the next 4 = (sequence, kv head,
// block of 16 keys) for dk/dv; 2 blocks per sequence. An invocation owns 1 rows (slot r: the subgroup's
// first row + r × 8 + its lane), so each streamed row's loads and broadcasts serve 1 rows of a lane.
// Each invocation sums in ascending order (deterministic, no atomics),
// no workgroup memory, no barriers. As in attention_row, the 8 lanes of a subgroup load each streamed row together
// (one vec2 per lane and slot, rows bound as vec2s) and subgroupBroadcast hands the elements to all lanes; D_i comes from attention_bwd_prep
// (one load per query); the streamed loops depend on the workgroup only, and rows outside a
// lane's causal range get weight 0 through select.
// The causal loops end where the subgroup's last query (start where its first key) stops needing them:
// bounds from subgroupMax / subgroupMin, uniform within the subgroup as its broadcasts need (not provably
// so to the uniformity analysis, hence the directive). The rows skipped would add exactly 0 to every lane.
diagnostic(off, subgroup_uniformity);
@group(0) @binding(0) var<storage, read> dOut: array<vec2<f32>>;
@group(0) @binding(1) var<storage, read> q: array<vec2<f32>>;
@group(0) @binding(2) var<storage, read> k: array<vec2<f32>>;
@group(0) @binding(3) var<storage, read> v: array<vec2<f32>>;
@group(0) @binding(4) var<storage, read> lse: array<f32>;
@group(0) @binding(5) var<storage, read> dsum: array<f32>;
@group(0) @binding(6) var<storage, read_write> dq: array<vec2<f32>>;
@group(0) @binding(7) var<storage, read_write> dk: array<vec2<f32>>;
@group(0) @binding(8) var<storage, read_write> dv: array<vec2<f32>>;

fn dqBlock(group: u32, lid: u32, loadLane: u32) {
  let block = group % 2u;
  let seqHead = group / 2u;
  let head = seqHead % 3u;
  let firstRow = (seqHead / 3u) * 20u;
  let kvCol = (head / 3u) * 16u;
  let firstPos = block * 16u + (lid / 8u) * 8u + lid % 8u;

  var qRow: array<array<vec4<f32>, 4>, 1>;
  var gradRow: array<array<vec4<f32>, 4>, 1>;
  var acc: array<array<vec4<f32>, 4>, 1>;
  var rows: array<u32, 1>;
  var rowDot: array<f32, 1>;
  var rowLse: array<f32, 1>;
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
    {
      let t = dOut[qAt / 2u + 0u];
      gradRow[0][0][0] = t.x;
      gradRow[0][0][1] = t.y;
    }
    {
      let t = dOut[qAt / 2u + 1u];
      gradRow[0][0][2] = t.x;
      gradRow[0][0][3] = t.y;
    }
    {
      let t = dOut[qAt / 2u + 2u];
      gradRow[0][1][0] = t.x;
      gradRow[0][1][1] = t.y;
    }
    {
      let t = dOut[qAt / 2u + 3u];
      gradRow[0][1][2] = t.x;
      gradRow[0][1][3] = t.y;
    }
    {
      let t = dOut[qAt / 2u + 4u];
      gradRow[0][2][0] = t.x;
      gradRow[0][2][1] = t.y;
    }
    {
      let t = dOut[qAt / 2u + 5u];
      gradRow[0][2][2] = t.x;
      gradRow[0][2][3] = t.y;
    }
    {
      let t = dOut[qAt / 2u + 6u];
      gradRow[0][3][0] = t.x;
      gradRow[0][3][1] = t.y;
    }
    {
      let t = dOut[qAt / 2u + 7u];
      gradRow[0][3][2] = t.x;
      gradRow[0][3][3] = t.y;
    }
    rowDot[0] = dsum[rows[0] * 3u + head];
    rowLse[0] = lse[rows[0] * 3u + head];
  }
  let keyEnd = firstRow + subgroupMax(min(firstPos + 0u, 20u - 1u)) + 1u;
  for (var key = firstRow; key < keyEnd; key++) {
    var kRow: array<vec4<f32>, 4>;
    var vRow: array<vec4<f32>, 4>;
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
      var dp = 0.0f;
      s += dot(qRow[0][0], kRow[0]);
      dp += dot(gradRow[0][0], vRow[0]);
      s += dot(qRow[0][1], kRow[1]);
      dp += dot(gradRow[0][1], vRow[1]);
      s += dot(qRow[0][2], kRow[2]);
      dp += dot(gradRow[0][2], vRow[2]);
      s += dot(qRow[0][3], kRow[3]);
      dp += dot(gradRow[0][3], vRow[3]);
      let ds = select(0.0f, exp(s - rowLse[0]) * (dp - rowDot[0]), key <= rows[0]);
      acc[0][0] += ds * kRow[0];
      acc[0][1] += ds * kRow[1];
      acc[0][2] += ds * kRow[2];
      acc[0][3] += ds * kRow[3];
    }
  }
  if (firstPos + 0u < 20u) {
    let qAt = rows[0] * 48u + head * 16u;
    dq[qAt / 2u + 0u] = vec2<f32>(acc[0][0][0], acc[0][0][1]) * 0.25f;
    dq[qAt / 2u + 1u] = vec2<f32>(acc[0][0][2], acc[0][0][3]) * 0.25f;
    dq[qAt / 2u + 2u] = vec2<f32>(acc[0][1][0], acc[0][1][1]) * 0.25f;
    dq[qAt / 2u + 3u] = vec2<f32>(acc[0][1][2], acc[0][1][3]) * 0.25f;
    dq[qAt / 2u + 4u] = vec2<f32>(acc[0][2][0], acc[0][2][1]) * 0.25f;
    dq[qAt / 2u + 5u] = vec2<f32>(acc[0][2][2], acc[0][2][3]) * 0.25f;
    dq[qAt / 2u + 6u] = vec2<f32>(acc[0][3][0], acc[0][3][1]) * 0.25f;
    dq[qAt / 2u + 7u] = vec2<f32>(acc[0][3][2], acc[0][3][3]) * 0.25f;
  }
}

fn dkvBlock(group: u32, lid: u32, loadLane: u32) {
  let block = group % 2u;
  let seqHead = group / 2u;
  let kvHead = seqHead % 1u;
  let firstRow = (seqHead / 1u) * 20u;
  let firstPos = block * 16u + (lid / 8u) * 8u + lid % 8u;

  // this invocation's own key rows (slot-major), and their gradients
  var kRow: array<array<vec4<f32>, 4>, 1>;
  var vRow: array<array<vec4<f32>, 4>, 1>;
  var dkAcc: array<array<vec4<f32>, 4>, 1>;
  var dvAcc: array<array<vec4<f32>, 4>, 1>;
  var rows: array<u32, 1>;
  {
    rows[0] = firstRow + min(firstPos + 0u, 20u - 1u);
    let kvAt = rows[0] * 16u + kvHead * 16u;
    {
      let t = k[kvAt / 2u + 0u] * 0.25f;
      kRow[0][0][0] = t.x;
      kRow[0][0][1] = t.y;
    }
    {
      let t = k[kvAt / 2u + 1u] * 0.25f;
      kRow[0][0][2] = t.x;
      kRow[0][0][3] = t.y;
    }
    {
      let t = k[kvAt / 2u + 2u] * 0.25f;
      kRow[0][1][0] = t.x;
      kRow[0][1][1] = t.y;
    }
    {
      let t = k[kvAt / 2u + 3u] * 0.25f;
      kRow[0][1][2] = t.x;
      kRow[0][1][3] = t.y;
    }
    {
      let t = k[kvAt / 2u + 4u] * 0.25f;
      kRow[0][2][0] = t.x;
      kRow[0][2][1] = t.y;
    }
    {
      let t = k[kvAt / 2u + 5u] * 0.25f;
      kRow[0][2][2] = t.x;
      kRow[0][2][3] = t.y;
    }
    {
      let t = k[kvAt / 2u + 6u] * 0.25f;
      kRow[0][3][0] = t.x;
      kRow[0][3][1] = t.y;
    }
    {
      let t = k[kvAt / 2u + 7u] * 0.25f;
      kRow[0][3][2] = t.x;
      kRow[0][3][3] = t.y;
    }
    {
      let t = v[kvAt / 2u + 0u];
      vRow[0][0][0] = t.x;
      vRow[0][0][1] = t.y;
    }
    {
      let t = v[kvAt / 2u + 1u];
      vRow[0][0][2] = t.x;
      vRow[0][0][3] = t.y;
    }
    {
      let t = v[kvAt / 2u + 2u];
      vRow[0][1][0] = t.x;
      vRow[0][1][1] = t.y;
    }
    {
      let t = v[kvAt / 2u + 3u];
      vRow[0][1][2] = t.x;
      vRow[0][1][3] = t.y;
    }
    {
      let t = v[kvAt / 2u + 4u];
      vRow[0][2][0] = t.x;
      vRow[0][2][1] = t.y;
    }
    {
      let t = v[kvAt / 2u + 5u];
      vRow[0][2][2] = t.x;
      vRow[0][2][3] = t.y;
    }
    {
      let t = v[kvAt / 2u + 6u];
      vRow[0][3][0] = t.x;
      vRow[0][3][1] = t.y;
    }
    {
      let t = v[kvAt / 2u + 7u];
      vRow[0][3][2] = t.x;
      vRow[0][3][3] = t.y;
    }
  }
  // causal: queries before the subgroup's first key see none of its keys (slot 0 holds each lane's first key)
  let queryStart = firstRow + subgroupMin(firstPos);
  let queryEnd = firstRow + 20u;
  // a loop bound the shader compiler cannot see (arrayLength is known only at dispatch): unrolled over the
  // grouped heads, this loop multiplied lavapipe's compile time (seconds) and bought nothing
  let headsPerKv = 3u * min(arrayLength(&lse), 1u);
  for (var h = 0u; h < headsPerKv; h++) {
    let head = kvHead * 3u + h;
    for (var query = queryStart; query < queryEnd; query++) {
      let at = query * 48u + head * 16u;
      let qw0 = q[at / 2u + 0u + loadLane];
      let gw0 = dOut[at / 2u + 0u + loadLane];
      // lse_i and D_i are the same for every lane: one lane loads them (a per-lane load costs a check and a load per
      // active lane on lavapipe) and subgroupBroadcast hands them out
      var lseLane = 0.0f;
      var dotLane = 0.0f;
      if (loadLane == 0u) {
        lseLane = lse[query * 3u + head];
        dotLane = dsum[query * 3u + head];
      }
      let queryDot = subgroupBroadcast(dotLane, 0u);
      let queryLse = subgroupBroadcast(lseLane, 0u);
      var qStream: array<vec4<f32>, 4>;
      var gradStream: array<vec4<f32>, 4>;
      {
        let qb = subgroupBroadcast(qw0, 0u);
        let gb = subgroupBroadcast(gw0, 0u);
        qStream[0][0] = qb.x;
        gradStream[0][0] = gb.x;
        qStream[0][1] = qb.y;
        gradStream[0][1] = gb.y;
      }
      {
        let qb = subgroupBroadcast(qw0, 1u);
        let gb = subgroupBroadcast(gw0, 1u);
        qStream[0][2] = qb.x;
        gradStream[0][2] = gb.x;
        qStream[0][3] = qb.y;
        gradStream[0][3] = gb.y;
      }
      {
        let qb = subgroupBroadcast(qw0, 2u);
        let gb = subgroupBroadcast(gw0, 2u);
        qStream[1][0] = qb.x;
        gradStream[1][0] = gb.x;
        qStream[1][1] = qb.y;
        gradStream[1][1] = gb.y;
      }
      {
        let qb = subgroupBroadcast(qw0, 3u);
        let gb = subgroupBroadcast(gw0, 3u);
        qStream[1][2] = qb.x;
        gradStream[1][2] = gb.x;
        qStream[1][3] = qb.y;
        gradStream[1][3] = gb.y;
      }
      {
        let qb = subgroupBroadcast(qw0, 4u);
        let gb = subgroupBroadcast(gw0, 4u);
        qStream[2][0] = qb.x;
        gradStream[2][0] = gb.x;
        qStream[2][1] = qb.y;
        gradStream[2][1] = gb.y;
      }
      {
        let qb = subgroupBroadcast(qw0, 5u);
        let gb = subgroupBroadcast(gw0, 5u);
        qStream[2][2] = qb.x;
        gradStream[2][2] = gb.x;
        qStream[2][3] = qb.y;
        gradStream[2][3] = gb.y;
      }
      {
        let qb = subgroupBroadcast(qw0, 6u);
        let gb = subgroupBroadcast(gw0, 6u);
        qStream[3][0] = qb.x;
        gradStream[3][0] = gb.x;
        qStream[3][1] = qb.y;
        gradStream[3][1] = gb.y;
      }
      {
        let qb = subgroupBroadcast(qw0, 7u);
        let gb = subgroupBroadcast(gw0, 7u);
        qStream[3][2] = qb.x;
        gradStream[3][2] = gb.x;
        qStream[3][3] = qb.y;
        gradStream[3][3] = gb.y;
      }
      {
        var s = 0.0f;
        var dp = 0.0f;
        s += dot(qStream[0], kRow[0][0]);
        dp += dot(gradStream[0], vRow[0][0]);
        s += dot(qStream[1], kRow[0][1]);
        dp += dot(gradStream[1], vRow[0][1]);
        s += dot(qStream[2], kRow[0][2]);
        dp += dot(gradStream[2], vRow[0][2]);
        s += dot(qStream[3], kRow[0][3]);
        dp += dot(gradStream[3], vRow[0][3]);
        let prob = select(0.0f, exp(s - queryLse), query >= rows[0]);
        let ds = prob * (dp - queryDot);
        dvAcc[0][0] += prob * gradStream[0];
        dkAcc[0][0] += ds * qStream[0];
        dvAcc[0][1] += prob * gradStream[1];
        dkAcc[0][1] += ds * qStream[1];
        dvAcc[0][2] += prob * gradStream[2];
        dkAcc[0][2] += ds * qStream[2];
        dvAcc[0][3] += prob * gradStream[3];
        dkAcc[0][3] += ds * qStream[3];
      }
    }
  }
  if (firstPos + 0u < 20u) {
    let kvAt = rows[0] * 16u + kvHead * 16u;
    dk[kvAt / 2u + 0u] = vec2<f32>(dkAcc[0][0][0], dkAcc[0][0][1]) * 0.25f;
    dk[kvAt / 2u + 1u] = vec2<f32>(dkAcc[0][0][2], dkAcc[0][0][3]) * 0.25f;
    dk[kvAt / 2u + 2u] = vec2<f32>(dkAcc[0][1][0], dkAcc[0][1][1]) * 0.25f;
    dk[kvAt / 2u + 3u] = vec2<f32>(dkAcc[0][1][2], dkAcc[0][1][3]) * 0.25f;
    dk[kvAt / 2u + 4u] = vec2<f32>(dkAcc[0][2][0], dkAcc[0][2][1]) * 0.25f;
    dk[kvAt / 2u + 5u] = vec2<f32>(dkAcc[0][2][2], dkAcc[0][2][3]) * 0.25f;
    dk[kvAt / 2u + 6u] = vec2<f32>(dkAcc[0][3][0], dkAcc[0][3][1]) * 0.25f;
    dk[kvAt / 2u + 7u] = vec2<f32>(dkAcc[0][3][2], dkAcc[0][3][3]) * 0.25f;
    dv[kvAt / 2u + 0u] = vec2<f32>(dvAcc[0][0][0], dvAcc[0][0][1]);
    dv[kvAt / 2u + 1u] = vec2<f32>(dvAcc[0][0][2], dvAcc[0][0][3]);
    dv[kvAt / 2u + 2u] = vec2<f32>(dvAcc[0][1][0], dvAcc[0][1][1]);
    dv[kvAt / 2u + 3u] = vec2<f32>(dvAcc[0][1][2], dvAcc[0][1][3]);
    dv[kvAt / 2u + 4u] = vec2<f32>(dvAcc[0][2][0], dvAcc[0][2][1]);
    dv[kvAt / 2u + 5u] = vec2<f32>(dvAcc[0][2][2], dvAcc[0][2][3]);
    dv[kvAt / 2u + 6u] = vec2<f32>(dvAcc[0][3][0], dvAcc[0][3][1]);
    dv[kvAt / 2u + 7u] = vec2<f32>(dvAcc[0][3][2], dvAcc[0][3][3]);
  }
}

@compute @workgroup_size(16)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(subgroup_invocation_id) sgLane: u32) {
  let group = wid.x + wid.y * 16u;
  let loadLane = sgLane % 8u;
  if (group < 12u) {
    dqBlock(group, lid.x, loadLane);
  } else if (group < 12u + 4u) {
    dkvBlock(group - 12u, lid.x, loadLane);
  }
}
