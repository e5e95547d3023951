// rope_bwd_70x1+3x10_s35
// rope backward (rotation by -angle): rotate_half convention, theta = 10000, pos = t mod 35
//   out[i] = x[i] * cos - x[i + 5] * sin, out[i + 5] = x[i + 5] * cos + x[i] * sin
// bindings: x (read), out (write) as [T, 1 x 10], then x2 (read), out2 (write) as [T, 3 x 10]; one thread per (t, head, i < 5), n = 1400
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> x2: array<f32>;
@group(0) @binding(3) var<storage, read_write> out2: array<f32>;

// theta^(-2i/hd) / (2 pi): angle in turns per position
const TURNS_PER_POSITION = array<f32, 5>(0.15915493667125702f, 0.025224357843399048f, 0.003997791558504105f, 0.0006336072692647576f, 0.00010041998029919341f, );

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let k = (wid.x + wid.y * 6u) * 256u + lid.x;
  if (k >= 1400u) { return; }
  if (k >= 350u) {
    // the second tensor's threads: (t, head < 3, i)
    let k2 = k - 350u;
    let i = k2 % 5u;
    let head = k2 / 5u;
    let pos = (head / 3u) % 35u;
    let turns = f32(pos) * TURNS_PER_POSITION[i];
    let angle = (turns - round(turns)) * 6.283185307179586f;
    let c = cos(angle);
    let s = -sin(angle);
    let at = head * 10u + i;
    let a = x2[at];
    let b = x2[at + 5u];
    out2[at] = a * c - b * s;
    out2[at + 5u] = b * c + a * s;
    return;
  }
  let i = k % 5u;
  let head = k / 5u;
  let t = head / 1u;
  let pos = t % 35u;
  let turns = f32(pos) * TURNS_PER_POSITION[i];
  let angle = (turns - round(turns)) * 6.283185307179586f;
  let c = cos(angle);
  let s = -sin(angle);
  let at = head * 10u + i;
  let a = x[at];
  let b = x[at + 5u];
  out[at] = a * c - b * s;
  out[at + 5u] = b * c + a * s;
}
