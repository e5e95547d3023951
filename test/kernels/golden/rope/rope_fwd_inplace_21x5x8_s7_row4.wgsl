// rope_fwd_inplace_21x5x8_s7_row4
// rope forward, one invocation per token row, 4 angles per step (CPU adapters, head_dim/2 a multiple of 4):
//   rotate_half convention, theta = 500000, pos = t mod 7
//   out[i] = x[i] * cos - x[i + 4] * sin, out[i + 4] = x[i + 4] * cos + x[i] * sin, in each of the 5 heads
// bindings: x (read_write, rotated in place: each invocation reads and writes only its own row) as vec4s of [T, 5 x 8]; 21 rows
// As rope_row (cos/sin of each angle formed once per row and applied to every head), but angles i .. i+3 at a time:
// lavapipe turns every per-lane load into a gather, so a vec4 moves four elements per gather.
@group(0) @binding(0) var<storage, read_write> x: array<vec4<f32>>;

// theta^(-2i/hd) / (2 pi): angle in turns per position, 4 angles per entry
const TURNS_PER_POSITION = array<vec4<f32>, 1>(vec4<f32>(0.15915493667125702f, 0.005985185503959656f, 0.0002250790857942775f, 0.000008464330676360987f), );

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let t = (wid.x + wid.y * 1u) * 64u + lid.x;
  if (t >= 21u) { return; }
  let pos = f32(t % 7u);
  for (var q = 0u; q < 1u; q++) {
    let turns = pos * TURNS_PER_POSITION[q];
    let angle = (turns - round(turns)) * 6.283185307179586f;
    let c = cos(angle);
    let s = sin(angle);
    for (var head = 0u; head < 5u; head++) {
      let at = t * 10u + head * 2u + q;
      let a = x[at];
      let b = x[at + 1u];
      x[at] = a * c - b * s;
      x[at + 1u] = b * c + a * s;
    }
  }
}
