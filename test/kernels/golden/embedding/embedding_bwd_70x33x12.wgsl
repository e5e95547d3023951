// embedding_bwd_70x33x12
// embedding backward: dTable[v, d] = sum over i in [rowStart[v], rowStart[v + 1]) of dOut[sortedTokens[i], d]
// (buckets from embedding_sort, summed in ascending token order: deterministic; unused rows get 0)
// bindings: dOut, sortedTokens, rowStart (read), dTable (write); one thread per (v, d), n = 396
@group(0) @binding(0) var<storage, read> dOut: array<f32>;
@group(0) @binding(1) var<storage, read> sortedTokens: array<i32>;
@group(0) @binding(2) var<storage, read> rowStart: array<i32>;
@group(0) @binding(3) var<storage, read_write> dTable: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = (wid.x + wid.y * 2u) * 256u + lid.x;
  if (i >= 396u) { return; }
  let v = i / 12u;
  let d = i - v * 12u;
  let start = max(rowStart[v], 0);
  let end = min(rowStart[v + 1u], 70);
  var sum = 0.0f;
  for (var k = start; k < end; k++) {
    let t = sortedTokens[k];
    if (t >= 0 && t < 70) {
      sum += dOut[u32(t) * 12u + d];
    }
  }
  dTable[i] = sum;
}
