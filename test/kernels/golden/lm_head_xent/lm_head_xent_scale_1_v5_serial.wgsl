// lm_head_xent_scale_1_v5_serial
// lm_head_xent_scale: scale[0] = dMean[0] / count, count = rows of 1 with 0 <= targets[t] < 5 (scale 0 when none count)
// bindings: targets (read), dMean (read), scale (write)
// dispatch: one workgroup of 64 lanes; lane l counts rows l, l + 64, …, then lane 0 adds the 64 counts (one barrier)
@group(0) @binding(0) var<storage, read> targets: array<i32>;
@group(0) @binding(1) var<storage, read> dMean: array<f32>;
@group(0) @binding(2) var<storage, read_write> scale: array<f32>;

var<workgroup> partialCount: array<u32, 64>;

@compute @workgroup_size(64)
fn main(@builtin(local_invocation_id) lid: vec3<u32>) {
  var count = 0u;
  for (var t = lid.x; t < 1u; t += 64u) {
    let tgt = targets[t];
    if (tgt >= 0 && tgt < 5) { count += 1u; }
  }
  partialCount[lid.x] = count;
  workgroupBarrier();
  if (lid.x == 0u) {
    var total = 0u;
    for (var i = 0u; i < 64u; i++) { total += partialCount[i]; }
    var s = 0.0f;
    if (total > 0u) { s = dMean[0] / f32(total); }
    scale[0] = s;
  }
}
