// rope_fwd_70x3+2x16_s35
// rope forward: rotate_half convention, theta = 10000, pos = t mod 35
//   out[i] = x[i] * cos - x[i + 8] * sin, out[i + 8] = x[i + 8] * cos + x[i] * sin
// bindings: x (read), out (write) as [T, 3 x 16], then x2 (read), out2 (write) as [T, 2 x 16]; one thread per (t, head, i < 8), n = 2800
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> x2: array<f32>;
@group(0) @binding(3) var<storage, read_write> out2: array<f32>;

// theta^(-2i/hd) / (2 pi): angle in turns per position
const TURNS_PER_POSITION = array<f32, 8>(0.15915493667125702f, 0.050329212099313736f, 0.01591549441218376f, 0.005032921209931374f, 0.0015915494877845049f, 0.0005032921326346695f, 0.0001591549371369183f, 0.00005032921035308391f, );

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let k = (wid.x + wid.y * 11u) * 256u + lid.x;
  if (k >= 2800u) { return; }
  if (k >= 1680u) {
    // the second tensor's threads: (t, head < 2, i)
    let k2 = k - 1680u;
    let i = k2 % 8u;
    let head = k2 / 8u;
    let pos = (head / 2u) % 35u;
    let turns = f32(pos) * TURNS_PER_POSITION[i];
    let angle = (turns - round(turns)) * 6.283185307179586f;
    let c = cos(angle);
    let s = sin(angle);
    let at = head * 16u + i;
    let a = x2[at];
    let b = x2[at + 8u];
    out2[at] = a * c - b * s;
    out2[at + 8u] = b * c + a * s;
    return;
  }
  let i = k % 8u;
  let head = k / 8u;
  let t = head / 3u;
  let pos = t % 35u;
  let turns = f32(pos) * TURNS_PER_POSITION[i];
  let angle = (turns - round(turns)) * 6.283185307179586f;
  let c = cos(angle);
  let s = sin(angle);
  let at = head * 16u + i;
  let a = x[at];
  let b = x[at + 8u];
  out[at] = a * c - b * s;
  out[at + 8u] = b * c + a * s;
}
