// rmsnorm_dw_37x68_lane
// rmsnorm weight gradient, lane layout (CPU adapters): dw[j] = sum over rows r of dy[r, j] * x[r, j] * rstd[r]
// 37 rows of 68; bindings: dy, x (as vec4), rstd (read), dw (write, as vec4)
// one invocation per 4 columns (a vec4), a serial loop over all rows in order: neighbouring lanes
// read neighbouring columns, there is no shared memory and no barrier, and the sum order is fixed.
// column = (wid.x + wid.y * 1) * 17 + lid.x, of 17
@group(0) @binding(0) var<storage, read> dy: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> rstd: array<f32>;
@group(0) @binding(3) var<storage, read_write> dw: array<vec4<f32>>;

@compute @workgroup_size(17)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let column = (wid.x + wid.y * 1u) * 17u + lid.x;
  if (column >= 17u) { return; }
  var sum = vec4<f32>(0.0f);
  for (var r = 0u; r < 37u; r++) {
    let i = r * 17u + column;
    sum = fma(dy[i] * x[i], vec4<f32>(rstd[r]), sum);
  }
  dw[column] = sum;
}
