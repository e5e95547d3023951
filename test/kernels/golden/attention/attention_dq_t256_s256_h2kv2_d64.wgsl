// attention_dq_t256_s256_h2kv2_d64
// attention backward, dq: dq_i = 0.125f * sum_{j<=i} P_ij (dOut_i . v_j - D_i) k_j, P_ij = exp(s_ij - lse_i), D_i = dOut_i . out_i
// causal per sequence of 256, 2 heads over 2 kv heads, hd = 64 (as 16 vec4, zero-padded)
// bindings: dOut, q, k, v, out, lse (read), dq (write)
// grid: workgroup = (sequence, head, block of 64 queries), 4 blocks per sequence; one thread per query;
// K/V staged 16 keys at a time; keys summed in ascending order (deterministic)
@group(0) @binding(0) var<storage, read> dOut: array<f32>;
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> k: array<f32>;
@group(0) @binding(3) var<storage, read> v: array<f32>;
@group(0) @binding(4) var<storage, read> out: array<f32>;
@group(0) @binding(5) var<storage, read> lse: array<f32>;
@group(0) @binding(6) var<storage, read_write> dq: array<f32>;

var<workgroup> kTile: array<vec4<f32>, 256>;
var<workgroup> vTile: array<vec4<f32>, 256>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let group = wid.x + wid.y * 8u;
  let block = group % 4u;
  let seqHead = group / 4u;
  let head = seqHead % 2u;
  let firstRow = (seqHead / 2u) * 256u;
  let kvCol = (head / 1u) * 64u;
  let qPos = block * 64u + lid.x;
  let isQuery = qPos < 256u;
  let qAt = (firstRow + qPos) * 128u + head * 64u;

  var qRow: array<vec4<f32>, 16>;
  var gradRow: array<vec4<f32>, 16>;
  var acc: array<vec4<f32>, 16>;
  var rowDot = 0.0f;
  var rowLse = 0.0f;
  if (isQuery) {
    for (var c = 0u; c < 64u; c++) {
      qRow[c / 4u][c % 4u] = q[qAt + c] * 0.125f;
      gradRow[c / 4u][c % 4u] = dOut[qAt + c];
      rowDot += dOut[qAt + c] * out[qAt + c];
    }
    rowLse = lse[(firstRow + qPos) * 2u + head];
  }

  let keyEnd = min(256u, block * 64u + 64u);
  for (var keyBase = 0u; keyBase < keyEnd; keyBase += 16u) {
    for (var e = lid.x; e < 256u; e += 64u) {
      let key = keyBase + e / 16u;
      let col = (e % 16u) * 4u;
      var kValue = vec4<f32>(0.0f);
      var vValue = vec4<f32>(0.0f);
      if (key < 256u) {
        let at = (firstRow + key) * 128u + kvCol + col;
        for (var lane = 0u; lane < 4u; lane++) {
          if (col + lane < 64u) {
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
      let count = min(16u, qPos + 1u - keyBase);
      for (var r = 0u; r < count; r++) {
        var s = 0.0f;
        var dp = 0.0f;
        for (var c = 0u; c < 16u; c++) {
          s += dot(qRow[c], kTile[r * 16u + c]);
          dp += dot(gradRow[c], vTile[r * 16u + c]);
        }
        let ds = exp(s - rowLse) * (dp - rowDot);
        for (var c = 0u; c < 16u; c++) { acc[c] += ds * kTile[r * 16u + c]; }
      }
    }
    workgroupBarrier();
  }

  if (isQuery) {
    for (var c = 0u; c < 64u; c++) { dq[qAt + c] = acc[c / 4u][c % 4u] * 0.125f; }
  }
}
