// rope_bwd_70x1+3x10_s35_row
// rope backward (rotation by -angle), one invocation per token row (CPU adapters): rotate_half convention, theta = 10000, pos = t mod 35
//   out[i] = x[i] * cos - x[i + 5] * sin, out[i + 5] = x[i + 5] * cos + x[i] * sin, in each of the 1 heads
// bindings: x (read), out (write) as [T, 1 x 10], and x2 (read), out2 (write) as [T, 3 x 10] with the same angles; 70 rows
// Each invocation forms cos/sin of angle i once and applies it to all 1 heads: a quarter (1/heads) of the
// trigonometry of one thread per element, which is what the element kernel spends its time on on a CPU adapter.
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> x2: array<f32>;
@group(0) @binding(3) var<storage, read_write> out2: array<f32>;

// theta^(-2i/hd) / (2 pi): angle in turns per position
const TURNS_PER_POSITION = array<f32, 5>(0.15915493667125702f, 0.025224357843399048f, 0.003997791558504105f, 0.0006336072692647576f, 0.00010041998029919341f, );

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let t = (wid.x + wid.y * 2u) * 64u + lid.x;
  if (t >= 70u) { return; }
  let pos = t % 35u;
  let rowAt = t * 10u;
  for (var i = 0u; i < 5u; i++) {
    let turns = f32(pos) * TURNS_PER_POSITION[i];
    let angle = (turns - round(turns)) * 6.283185307179586f;
    let c = cos(angle);
    let s = -sin(angle);
    for (var head = 0u; head < 1u; head++) {
      let at = rowAt + head * 10u + i;
      let a = x[at];
      let b = x[at + 5u];
      out[at] = a * c - b * s;
      out[at + 5u] = b * c + a * s;
    }
    for (var head = 0u; head < 3u; head++) {
      let at = t * 30u + head * 10u + i;
      let a = x2[at];
      let b = x2[at + 5u];
      out2[at] = a * c - b * s;
      out2[at + 5u] = b * c + a * s;
    }
  }
}
