enable subgroups;
// attention_bwd_t40_s20_h2kv2_d16_row_v4
// attention backward, dq, dk and dv in one dispatch, for CPU adapters with subgroups; P_ij = exp(s_ij - lse_i), D_i = dOut_i . out_i
//   dq_i = 0.25f * sum_{j<=i} P_ij (dOut_i . v_j - D_i) k_j           (invocation per 1 query rows of a head)
//   dv_j = sum_h sum_{i>=j} P_ij dOut_i,  dk_j = 0.25f * sum_h sum_{i>=j} P_ij (dOut_i . v_j - D_i) q_i
//                                                                         (invocation per 1 key rows of a kv head, over its 1 query heads h)
// causal per sequence of 20, 2 heads over 2 kv heads, hd = 16 (as 4 vec4, zero-padded)
// bindings: dOut, q, k, v, lse, dsum (read: D_i from attention_bwd_prep), dq, dk, dv (write)
// grid: workgroups 0 .. 8 - 1 = (sequence, head, block of 16 queries) for dq, the next 8 = (sequence, kv head,
// block of 16 keys) for dk/dv; 2 blocks per sequence. An invocation owns 1 rows (slot r: the subgroup's
// first row + r × 4 + its lane), so each streamed row's loads and broadcasts serve 1 rows of a lane.
// Each invocation sums in ascending order (deterministic, no atomics),
// no workgroup memory, no barriers. As in attention_row, the 4 lanes of a subgroup load each streamed row together
// (one vec4 per lane and slot, rows bound as vec4s) and subgroupBroadcast hands the elements to all lanes; D_i comes from attention_bwd_prep
// (one load per query); the streamed loops depend on the workgroup only, and rows outside a
// lane's causal range get weight 0 through select.
// The causal loops end where the subgroup's last query (start where its first key) stops needing them:
// bounds from subgroupMax / subgroupMin, uniform within the subgroup as its broadcasts need (not provably
// so to the uniformity analysis, hence the directive). The rows skipped would add exactly 0 to every lane.
diagnostic(off, subgroup_uniformity);
@group(0) @binding(0) var<storage, read> dOut: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> q: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> k: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> v: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> lse: array<f32>;
@group(0) @binding(5) var<storage, read> dsum: array<f32>;
@group(0) @binding(6) var<storage, read_write> dq: array<vec4<f32>>;
@group(0) @binding(7) var<storage, read_write> dk: array<vec4<f32>>;
@group(0) @binding(8) var<storage, read_write> dv: array<vec4<f32>>;

fn dqBlock(group: u32, lid: u32, loadLane: u32) {
  let block = group % 2u;
  let seqHead = group / 2u;
  let head = seqHead % 2u;
  let firstRow = (seqHead / 2u) * 20u;
  let kvCol = (head / 1u) * 16u;
  let firstPos = block * 16u + (lid / 4u) * 4u + lid % 4u;

  var qRow: array<array<vec4<f32>, 4>, 1>;
  var gradRow: array<array<vec4<f32>, 4>, 1>;
  var acc: array<array<vec4<f32>, 4>, 1>;
  var rows: array<u32, 1>;
  var rowDot: array<f32, 1>;
  var rowLse: array<f32, 1>;
  {
    rows[0] = firstRow + min(firstPos + 0u, 20u - 1u);
    let qAt = rows[0] * 32u + head * 16u;
    qRow[0][0] = q[qAt / 4u + 0u] * 0.25f;
    qRow[0][1] = q[qAt / 4u + 1u] * 0.25f;
    qRow[0][2] = q[qAt / 4u + 2u] * 0.25f;
    qRow[0][3] = q[qAt / 4u + 3u] * 0.25f;
    gradRow[0][0] = dOut[qAt / 4u + 0u];
    gradRow[0][1] = dOut[qAt / 4u + 1u];
    gradRow[0][2] = dOut[qAt / 4u + 2u];
    gradRow[0][3] = dOut[qAt / 4u + 3u];
    rowDot[0] = dsum[rows[0] * 2u + head];
    rowLse[0] = lse[rows[0] * 2u + head];
  }
  let keyEnd = firstRow + subgroupMax(min(firstPos + 0u, 20u - 1u)) + 1u;
  for (var key = firstRow; key < keyEnd; key++) {
    var kRow: array<vec4<f32>, 4>;
    var vRow: array<vec4<f32>, 4>;
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
    let qAt = rows[0] * 32u + head * 16u;
    dq[qAt / 4u + 0u] = acc[0][0] * 0.25f;
    dq[qAt / 4u + 1u] = acc[0][1] * 0.25f;
    dq[qAt / 4u + 2u] = acc[0][2] * 0.25f;
    dq[qAt / 4u + 3u] = acc[0][3] * 0.25f;
  }
}

