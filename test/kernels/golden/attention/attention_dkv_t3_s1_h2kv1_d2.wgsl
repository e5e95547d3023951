// attention_dkv_t3_s1_h2kv1_d2
// attention backward, dk and dv: for key j of kv head g,
//   dv_j = sum_h sum_{i>=j} P_ij dOut_i,  dk_j = 0.7071067690849304f * sum_h sum_{i>=j} P_ij (dOut_i . v_j - D_i) q_i
// over the 2 query heads h sharing g; P_ij = exp(s_ij - lse_i), D_i = dOut_i . out_i
// causal per sequence of 1, 2 heads over 1 kv heads, hd = 2 (as 1 vec4, zero-padded)
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

var<workgroup> qTile: array<vec4<f32>, 64>;
var<workgroup> gradTile: array<vec4<f32>, 64>;
var<workgroup> lseTile: array<f32, 64>;
var<workgroup> dotTile: array<f32, 64>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let group = wid.x + wid.y * 3u;
  let block = group % 1u;
  let seqHead = group / 1u;
  let kvHead = seqHead % 1u;
  let firstRow = (seqHead / 1u) * 1u;
  // Loop bounds the shader compiler cannot see (arrayLength is known only at dispatch), for loops
  // whose unrolling buys nothing but compile time: lavapipe unrolled them and took seconds more.
  let opaqueOne = min(arrayLength(&lse), 1u);
  let rowLength = 2u * opaqueOne;
  let headsPerKv = 2u * opaqueOne;
  let kPos = block * 64u + lid.x;
  let isKey = kPos < 1u;
  let kvAt = (firstRow + kPos) * 2u + kvHead * 2u;

  var kRow: array<vec4<f32>, 1>;
  var vRow: array<vec4<f32>, 1>;
  var dkAcc: array<vec4<f32>, 1>;
  var dvAcc: array<vec4<f32>, 1>;
  for (var c = 0u; c < 2u; c++) {
    if (isKey) {
      kRow[c / 4u][c % 4u] = k[kvAt + c] * 0.7071067690849304f;
      vRow[c / 4u][c % 4u] = v[kvAt + c];
    }
  }

  // causal: queries before the block's first key see none of its keys
  let queryStart = block * 64u;
  for (var h = 0u; h < headsPerKv; h++) {
    let head = kvHead * 2u + h;
    for (var queryBase = queryStart; queryBase < 1u; queryBase += 64u) {
      for (var e = lid.x; e < 64u; e += 64u) {
        let query = queryBase + e / 1u;
        let col = (e % 1u) * 4u;
        var qValue = vec4<f32>(0.0f);
        var gValue = vec4<f32>(0.0f);
        if (query < 1u) {
          let at = (firstRow + query) * 4u + head * 2u + col;
          for (var lane = 0u; lane < 4u; lane++) {
            if (col + lane < 2u) {
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
        if (query < 1u) {
          let row = firstRow + query;
          rowLse = lse[row * 2u + head];
          let at = row * 4u + head * 2u;
          for (var c = 0u; c < rowLength; c++) { rowDot += dOut[at + c] * out[at + c]; }
        }
        lseTile[lid.x] = rowLse;
        dotTile[lid.x] = rowDot;
      }
      workgroupBarrier();
      if (isKey && queryBase + 64u > kPos) {
        let count = min(64u, 1u - queryBase);
        // first row of this tile whose query can see key kPos
        var r = 0u;
        if (kPos > queryBase) { r = kPos - queryBase; }
        for (; r < count; r++) {
          var s = 0.0f;
          var dp = 0.0f;
          for (var c = 0u; c < 1u; c++) {
            s += dot(qTile[r * 1u + c], kRow[c]);
            dp += dot(gradTile[r * 1u + c], vRow[c]);
          }
          let prob = exp(s - lseTile[r]);
          let ds = prob * (dp - dotTile[r]);
          for (var c = 0u; c < 1u; c++) {
            dvAcc[c] += prob * gradTile[r * 1u + c];
            dkAcc[c] += ds * qTile[r * 1u + c];
          }
        }
      }
      workgroupBarrier();
    }
  }

  if (isKey) {
    for (var c = 0u; c < 2u; c++) {
      dk[kvAt + c] = dkAcc[c / 4u][c % 4u] * 0.7071067690849304f;
      dv[kvAt + c] = dvAcc[c / 4u][c % 4u];
    }
  }
}
