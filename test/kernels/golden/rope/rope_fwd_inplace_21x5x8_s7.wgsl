// rope_fwd_inplace_21x5x8_s7
// rope forward: rotate_half convention, theta = 500000, pos = t mod 7
//   out[i] = x[i] * cos - x[i + 4] * sin, out[i + 4] = x[i + 4] * cos + x[i] * sin
// bindings: x (read_write, rotated in place) as [T, 5 x 8]; one thread per (t, head, i < 4), n = 420
@group(0) @binding(0) var<storage, read_write> x: array<f32>;

// theta^(-2i/hd) / (2 pi): angle in turns per position
const TURNS_PER_POSITION = array<f32, 4>(0.15915493667125702f, 0.005985185503959656f, 0.0002250790857942775f, 0.000008464330676360987f, );

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let k = (wid.x + wid.y * 2u) * 256u + lid.x;
  if (k >= 420u) { return; }
  let i = k % 4u;
  let head = k / 4u;
  let t = head / 5u;
  let pos = t % 7u;
  let turns = f32(pos) * TURNS_PER_POSITION[i];
  let angle = (turns - round(turns)) * 6.283185307179586f;
  let c = cos(angle);
  let s = sin(angle);
  let at = head * 8u + i;
  let a = x[at];
  let b = x[at + 4u];
  x[at] = a * c - b * s;
  x[at + 4u] = b * c + a * s;
}
