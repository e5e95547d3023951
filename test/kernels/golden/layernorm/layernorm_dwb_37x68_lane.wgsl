// layernorm_dwb_37x68_lane
// layernorm weight and bias gradients, lane layout (CPU adapters): dw[j] = sum over rows r of
// dy[r, j] * (x[r, j] - mean[r]) * rstd[r], db[j] = sum over rows of dy[r, j]; 37 rows of 68
// bindings: dy, x (as vec4), mean, rstd (read), dw, db (write, as vec4)
// one invocation per 4 columns (a vec4), a serial loop over all rows in order: neighbouring lanes
// read neighbouring columns, there is no shared memory and no barrier, and the sum order is fixed.
// column = (wid.x + wid.y * 1) * 17 + lid.x, of 17
@group(0) @binding(0) var<storage, read> dy: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> mean: array<f32>;
@group(0) @binding(3) var<storage, read> rstd: array<f32>;
@group(0) @binding(4) var<storage, read_write> dw: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> db: array<vec4<f32>>;

@compute @workgroup_size(17)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let column = (wid.x + wid.y * 1u) * 17u + lid.x;
  if (column >= 17u) { return; }
  var sumW = vec4<f32>(0.0f);
  var sumB = vec4<f32>(0.0f);
  for (var r = 0u; r < 37u; r++) {
    let i = r * 17u + column;
    let g = dy[i];
    sumW = fma(g, (x[i] - mean[r]) * rstd[r], sumW);
    sumB += g;
  }
  dw[column] = sumW;
  db[column] = sumB;
}
