// moe_invert_1x1
// moe_invert: for i < 1: r = perm_row[i]; src_token[r] = i / 1; src_slot[r] = i % 1
// bindings: perm_row (read), src_token (write), src_slot (write)
// dispatch: ceil(rows / 256) workgroups spread over x and y; i = (wid.x + wid.y * 1) * 256 + lid.x
@group(0) @binding(0) var<storage, read> perm_row: array<i32>;
@group(0) @binding(1) var<storage, read_write> src_token: array<i32>;
@group(0) @binding(2) var<storage, read_write> src_slot: array<i32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = (wid.x + wid.y * 1u) * 256u + lid.x;
  if (i >= 1u) { return; }
  let r = perm_row[i];
  if (r < 0 || r >= 1) { return; }
  src_token[r] = i32(i / 1u);
  src_slot[r] = i32(i % 1u);
}
