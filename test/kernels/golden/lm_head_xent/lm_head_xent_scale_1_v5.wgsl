// lm_head_xent_scale_1_v5
// lm_head_xent_scale: scale[0] = dMean[0] / count, count = rows of 1 with 0 <= targets[t] < 5 (scale 0 when none count)
// bindings: targets (read), dMean (read), scale (write)
// dispatch: one workgroup of 256 lanes; lane l counts rows l, l + 256, …, then a tree
@group(0) @binding(0) var<storage, read> targets: array<i32>;
@group(0) @binding(1) var<storage, read> dMean: array<f32>;
@group(0) @binding(2) var<storage, read_write> scale: array<f32>;

var<workgroup> partialCount: array<u32, 256>;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_id) lid: vec3<u32>) {
  var count = 0u;
  for (var t = lid.x; t < 1u; t += 256u) {
    let tgt = targets[t];
    if (tgt >= 0 && tgt < 5) { count += 1u; }
  }
  partialCount[lid.x] = count;
  workgroupBarrier();
  if (lid.x < 128u) { partialCount[lid.x] += partialCount[lid.x + 128u]; }
  workgroupBarrier();
  if (lid.x < 64u) { partialCount[lid.x] += partialCount[lid.x + 64u]; }
  workgroupBarrier();
  if (lid.x < 32u) { partialCount[lid.x] += partialCount[lid.x + 32u]; }
  workgroupBarrier();
  if (lid.x < 16u) { partialCount[lid.x] += partialCount[lid.x + 16u]; }
  workgroupBarrier();
  if (lid.x < 8u) { partialCount[lid.x] += partialCount[lid.x + 8u]; }
  workgroupBarrier();
  if (lid.x < 4u) { partialCount[lid.x] += partialCount[lid.x + 4u]; }
  workgroupBarrier();
  if (lid.x < 2u) { partialCount[lid.x] += partialCount[lid.x + 2u]; }
  workgroupBarrier();
  if (lid.x < 1u) { partialCount[lid.x] += partialCount[lid.x + 1u]; }
  workgroupBarrier();
  if (lid.x == 0u) {
    var s = 0.0f;
    if (partialCount[0] > 0u) { s = dMean[0] / f32(partialCount[0]); }
    scale[0] = s;
  }
}
