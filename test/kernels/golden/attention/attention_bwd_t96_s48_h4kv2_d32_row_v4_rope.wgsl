enable subgroups;
// attention_bwd_t96_s48_h4kv2_d32_row_v4_rope
// attention backward, dq, dk and dv in one dispatch, for CPU adapters with subgroups; P_ij = exp(s_ij - lse_i), D_i = dOut_i . out_i
//   dq_i = 0.1767766922712326f * sum_{j<=i} P_ij (dOut_i . v_j - D_i) k_j           (invocation per 1 query rows of a head)
//   dv_j = sum_h sum_{i>=j} P_ij dOut_i,  dk_j = 0.1767766922712326f * sum_h sum_{i>=j} P_ij (dOut_i . v_j - D_i) q_i
//                                                                         (invocation per 1 key rows of a kv head, over its 2 query heads h)
// causal per sequence of 48, 4 heads over 2 kv heads, hd = 32 (as 8 vec4, zero-padded)
// bindings: dOut, q, k, v, lse, dsum (read: D_i from attention_bwd_prep), dq, dk, dv (write)
// grid: workgroups 0 .. 24 - 1 = (sequence, head, block of 16 queries) for dq, the next 12 = (sequence, kv head,
// block of 16 keys) for dk/dv; 3 blocks per sequence. An invocation owns 1 rows (slot r: the subgroup's
// first row + r × 8 + its lane), so each streamed row's loads and broadcasts serve 1 rows of a lane.
// Each invocation sums in ascending order (deterministic, no atomics),
// no workgroup memory, no barriers. As in attention_row, the 8 lanes of a subgroup load each streamed row together
// (one vec4 per lane and slot, rows bound as vec4s) and subgroupBroadcast hands the elements to all lanes; D_i comes from attention_bwd_prep
// (one load per query); the streamed loops depend on the workgroup only, and rows outside a
// lane's causal range get weight 0 through select.
// dq and dk are stored rotated back by -angle at their row's position (the inverse of the forward's rope on q and k:
// rotate_half, element i with i + hd/2; fuse-attention-grad-rope), as rope_row4 would rotate them.
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

// theta^(-2i/hd) / (2 pi): angle in turns per position, 4 angles per entry
const ROPE_TURNS = array<vec4<f32>, 4>(vec4<f32>(0.15915493667125702f, 0.08949939906597137f, 0.050329212099313736f, 0.02830219641327858f), vec4<f32>(0.01591549441218376f, 0.008949940092861652f, 0.005032921209931374f, 0.0028302196878939867f), vec4<f32>(0.0015915494877845049f, 0.0008949940092861652f, 0.0005032921326346695f, 0.0002830219455063343f), vec4<f32>(0.0001591549371369183f, 0.00008949940092861652f, 0.00005032921035308391f, 0.000028302196369622834f), );

// One head's row (vec4 quads: the first 4 pair with the next 4) rotated by -angle at position pos.
fn ropeInverse(row: ptr<function, array<vec4<f32>, 8>>, pos: f32) {
  {
    let turns = pos * ROPE_TURNS[0];
    let angle = (turns - round(turns)) * 6.283185307179586f;
    let c = cos(angle);
    let s = -sin(angle);
    let a = (*row)[0];
    let b = (*row)[0u + 4u];
    (*row)[0] = a * c - b * s;
    (*row)[0u + 4u] = b * c + a * s;
  }
  {
    let turns = pos * ROPE_TURNS[1];
    let angle = (turns - round(turns)) * 6.283185307179586f;
    let c = cos(angle);
    let s = -sin(angle);
    let a = (*row)[1];
    let b = (*row)[1u + 4u];
    (*row)[1] = a * c - b * s;
    (*row)[1u + 4u] = b * c + a * s;
  }
  {
    let turns = pos * ROPE_TURNS[2];
    let angle = (turns - round(turns)) * 6.283185307179586f;
    let c = cos(angle);
    let s = -sin(angle);
    let a = (*row)[2];
    let b = (*row)[2u + 4u];
    (*row)[2] = a * c - b * s;
    (*row)[2u + 4u] = b * c + a * s;
  }
  {
    let turns = pos * ROPE_TURNS[3];
    let angle = (turns - round(turns)) * 6.283185307179586f;
    let c = cos(angle);
    let s = -sin(angle);
    let a = (*row)[3];
    let b = (*row)[3u + 4u];
    (*row)[3] = a * c - b * s;
    (*row)[3u + 4u] = b * c + a * s;
  }
}

