// rmsnorm_dw_7x129_lane
// rmsnorm weight gradient, lane layout (CPU adapters): dw[j] = sum over rows r of dy[r, j] * x[r, j] * rstd[r]
// 7 rows of 129; bindings: dy, x (f32), rstd (read), dw (write)
// one invocation per column, a serial loop over all rows in order: neighbouring lanes
// read neighbouring columns, there is no shared memory and no barrier, and the sum order is fixed.
// column = (wid.x + wid.y * 3) * 64 + lid.x, of 129
@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> rstd: array<f32>;
@group(0) @binding(3) var<storage, read_write> dw: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let column = (wid.x + wid.y * 3u) * 64u + lid.x;
  if (column >= 129u) { return; }
  var sum = 0.0f;
  for (var r = 0u; r < 7u; r++) {
    let i = r * 129u + column;
    sum = fma(dy[i] * x[i], rstd[r], sum);
  }
  dw[column] = sum;
}
