// attention_dkv_t130_s130_h3kv1_d24
// attention backward, dk and dv: for key j of kv head g,
//   dv_j = sum_h sum_{i>=j} P_ij dOut_i,  dk_j = 0.20412415266036987f * sum_h sum_{i>=j} P_ij (dOut_i . v_j - D_i) q_i
// over the 3 query heads h sharing g; P_ij = exp(s_ij - lse_i), D_i = dOut_i . out_i
// causal per sequence of 130, 3 heads over 1 kv heads, hd = 24 (as 6 vec4, zero-padded)
// bindings: dOut, q, k, v, out, lse (read), dk, dv (write)
// grid: workgroup = (sequence, kv head, block of 64 keys), 3 blocks per sequence; one thread per key;
// q/dOut staged 32 queries at a time; heads then queries summed in ascending order (deterministic, no atomics)
@group(0) @binding(0) var<storage, read> dOut: array<f32>;
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> k: array<f32>;
@group(0) @binding(3) var<storage, read> v: array<f32>;
@group(0) @binding(4) var<storage, read> out: array<f32>;
@group(0) @binding(5) var<storage, read> lse: array<f32>;
@group(0) @binding(6) var<storage, read_write> dk: array<f32>;
@group(0) @binding(7) var<storage, read_write> dv: array<f32>;

var<workgroup> qTile: array<vec4<f32>, 192>;
var<workgroup> gradTile: array<vec4<f32>, 192>;
var<workgroup> lseTile: array<f32, 32>;
var<workgroup> dotTile: array<f32, 32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let group = wid.x + wid.y * 3u;
  let block = group % 3u;
  let seqHead = group / 3u;
  let kvHead = seqHead % 1u;
  let firstRow = (seqHead / 1u) * 130u;
  // Loop bounds the shader compiler cannot see (arrayLength is known only at dispatch), for loops
  // whose unrolling buys nothing but compile time: lavapipe unrolled them and took seconds more.
  let opaqueOne = min(arrayLength(&lse), 1u);
  let rowLength = 24u * opaqueOne;
  let headsPerKv = 3u * opaqueOne;
  let kPos = block * 64u + lid.x;
  let isKey = kPos < 130u;
  let kvAt = (firstRow + kPos) * 24u + kvHead * 24u;

  var kRow: array<vec4<f32>, 6>;
  var vRow: array<vec4<f32>, 6>;
  var dkAcc: array<vec4<f32>, 6>;
  var dvAcc: array<vec4<f32>, 6>;
  for (var c = 0u; c < 24u; c++) {
    if (isKey) {
      kRow[c / 4u][c % 4u] = k[kvAt + c] * 0.20412415266036987f;
      vRow[c / 4u][c % 4u] = v[kvAt + c];
    }
  }

  // causal: queries before the block's first key see none of its keys
  let queryStart = block * 64u;
  for (var h = 0u; h < headsPerKv; h++) {
    let head = kvHead * 3u + h;
    for (var queryBase = queryStart; queryBase < 130u; queryBase += 32u) {
      for (var e = lid.x; e < 192u; e += 64u) {
        let query = queryBase + e / 6u;
        let col = (e % 6u) * 4u;
        var qValue = vec4<f32>(0.0f);
        var gValue = vec4<f32>(0.0f);
        if (query < 130u) {
          let at = (firstRow + query) * 72u + head * 24u + col;
          for (var lane = 0u; lane < 4u; lane++) {
            if (col + lane < 24u) {
              qValue[lane] = q[at + lane];
              gValue[lane] = dOut[at + lane];
            }
          }
        }
        qTile[e] = qValue;
        gradTile[e] = gValue;
      }
      if (lid.x < 32u) {
        let query = queryBase + lid.x;
        var rowLse = 0.0f;
        var rowDot = 0.0f;
        if (query < 130u) {
          let row = firstRow + query;
          rowLse = lse[row * 3u + head];
          let at = row * 72u + head * 24u;
          for (var c = 0u; c < rowLength; c++) { rowDot += dOut[at + c] * out[at + c]; }
        }
        lseTile[lid.x] = rowLse;
        dotTile[lid.x] = rowDot;
      }
      workgroupBarrier();
      if (isKey && queryBase + 32u > kPos) {
        let count = min(32u, 130u - queryBase);
        // first row of this tile whose query can see key kPos
        var r = 0u;
        if (kPos > queryBase) { r = kPos - queryBase; }
        for (; r < count; r++) {
          var s = 0.0f;
          var dp = 0.0f;
          for (var c = 0u; c < 6u; c++) {
            s += dot(qTile[r * 6u + c], kRow[c]);
            dp += dot(gradTile[r * 6u + c], vRow[c]);
          }
          let prob = exp(s - lseTile[r]);
          let ds = prob * (dp - dotTile[r]);
          for (var c = 0u; c < 6u; c++) {
            dvAcc[c] += prob * gradTile[r * 6u + c];
            dkAcc[c] += ds * qTile[r * 6u + c];
          }
        }
      }
      workgroupBarrier();
    }
  }

  if (isKey) {
    for (var c = 0u; c < 24u; c++) {
      dk[kvAt + c] = dkAcc[c / 4u][c % 4u] * 0.20412415266036987f;
      dv[kvAt + c] = dvAcc[c / 4u][c % 4u];
    }
  }
}
