// rope_fwd_1x1x2_s1_row
// rope forward, one invocation per token row (CPU adapters): rotate_half convention, theta = 10000, pos = t mod 1
//   out[i] = x[i] * cos - x[i + 1] * sin, out[i + 1] = x[i + 1] * cos + x[i] * sin, in each of the 1 heads
// bindings: x (read), out (write) as [T, 1 x 2]; 1 rows
// Each invocation forms cos/sin of angle i once and applies it to all 1 heads: a quarter (1/heads) of the
// trigonometry of one thread per element, which is what the element kernel spends its time on on a CPU adapter.
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;

// theta^(-2i/hd) / (2 pi): angle in turns per position
const TURNS_PER_POSITION = array<f32, 1>(0.15915493667125702f, );

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let t = (wid.x + wid.y * 1u) * 64u + lid.x;
  if (t >= 1u) { return; }
  let pos = t % 1u;
  let rowAt = t * 2u;
  for (var i = 0u; i < 1u; i++) {
    let turns = f32(pos) * TURNS_PER_POSITION[i];
    let angle = (turns - round(turns)) * 6.283185307179586f;
    let c = cos(angle);
    let s = sin(angle);
    for (var head = 0u; head < 1u; head++) {
      let at = rowAt + head * 2u + i;
      let a = x[at];
      let b = x[at + 1u];
      out[at] = a * c - b * s;
      out[at + 1u] = b * c + a * s;
    }
  }
}
