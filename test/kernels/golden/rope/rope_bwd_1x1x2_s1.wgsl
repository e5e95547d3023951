// rope_bwd_1x1x2_s1
// rope backward (rotation by -angle): rotate_half convention, theta = 10000, pos = t mod 1
//   out[i] = x[i] * cos - x[i + 1] * sin, out[i + 1] = x[i + 1] * cos + x[i] * sin
// bindings: x (read), out (write) as [T, 1 x 2]; one thread per (t, head, i < 1), n = 1
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;

// theta^(-2i/hd) / (2 pi): angle in turns per position
const TURNS_PER_POSITION = array<f32, 1>(0.15915493667125702f, );

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let k = (wid.x + wid.y * 1u) * 256u + lid.x;
  if (k >= 1u) { return; }
  let i = k % 1u;
  let head = k / 1u;
  let t = head / 1u;
  let pos = t % 1u;
  let turns = f32(pos) * TURNS_PER_POSITION[i];
  let angle = (turns - round(turns)) * 6.283185307179586f;
  let c = cos(angle);
  let s = -sin(angle);
  let at = head * 2u + i;
  let a = x[at];
  let b = x[at + 1u];
  out[at] = a * c - b * s;
  out[at + 1u] = b * c + a * s;
}