fn dkvBlock(group: u32, lid: u32, loadLane: u32) {
  let block = group % 2u;
  let seqHead = group / 2u;
  let kvHead = seqHead % 2u;
  let firstRow = (seqHead / 2u) * 20u;
  let firstPos = block * 16u + (lid / 4u) * 4u + lid % 4u;

  // this invocation's own key rows (slot-major), and their gradients
  var kRow: array<array<vec4<f32>, 4>, 1>;
  var vRow: array<array<vec4<f32>, 4>, 1>;
  var dkAcc: array<array<vec4<f32>, 4>, 1>;
  var dvAcc: array<array<vec4<f32>, 4>, 1>;
  var rows: array<u32, 1>;
  {
    rows[0] = firstRow + min(firstPos + 0u, 20u - 1u);
    let kvAt = rows[0] * 32u + kvHead * 16u;
    kRow[0][0] = k[kvAt / 4u + 0u] * 0.25f;
    kRow[0][1] = k[kvAt / 4u + 1u] * 0.25f;
    kRow[0][2] = k[kvAt / 4u + 2u] * 0.25f;
    kRow[0][3] = k[kvAt / 4u + 3u] * 0.25f;
    vRow[0][0] = v[kvAt / 4u + 0u];
    vRow[0][1] = v[kvAt / 4u + 1u];
    vRow[0][2] = v[kvAt / 4u + 2u];
    vRow[0][3] = v[kvAt / 4u + 3u];
  }
  // causal: queries before the subgroup's first key see none of its keys (slot 0 holds each lane's first key)
  let queryStart = firstRow + subgroupMin(firstPos);
  let queryEnd = firstRow + 20u;
  // a loop bound the shader compiler cannot see (arrayLength is known only at dispatch): unrolled over the
  // grouped heads, this loop multiplied lavapipe's compile time (seconds) and bought nothing
  let headsPerKv = 1u * min(arrayLength(&lse), 1u);
  for (var h = 0u; h < headsPerKv; h++) {
    let head = kvHead * 1u + h;
    for (var query = queryStart; query < queryEnd; query++) {
      let at = query * 32u + head * 16u;
      let qw0 = q[at / 4u + 0u + loadLane];
      let gw0 = dOut[at / 4u + 0u + loadLane];
      // lse_i and D_i are the same for every lane: one lane loads them (a per-lane load costs a check and a load per
      // active lane on lavapipe) and subgroupBroadcast hands them out
      var lseLane = 0.0f;
      var dotLane = 0.0f;
      if (loadLane == 0u) {
        lseLane = lse[query * 2u + head];
        dotLane = dsum[query * 2u + head];
      }
      let queryDot = subgroupBroadcast(dotLane, 0u);
      let queryLse = subgroupBroadcast(lseLane, 0u);
      var qStream: array<vec4<f32>, 4>;
      var gradStream: array<vec4<f32>, 4>;
      qStream[0] = subgroupBroadcast(qw0, 0u);
      gradStream[0] = subgroupBroadcast(gw0, 0u);
      qStream[1] = subgroupBroadcast(qw0, 1u);
      gradStream[1] = subgroupBroadcast(gw0, 1u);
      qStream[2] = subgroupBroadcast(qw0, 2u);
      gradStream[2] = subgroupBroadcast(gw0, 2u);
      qStream[3] = subgroupBroadcast(qw0, 3u);
      gradStream[3] = subgroupBroadcast(gw0, 3u);
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
    let kvAt = rows[0] * 32u + kvHead * 16u;
    dk[kvAt / 4u + 0u] = dkAcc[0][0] * 0.25f;
    dk[kvAt / 4u + 1u] = dkAcc[0][1] * 0.25f;
    dk[kvAt / 4u + 2u] = dkAcc[0][2] * 0.25f;
    dk[kvAt / 4u + 3u] = dkAcc[0][3] * 0.25f;
    dv[kvAt / 4u + 0u] = dvAcc[0][0];
    dv[kvAt / 4u + 1u] = dvAcc[0][1];
    dv[kvAt / 4u + 2u] = dvAcc[0][2];
    dv[kvAt / 4u + 3u] = dvAcc[0][3];
  }
}

@compute @workgroup_size(16)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(subgroup_invocation_id) sgLane: u32) {
  let group = wid.x + wid.y * 16u;
  let loadLane = sgLane % 4u;
  if (group < 8u) {
    dqBlock(group, lid.x, loadLane);
  } else if (group < 8u + 8u) {
    dkvBlock(group - 8u, lid.x, loadLane);
  }
}