fn dqBlock(group: u32, lid: u32, loadLane: u32) {
  let block = group % 3u;
  let seqHead = group / 3u;
  let head = seqHead % 4u;
  let firstRow = (seqHead / 4u) * 48u;
  let kvCol = (head / 2u) * 32u;
  let firstPos = block * 16u + (lid / 8u) * 8u + lid % 8u;

  var qRow: array<array<vec4<f32>, 8>, 1>;
  var gradRow: array<array<vec4<f32>, 8>, 1>;
  var acc: array<array<vec4<f32>, 8>, 1>;
  var rows: array<u32, 1>;
  var rowDot: array<f32, 1>;
  var rowLse: array<f32, 1>;
  {
    rows[0] = firstRow + min(firstPos + 0u, 48u - 1u);
    let qAt = rows[0] * 128u + head * 32u;
    qRow[0][0] = q[qAt / 4u + 0u] * 0.1767766922712326f;
    qRow[0][1] = q[qAt / 4u + 1u] * 0.1767766922712326f;
    qRow[0][2] = q[qAt / 4u + 2u] * 0.1767766922712326f;
    qRow[0][3] = q[qAt / 4u + 3u] * 0.1767766922712326f;
    qRow[0][4] = q[qAt / 4u + 4u] * 0.1767766922712326f;
    qRow[0][5] = q[qAt / 4u + 5u] * 0.1767766922712326f;
    qRow[0][6] = q[qAt / 4u + 6u] * 0.1767766922712326f;
    qRow[0][7] = q[qAt / 4u + 7u] * 0.1767766922712326f;
    gradRow[0][0] = dOut[qAt / 4u + 0u];
    gradRow[0][1] = dOut[qAt / 4u + 1u];
    gradRow[0][2] = dOut[qAt / 4u + 2u];
    gradRow[0][3] = dOut[qAt / 4u + 3u];
    gradRow[0][4] = dOut[qAt / 4u + 4u];
    gradRow[0][5] = dOut[qAt / 4u + 5u];
    gradRow[0][6] = dOut[qAt / 4u + 6u];
    gradRow[0][7] = dOut[qAt / 4u + 7u];
    rowDot[0] = dsum[rows[0] * 4u + head];
    rowLse[0] = lse[rows[0] * 4u + head];
  }
  let keyEnd = firstRow + subgroupMax(min(firstPos + 0u, 48u - 1u)) + 1u;
  for (var key = firstRow; key < keyEnd; key++) {
    var kRow: array<vec4<f32>, 8>;
    var vRow: array<vec4<f32>, 8>;
    let atW = (key * 64u + kvCol) / 4u;
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
    kRow[4] = subgroupBroadcast(kw0, 4u);
    vRow[4] = subgroupBroadcast(vw0, 4u);
    kRow[5] = subgroupBroadcast(kw0, 5u);
    vRow[5] = subgroupBroadcast(vw0, 5u);
    kRow[6] = subgroupBroadcast(kw0, 6u);
    vRow[6] = subgroupBroadcast(vw0, 6u);
    kRow[7] = subgroupBroadcast(kw0, 7u);
    vRow[7] = subgroupBroadcast(vw0, 7u);
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
      s += dot(qRow[0][5], kRow[5]);
      dp += dot(gradRow[0][5], vRow[5]);
      s += dot(qRow[0][6], kRow[6]);
      dp += dot(gradRow[0][6], vRow[6]);
      s += dot(qRow[0][7], kRow[7]);
      dp += dot(gradRow[0][7], vRow[7]);
      let ds = select(0.0f, exp(s - rowLse[0]) * (dp - rowDot[0]), key <= rows[0]);
      acc[0][0] += ds * kRow[0];
      acc[0][1] += ds * kRow[1];
      acc[0][2] += ds * kRow[2];
      acc[0][3] += ds * kRow[3];
      acc[0][4] += ds * kRow[4];
      acc[0][5] += ds * kRow[5];
      acc[0][6] += ds * kRow[6];
      acc[0][7] += ds * kRow[7];
    }
  }
  if (firstPos + 0u < 48u) {
    let qAt = rows[0] * 128u + head * 32u;
    ropeInverse(&acc[0], f32(firstPos + 0u));
    dq[qAt / 4u + 0u] = acc[0][0] * 0.1767766922712326f;
    dq[qAt / 4u + 1u] = acc[0][1] * 0.1767766922712326f;
    dq[qAt / 4u + 2u] = acc[0][2] * 0.1767766922712326f;
    dq[qAt / 4u + 3u] = acc[0][3] * 0.1767766922712326f;
    dq[qAt / 4u + 4u] = acc[0][4] * 0.1767766922712326f;
    dq[qAt / 4u + 5u] = acc[0][5] * 0.1767766922712326f;
    dq[qAt / 4u + 6u] = acc[0][6] * 0.1767766922712326f;
    dq[qAt / 4u + 7u] = acc[0][7] * 0.1767766922712326f;
  }
}

