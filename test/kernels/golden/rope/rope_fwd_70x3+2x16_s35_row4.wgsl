// rope_fwd_70x3+2x16_s35_row4
// rope forward, one invocation per token row, 4 angles per step (CPU adapters, head_dim/2 a multiple of 4):
//   rotate_half convention, theta = 10000, pos = t mod 35
//   out[i] = x[i] * cos - x[i + 8] * sin, out[i + 8] = x[i + 8] * cos + x[i] * sin, in each of the 3 heads
// bindings: x (read), out (write) as vec4s of [T, 3 x 16], and x2 (read), out2 (write) as vec4s of [T, 2 x 16] with the same angles; 70 rows
// As rope_row (cos/sin of each angle formed once per row and applied to every head), but angles i .. i+3 at a time:
// lavapipe turns every per-lane load into a gather, so a vec4 moves four elements per gather.
@group(0) @binding(0) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> out: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> x2: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> out2: array<vec4<f32>>;

// theta^(-2i/hd) / (2 pi): angle in turns per position, 4 angles per entry
const TURNS_PER_POSITION = array<vec4<f32>, 2>(vec4<f32>(0.15915493667125702f, 0.050329212099313736f, 0.01591549441218376f, 0.005032921209931374f), vec4<f32>(0.0015915494877845049f, 0.0005032921326346695f, 0.0001591549371369183f, 0.00005032921035308391f), );

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let t = (wid.x + wid.y * 2u) * 64u + lid.x;
  if (t >= 70u) { return; }
  let pos = f32(t % 35u);
  for (var q = 0u; q < 2u; q++) {
    let turns = pos * TURNS_PER_POSITION[q];
    let angle = (turns - round(turns)) * 6.283185307179586f;
    let c = cos(angle);
    let s = sin(angle);
    for (var head = 0u; head < 3u; head++) {
      let at = t * 12u + head * 4u + q;
      let a = x[at];
      let b = x[at + 2u];
      out[at] = a * c - b * s;
      out[at + 2u] = b * c + a * s;
    }
    for (var head = 0u; head < 2u; head++) {
      let at = t * 8u + head * 4u + q;
      let a = x2[at];
      let b = x2[at + 2u];
      out2[at] = a * c - b * s;
      out2[at + 2u] = b * c + a * s;
    }
  }
}
