// rope_fwd_512x3x64_s256_row4
// rope forward, one invocation per token row, 4 angles per step (CPU adapters, head_dim/2 a multiple of 4):
//   rotate_half convention, theta = 10000, pos = t mod 256
//   out[i] = x[i] * cos - x[i + 32] * sin, out[i + 32] = x[i + 32] * cos + x[i] * sin, in each of the 3 heads
// bindings: x (read), out (write) as vec4s of [T, 3 x 64]; 512 rows
// As rope_row (cos/sin of each angle formed once per row and applied to every head), but angles i .. i+3 at a time:
// lavapipe turns every per-lane load into a gather, so a vec4 moves four elements per gather.
@group(0) @binding(0) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> out: array<vec4<f32>>;

// theta^(-2i/hd) / (2 pi): angle in turns per position, 4 angles per entry
const TURNS_PER_POSITION = array<vec4<f32>, 8>(vec4<f32>(0.15915493667125702f, 0.11934936791658401f, 0.08949939906597137f, 0.06711508333683014f), vec4<f32>(0.050329212099313736f, 0.037741586565971375f, 0.02830219641327858f, 0.021223653107881546f), vec4<f32>(0.01591549441218376f, 0.011934936977922916f, 0.008949940092861652f, 0.006711508147418499f), vec4<f32>(0.005032921209931374f, 0.003774158423766494f, 0.0028302196878939867f, 0.0021223651710897684f), vec4<f32>(0.0015915494877845049f, 0.001193493721075356f, 0.0008949940092861652f, 0.0006711508031003177f), vec4<f32>(0.0005032921326346695f, 0.00037741585401818156f, 0.0002830219455063343f, 0.00021223652584012598f), vec4<f32>(0.0001591549371369183f, 0.00011934937356272712f, 0.00008949940092861652f, 0.00006711508467560634f), vec4<f32>(0.00005032921035308391f, 0.000037741585401818156f, 0.000028302196369622834f, 0.000021223651856416836f), );

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let t = (wid.x + wid.y * 8u) * 64u + lid.x;
  if (t >= 512u) { return; }
  let pos = f32(t % 256u);
  for (var q = 0u; q < 8u; q++) {
    let turns = pos * TURNS_PER_POSITION[q];
    let angle = (turns - round(turns)) * 6.283185307179586f;
    let c = cos(angle);
    let s = sin(angle);
    for (var head = 0u; head < 3u; head++) {
      let at = t * 48u + head * 16u + q;
      let a = x[at];
      let b = x[at + 8u];
      out[at] = a * c - b * s;
      out[at + 8u] = b * c + a * s;
    }
  }
}
