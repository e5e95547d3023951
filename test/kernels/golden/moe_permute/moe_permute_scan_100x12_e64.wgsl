// moe_permute_scan_100x12_e64
// moe permute, scan: block_counts [64, 19] → each block's first rank within its expert (in place); counts = min(n_e, 1200); offsets = exclusive prefix of counts [E+1]
// bindings: block_counts (read_write u32 [E·B]), counts (write u32 [E]), offsets (write u32 [E+1])
// dispatch: one workgroup; lane l owns experts [l·1, (l+1)·1), then a scan of the lanes' kept totals
@group(0) @binding(0) var<storage, read_write> block_counts: array<u32>;
@group(0) @binding(1) var<storage, read_write> counts: array<u32>;
@group(0) @binding(2) var<storage, read_write> offsets: array<u32>;

const E = 64u;
const B = 19u;
const CAPACITY = 1200u;
const PER_LANE = 1u;
const WG = 256u;

var<workgroup> laneScan: array<u32, 256>;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_id) lid: vec3<u32>) {
  let i = lid.x;
  // Loop bounds are multiplied by `one` (arrayLength ≥ 1, known only at dispatch) so lavapipe does
  // not fully unroll them, which multiplies compile time around barriers.
  let one = min(arrayLength(&counts), 1u);
  let first = min(i * PER_LANE, E);
  let last = min(first + PER_LANE * one, E);
  var kept = 0u;
  for (var e = first; e < last; e++) {
    var running = 0u;
    for (var b = 0u; b < B * one; b++) {
      let c = block_counts[e * B + b];
      block_counts[e * B + b] = running;
      running += c;
    }
    let k = min(running, CAPACITY);
    counts[e] = k;
    kept += k;
  }
  laneScan[i] = kept;
  workgroupBarrier();
  for (var stride = one; stride < WG; stride *= 2u) {
    var carry = 0u;
    if (i >= stride) { carry = laneScan[i - stride]; }
    workgroupBarrier();
    laneScan[i] += carry;
    workgroupBarrier();
  }
  var offset = laneScan[i] - kept;
  if (i == 0u) { offsets[0] = 0u; }
  for (var e = first; e < last; e++) {
    offset += counts[e];
    offsets[e + 1u] = offset;
  }
}
