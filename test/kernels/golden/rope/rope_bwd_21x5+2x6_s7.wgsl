// rope_bwd_21x5+2x6_s7
// rope backward (rotation by -angle): rotate_half convention, theta = 500000, pos = t mod 7
//   out[i] = x[i] * cos - x[i + 3] * sin, out[i + 3] = x[i + 3] * cos + x[i] * sin
// bindings: x (read), out (write) as [T, 5 x 6], then x2 (read), out2 (write) as [T, 2 x 6]; one thread per (t, head, i < 3), n = 441
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> x2: array<f32>;
@group(0) @binding(3) var<storage, read_write> out2: array<f32>;

// theta^(-2i/hd) / (2 pi): angle in turns per position
const TURNS_PER_POSITION = array<f32, 3>(0.15915493667125702f, 0.0020052266772836447f, 0.000025264273062930442f, );

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let k = (wid.x + wid.y * 2u) * 256u + lid.x;
  if (k >= 441u) { return; }
  if (k >= 315u) {
    // the second tensor's threads: (t, head < 2, i)
    let k2 = k - 315u;
    let i = k2 % 3u;
    let head = k2 / 3u;
    let pos = (head / 2u) % 7u;
    let turns = f32(pos) * TURNS_PER_POSITION[i];
    let angle = (turns - round(turns)) * 6.283185307179586f;
    let c = cos(angle);
    let s = -sin(angle);
    let at = head * 6u + i;
    let a = x2[at];
    let b = x2[at + 3u];
    out2[at] = a * c - b * s;
    out2[at + 3u] = b * c + a * s;
    return;
  }
  let i = k % 3u;
  let head = k / 3u;
  let t = head / 5u;
  let pos = t % 7u;
  let turns = f32(pos) * TURNS_PER_POSITION[i];
  let angle = (turns - round(turns)) * 6.283185307179586f;
  let c = cos(angle);
  let s = -sin(angle);
  let at = head * 6u + i;
  let a = x[at];
  let b = x[at + 3u];
  out[at] = a * c - b * s;
  out[at + 3u] = b * c + a * s;
}
