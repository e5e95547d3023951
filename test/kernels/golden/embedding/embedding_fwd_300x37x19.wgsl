// embedding_fwd_300x37x19
// embedding forward: out[t, d] = table[ids[t], d]; ids outside [0, 37) give a zero row
// bindings: table (read), ids (read), out (write); one thread per (t, d), n = 5700
@group(0) @binding(0) var<storage, read> table: array<f32>;
@group(0) @binding(1) var<storage, read> ids: array<i32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = (wid.x + wid.y * 23u) * 256u + lid.x;
  if (i >= 5700u) { return; }
  let t = i / 19u;
  let d = i - t * 19u;
  let id = ids[t];
  var value = 0.0f;
  if (id >= 0 && id < 37) {
    value = table[u32(id) * 19u + d];
  }
  out[i] = value;
}
