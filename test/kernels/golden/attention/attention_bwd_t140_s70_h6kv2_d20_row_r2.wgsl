enable subgroups;
// attention_bwd_t140_s70_h6kv2_d20_row_r2
// attention backward, dq, dk and dv in one dispatch, for CPU adapters with subgroups; P_ij = exp(s_ij - lse_i), D_i = dOut_i . out_i
//   dq_i = 0.22360679507255554f * sum_{j<=i} P_ij (dOut_i . v_j - D_i) k_j           (invocation per 2 query rows of a head)
//   dv_j = sum_h sum_{i>=j} P_ij dOut_i,  dk_j = 0.22360679507255554f * sum_h sum_{i>=j} P_ij (dOut_i . v_j - D_i) q_i
//                                                                         (invocation per 2 key rows of a kv head, over its 3 query heads h)
// causal per sequence of 70, 6 heads over 2 kv heads, hd = 20 (as 5 vec4, zero-padded)
// bindings: dOut, q, k, v, lse, dsum (read: D_i from attention_bwd_prep), dq, dk, dv (write)
// grid: workgroups 0 .. 36 - 1 = (sequence, head, block of 32 queries) for dq, the next 12 = (sequence, kv head,
// block of 32 keys) for dk/dv; 3 blocks per sequence. An invocation owns 2 rows (slot r: the subgroup's
// first row + r × 8 + its lane), so each streamed row's loads and broadcasts serve 2 rows of a lane.
// Each invocation sums in ascending order (deterministic, no atomics),
// no workgroup memory, no barriers. As in attention_row, the 8 lanes of a subgroup load each streamed row together
// (3 element(s) per lane) and subgroupBroadcast hands the elements to all lanes; D_i comes from attention_bwd_prep
// (one load per query); the streamed loops depend on the workgroup only, and rows outside a
// lane's causal range get weight 0 through select.
// The causal loops end where the subgroup's last query (start where its first key) stops needing them:
// bounds from subgroupMax / subgroupMin, uniform within the subgroup as its broadcasts need (not provably
// so to the uniformity analysis, hence the directive). The rows skipped would add exactly 0 to every lane.
diagnostic(off, subgroup_uniformity);
@group(0) @binding(0) var<storage, read> dOut: array<f32>;
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> k: array<f32>;
@group(0) @binding(3) var<storage, read> v: array<f32>;
@group(0) @binding(4) var<storage, read> lse: array<f32>;
@group(0) @binding(5) var<storage, read> dsum: array<f32>;
@group(0) @binding(6) var<storage, read_write> dq: array<f32>;
@group(0) @binding(7) var<storage, read_write> dk: array<f32>;
@group(0) @binding(8) var<storage, read_write> dv: array<f32>;

