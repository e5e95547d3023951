// rope_bwd_21x5+2x6_s7_row
// rope backward (rotation by -angle), one invocation per token row (CPU adapters): rotate_half convention, theta = 500000, pos = t mod 7
//   out[i] = x[i] * cos - x[i + 3] * sin, out[i + 3] = x[i + 3] * cos + x[i] * sin, in each of the 5 heads
// bindings: x (read), out (write) as [T, 5 x 6], and x2 (read), out2 (write) as [T, 2 x 6] with the same angles; 21 rows
// Each invocation forms cos/sin of angle i once and applies it to all 5 heads: a quarter (1/heads) of the
// trigonometry of one thread per element, which is what the element kernel spends its time on on a CPU adapter.
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> x2: array<f32>;
@group(0) @binding(3) var<storage, read_write> out2: array<f32>;

// theta^(-2i/hd) / (2 pi): angle in turns per position
const TURNS_PER_POSITION = array<f32, 3>(0.15915493667125702f, 0.0020052266772836447f, 0.000025264273062930442f, );

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let t = (wid.x + wid.y * 1u) * 64u + lid.x;
  if (t >= 21u) { return; }
  let pos = t % 7u;
  let rowAt = t * 30u;
  for (var i = 0u; i < 3u; i++) {
    let turns = f32(pos) * TURNS_PER_POSITION[i];
    let angle = (turns - round(turns)) * 6.283185307179586f;
    let c = cos(angle);
    let s = -sin(angle);
    for (var head = 0u; head < 5u; head++) {
      let at = rowAt + head * 6u + i;
      let a = x[at];
      let b = x[at + 3u];
      out[at] = a * c - b * s;
      out[at + 3u] = b * c + a * s;
    }
    for (var head = 0u; head < 2u; head++) {
      let at = t * 12u + head * 6u + i;
      let a = x2[at];
      let b = x2[at + 3u];
      out2[at] = a * c - b * s;
      out2[at + 3u] = b * c + a * s;
    }
  }
}
