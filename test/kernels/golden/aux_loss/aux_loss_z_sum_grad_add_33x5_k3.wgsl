// aux_loss_z_sum_grad_add_33x5_k3
// aux loss: load balance (coef·E = 0.0f) over 33 tokens × 5 experts and z-loss; loss = [balance, z]
// bindings: probs (read), topk_idx (read i32), logits (read), stats_counts (write u32), loss (write [2]), d_probs (write [E], broadcast over tokens), d_logits_z (write), loss_total (write [1] = balance + z), loss_addend (read [1]), loss_sum (write [1] = loss_addend + balance + z), d_loss (read [1]), d_x (write = d_loss · (d_probs + d_logits_z))
// dispatch: one workgroup; 51 lanes per expert sum probs columns, then ordered sums
@group(0) @binding(0) var<storage, read> probs: array<f32>;
@group(0) @binding(1) var<storage, read> topk_idx: array<i32>;
@group(0) @binding(2) var<storage, read> logits: array<f32>;
@group(0) @binding(3) var<storage, read_write> stats_counts: array<u32>;
@group(0) @binding(4) var<storage, read_write> loss: array<f32>;
@group(0) @binding(5) var<storage, read_write> d_probs: array<f32>;
@group(0) @binding(6) var<storage, read_write> d_logits_z: array<f32>;
@group(0) @binding(7) var<storage, read_write> loss_total: array<f32>;
@group(0) @binding(8) var<storage, read> loss_addend: array<f32>;
@group(0) @binding(9) var<storage, read_write> loss_sum: array<f32>;
@group(0) @binding(10) var<storage, read> d_loss: array<f32>;
@group(0) @binding(11) var<storage, read_write> d_x: array<f32>;

const T = 33u;
const E = 5u;
const N = 99u;
const WG = 256u;
const LANES = 51u;

var<workgroup> histogram: array<atomic<u32>, 5>;
var<workgroup> partial: array<f32, 256>;
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
  return 0.0f * f * 0.03030303120613098f;
}

@compute @workgroup_size(256)
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
  if (lane < 255u) {
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
    mean *= 0.03030303120613098f;
    let total = assignedTotal;
    var f = 0.0f;
    if (total > 0u) { f = f32(atomicLoad(&histogram[lane])) / f32(total); }
    term = f * mean;
    d_probs[lane] = 0.0f * f * 0.03030303120613098f;
  }
  workgroupBarrier();
  let balance = treeSum(lane, term, one);
  var zPartial = 0.0f;
  for (var t = lane; t < tokens; t += WG) {
    let base = t * E;
    var m = logits[base];
    for (var e = 1u; e < experts; e++) { m = max(m, logits[base + e]); }
    var s = 0.0f;
    for (var e = 0u; e < experts; e++) { s += exp(logits[base + e] - m); }
    let lse = m + log(s);
    zPartial += lse * lse;
    for (var e = 0u; e < experts; e++) {
      let dz = 0.000606060610152781f * lse * exp(logits[base + e] - lse);
      d_logits_z[base + e] = dz;
      d_x[base + e] = d_loss[0] * (balanceGrad(e) + dz);
    }
  }
  let z = treeSum(lane, zPartial, one);
  if (lane == 0u) {
    loss[0] = 0.0f * balance;
    loss[1] = 0.0003030303050763905f * z;
    let lossTotal = 0.0f * balance + 0.0003030303050763905f * z;
    loss_total[0] = lossTotal;
    loss_sum[0] = loss_addend[0] + lossTotal;
  }
}