fn dqBlock(group: u32, lid: u32, loadLane: u32) {
  let block = group % 3u;
  let seqHead = group / 3u;
  let head = seqHead % 6u;
  let firstRow = (seqHead / 6u) * 70u;
  let kvCol = (head / 3u) * 20u;
  let firstPos = block * 32u + (lid / 8u) * 16u + lid % 8u;

  var qRow: array<array<vec4<f32>, 5>, 2>;
  var gradRow: array<array<vec4<f32>, 5>, 2>;
  var acc: array<array<vec4<f32>, 5>, 2>;
  var rows: array<u32, 2>;
  var rowDot: array<f32, 2>;
  var rowLse: array<f32, 2>;
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
    gradRow[0][0][0] = dOut[qAt + 0u];
    gradRow[0][0][1] = dOut[qAt + 1u];
    gradRow[0][0][2] = dOut[qAt + 2u];
    gradRow[0][0][3] = dOut[qAt + 3u];
    gradRow[0][1][0] = dOut[qAt + 4u];
    gradRow[0][1][1] = dOut[qAt + 5u];
    gradRow[0][1][2] = dOut[qAt + 6u];
    gradRow[0][1][3] = dOut[qAt + 7u];
    gradRow[0][2][0] = dOut[qAt + 8u];
    gradRow[0][2][1] = dOut[qAt + 9u];
    gradRow[0][2][2] = dOut[qAt + 10u];
    gradRow[0][2][3] = dOut[qAt + 11u];
    gradRow[0][3][0] = dOut[qAt + 12u];
    gradRow[0][3][1] = dOut[qAt + 13u];
    gradRow[0][3][2] = dOut[qAt + 14u];
    gradRow[0][3][3] = dOut[qAt + 15u];
    gradRow[0][4][0] = dOut[qAt + 16u];
    gradRow[0][4][1] = dOut[qAt + 17u];
    gradRow[0][4][2] = dOut[qAt + 18u];
    gradRow[0][4][3] = dOut[qAt + 19u];
    rowDot[0] = dsum[rows[0] * 6u + head];
    rowLse[0] = lse[rows[0] * 6u + head];
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
    gradRow[1][0][0] = dOut[qAt + 0u];
    gradRow[1][0][1] = dOut[qAt + 1u];
    gradRow[1][0][2] = dOut[qAt + 2u];
    gradRow[1][0][3] = dOut[qAt + 3u];
    gradRow[1][1][0] = dOut[qAt + 4u];
    gradRow[1][1][1] = dOut[qAt + 5u];
    gradRow[1][1][2] = dOut[qAt + 6u];
    gradRow[1][1][3] = dOut[qAt + 7u];
    gradRow[1][2][0] = dOut[qAt + 8u];
    gradRow[1][2][1] = dOut[qAt + 9u];
    gradRow[1][2][2] = dOut[qAt + 10u];
    gradRow[1][2][3] = dOut[qAt + 11u];
    gradRow[1][3][0] = dOut[qAt + 12u];
    gradRow[1][3][1] = dOut[qAt + 13u];
    gradRow[1][3][2] = dOut[qAt + 14u];
    gradRow[1][3][3] = dOut[qAt + 15u];
    gradRow[1][4][0] = dOut[qAt + 16u];
    gradRow[1][4][1] = dOut[qAt + 17u];
    gradRow[1][4][2] = dOut[qAt + 18u];
    gradRow[1][4][3] = dOut[qAt + 19u];
    rowDot[1] = dsum[rows[1] * 6u + head];
    rowLse[1] = lse[rows[1] * 6u + head];
  }
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
      var dp = 0.0f;
      s += dot(qRow[0][0], kRow[0]);
      dp += dot(gradRow[0][0], vRow[0]);
      s += dot(qRow[0][1], kRow[1]);
      dp += dot(gradRow[0][1], vRow[1]);
      s += dot(qRow[0][2], kRow[2]);
      dp += dot(gradRow[0][2], vRow[2]);
      s += dot(qRow[0][3], kRow[3]);
      dp += dot(gradRow[0][3], vRow[3]);
      s += dot(qRow[0][4], kRow[4]);
      dp += dot(gradRow[0][4], vRow[4]);
      let ds = select(0.0f, exp(s - rowLse[0]) * (dp - rowDot[0]), key <= rows[0]);
      acc[0][0] += ds * kRow[0];
      acc[0][1] += ds * kRow[1];
      acc[0][2] += ds * kRow[2];
      acc[0][3] += ds * kRow[3];
      acc[0][4] += ds * kRow[4];
    }
    {
      var s = 0.0f;
      var dp = 0.0f;
      s += dot(qRow[1][0], kRow[0]);
      dp += dot(gradRow[1][0], vRow[0]);
      s += dot(qRow[1][1], kRow[1]);
      dp += dot(gradRow[1][1], vRow[1]);
      s += dot(qRow[1][2], kRow[2]);
      dp += dot(gradRow[1][2], vRow[2]);
      s += dot(qRow[1][3], kRow[3]);
      dp += dot(gradRow[1][3], vRow[3]);
      s += dot(qRow[1][4], kRow[4]);
      dp += dot(gradRow[1][4], vRow[4]);
      let ds = select(0.0f, exp(s - rowLse[1]) * (dp - rowDot[1]), key <= rows[1]);
      acc[1][0] += ds * kRow[0];
      acc[1][1] += ds * kRow[1];
      acc[1][2] += ds * kRow[2];
      acc[1][3] += ds * kRow[3];
      acc[1][4] += ds * kRow[4];
    }
  }
  if (firstPos + 0u < 70u) {
    let qAt = rows[0] * 120u + head * 20u;
    dq[qAt + 0u] = acc[0][0][0] * 0.22360679507255554f;
    dq[qAt + 1u] = acc[0][0][1] * 0.22360679507255554f;
    dq[qAt + 2u] = acc[0][0][2] * 0.22360679507255554f;
    dq[qAt + 3u] = acc[0][0][3] * 0.22360679507255554f;
    dq[qAt + 4u] = acc[0][1][0] * 0.22360679507255554f;
    dq[qAt + 5u] = acc[0][1][1] * 0.22360679507255554f;
    dq[qAt + 6u] = acc[0][1][2] * 0.22360679507255554f;
    dq[qAt + 7u] = acc[0][1][3] * 0.22360679507255554f;
    dq[qAt + 8u] = acc[0][2][0] * 0.22360679507255554f;
    dq[qAt + 9u] = acc[0][2][1] * 0.22360679507255554f;
    dq[qAt + 10u] = acc[0][2][2] * 0.22360679507255554f;
    dq[qAt + 11u] = acc[0][2][3] * 0.22360679507255554f;
    dq[qAt + 12u] = acc[0][3][0] * 0.22360679507255554f;
    dq[qAt + 13u] = acc[0][3][1] * 0.22360679507255554f;
    dq[qAt + 14u] = acc[0][3][2] * 0.22360679507255554f;
    dq[qAt + 15u] = acc[0][3][3] * 0.22360679507255554f;
    dq[qAt + 16u] = acc[0][4][0] * 0.22360679507255554f;
    dq[qAt + 17u] = acc[0][4][1] * 0.22360679507255554f;
    dq[qAt + 18u] = acc[0][4][2] * 0.22360679507255554f;
    dq[qAt + 19u] = acc[0][4][3] * 0.22360679507255554f;
  }
  if (firstPos + 8u < 70u) {
    let qAt = rows[1] * 120u + head * 20u;
    dq[qAt + 0u] = acc[1][0][0] * 0.22360679507255554f;
    dq[qAt + 1u] = acc[1][0][1] * 0.22360679507255554f;
    dq[qAt + 2u] = acc[1][0][2] * 0.22360679507255554f;
    dq[qAt + 3u] = acc[1][0][3] * 0.22360679507255554f;
    dq[qAt + 4u] = acc[1][1][0] * 0.22360679507255554f;
    dq[qAt + 5u] = acc[1][1][1] * 0.22360679507255554f;
    dq[qAt + 6u] = acc[1][1][2] * 0.22360679507255554f;
    dq[qAt + 7u] = acc[1][1][3] * 0.22360679507255554f;
    dq[qAt + 8u] = acc[1][2][0] * 0.22360679507255554f;
    dq[qAt + 9u] = acc[1][2][1] * 0.22360679507255554f;
    dq[qAt + 10u] = acc[1][2][2] * 0.22360679507255554f;
    dq[qAt + 11u] = acc[1][2][3] * 0.22360679507255554f;
    dq[qAt + 12u] = acc[1][3][0] * 0.22360679507255554f;
    dq[qAt + 13u] = acc[1][3][1] * 0.22360679507255554f;
    dq[qAt + 14u] = acc[1][3][2] * 0.22360679507255554f;
    dq[qAt + 15u] = acc[1][3][3] * 0.22360679507255554f;
    dq[qAt + 16u] = acc[1][4][0] * 0.22360679507255554f;
    dq[qAt + 17u] = acc[1][4][1] * 0.22360679507255554f;
    dq[qAt + 18u] = acc[1][4][2] * 0.22360679507255554f;
    dq[qAt + 19u] = acc[1][4][3] * 0.22360679507255554f;
  }
}

