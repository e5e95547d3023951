enable subgroups;
// attention_bwd_t40_s20_h2kv2_d16_row_v4
// attention backward, dq, dk and dv in one dispatch, for CPU adapters with subgroups; P_ij = exp(s_ij - lse_i), D_i = dOut_i . out_i
//   dq_i = 0.25f * sum_{j<=i} P_ij (dOut_i . v_j - D_i) k_j           (invocation per query row and head)
//   dv_j = sum_h sum_{i>=j} P_ij dOut_i,  dk_j = 0.25f * sum_h sum_{i>=j} P_ij (dOut_i . v_j - D_i) q_i
//                                                                         (invocation per key row and kv head, over its 1 query heads h)
// causal per sequence of 20, 2 heads over 2 kv heads, hd = 16 (as 4 vec4, zero-padded)
// bindings: dOut, q, k, v, lse, dsum (read: D_i from attention_bwd_prep), dq, dk, dv (write)
// grid: workgroups 0 .. 8 - 1 = (sequence, head, block of 16 queries) for dq, the next 8 = (sequence, kv head,
// block of 16 keys) for dk/dv; 2 blocks per sequence. Each invocation sums in ascending order (deterministic, no atomics),
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
  let pos = block * 16u + lid;
  let row = firstRow + min(pos, 20u - 1u);
  let qAt = row * 32u + head * 16u;

  var qRow: array<vec4<f32>, 4>;
  var gradRow: array<vec4<f32>, 4>;
  var acc: array<vec4<f32>, 4>;
  qRow[0] = q[qAt / 4u + 0u] * 0.25f;
  qRow[1] = q[qAt / 4u + 1u] * 0.25f;
  qRow[2] = q[qAt / 4u + 2u] * 0.25f;
  qRow[3] = q[qAt / 4u + 3u] * 0.25f;
  gradRow[0] = dOut[qAt / 4u + 0u];
  gradRow[1] = dOut[qAt / 4u + 1u];
  gradRow[2] = dOut[qAt / 4u + 2u];
  gradRow[3] = dOut[qAt / 4u + 3u];
  let rowDot = dsum[row * 2u + head];
  let rowLse = lse[row * 2u + head];
  let keyEnd = firstRow + subgroupMax(min(pos, 20u - 1u)) + 1u;
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
    var s = 0.0f;
    var dp = 0.0f;
    s += dot(qRow[0], kRow[0]);
    dp += dot(gradRow[0], vRow[0]);
    s += dot(qRow[1], kRow[1]);
    dp += dot(gradRow[1], vRow[1]);
    s += dot(qRow[2], kRow[2]);
    dp += dot(gradRow[2], vRow[2]);
    s += dot(qRow[3], kRow[3]);
    dp += dot(gradRow[3], vRow[3]);
    let ds = select(0.0f, exp(s - rowLse) * (dp - rowDot), key <= row);
    acc[0] += ds * kRow[0];
    acc[1] += ds * kRow[1];
    acc[2] += ds * kRow[2];
    acc[3] += ds * kRow[3];
  }
  if (pos < 20u) {
    dq[qAt / 4u + 0u] = acc[0] * 0.25f;
    dq[qAt / 4u + 1u] = acc[1] * 0.25f;
    dq[qAt / 4u + 2u] = acc[2] * 0.25f;
    dq[qAt / 4u + 3u] = acc[3] * 0.25f;
  }
}

fn dkvBlock(group: u32, lid: u32, loadLane: u32) {
  let block = group % 2u;
  let seqHead = group / 2u;
  let kvHead = seqHead % 2u;
  let firstRow = (seqHead / 2u) * 20u;
  let pos = block * 16u + lid;
  let row = firstRow + min(pos, 20u - 1u);
  let kvAt = row * 32u + kvHead * 16u;

  var kRow: array<vec4<f32>, 4>;
  var vRow: array<vec4<f32>, 4>;
  var dkAcc: array<vec4<f32>, 4>;
  var dvAcc: array<vec4<f32>, 4>;
  kRow[0] = k[kvAt / 4u + 0u] * 0.25f;
  kRow[1] = k[kvAt / 4u + 1u] * 0.25f;
  kRow[2] = k[kvAt / 4u + 2u] * 0.25f;
  kRow[3] = k[kvAt / 4u + 3u] * 0.25f;
  vRow[0] = v[kvAt / 4u + 0u];
  vRow[1] = v[kvAt / 4u + 1u];
  vRow[2] = v[kvAt / 4u + 2u];
  vRow[3] = v[kvAt / 4u + 3u];
  // causal: queries before the subgroup's first key see none of its keys
  let queryStart = firstRow + subgroupMin(pos);
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
      let rowDot = subgroupBroadcast(dotLane, 0u);
      let rowLse = subgroupBroadcast(lseLane, 0u);
      var qRow: array<vec4<f32>, 4>;
      var gradRow: array<vec4<f32>, 4>;
      qRow[0] = subgroupBroadcast(qw0, 0u);
      gradRow[0] = subgroupBroadcast(gw0, 0u);
      qRow[1] = subgroupBroadcast(qw0, 1u);
      gradRow[1] = subgroupBroadcast(gw0, 1u);
      qRow[2] = subgroupBroadcast(qw0, 2u);
      gradRow[2] = subgroupBroadcast(gw0, 2u);
      qRow[3] = subgroupBroadcast(qw0, 3u);
      gradRow[3] = subgroupBroadcast(gw0, 3u);
      var s = 0.0f;
      var dp = 0.0f;
      s += dot(qRow[0], kRow[0]);
      dp += dot(gradRow[0], vRow[0]);
      s += dot(qRow[1], kRow[1]);
      dp += dot(gradRow[1], vRow[1]);
      s += dot(qRow[2], kRow[2]);
      dp += dot(gradRow[2], vRow[2]);
      s += dot(qRow[3], kRow[3]);
      dp += dot(gradRow[3], vRow[3]);
      let prob = select(0.0f, exp(s - rowLse), query >= row);
      let ds = prob * (dp - rowDot);
      dvAcc[0] += prob * gradRow[0];
      dkAcc[0] += ds * qRow[0];
      dvAcc[1] += prob * gradRow[1];
      dkAcc[1] += ds * qRow[1];
      dvAcc[2] += prob * gradRow[2];
      dkAcc[2] += ds * qRow[2];
      dvAcc[3] += prob * gradRow[3];
      dkAcc[3] += ds * qRow[3];
    }
  }
  if (pos < 20u) {
    dk[kvAt / 4u + 0u] = dkAcc[0] * 0.25f;
    dv[kvAt / 4u + 0u] = dvAcc[0];
    dk[kvAt / 4u + 1u] = dkAcc[1] * 0.25f;
    dv[kvAt / 4u + 1u] = dvAcc[1];
    dk[kvAt / 4u + 2u] = dkAcc[2] * 0.25f;
    dv[kvAt / 4u + 2u] = dvAcc[2];
    dk[kvAt / 4u + 3u] = dkAcc[3] * 0.25f;
    dv[kvAt / 4u + 3u] = dvAcc[3];
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
