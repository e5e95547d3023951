// attention_dkv_t140_s70_h6kv2_d20
// attention backward, dk and dv: for key j of kv head g,
//   dv_j = sum_h sum_{i>=j} P_ij dOut_i,  dk_j = 0.22360679507255554f * sum_h sum_{i>=j} P_ij (dOut_i . v_j - D_i) q_i
// over the 3 query heads h sharing g; P_ij = exp(s_ij - lse_i), D_i = dOut_i . out_i
// causal per sequence of 70, 6 heads over 2 kv heads, hd = 20 (as 5 vec4, zero-padded)
// bindings: dOut, q, k, v, out, lse (read), dk, dv (write)
// grid: workgroup = (sequence, kv head, block of 64 keys), 2 blocks per sequence; one thread per key;
// q/dOut staged 32 queries at a time; heads then queries summed in ascending order (deterministic, no atomics)
@group(0) @binding(0) var<storage, read> dOut: array<f32>;
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> k: array<f32>;
@group(0) @binding(3) var<storage, read> v: array<f32>;
@group(0) @binding(4) var<storage, read> out: array<f32>;
@group(0) @binding(5) var<storage, read> lse: array<f32>;
@group(0) @binding(6) var<storage, read_write> dk: array<f32>;
@group(0) @binding(7) var<storage, read_write> dv: array<f32>;

var<workgroup> qTile: array<vec4<f32>, 160>;
var<workgroup> gradTile: array<vec4<f32>, 160>;
var<workgroup> lseTile: array<f32, 32>;
var<workgroup> dotTile: array<f32, 32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let group = wid.x + wid.y * 8u;
  let block = group % 2u;
  let seqHead = group / 2u;
  let kvHead = seqHead % 2u;
  let firstRow = (seqHead / 2u) * 70u;
  // Loop bounds the shader compiler cannot see (arrayLength is known only at dispatch), for loops
  // whose unrolling buys nothing but compile time: lavapipe unrolled them and took seconds more.
  let opaqueOne = min(arrayLength(&lse), 1u);
  let rowLength = 20u * opaqueOne;
  let headsPerKv = 3u * opaqueOne;
  let kPos = block * 64u + lid.x;
  let isKey = kPos < 70u;
  let kvAt = (firstRow + kPos) * 40u + kvHead * 20u;

  var kRow: array<vec4<f32>, 5>;
  var vRow: array<vec4<f32>, 5>;
  var dkAcc: array<vec4<f32>, 5>;
  var dvAcc: array<vec4<f32>, 5>;
  for (var c = 0u; c < 20u; c++) {
    if (isKey) {
      kRow[c / 4u][c % 4u] = k[kvAt + c] * 0.22360679507255554f;
      vRow[c / 4u][c % 4u] = v[kvAt + c];
    }
  }

  // causal: queries before the block's first key see none of its keys
  let queryStart = block * 64u;
  for (var h = 0u; h < headsPerKv; h++) {
    let head = kvHead * 3u + h;
    for (var queryBase = queryStart; queryBase < 70u; queryBase += 32u) {
      for (var e = lid.x; e < 160u; e += 64u) {
        let query = queryBase + e / 5u;
        let col = (e % 5u) * 4u;
        var qValue = vec4<f32>(0.0f);
        var gValue = vec4<f32>(0.0f);
        if (query < 70u) {
          let at = (firstRow + query) * 120u + head * 20u + col;
          for (var lane = 0u; lane < 4u; lane++) {
            if (col + lane < 20u) {
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
        if (query < 70u) {
          let row = firstRow + query;
          rowLse = lse[row * 6u + head];
          let at = row * 120u + head * 20u;
          for (var c = 0u; c < rowLength; c++) { rowDot += dOut[at + c] * out[at + c]; }
        }
        lseTile[lid.x] = rowLse;
        dotTile[lid.x] = rowDot;
      }
      workgroupBarrier();
      if (isKey && queryBase + 32u > kPos) {
        let count = min(32u, 70u - queryBase);
        // first row of this tile whose query can see key kPos
        var r = 0u;
        if (kPos > queryBase) { r = kPos - queryBase; }
        for (; r < count; r++) {
          var s = 0.0f;
          var dp = 0.0f;
          for (var c = 0u; c < 5u; c++) {
            s += dot(qTile[r * 5u + c], kRow[c]);
            dp += dot(gradTile[r * 5u + c], vRow[c]);
          }
          let prob = exp(s - lseTile[r]);
          let ds = prob * (dp - dotTile[r]);
          for (var c = 0u; c < 5u; c++) {
            dvAcc[c] += prob * gradTile[r * 5u + c];
            dkAcc[c] += ds * qTile[r * 5u + c];
          }
        }
      }
      workgroupBarrier();
    }
  }

  if (isKey) {
    for (var c = 0u; c < 20u; c++) {
      dk[kvAt + c] = dkAcc[c / 4u][c % 4u] * 0.22360679507255554f;
      dv[kvAt + c] = dvAcc[c / 4u][c % 4u];
    }
  }
}
