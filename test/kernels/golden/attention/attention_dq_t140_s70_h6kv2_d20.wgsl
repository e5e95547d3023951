// attention_dq_t140_s70_h6kv2_d20
// attention backward, dq: dq_i = 0.22360679507255554f * sum_{j<=i} P_ij (dOut_i . v_j - D_i) k_j, P_ij = exp(s_ij - lse_i), D_i = dOut_i . out_i
// causal per sequence of 70, 6 heads over 2 kv heads, hd = 20 (as 5 vec4, zero-padded)
// bindings: dOut, q, k, v, out, lse (read), dq (write)
// grid: workgroup = (sequence, head, block of 64 queries), 2 blocks per sequence; one thread per query;
// K/V staged 32 keys at a time; keys summed in ascending order (deterministic)
@group(0) @binding(0) var<storage, read> dOut: array<f32>;
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> k: array<f32>;
@group(0) @binding(3) var<storage, read> v: array<f32>;
@group(0) @binding(4) var<storage, read> out: array<f32>;
@group(0) @binding(5) var<storage, read> lse: array<f32>;
@group(0) @binding(6) var<storage, read_write> dq: array<f32>;

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
  var gradRow: array<vec4<f32>, 5>;
  var acc: array<vec4<f32>, 5>;
  var rowDot = 0.0f;
  var rowLse = 0.0f;
  if (isQuery) {
    for (var c = 0u; c < 20u; c++) {
      qRow[c / 4u][c % 4u] = q[qAt + c] * 0.22360679507255554f;
      gradRow[c / 4u][c % 4u] = dOut[qAt + c];
      rowDot += dOut[qAt + c] * out[qAt + c];
    }
    rowLse = lse[(firstRow + qPos) * 6u + head];
  }

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
      for (var r = 0u; r < count; r++) {
        var s = 0.0f;
        var dp = 0.0f;
        for (var c = 0u; c < 5u; c++) {
          s += dot(qRow[c], kTile[r * 5u + c]);
          dp += dot(gradRow[c], vTile[r * 5u + c]);
        }
        let ds = exp(s - rowLse) * (dp - rowDot);
        for (var c = 0u; c < 5u; c++) { acc[c] += ds * kTile[r * 5u + c]; }
      }
    }
    workgroupBarrier();
  }

  if (isQuery) {
    for (var c = 0u; c < 20u; c++) { dq[qAt + c] = acc[c / 4u][c % 4u] * 0.22360679507255554f; }
  }
}