fn dkvBlock(group: u32, lid: u32, loadLane: u32) {
  let block = group % 3u;
  let seqHead = group / 3u;
  let kvHead = seqHead % 2u;
  let firstRow = (seqHead / 2u) * 48u;
  let firstPos = block * 16u + (lid / 8u) * 8u + lid % 8u;

  // this invocation's own key rows (slot-major), and their gradients
  var kRow: array<array<vec4<f32>, 8>, 1>;
  var vRow: array<array<vec4<f32>, 8>, 1>;
  var dkAcc: array<array<vec4<f32>, 8>, 1>;
  var dvAcc: array<array<vec4<f32>, 8>, 1>;
  var rows: array<u32, 1>;
  {
    rows[0] = firstRow + min(firstPos + 0u, 48u - 1u);
    let kvAt = rows[0] * 64u + kvHead * 32u;
    kRow[0][0] = k[kvAt / 4u + 0u] * 0.1767766922712326f;
    kRow[0][1] = k[kvAt / 4u + 1u] * 0.1767766922712326f;
    kRow[0][2] = k[kvAt / 4u + 2u] * 0.1767766922712326f;
    kRow[0][3] = k[kvAt / 4u + 3u] * 0.1767766922712326f;
    kRow[0][4] = k[kvAt / 4u + 4u] * 0.1767766922712326f;
    kRow[0][5] = k[kvAt / 4u + 5u] * 0.1767766922712326f;
    kRow[0][6] = k[kvAt / 4u + 6u] * 0.1767766922712326f;
    kRow[0][7] = k[kvAt / 4u + 7u] * 0.1767766922712326f;
    vRow[0][0] = v[kvAt / 4u + 0u];
    vRow[0][1] = v[kvAt / 4u + 1u];
    vRow[0][2] = v[kvAt / 4u + 2u];
    vRow[0][3] = v[kvAt / 4u + 3u];
    vRow[0][4] = v[kvAt / 4u + 4u];
    vRow[0][5] = v[kvAt / 4u + 5u];
    vRow[0][6] = v[kvAt / 4u + 6u];
    vRow[0][7] = v[kvAt / 4u + 7u];
  }
  // causal: queries before the subgroup's first key see none of its keys (slot 0 holds each lane's first key)
  let queryStart = firstRow + subgroupMin(firstPos);
  let queryEnd = firstRow + 48u;
  // a loop bound the shader compiler cannot see (arrayLength is known only at dispatch): unrolled over the
  // grouped heads, this loop multiplied lavapipe's compile time (seconds) and bought nothing
  let headsPerKv = 2u * min(arrayLength(&lse), 1u);
  for (var h = 0u; h < headsPerKv; h++) {
    let head = kvHead * 2u + h;
    for (var query = queryStart; query < queryEnd; query++) {
      let at = query * 128u + head * 32u;
      let qw0 = q[at / 4u + 0u + loadLane];
      let gw0 = dOut[at / 4u + 0u + loadLane];
      // lse_i and D_i are the same for every lane: one lane loads them (a per-lane load costs a check and a load per
      // active lane on lavapipe) and subgroupBroadcast hands them out
      var lseLane = 0.0f;
      var dotLane = 0.0f;
      if (loadLane == 0u) {
        lseLane = lse[query * 4u + head];
        dotLane = dsum[query * 4u + head];
      }
      let queryDot = subgroupBroadcast(dotLane, 0u);
      let queryLse = subgroupBroadcast(lseLane, 0u);
      var qStream: array<vec4<f32>, 8>;
      var gradStream: array<vec4<f32>, 8>;
      qStream[0] = subgroupBroadcast(qw0, 0u);
      gradStream[0] = subgroupBroadcast(gw0, 0u);
      qStream[1] = subgroupBroadcast(qw0, 1u);
      gradStream[1] = subgroupBroadcast(gw0, 1u);
      qStream[2] = subgroupBroadcast(qw0, 2u);
      gradStream[2] = subgroupBroadcast(gw0, 2u);
      qStream[3] = subgroupBroadcast(qw0, 3u);
      gradStream[3] = subgroupBroadcast(gw0, 3u);
      qStream[4] = subgroupBroadcast(qw0, 4u);
      gradStream[4] = subgroupBroadcast(gw0, 4u);
      qStream[5] = subgroupBroadcast(qw0, 5u);
      gradStream[5] = subgroupBroadcast(gw0, 5u);
      qStream[6] = subgroupBroadcast(qw0, 6u);
      gradStream[6] = subgroupBroadcast(gw0, 6u);
      qStream[7] = subgroupBroadcast(qw0, 7u);
      gradStream[7] = subgroupBroadcast(gw0, 7u);
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
        s += dot(qStream[5], kRow[0][5]);
        dp += dot(gradStream[5], vRow[0][5]);
        s += dot(qStream[6], kRow[0][6]);
        dp += dot(gradStream[6], vRow[0][6]);
        s += dot(qStream[7], kRow[0][7]);
        dp += dot(gradStream[7], vRow[0][7]);
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
        dvAcc[0][5] += prob * gradStream[5];
        dkAcc[0][5] += ds * qStream[5];
        dvAcc[0][6] += prob * gradStream[6];
        dkAcc[0][6] += ds * qStream[6];
        dvAcc[0][7] += prob * gradStream[7];
        dkAcc[0][7] += ds * qStream[7];
      }
    }
  }
  if (firstPos + 0u < 48u) {
    let kvAt = rows[0] * 64u + kvHead * 32u;
    ropeInverse(&dkAcc[0], f32(firstPos + 0u));
    dk[kvAt / 4u + 0u] = dkAcc[0][0] * 0.1767766922712326f;
    dk[kvAt / 4u + 1u] = dkAcc[0][1] * 0.1767766922712326f;
    dk[kvAt / 4u + 2u] = dkAcc[0][2] * 0.1767766922712326f;
    dk[kvAt / 4u + 3u] = dkAcc[0][3] * 0.1767766922712326f;
    dk[kvAt / 4u + 4u] = dkAcc[0][4] * 0.1767766922712326f;
    dk[kvAt / 4u + 5u] = dkAcc[0][5] * 0.1767766922712326f;
    dk[kvAt / 4u + 6u] = dkAcc[0][6] * 0.1767766922712326f;
    dk[kvAt / 4u + 7u] = dkAcc[0][7] * 0.1767766922712326f;
    dv[kvAt / 4u + 0u] = dvAcc[0][0];
    dv[kvAt / 4u + 1u] = dvAcc[0][1];
    dv[kvAt / 4u + 2u] = dvAcc[0][2];
    dv[kvAt / 4u + 3u] = dvAcc[0][3];
    dv[kvAt / 4u + 4u] = dvAcc[0][4];
    dv[kvAt / 4u + 5u] = dvAcc[0][5];
    dv[kvAt / 4u + 6u] = dvAcc[0][6];
    dv[kvAt / 4u + 7u] = dvAcc[0][7];
  }
}

@compute @workgroup_size(16)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(subgroup_invocation_id) sgLane: u32) {
  let group = wid.x + wid.y * 36u;
  let loadLane = sgLane % 8u;
  if (group < 24u) {
    dqBlock(group, lid.x, loadLane);
  } else if (group < 24u + 12u) {
    dkvBlock(group - 24u, lid.x, loadLane);
  }
}
