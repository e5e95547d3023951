// attention_fwd_t140_s70_h6kv2_d20
// attention forward: causal softmax(q k^T * 0.22360679507255554f) v per sequence of 70, 6 heads over 2 kv heads, hd = 20 (as 5 vec4, zero-padded)
// bindings: q, k, v (read), out, lse (write); q/out rows of 120, k/v rows of 40
// grid: workgroup = (sequence, head, block of 64 queries), 2 blocks per sequence; one thread per query
// K/V are staged 32 keys at a time; each thread keeps an online softmax (running max m, sum l).
@group(0) @binding(0) var<storage, read> q: array<f32>;
@group(0) @binding(1) var<storage, read> k: array<f32>;
@group(0) @binding(2) var<storage, read> v: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<storage, read_write> lse: array<f32>;

var<workgroup> kTile: array<vec4<f32>, 160>;
var<workgroup> vTile: array<vec4<f32>, 160>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let group = wid.x + wid.y * 24u;
  let block = group % 2u;
  let seqHead = group / 2u;
  let head = seqHead % 6u;
  let firstRow = (seqHead / 6u) * 70u;
  let kvCol = (head / 3u) * 20u;
  let qPos = block * 64u + lid.x;
  let isQuery = qPos < 70u;
  let qAt = (firstRow + qPos) * 120u + head * 20u;

  var qRow: array<vec4<f32>, 5>;
  var acc: array<vec4<f32>, 5>;
  var scores: array<f32, 32>;
  if (isQuery) {
    for (var c = 0u; c < 20u; c++) { qRow[c / 4u][c % 4u] = q[qAt + c] * 0.22360679507255554f; }
  }
  var m = -3.4028234663852886e+38f;
  var l = 0.0f;

  // causal: the block's last query is the last key anyone here needs
  let keyEnd = min(70u, block * 64u + 64u);
  for (var keyBase = 0u; keyBase < keyEnd; keyBase += 32u) {
    for (var e = lid.x; e < 160u; e += 64u) {
      let key = keyBase + e / 5u;
      let col = (e % 5u) * 4u;
      var kValue = vec4<f32>(0.0f);
      var vValue = vec4<f32>(0.0f);
      if (key < 70u) {
        let at = (firstRow + key) * 40u + kvCol + col;
        for (var lane = 0u; lane < 4u; lane++) {
          if (col + lane < 20u) {
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
      let count = min(32u, qPos + 1u - keyBase);
      var tileMax = -3.4028234663852886e+38f;
      for (var r = 0u; r < count; r++) {
        var s = 0.0f;
        for (var c = 0u; c < 5u; c++) { s += dot(qRow[c], kTile[r * 5u + c]); }
        scores[r] = s;
        tileMax = max(tileMax, s);
      }
      let mNew = max(m, tileMax);
      let correction = exp(m - mNew);
      l *= correction;
      for (var c = 0u; c < 5u; c++) { acc[c] *= correction; }
      for (var r = 0u; r < count; r++) {
        let prob = exp(scores[r] - mNew);
        l += prob;
        for (var c = 0u; c < 5u; c++) { acc[c] += prob * vTile[r * 5u + c]; }
      }
      m = mNew;
    }
    workgroupBarrier();
  }

  if (isQuery) {
    let inverseSum = 1.0f / l;
    for (var c = 0u; c < 20u; c++) { out[qAt + c] = acc[c / 4u][c % 4u] * inverseSum; }
    lse[(firstRow + qPos) * 6u + head] = m + log(l);
  }
}
