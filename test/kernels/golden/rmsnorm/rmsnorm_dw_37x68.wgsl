// rmsnorm_dw_37x68
// rmsnorm weight gradient: dw[j] = sum over rows r of dy[r, j] * x[r, j] * rstd[r]
// 37 rows of 68; bindings: dy, x, rstd (read), dw (write)
// workgroup = 64 columns x 4 row lanes; lane l sums rows l, l + 4, ...; lane
// partials are then added in lane order, so the result does not depend on scheduling.
@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> rstd: array<f32>;
@group(0) @binding(3) var<storage, read_write> dw: array<f32>;

var<workgroup> partial: array<array<f32, 64>, 4>;

@compute @workgroup_size(64, 4)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let column = (wid.x + wid.y * 2u) * 64u + lid.x;
  var sum = 0.0f;
  if (column < 68u) {
    for (var r = lid.y; r < 37u; r += 4u) {
      let i = r * 68u + column;
      sum += dy[i] * x[i] * rstd[r];
    }
  }
  partial[lid.y][lid.x] = sum;
  workgroupBarrier();
  if (lid.y == 0u && column < 68u) {
    var total = 0.0f;
    for (var l = 0u; l < 4u; l++) { total += partial[l][lid.x]; }
    dw[column] = total;
  }
}
