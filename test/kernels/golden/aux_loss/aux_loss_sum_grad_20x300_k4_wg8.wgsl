// aux_loss_sum_grad_20x300_k4_wg8
// aux loss: load balance (coef·E = 3.0f) over 20 tokens × 300 experts; loss = [balance, z]
// bindings: probs (read), topk_idx (read i32), stats_counts (write u32), loss (write [2]), d_probs (write [E], broadcast over tokens), loss_total (write [1] = balance + z), d_loss (read [1]), d_x (write = d_loss · (d_probs))
// dispatch: one workgroup; each lane sums whole probs columns, then ordered sums
@group(0) @binding(0) var<storage, read> probs: array<f32>;
@group(0) @binding(1) var<storage, read> topk_idx: array<i32>;
@group(0) @binding(2) var<storage, read_write> stats_counts: array<u32>;
@group(0) @binding(3) var<storage, read_write> loss: array<f32>;
@group(0) @binding(4) var<storage, read_write> d_probs: array<f32>;
@group(0) @binding(5) var<storage, read_write> loss_total: array<f32>;
@group(0) @binding(6) var<storage, read> d_loss: array<f32>;
@group(0) @binding(7) var<storage, read_write> d_x: array<f32>;

const T = 20u;
const E = 300u;
const N = 80u;
const WG = 8u;
const LANES = 0u;

var<workgroup> histogram: array<atomic<u32>, 300>;
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

// d_probs[e] again (balanceCoef·f_e/T, same operations), from the histogram in workgroup memory:
// reading back the storage another lane wrote would need a storage barrier.
fn balanceGrad(e: u32) -> f32 {
  var f = 0.0f;
  if (assignedTotal > 0u) { f = f32(atomicLoad(&histogram[e])) / f32(assignedTotal); }
  return 3.0f * f * 0.05000000074505806f;
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
  if (lane < 0u) {
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
  // More experts than lanes: each lane owns whole columns e = lane, lane + WG, … (fixed order).
  let total = assignedTotal;
  for (var e = lane; e < experts; e += WG) {
    var mean = 0.0f;
    for (var t = 0u; t < tokens; t++) { mean += probs[t * E + e]; }
    mean *= 0.05000000074505806f;
    var f = 0.0f;
    if (total > 0u) { f = f32(atomicLoad(&histogram[e])) / f32(total); }
    term += f * mean;
    d_probs[e] = 3.0f * f * 0.05000000074505806f;
  }
  workgroupBarrier();
  let balance = treeSum(lane, term, one);
  let z = 0.0f;
  for (var i = lane; i < tokens * E; i += WG) { d_x[i] = d_loss[0] * balanceGrad(i % E); }
  if (lane == 0u) {
    loss[0] = 3.0f * balance;
    loss[1] = 0.0f * z;
    let lossTotal = 3.0f * balance + 0.0f * z;
    loss_total[0] = lossTotal;
  }
}
