// aux_loss_z_acc_50x6_k2
// aux loss: load balance (coef·E = 0.05999999865889549f) over 50 tokens × 6 experts and z-loss, f_e from counts accumulated across micro-batches; loss = [balance, z]
// bindings: probs (read), topk_idx (read i32), logits (read), counts_accum (read_write u32), stats_counts (write u32), loss (write [2]), d_probs (write [E], broadcast over tokens), d_logits_z (write)
// dispatch: one workgroup; 42 lanes per expert sum probs columns, then ordered sums
@group(0) @binding(0) var<storage, read> probs: array<f32>;
@group(0) @binding(1) var<storage, read> topk_idx: array<i32>;
@group(0) @binding(2) var<storage, read> logits: array<f32>;
@group(0) @binding(3) var<storage, read_write> counts_accum: array<u32>;
@group(0) @binding(4) var<storage, read_write> stats_counts: array<u32>;
@group(0) @binding(5) var<storage, read_write> loss: array<f32>;
@group(0) @binding(6) var<storage, read_write> d_probs: array<f32>;
@group(0) @binding(7) var<storage, read_write> d_logits_z: array<f32>;

const T = 50u;
const E = 6u;
const N = 100u;
const WG = 256u;
const LANES = 42u;

var<workgroup> histogram: array<atomic<u32>, 6>;
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
  if (lane < 252u) {
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
      let accumulated = counts_accum[e] + count;
      counts_accum[e] = accumulated;
      atomicStore(&histogram[e], accumulated);
      total += accumulated;
    }
    assignedTotal = total;
  }
  workgroupBarrier();
  var term = 0.0f;
  if (lane < E) {
    var mean = 0.0f;
    for (var part = 0u; part < LANES * one; part++) { mean += partial[part * E + lane]; }
    mean *= 0.019999999552965164f;
    let total = assignedTotal;
    var f = 0.0f;
    if (total > 0u) { f = f32(atomicLoad(&histogram[lane])) / f32(total); }
    term = f * mean;
    d_probs[lane] = 0.05999999865889549f * f * 0.019999999552965164f;
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
      let dz = 0.00039999998989515007f * lse * exp(logits[base + e] - lse);
      d_logits_z[base + e] = dz;
    }
  }
  let z = treeSum(lane, zPartial, one);
  if (lane == 0u) {
    loss[0] = 0.05999999865889549f * balance;
    loss[1] = 0.00019999999494757503f * z;
  }
}
