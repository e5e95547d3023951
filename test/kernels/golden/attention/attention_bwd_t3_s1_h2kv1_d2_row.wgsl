enable subgroups;
// attention_bwd_t3_s1_h2kv1_d2_row
// attention backward, dq, dk and dv in one dispatch, for CPU adapters with subgroups; P_ij = exp(s_ij - lse_i), D_i = dOut_i . out_i
//   dq_i = 0.7071067690849304f * sum_{j<=i} P_ij (dOut_i . v_j - D_i) k_j           (invocation per 1 query rows of a head)
//   dv_j = sum_h sum_{i>=j} P_ij dOut_i,  dk_j = 0.7071067690849304f * sum_h sum_{i>=j} P_ij (dOut_i . v_j - D_i) q_i
//                                                                         (invocation per 1 key rows of a kv head, over its 2 query heads h)
// causal per sequence of 1, 2 heads over 1 kv heads, hd = 2 (as 1 vec4, zero-padded)
// bindings: dOut, q, k, v, lse, dsum (read: D_i from attention_bwd_prep), dq, dk, dv (write)
// grid: workgroups 0 .. 6 - 1 = (sequence, head, block of 16 queries) for dq, the next 3 = (sequence, kv head,
// block of 16 keys) for dk/dv; 1 blocks per sequence. An invocation owns 1 rows (slot r: the subgroup's
// first row + r × 8 + its lane), so each streamed row's loads and broadcasts serve 1 rows of a lane.
// Each invocation sums in ascending order (deterministic, no atomics),
// no workgroup memory, no barriers. As in attention_row, the 8 lanes of a subgroup load each streamed row together
// (1 element(s) per lane) and subgroupBroadcast hands the elements to all lanes; D_i comes from attention_bwd_prep
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
  let block = group % 1u;
  let seqHead = group / 1u;
  let head = seqHead % 2u;
  let firstRow = (seqHead / 2u) * 1u;
  let kvCol = (head / 2u) * 2u;
  let firstPos = block * 16u + (lid / 8u) * 8u + lid % 8u;

  var qRow: array<array<vec4<f32>, 1>, 1>;
  var gradRow: array<array<vec4<f32>, 1>, 1>;
  var acc: array<array<vec4<f32>, 1>, 1>;
  var rows: array<u32, 1>;
  var rowDot: array<f32, 1>;
  var rowLse: array<f32, 1>;
  {
    rows[0] = firstRow + min(firstPos + 0u, 1u - 1u);
    let qAt = rows[0] * 4u + head * 2u;
    qRow[0][0][0] = q[qAt + 0u] * 0.7071067690849304f;
    qRow[0][0][1] = q[qAt + 1u] * 0.7071067690849304f;
    gradRow[0][0][0] = dOut[qAt + 0u];
    gradRow[0][0][1] = dOut[qAt + 1u];
    rowDot[0] = dsum[rows[0] * 2u + head];
    rowLse[0] = lse[rows[0] * 2u + head];
  }
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
      var dp = 0.0f;
      s += dot(qRow[0][0], kRow[0]);
      dp += dot(gradRow[0][0], vRow[0]);
      let ds = select(0.0f, exp(s - rowLse[0]) * (dp - rowDot[0]), key <= rows[0]);
      acc[0][0] += ds * kRow[0];
    }
  }
  if (firstPos + 0u < 1u) {
    let qAt = rows[0] * 4u + head * 2u;
    dq[qAt + 0u] = acc[0][0][0] * 0.7071067690849304f;
    dq[qAt + 1u] = acc[0][0][1] * 0.7071067690849304f;
  }
}

fn dkvBlock(group: u32, lid: u32, loadLane: u32) {
  let block = group % 1u;
  let seqHead = group / 1u;
  let kvHead = seqHead % 1u;
  let firstRow = (seqHead / 1u) * 1u;
  let firstPos = block * 16u + (lid / 8u) * 8u + lid % 8u;

  // this invocation's own key rows (slot-major), and their gradients
  var kRow: array<array<vec4<f32>, 1>, 1>;
  var vRow: array<array<vec4<f32>, 1>, 1>;
  var dkAcc: array<array<vec4<f32>, 1>, 1>;
  var dvAcc: array<array<vec4<f32>, 1>, 1>;
  var rows: array<u32, 1>;
  {
    rows[0] = firstRow + min(firstPos + 0u, 1u - 1u);
    let kvAt = rows[0] * 2u + kvHead * 2u;
    kRow[0][0][0] = k[kvAt + 0u] * 0.7071067690849304f;
    kRow[0][0][1] = k[kvAt + 1u] * 0.7071067690849304f;
    vRow[0][0][0] = v[kvAt + 0u];
    vRow[0][0][1] = v[kvAt + 1u];
  }
  // causal: queries before the subgroup's first key see none of its keys (slot 0 holds each lane's first key)
  let queryStart = firstRow + subgroupMin(firstPos);
  let queryEnd = firstRow + 1u;
  // a loop bound the shader compiler cannot see (arrayLength is known only at dispatch): unrolled over the
  // grouped heads, this loop multiplied lavapipe's compile time (seconds) and bought nothing
  let headsPerKv = 2u * min(arrayLength(&lse), 1u);
  for (var h = 0u; h < headsPerKv; h++) {
    let head = kvHead * 2u + h;
    for (var query = queryStart; query < queryEnd; query++) {
      let at = query * 4u + head * 2u;
      var qPart: array<f32, 1>;
      var gradPart: array<f32, 1>;
      {
        let clamped = min(0u + loadLane, 2u - 1u);
        qPart[0] = q[at + clamped];
        gradPart[0] = dOut[at + clamped];
      }
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
      var qStream: array<vec4<f32>, 1>;
      var gradStream: array<vec4<f32>, 1>;
      qStream[0][0] = subgroupBroadcast(qPart[0], 0u);
      gradStream[0][0] = subgroupBroadcast(gradPart[0], 0u);
      qStream[0][1] = subgroupBroadcast(qPart[0], 1u);
      gradStream[0][1] = subgroupBroadcast(gradPart[0], 1u);
      {
        var s = 0.0f;
        var dp = 0.0f;
        s += dot(qStream[0], kRow[0][0]);
        dp += dot(gradStream[0], vRow[0][0]);
        let prob = select(0.0f, exp(s - queryLse), query >= rows[0]);
        let ds = prob * (dp - queryDot);
        dvAcc[0][0] += prob * gradStream[0];
        dkAcc[0][0] += ds * qStream[0];
      }
    }
  }
  if (firstPos + 0u < 1u) {
    let kvAt = rows[0] * 2u + kvHead * 2u;
    dk[kvAt + 0u] = dkAcc[0][0][0] * 0.7071067690849304f;
    dk[kvAt + 1u] = dkAcc[0][0][1] * 0.7071067690849304f;
    dv[kvAt + 0u] = dvAcc[0][0][0];
    dv[kvAt + 1u] = dvAcc[0][0][1];
  }
}

@compute @workgroup_size(16)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(subgroup_invocation_id) sgLane: u32) {
  let group = wid.x + wid.y * 9u;
  let loadLane = sgLane % 8u;
  if (group < 6u) {
    dqBlock(group, lid.x, loadLane);
  } else if (group < 6u + 3u) {
    dkvBlock(group - 6u, lid.x, loadLane);
  }
}