fn dkvBlock(group: u32, lid: u32, loadLane: u32) {
  let block = group % 3u;
  let seqHead = group / 3u;
  let kvHead = seqHead % 2u;
  let firstRow = (seqHead / 2u) * 70u;
  let firstPos = block * 32u + (lid / 8u) * 16u + lid % 8u;

  // this invocation's own key rows (slot-major), and their gradients
  var kRow: array<array<vec4<f32>, 5>, 2>;
  var vRow: array<array<vec4<f32>, 5>, 2>;
  var dkAcc: array<array<vec4<f32>, 5>, 2>;
  var dvAcc: array<array<vec4<f32>, 5>, 2>;
  var rows: array<u32, 2>;
  {
    rows[0] = firstRow + min(firstPos + 0u, 70u - 1u);
    let kvAt = rows[0] * 40u + kvHead * 20u;
    kRow[0][0][0] = k[kvAt + 0u] * 0.22360679507255554f;
    kRow[0][0][1] = k[kvAt + 1u] * 0.22360679507255554f;
    kRow[0][0][2] = k[kvAt + 2u] * 0.22360679507255554f;
    kRow[0][0][3] = k[kvAt + 3u] * 0.22360679507255554f;
    kRow[0][1][0] = k[kvAt + 4u] * 0.22360679507255554f;
    kRow[0][1][1] = k[kvAt + 5u] * 0.22360679507255554f;
    kRow[0][1][2] = k[kvAt + 6u] * 0.22360679507255554f;
    kRow[0][1][3] = k[kvAt + 7u] * 0.22360679507255554f;
    kRow[0][2][0] = k[kvAt + 8u] * 0.22360679507255554f;
    kRow[0][2][1] = k[kvAt + 9u] * 0.22360679507255554f;
    kRow[0][2][2] = k[kvAt + 10u] * 0.22360679507255554f;
    kRow[0][2][3] = k[kvAt + 11u] * 0.22360679507255554f;
    kRow[0][3][0] = k[kvAt + 12u] * 0.22360679507255554f;
    kRow[0][3][1] = k[kvAt + 13u] * 0.22360679507255554f;
    kRow[0][3][2] = k[kvAt + 14u] * 0.22360679507255554f;
    kRow[0][3][3] = k[kvAt + 15u] * 0.22360679507255554f;
    kRow[0][4][0] = k[kvAt + 16u] * 0.22360679507255554f;
    kRow[0][4][1] = k[kvAt + 17u] * 0.22360679507255554f;
    kRow[0][4][2] = k[kvAt + 18u] * 0.22360679507255554f;
    kRow[0][4][3] = k[kvAt + 19u] * 0.22360679507255554f;
    vRow[0][0][0] = v[kvAt + 0u];
    vRow[0][0][1] = v[kvAt + 1u];
    vRow[0][0][2] = v[kvAt + 2u];
    vRow[0][0][3] = v[kvAt + 3u];
    vRow[0][1][0] = v[kvAt + 4u];
    vRow[0][1][1] = v[kvAt + 5u];
    vRow[0][1][2] = v[kvAt + 6u];
    vRow[0][1][3] = v[kvAt + 7u];
    vRow[0][2][0] = v[kvAt + 8u];
    vRow[0][2][1] = v[kvAt + 9u];
    vRow[0][2][2] = v[kvAt + 10u];
    vRow[0][2][3] = v[kvAt + 11u];
    vRow[0][3][0] = v[kvAt + 12u];
    vRow[0][3][1] = v[kvAt + 13u];
    vRow[0][3][2] = v[kvAt + 14u];
    vRow[0][3][3] = v[kvAt + 15u];
    vRow[0][4][0] = v[kvAt + 16u];
    vRow[0][4][1] = v[kvAt + 17u];
    vRow[0][4][2] = v[kvAt + 18u];
    vRow[0][4][3] = v[kvAt + 19u];
  }
  {
    rows[1] = firstRow + min(firstPos + 8u, 70u - 1u);
    let kvAt = rows[1] * 40u + kvHead * 20u;
    kRow[1][0][0] = k[kvAt + 0u] * 0.22360679507255554f;
    kRow[1][0][1] = k[kvAt + 1u] * 0.22360679507255554f;
    kRow[1][0][2] = k[kvAt + 2u] * 0.22360679507255554f;
    kRow[1][0][3] = k[kvAt + 3u] * 0.22360679507255554f;
    kRow[1][1][0] = k[kvAt + 4u] * 0.22360679507255554f;
    kRow[1][1][1] = k[kvAt + 5u] * 0.22360679507255554f;
    kRow[1][1][2] = k[kvAt + 6u] * 0.22360679507255554f;
    kRow[1][1][3] = k[kvAt + 7u] * 0.22360679507255554f;
    kRow[1][2][0] = k[kvAt + 8u] * 0.22360679507255554f;
    kRow[1][2][1] = k[kvAt + 9u] * 0.22360679507255554f;
    kRow[1][2][2] = k[kvAt + 10u] * 0.22360679507255554f;
    kRow[1][2][3] = k[kvAt + 11u] * 0.22360679507255554f;
    kRow[1][3][0] = k[kvAt + 12u] * 0.22360679507255554f;
    kRow[1][3][1] = k[kvAt + 13u] * 0.22360679507255554f;
    kRow[1][3][2] = k[kvAt + 14u] * 0.22360679507255554f;
    kRow[1][3][3] = k[kvAt + 15u] * 0.22360679507255554f;
    kRow[1][4][0] = k[kvAt + 16u] * 0.22360679507255554f;
    kRow[1][4][1] = k[kvAt + 17u] * 0.22360679507255554f;
    kRow[1][4][2] = k[kvAt + 18u] * 0.22360679507255554f;
    kRow[1][4][3] = k[kvAt + 19u] * 0.22360679507255554f;
    vRow[1][0][0] = v[kvAt + 0u];
    vRow[1][0][1] = v[kvAt + 1u];
    vRow[1][0][2] = v[kvAt + 2u];
    vRow[1][0][3] = v[kvAt + 3u];
    vRow[1][1][0] = v[kvAt + 4u];
    vRow[1][1][1] = v[kvAt + 5u];
    vRow[1][1][2] = v[kvAt + 6u];
    vRow[1][1][3] = v[kvAt + 7u];
    vRow[1][2][0] = v[kvAt + 8u];
    vRow[1][2][1] = v[kvAt + 9u];
    vRow[1][2][2] = v[kvAt + 10u];
    vRow[1][2][3] = v[kvAt + 11u];
    vRow[1][3][0] = v[kvAt + 12u];
    vRow[1][3][1] = v[kvAt + 13u];
    vRow[1][3][2] = v[kvAt + 14u];
    vRow[1][3][3] = v[kvAt + 15u];
    vRow[1][4][0] = v[kvAt + 16u];
    vRow[1][4][1] = v[kvAt + 17u];
    vRow[1][4][2] = v[kvAt + 18u];
    vRow[1][4][3] = v[kvAt + 19u];
  }
  // causal: queries before the subgroup's first key see none of its keys (slot 0 holds each lane's first key)
  let queryStart = firstRow + subgroupMin(firstPos);
  let queryEnd = firstRow + 70u;
  // a loop bound the shader compiler cannot see (arrayLength is known only at dispatch): unrolled over the
  // grouped heads, this loop multiplied lavapipe's compile time (seconds) and bought nothing
  let headsPerKv = 3u * min(arrayLength(&lse), 1u);
  for (var h = 0u; h < headsPerKv; h++) {
    let head = kvHead * 3u + h;
    for (var query = queryStart; query < queryEnd; query++) {
      let at = query * 120u + head * 20u;
      var qPart: array<f32, 3>;
      var gradPart: array<f32, 3>;
      {
        let clamped = min(0u + loadLane, 20u - 1u);
        qPart[0] = q[at + clamped];
        gradPart[0] = dOut[at + clamped];
      }
      {
        let clamped = min(8u + loadLane, 20u - 1u);
        qPart[1] = q[at + clamped];
        gradPart[1] = dOut[at + clamped];
      }
      {
        let clamped = min(16u + loadLane, 20u - 1u);
        qPart[2] = q[at + clamped];
        gradPart[2] = dOut[at + clamped];
      }
      // lse_i and D_i are the same for every lane: one lane loads them (a per-lane load costs a check and a load per
      // active lane on lavapipe) and subgroupBroadcast hands them out
      var lseLane = 0.0f;
      var dotLane = 0.0f;
      if (loadLane == 0u) {
        lseLane = lse[query * 6u + head];
        dotLane = dsum[query * 6u + head];
      }
      let queryDot = subgroupBroadcast(dotLane, 0u);
      let queryLse = subgroupBroadcast(lseLane, 0u);
      var qStream: array<vec4<f32>, 5>;
      var gradStream: array<vec4<f32>, 5>;
      qStream[0][0] = subgroupBroadcast(qPart[0], 0u);
      gradStream[0][0] = subgroupBroadcast(gradPart[0], 0u);
      qStream[0][1] = subgroupBroadcast(qPart[0], 1u);
      gradStream[0][1] = subgroupBroadcast(gradPart[0], 1u);
      qStream[0][2] = subgroupBroadcast(qPart[0], 2u);
      gradStream[0][2] = subgroupBroadcast(gradPart[0], 2u);
      qStream[0][3] = subgroupBroadcast(qPart[0], 3u);
      gradStream[0][3] = subgroupBroadcast(gradPart[0], 3u);
      qStream[1][0] = subgroupBroadcast(qPart[0], 4u);
      gradStream[1][0] = subgroupBroadcast(gradPart[0], 4u);
      qStream[1][1] = subgroupBroadcast(qPart[0], 5u);
      gradStream[1][1] = subgroupBroadcast(gradPart[0], 5u);
      qStream[1][2] = subgroupBroadcast(qPart[0], 6u);
      gradStream[1][2] = subgroupBroadcast(gradPart[0], 6u);
      qStream[1][3] = subgroupBroadcast(qPart[0], 7u);
      gradStream[1][3] = subgroupBroadcast(gradPart[0], 7u);
      qStream[2][0] = subgroupBroadcast(qPart[1], 0u);
      gradStream[2][0] = subgroupBroadcast(gradPart[1], 0u);
      qStream[2][1] = subgroupBroadcast(qPart[1], 1u);
      gradStream[2][1] = subgroupBroadcast(gradPart[1], 1u);
      qStream[2][2] = subgroupBroadcast(qPart[1], 2u);
      gradStream[2][2] = subgroupBroadcast(gradPart[1], 2u);
      qStream[2][3] = subgroupBroadcast(qPart[1], 3u);
      gradStream[2][3] = subgroupBroadcast(gradPart[1], 3u);
      qStream[3][0] = subgroupBroadcast(qPart[1], 4u);
      gradStream[3][0] = subgroupBroadcast(gradPart[1], 4u);
      qStream[3][1] = subgroupBroadcast(qPart[1], 5u);
      gradStream[3][1] = subgroupBroadcast(gradPart[1], 5u);
      qStream[3][2] = subgroupBroadcast(qPart[1], 6u);
      gradStream[3][2] = subgroupBroadcast(gradPart[1], 6u);
      qStream[3][3] = subgroupBroadcast(qPart[1], 7u);
      gradStream[3][3] = subgroupBroadcast(gradPart[1], 7u);
      qStream[4][0] = subgroupBroadcast(qPart[2], 0u);
      gradStream[4][0] = subgroupBroadcast(gradPart[2], 0u);
      qStream[4][1] = subgroupBroadcast(qPart[2], 1u);
      gradStream[4][1] = subgroupBroadcast(gradPart[2], 1u);
      qStream[4][2] = subgroupBroadcast(qPart[2], 2u);
      gradStream[4][2] = subgroupBroadcast(gradPart[2], 2u);
      qStream[4][3] = subgroupBroadcast(qPart[2], 3u);
      gradStream[4][3] = subgroupBroadcast(gradPart[2], 3u);
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
        s += dot(qStream[4], kRow[0][4]);
        dp += dot(gradStream[4], vRow[0][4]);
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
        dvAcc[0][4] += prob * gradStream[4];
        dkAcc[0][4] += ds * qStream[4];
      }
      {
        var s = 0.0f;
        var dp = 0.0f;
        s += dot(qStream[0], kRow[1][0]);
        dp += dot(gradStream[0], vRow[1][0]);
        s += dot(qStream[1], kRow[1][1]);
        dp += dot(gradStream[1], vRow[1][1]);
        s += dot(qStream[2], kRow[1][2]);
        dp += dot(gradStream[2], vRow[1][2]);
        s += dot(qStream[3], kRow[1][3]);
        dp += dot(gradStream[3], vRow[1][3]);
        s += dot(qStream[4], kRow[1][4]);
        dp += dot(gradStream[4], vRow[1][4]);
        let prob = select(0.0f, exp(s - queryLse), query >= rows[1]);
        let ds = prob * (dp - queryDot);
        dvAcc[1][0] += prob * gradStream[0];
        dkAcc[1][0] += ds * qStream[0];
        dvAcc[1][1] += prob * gradStream[1];
        dkAcc[1][1] += ds * qStream[1];
        dvAcc[1][2] += prob * gradStream[2];
        dkAcc[1][2] += ds * qStream[2];
        dvAcc[1][3] += prob * gradStream[3];
        dkAcc[1][3] += ds * qStream[3];
        dvAcc[1][4] += prob * gradStream[4];
        dkAcc[1][4] += ds * qStream[4];
      }
    }
  }
  if (firstPos + 0u < 70u) {
    let kvAt = rows[0] * 40u + kvHead * 20u;
    dk[kvAt + 0u] = dkAcc[0][0][0] * 0.22360679507255554f;
    dk[kvAt + 1u] = dkAcc[0][0][1] * 0.22360679507255554f;
    dk[kvAt + 2u] = dkAcc[0][0][2] * 0.22360679507255554f;
    dk[kvAt + 3u] = dkAcc[0][0][3] * 0.22360679507255554f;
    dk[kvAt + 4u] = dkAcc[0][1][0] * 0.22360679507255554f;
    dk[kvAt + 5u] = dkAcc[0][1][1] * 0.22360679507255554f;
    dk[kvAt + 6u] = dkAcc[0][1][2] * 0.22360679507255554f;
    dk[kvAt + 7u] = dkAcc[0][1][3] * 0.22360679507255554f;
    dk[kvAt + 8u] = dkAcc[0][2][0] * 0.22360679507255554f;
    dk[kvAt + 9u] = dkAcc[0][2][1] * 0.22360679507255554f;
    dk[kvAt + 10u] = dkAcc[0][2][2] * 0.22360679507255554f;
    dk[kvAt + 11u] = dkAcc[0][2][3] * 0.22360679507255554f;
    dk[kvAt + 12u] = dkAcc[0][3][0] * 0.22360679507255554f;
    dk[kvAt + 13u] = dkAcc[0][3][1] * 0.22360679507255554f;
    dk[kvAt + 14u] = dkAcc[0][3][2] * 0.22360679507255554f;
    dk[kvAt + 15u] = dkAcc[0][3][3] * 0.22360679507255554f;
    dk[kvAt + 16u] = dkAcc[0][4][0] * 0.22360679507255554f;
    dk[kvAt + 17u] = dkAcc[0][4][1] * 0.22360679507255554f;
    dk[kvAt + 18u] = dkAcc[0][4][2] * 0.22360679507255554f;
    dk[kvAt + 19u] = dkAcc[0][4][3] * 0.22360679507255554f;
    dv[kvAt + 0u] = dvAcc[0][0][0];
    dv[kvAt + 1u] = dvAcc[0][0][1];
    dv[kvAt + 2u] = dvAcc[0][0][2];
    dv[kvAt + 3u] = dvAcc[0][0][3];
    dv[kvAt + 4u] = dvAcc[0][1][0];
    dv[kvAt + 5u] = dvAcc[0][1][1];
    dv[kvAt + 6u] = dvAcc[0][1][2];
    dv[kvAt + 7u] = dvAcc[0][1][3];
    dv[kvAt + 8u] = dvAcc[0][2][0];
    dv[kvAt + 9u] = dvAcc[0][2][1];
    dv[kvAt + 10u] = dvAcc[0][2][2];
    dv[kvAt + 11u] = dvAcc[0][2][3];
    dv[kvAt + 12u] = dvAcc[0][3][0];
    dv[kvAt + 13u] = dvAcc[0][3][1];
    dv[kvAt + 14u] = dvAcc[0][3][2];
    dv[kvAt + 15u] = dvAcc[0][3][3];
    dv[kvAt + 16u] = dvAcc[0][4][0];
    dv[kvAt + 17u] = dvAcc[0][4][1];
    dv[kvAt + 18u] = dvAcc[0][4][2];
    dv[kvAt + 19u] = dvAcc[0][4][3];
  }
  if (firstPos + 8u < 70u) {
    let kvAt = rows[1] * 40u + kvHead * 20u;
    dk[kvAt + 0u] = dkAcc[1][0][0] * 0.22360679507255554f;
    dk[kvAt + 1u] = dkAcc[1][0][1] * 0.22360679507255554f;
    dk[kvAt + 2u] = dkAcc[1][0][2] * 0.22360679507255554f;
    dk[kvAt + 3u] = dkAcc[1][0][3] * 0.22360679507255554f;
    dk[kvAt + 4u] = dkAcc[1][1][0] * 0.22360679507255554f;
    dk[kvAt + 5u] = dkAcc[1][1][1] * 0.22360679507255554f;
    dk[kvAt + 6u] = dkAcc[1][1][2] * 0.22360679507255554f;
    dk[kvAt + 7u] = dkAcc[1][1][3] * 0.22360679507255554f;
    dk[kvAt + 8u] = dkAcc[1][2][0] * 0.22360679507255554f;
    dk[kvAt + 9u] = dkAcc[1][2][1] * 0.22360679507255554f;
    dk[kvAt + 10u] = dkAcc[1][2][2] * 0.22360679507255554f;
    dk[kvAt + 11u] = dkAcc[1][2][3] * 0.22360679507255554f;
    dk[kvAt + 12u] = dkAcc[1][3][0] * 0.22360679507255554f;
    dk[kvAt + 13u] = dkAcc[1][3][1] * 0.22360679507255554f;
    dk[kvAt + 14u] = dkAcc[1][3][2] * 0.22360679507255554f;
    dk[kvAt + 15u] = dkAcc[1][3][3] * 0.22360679507255554f;
    dk[kvAt + 16u] = dkAcc[1][4][0] * 0.22360679507255554f;
    dk[kvAt + 17u] = dkAcc[1][4][1] * 0.22360679507255554f;
    dk[kvAt + 18u] = dkAcc[1][4][2] * 0.22360679507255554f;
    dk[kvAt + 19u] = dkAcc[1][4][3] * 0.22360679507255554f;
    dv[kvAt + 0u] = dvAcc[1][0][0];
    dv[kvAt + 1u] = dvAcc[1][0][1];
    dv[kvAt + 2u] = dvAcc[1][0][2];
    dv[kvAt + 3u] = dvAcc[1][0][3];
    dv[kvAt + 4u] = dvAcc[1][1][0];
    dv[kvAt + 5u] = dvAcc[1][1][1];
    dv[kvAt + 6u] = dvAcc[1][1][2];
    dv[kvAt + 7u] = dvAcc[1][1][3];
    dv[kvAt + 8u] = dvAcc[1][2][0];
    dv[kvAt + 9u] = dvAcc[1][2][1];
    dv[kvAt + 10u] = dvAcc[1][2][2];
    dv[kvAt + 11u] = dvAcc[1][2][3];
    dv[kvAt + 12u] = dvAcc[1][3][0];
    dv[kvAt + 13u] = dvAcc[1][3][1];
    dv[kvAt + 14u] = dvAcc[1][3][2];
    dv[kvAt + 15u] = dvAcc[1][3][3];
    dv[kvAt + 16u] = dvAcc[1][4][0];
    dv[kvAt + 17u] = dvAcc[1][4][1];
    dv[kvAt + 18u] = dvAcc[1][4][2];
    dv[kvAt + 19u] = dvAcc[1][4][3];
  }
}

@compute @workgroup_size(16)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(subgroup_invocation_id) sgLane: u32) {
  let group = wid.x + wid.y * 48u;
  let loadLane = sgLane % 8u;
  if (group < 36u) {
    dqBlock(group, lid.x, loadLane);
  } else if (group < 36u + 12u) {
    dkvBlock(group - 36u, lid.x, loadLane);
  }
}
