// attention_dkv_t74_s37_h4kv2_d16
// attention backward, dk and dv: for key j of kv head g,
//   dv_j = sum_h sum_{i>=j} P_ij dOut_i,  dk_j = 0.25f * sum_h sum_{i>=j} P_ij (dOut_i . v_j - D_i) q_i
// over the 2 query heads h sharing g; P_ij = exp(s_ij - lse_i), D_i = dOut_i . out_i
// causal per sequence of 37, 4 heads over 2 kv heads, hd = 16 (as 4 vec4, zero-padded)
// bindings: dOut, q, k, v, out, lse (read), dk, dv (write)
// grid: workgroup = (sequence, kv head, block of 64 keys), 1 blocks per sequence; one thread per key;
// q/dOut staged 64 queries at a time; heads then queries summed in ascending order (deterministic, no atomics)
@group(0) @binding(0) var<storage, read> dOut: array<f32>;
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> k: array<f32>;
@group(0) @binding(3) var<storage, read> v: array<f32>;
@group(0) @binding(4) var<storage, read> out: array<f32>;
@group(0) @binding(5) var<storage, read> lse: array<f32>;
@group(0) @binding(6) var<storage, read_write> dk: array<f32>;
@group(0) @binding(7) var<storage, read_write> dv: array<f32>;

var<workgroup> qTile: array<vec4<f32>, 256>;
var<workgroup> gradTile: array<vec4<f32>, 256>;
var<workgroup> lseTile: array<f32, 64>;
var<workgroup> dotTile: array<f32, 64>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let group = wid.x + wid.y * 4u;
  let block = group % 1u;
  let seqHead = group / 1u;
  let kvHead = seqHead % 2u;
  let firstRow = (seqHead / 2u) * 37u;
  // Loop bounds the shader compiler cannot see (arrayLength is known only at dispatch), for loops
  // whose unrolling buys nothing but compile time: lavapipe unrolled them and took seconds more.
  let opaqueOne = min(arrayLength(&lse), 1u);
  let rowLength = 16u * opaqueOne;
  let headsPerKv = 2u * opaqueOne;
  let kPos = block * 64u + lid.x;
  let isKey = kPos < 37u;
  let kvAt = (firstRow + kPos) * 32u + kvHead * 16u;

  var kRow: array<vec4<f32>, 4>;
  var vRow: array<vec4<f32>, 4>;
  var dkAcc: array<vec4<f32>, 4>;
  var dvAcc: array<vec4<f32>, 4>;
  for (var c = 0u; c < 16u; c++) {
    if (isKey) {
      kRow[c / 4u][c % 4u] = k[kvAt + c] * 0.25f;
      vRow[c / 4u][c % 4u] = v[kvAt + c];
    }
  }

  // causal: queries before the block's first key see none of its keys
  let queryStart = block * 64u;
  for (var h = 0u; h < headsPerKv; h++) {
    let head = kvHead * 2u + h;
    for (var queryBase = queryStart; queryBase < 37u; queryBase += 64u) {
      for (var e = lid.x; e < 256u; e += 64u) {
        let query = queryBase + e / 4u;
        let col = (e % 4u) * 4u;
        var qValue = vec4<f32>(0.0f);
        var gValue = vec4<f32>(0.0f);
        if (query < 37u) {
          let at = (firstRow + query) * 64u + head * 16u + col;
          for (var lane = 0u; lane < 4u; lane++) {
            if (col + lane < 16u) {
              qValue[lane] = q[at + lane];
              gValue[lane] = dOut[at + lane];
            }
          }
        }
        qTile[e] = qValue;
        gradTile[e] = gValue;
      }
      if (lid.x < 64u) {
        let query = queryBase + lid.x;
        var rowLse = 0.0f;
        var rowDot = 0.0f;
        if (query < 37u) {
          let row = firstRow + query;
          rowLse = lse[row * 4u + head];
          let at = row * 64u + head * 16u;
          for (var c = 0u; c < rowLength; c++) { rowDot += dOut[at + c] * out[at + c]; }
        }
        lseTile[lid.x] = rowLse;
        dotTile[lid.x] = rowDot;
      }
      workgroupBarrier();
      if (isKey && queryBase + 64u > kPos) {
        let count = min(64u, 37u - queryBase);
        // first row of this tile whose query can see key kPos
        var r = 0u;
        if (kPos > queryBase) { r = kPos - queryBase; }
        for (; r < count; r++) {
          var s = 0.0f;
          var dp = 0.0f;
          for (var c = 0u; c < 4u; c++) {
            s += dot(qTile[r * 4u + c], kRow[c]);
            dp += dot(gradTile[r * 4u + c], vRow[c]);
          }
          let prob = exp(s - lseTile[r]);
          let ds = prob * (dp - dotTile[r]);
          for (var c = 0u; c < 4u; c++) {
            dvAcc[c] += prob * gradTile[r * 4u + c];
            dkAcc[c] += ds * qTile[r * 4u + c];
          }
        }
      }
      workgroupBarrier();
    }
  }

  if (isKey) {
    for (var c = 0u; c < 16u; c++) {
      dk[kvAt + c] = dkAcc[c / 4u][c % 4u] * 0.25f;
      dv[kvAt + c] = dvAcc[c / 4u][c % 4u];
    }
  }
}
