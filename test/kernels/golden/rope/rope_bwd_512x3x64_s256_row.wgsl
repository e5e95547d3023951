// rope_bwd_512x3x64_s256_row
// rope backward (rotation by -angle), one invocation per token row (CPU adapters): rotate_half convention, theta = 10000, pos = t mod 256
//   out[i] = x[i] * cos - x[i + 32] * sin, out[i + 32] = x[i + 32] * cos + x[i] * sin, in each of the 3 heads
// bindings: x (read), out (write) as [T, 3 x 64]; 512 rows
// Each invocation forms cos/sin of angle i once and applies it to all 3 heads: a quarter (1/heads) of the
// trigonometry of one thread per element, which is what the element kernel spends its time on on a CPU adapter.
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;

// theta^(-2i/hd) / (2 pi): angle in turns per position
const TURNS_PER_POSITION = array<f32, 32>(0.15915493667125702f, 0.11934936791658401f, 0.08949939906597137f, 0.06711508333683014f, 0.050329212099313736f, 0.037741586565971375f, 0.02830219641327858f, 0.021223653107881546f, 0.01591549441218376f, 0.011934936977922916f, 0.008949940092861652f, 0.006711508147418499f, 0.005032921209931374f, 0.003774158423766494f, 0.0028302196878939867f, 0.0021223651710897684f, 0.0015915494877845049f, 0.001193493721075356f, 0.0008949940092861652f, 0.0006711508031003177f, 0.0005032921326346695f, 0.00037741585401818156f, 0.0002830219455063343f, 0.00021223652584012598f, 0.0001591549371369183f, 0.00011934937356272712f, 0.00008949940092861652f, 0.00006711508467560634f, 0.00005032921035308391f, 0.000037741585401818156f, 0.000028302196369622834f, 0.000021223651856416836f, );

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let t = (wid.x + wid.y * 8u) * 64u + lid.x;
  if (t >= 512u) { return; }
  let pos = t % 256u;
  let rowAt = t * 192u;
  for (var i = 0u; i < 32u; i++) {
    let turns = f32(pos) * TURNS_PER_POSITION[i];
    let angle = (turns - round(turns)) * 6.283185307179586f;
    let c = cos(angle);
    let s = -sin(angle);
    for (var head = 0u; head < 3u; head++) {
      let at = rowAt + head * 64u + i;
      let a = x[at];
      let b = x[at + 32u];
      out[at] = a * c - b * s;
      out[at + 32u] = b * c + a * s;
    }
  }
}
