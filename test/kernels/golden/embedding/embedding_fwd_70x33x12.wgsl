// embedding_fwd_70x33x12
// embedding forward: out[t, d] = table[ids[t], d]; ids outside [0, 33) give a zero row
// bindings: table (read), ids (read), out (write); one thread per (t, d), n = 840
@group(0) @binding(0) var<storage, read> table: array<f32>;
@group(0) @binding(1) var<storage, read> ids: array<i32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = (wid.x + wid.y * 4u) * 256u + lid.x;
  if (i >= 840u) { return; }
  let t = i / 12u;
  let d = i - t * 12u;
  let id = ids[t];
  var value = 0.0f;
  if (id >= 0 && id < 33) {
    value = table[u32(id) * 12u + d];
  }
  out[i] = value;
}
