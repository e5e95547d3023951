// attention_dkv_t256_s256_h2kv2_d64
// attention backward, dk and dv: for key j of kv head g,
//   dv_j = sum_h sum_{i>=j} P_ij dOut_i,  dk_j = 0.125f * sum_h sum_{i>=j} P_ij (dOut_i . v_j - D_i) q_i
// over the 1 query heads h sharing g; P_ij = exp(s_ij - lse_i), D_i = dOut_i . out_i
// causal per sequence of 256, 2 heads over 2 kv heads, hd = 64
// bindings: dOut, q, k, v, out, lse (read), dk, dv (write)
// grid: workgroup = (sequence, kv head, block of 64 keys), 4 blocks per sequence; one thread per key;
// q/dOut staged 16 queries at a time; heads then queries summed in ascending order (deterministic, no atomics)
@group(0) @binding(0) var<storage, read> dOut: array<f32>;
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> k: array<f32>;
@group(0) @binding(3) var<storage, read> v: array<f32>;
@group(0) @binding(4) var<storage, read> out: array<f32>;
@group(0) @binding(5) var<storage, read> lse: array<f32>;
@group(0) @binding(6) var<storage, read_write> dk: array<f32>;
@group(0) @binding(7) var<storage, read_write> dv: array<f32>;

var<workgroup> qTile: array<f32, 1024>;
var<workgroup> gradTile: array<f32, 1024>;
var<workgroup> lseTile: array<f32, 16>;
var<workgroup> dotTile: array<f32, 16>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let group = wid.x + wid.y * 8u;
  let block = group % 4u;
  let seqHead = group / 4u;
  let kvHead = seqHead % 2u;
  let firstRow = (seqHead / 2u) * 256u;
  let kPos = block * 64u + lid.x;
  let isKey = kPos < 256u;
  let kvAt = (firstRow + kPos) * 128u + kvHead * 64u;

  var kRow: array<f32, 64>;
  var vRow: array<f32, 64>;
  var dkAcc: array<f32, 64>;
  var dvAcc: array<f32, 64>;
  for (var c = 0u; c < 64u; c++) {
    dkAcc[c] = 0.0f;
    dvAcc[c] = 0.0f;
    if (isKey) {
      kRow[c] = k[kvAt + c] * 0.125f;
      vRow[c] = v[kvAt + c];
    }
  }

  // causal: queries before the block's first key see none of its keys
  let queryStart = block * 64u;
  for (var h = 0u; h < 1u; h++) {
    let head = kvHead * 1u + h;
    for (var queryBase = queryStart; queryBase < 256u; queryBase += 16u) {
      for (var e = lid.x; e < 1024u; e += 64u) {
        let query = queryBase + e / 64u;
        var qValue = 0.0f;
        var gValue = 0.0f;
        if (query < 256u) {
          let at = (firstRow + query) * 128u + head * 64u + e % 64u;
          qValue = q[at];
          gValue = dOut[at];
        }
        qTile[e] = qValue;
        gradTile[e] = gValue;
      }
      if (lid.x < 16u) {
        let query = queryBase + lid.x;
        var rowLse = 0.0f;
        var rowDot = 0.0f;
        if (query < 256u) {
          let row = firstRow + query;
          rowLse = lse[row * 2u + head];
          let at = row * 128u + head * 64u;
          for (var c = 0u; c < 64u; c++) { rowDot += dOut[at + c] * out[at + c]; }
        }
        lseTile[lid.x] = rowLse;
        dotTile[lid.x] = rowDot;
      }
      workgroupBarrier();
      if (isKey && queryBase + 16u > kPos) {
        let count = min(16u, 256u - queryBase);
        // first row of this tile whose query can see key kPos
        var r = 0u;
        if (kPos > queryBase) { r = kPos - queryBase; }
        for (; r < count; r++) {
          var s = 0.0f;
          var dp = 0.0f;
          for (var c = 0u; c < 64u; c++) {
            s += qTile[r * 64u + c] * kRow[c];
            dp += gradTile[r * 64u + c] * vRow[c];
          }
          let prob = exp(s - lseTile[r]);
          let ds = prob * (dp - dotTile[r]);
          for (var c = 0u; c < 64u; c++) {
            dvAcc[c] += prob * gradTile[r * 64u + c];
            dkAcc[c] += ds * qTile[r * 64u + c];
          }
        }
      }
      workgroupBarrier();
    }
  }

  if (isKey) {
    for (var c = 0u; c < 64u; c++) {
      dk[kvAt + c] = dkAcc[c] * 0.125f;
      dv[kvAt + c] = dvAcc[c];
    }
  }
}
