// attention_fwd_t3_s1_h2kv1_d2
// attention forward: causal softmax(q k^T * 0.7071067690849304f) v per sequence of 1, 2 heads over 1 kv heads, hd = 2 (as 1 vec4, zero-padded)
// bindings: q, k, v (read), out, lse (write); q/out rows of 4, k/v rows of 2
// grid: workgroup = (sequence, head, block of 64 queries), 1 blocks per sequence; one thread per query
// K/V are staged 64 keys at a time; each thread keeps an online softmax (running max m, sum l).
@group(0) @binding(0) var<storage, read> q: array<f32>;
@group(0) @binding(1) var<storage, read> k: array<f32>;
@group(0) @binding(2) var<storage, read> v: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<storage, read_write> lse: array<f32>;

var<workgroup> kTile: array<vec4<f32>, 64>;
var<workgroup> vTile: array<vec4<f32>, 64>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let group = wid.x + wid.y * 6u;
  let block = group % 1u;
  let seqHead = group / 1u;
  let head = seqHead % 2u;
  let firstRow = (seqHead / 2u) * 1u;
  let kvCol = (head / 2u) * 2u;
  let qPos = block * 64u + lid.x;
  let isQuery = qPos < 1u;
  let qAt = (firstRow + qPos) * 4u + head * 2u;

  var qRow: array<vec4<f32>, 1>;
  var acc: array<vec4<f32>, 1>;
  var scores: array<f32, 64>;
  if (isQuery) {
    for (var c = 0u; c < 2u; c++) { qRow[c / 4u][c % 4u] = q[qAt + c] * 0.7071067690849304f; }
  }
  var m = -3.4028234663852886e+38f;
  var l = 0.0f;

  // causal: the block's last query is the last key anyone here needs
  let keyEnd = min(1u, block * 64u + 64u);
  for (var keyBase = 0u; keyBase < keyEnd; keyBase += 64u) {
    for (var e = lid.x; e < 64u; e += 64u) {
      let key = keyBase + e / 1u;
      let col = (e % 1u) * 4u;
      var kValue = vec4<f32>(0.0f);
      var vValue = vec4<f32>(0.0f);
      if (key < 1u) {
        let at = (firstRow + key) * 2u + kvCol + col;
        for (var lane = 0u; lane < 4u; lane++) {
          if (col + lane < 2u) {
            kValue[lane] = k[at + lane];
            vValue[lane] = v[at + lane];
          }
        }
      }
      kTile[e] = kValue;
      vTile[e] = vValue;
    }
    workgroupBarrier();
    if (isQuery && keyBase <= qPos) {
      let count = min(64u, qPos + 1u - keyBase);
      var tileMax = -3.4028234663852886e+38f;
      for (var r = 0u; r < count; r++) {
        var s = 0.0f;
        for (var c = 0u; c < 1u; c++) { s += dot(qRow[c], kTile[r * 1u + c]); }
        scores[r] = s;
        tileMax = max(tileMax, s);
      }
      let mNew = max(m, tileMax);
      let correction = exp(m - mNew);
      l *= correction;
      for (var c = 0u; c < 1u; c++) { acc[c] *= correction; }
      for (var r = 0u; r < count; r++) {
        let prob = exp(scores[r] - mNew);
        l += prob;
        for (var c = 0u; c < 1u; c++) { acc[c] += prob * vTile[r * 1u + c]; }
      }
      m = mNew;
    }
    workgroupBarrier();
  }

  if (isQuery) {
    let inverseSum = 1.0f / l;
    for (var c = 0u; c < 2u; c++) { out[qAt + c] = acc[c / 4u][c % 4u] * inverseSum; }
    lse[(firstRow + qPos) * 2u + head] = m + log(l);
  }
}
