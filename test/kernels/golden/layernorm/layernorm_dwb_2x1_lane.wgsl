// layernorm_dwb_2x1_lane
// layernorm weight and bias gradients, lane layout (CPU adapters): dw[j] = sum over rows r of
// dy[r, j] * (x[r, j] - mean[r]) * rstd[r], db[j] = sum over rows of dy[r, j]; 2 rows of 1
// bindings: dy, x (f32), mean, rstd (read), dw, db (write)
// one invocation per column, a serial loop over all rows in order: neighbouring lanes
// read neighbouring columns, there is no shared memory and no barrier, and the sum order is fixed.
// column = (wid.x + wid.y * 1) * 1 + lid.x, of 1
@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> mean: array<f32>;
@group(0) @binding(3) var<storage, read> rstd: array<f32>;
@group(0) @binding(4) var<storage, read_write> dw: array<f32>;
@group(0) @binding(5) var<storage, read_write> db: array<f32>;

@compute @workgroup_size(1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let column = (wid.x + wid.y * 1u) * 1u + lid.x;
  if (column >= 1u) { return; }
  var sumW = 0.0f;
  var sumB = 0.0f;
  for (var r = 0u; r < 2u; r++) {
    let i = r * 1u + column;
    let g = dy[i];
    sumW = fma(g, (x[i] - mean[r]) * rstd[r], sumW);
    sumB += g;
  }
  dw[column] = sumW;
  db[column] = sumB;
}
