// layernorm_dwb_37x68
// layernorm weight and bias gradients: dw[j] = sum over rows r of dy[r, j] * (x[r, j] - mean[r]) * rstd[r],
// db[j] = sum over rows of dy[r, j]; 37 rows of 68; bindings: dy, x, mean, rstd (read), dw, db (write)
// workgroup = 64 columns x 4 row lanes; lane l sums rows l, l + 4, ...; lane
// partials are then added in lane order, so the result does not depend on scheduling.
@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> mean: array<f32>;
@group(0) @binding(3) var<storage, read> rstd: array<f32>;
@group(0) @binding(4) var<storage, read_write> dw: array<f32>;
@group(0) @binding(5) var<storage, read_write> db: array<f32>;

var<workgroup> partialW: array<array<f32, 64>, 4>;
var<workgroup> partialB: array<array<f32, 64>, 4>;

@compute @workgroup_size(64, 4)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let column = (wid.x + wid.y * 2u) * 64u + lid.x;
  var sumW = 0.0f;
  var sumB = 0.0f;
  if (column < 68u) {
    for (var r = lid.y; r < 37u; r += 4u) {
      let i = r * 68u + column;
      let g = dy[i];
      sumW += g * (x[i] - mean[r]) * rstd[r];
      sumB += g;
    }
  }
  partialW[lid.y][lid.x] = sumW;
  partialB[lid.y][lid.x] = sumB;
  workgroupBarrier();
  if (lid.y == 0u && column < 68u) {
    var totalW = 0.0f;
    var totalB = 0.0f;
    for (var l = 0u; l < 4u; l++) {
      totalW += partialW[l][lid.x];
      totalB += partialB[l][lid.x];
    }
    dw[column] = totalW;
    db[column] = totalB;
  }
}
