// aux_loss_sum_37x8_k2_wg8
// aux loss: load balance (coef·E = 0.07999999821186066f) over 37 tokens × 8 experts; loss = [balance, z]
// bindings: probs (read), topk_idx (read i32), stats_counts (write u32), loss (write [2]), d_probs (write [E], broadcast over tokens), loss_total (write [1] = balance + z)
// dispatch: one workgroup; 1 lanes per expert sum probs columns, then ordered sums
@group(0) @binding(0) var<storage, read> probs: array<f32>;
@group(0) @binding(1) var<storage, read> topk_idx: array<i32>;
@group(0) @binding(2) var<storage, read_write> stats_counts: array<u32>;
@group(0) @binding(3) var<storage, read_write> loss: array<f32>;
@group(0) @binding(4) var<storage, read_write> d_probs: array<f32>;
@group(0) @binding(5) var<storage, read_write> loss_total: array<f32>;

const T = 37u;
const E = 8u;
const N = 74u;
const WG = 8u;
const LANES = 1u;

var<workgroup> histogram: array<atomic<u32>, 8>;
var<workgroup> partial: array<f32, 8>;
var<workgroup> assignedTotal: u32;

// Loop bounds are multiplied by `one` (arrayLength ≥ 1, known only at dispatch) so lavapipe does
// not fully unroll them: unrolled loops around barriers made this shader compile for seconds.
fn treeSum(lane: u32, value: f32, one: u32) -> f32 {
  partial[lane] = value;
  workgroupBarrier();
  for (var stride = (WG / 2u) * one; stride > 0u; stride /= 2u) {
    if (lane < stride) { partial[lane] += partial[lane + stride]; }
    workgroupBarrier();
  }
  let total = partial[0];
  workgroupBarrier();
  return total;
}

@compute @workgroup_size(8)
fn main(@builtin(local_invocation_id) lid: vec3<u32>) {
  let lane = lid.x;
  let one = min(arrayLength(&stats_counts), 1u);
  let tokens = T * one;
  let experts = E * one;
  for (var e = lane; e < experts; e += WG) { atomicStore(&histogram[e], 0u); }
  workgroupBarrier();
  for (var a = lane; a < N * one; a += WG) {
    let e = topk_idx[a];
    if (e >= 0 && e < i32(E)) { atomicAdd(&histogram[u32(e)], 1u); }
  }
  // Column sums of probs: lane (e, part) sums tokens part, part + LANES, ...
  var column = 0.0f;
  if (lane < 8u) {
    let e = lane % E;
    for (var t = lane / E; t < tokens; t += LANES) { column += probs[t * E + e]; }
  }
  partial[lane] = column;
  workgroupBarrier();
  if (lane == 0u) {
    var total = 0u;
    for (var e = 0u; e < experts; e++) {
      let count = atomicLoad(&histogram[e]);
      stats_counts[e] = count;
      total += count;
    }
    assignedTotal = total;
  }
  workgroupBarrier();
  var term = 0.0f;
  if (lane < E) {
    var mean = 0.0f;
    for (var part = 0u; part < LANES * one; part++) { mean += partial[part * E + lane]; }
    mean *= 0.027027027681469917f;
    let total = assignedTotal;
    var f = 0.0f;
    if (total > 0u) { f = f32(atomicLoad(&histogram[lane])) / f32(total); }
    term = f * mean;
    d_probs[lane] = 0.07999999821186066f * f * 0.027027027681469917f;
  }
  workgroupBarrier();
  let balance = treeSum(lane, term, one);
  let z = 0.0f;
  if (lane == 0u) {
    loss[0] = 0.07999999821186066f * balance;
    loss[1] = 0.0f * z;
    let lossTotal = 0.07999999821186066f * balance + 0.0f * z;
    loss_total[0] = lossTotal;
  }
}
