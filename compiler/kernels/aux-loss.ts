// MoE auxiliary losses on the device, in one single-workgroup dispatch per MoE layer:
//   load balance  L_b = coef · E · Σ_e f_e · P_e   (Switch / DeepSeek form)
//                 f_e = share of the routed assignments that went to e, P_e = mean_t probs[t, e]
//   z-loss        L_z = zcoef · mean_t logsumexp(logits[t, :])²
// with their gradients: dL_b/dprobs[t, e] = coef · E · f_e / T (the same for every token, so it is
// written once per expert [E] and the router backward broadcasts it), and dL_z/dlogits.
//
// Invariants:
// - f_e is a count ratio and gets no gradient (the top-k choice is piecewise constant).
// - `accumulate` (global-batch balancing): this micro-batch's counts are added to `counts_accum`
//   and f_e is taken from the accumulated counts so far; the step's first micro-batch must see a
//   zeroed buffer (the trainer clears it at the start of each step). The counting pass of
//   `scope = global` with grad_accum > 1 runs this mode over all micro-batches of a step first.
// - `givenCounts` (global-batch balancing, the training step): f_e = counts_global[e] / Σ, the
//   counts of the whole step's global batch; this micro-batch's own counts only go to the stats.
//   With the micro-batch losses averaged (grad_accum's 1/N), loss and gradient are those of one
//   batch of N·B sequences: L = coef·E·Σ_e f_e·P_e is linear in P_e, the mean over all tokens.
// - Per-expert token counts of the micro-batch go to `stats_counts` for metrics; they are read
//   back only when metrics are logged.
// - `total` also writes loss_total = balance + z (the IR node's value, which took a reduce dispatch);
//   `grad` also writes d_x[t, e] = d_loss · (d_probs[e] + d_logits_z[t, e]), the gradient w.r.t. x
//   when probs and logits are the same x with one coefficient 0 (as aux_loss / aux_loss_grad bind
//   them), which took a broadcast (or scaling) dispatch. With both, a fused aux_loss node (loss and
//   gradient, fuse-aux-loss) is this one dispatch. `addend` (with `total`) also writes
//   loss_sum = loss_addend + loss_total: the running total loss the node is added to
//   (fuse-aux-loss-sum), which took a scalar add dispatch.
// - Reductions are fixed-order (per-lane strided partials, then an ordered or tree sum), so the
//   losses are bitwise reproducible. Expert ids outside [0, E) are ignored.
import type { RowKernelCaps } from '../../base/caps.ts';
import { InternalError } from '../../base/errors.ts';
import { MOE_MAX_EXPERTS } from './router.ts';
import { f32Literal, type KernelBinding, type KernelCase, type KernelProgram } from './types.ts';

/** The histogram is E atomics in workgroup memory (8 KiB at 2048, within WebGPU's 16 KiB). */
export const AUX_MAX_EXPERTS = MOE_MAX_EXPERTS;

export interface AuxLossParams {
  readonly tokens: number;
  readonly experts: number;
  readonly topK: number;
  /** Load-balance coefficient (0 disables the loss; counts and stats are still produced). */
  readonly balanceCoef: number;
  /** z-loss coefficient (0 = no z-loss, no logits binding). */
  readonly zLossCoef: number;
  /** Global-batch balancing: accumulate counts across micro-batches in `counts_accum`. */
  readonly accumulate: boolean;
  /** Global-batch balancing: f_e from the step's counts in `counts_global` (read only). */
  readonly givenCounts?: boolean;
  /** Also write loss_total [1] = balance + z. */
  readonly total?: boolean;
  /** Also write d_x [T, E] = d_loss · (d_probs broadcast over tokens + d_logits_z), from d_loss [1]. */
  readonly grad?: boolean;
  /** With `total`: also write loss_sum [1] = loss_addend [1] + loss_total. */
  readonly addend?: boolean;
}

// Workgroup width by adapter (auxLossWorkgroup; the kernel is the same, one workgroup either way):
// GPUs get 256 lanes; CPU adapters (lavapipe, SwiftShader) 8, one SIMD chunk, since there the
// single workgroup runs on one thread whatever its width and each barrier of the tree sums costs
// per chunk (512 tokens × 4 experts: ~60 µs at 256 lanes, ~30 µs at 8).
const PARALLEL_WORKGROUP = 256;
const CPU_WORKGROUP = 8;

export function auxLossWorkgroup(caps: RowKernelCaps): number {
  return caps.cpuAdapter ? CPU_WORKGROUP : PARALLEL_WORKGROUP;
}

export function auxLossProgram(p: AuxLossParams, caps: RowKernelCaps): KernelProgram {
  const WORKGROUP = auxLossWorkgroup(caps);
  if (p.experts < 1 || p.experts > AUX_MAX_EXPERTS) throw new InternalError(`aux loss: ${p.experts} experts; supported 1..${AUX_MAX_EXPERTS}`);
  if (p.tokens < 1 || p.topK < 1) throw new InternalError('aux loss: needs at least one token and top-k ≥ 1');
  if (p.accumulate && p.givenCounts) throw new InternalError('aux loss: accumulate and givenCounts exclude each other');
  if (p.addend && !p.total) throw new InternalError('aux loss: an addend needs the total loss');
  const te = p.tokens * p.experts;
  const zLoss = p.zLossCoef > 0;
  const bindings: KernelBinding[] = [
    { name: 'probs', access: 'read', type: 'f32', length: te, fill: { kind: 'float', lo: 0, hi: 1 } },
    { name: 'topk_idx', access: 'read', type: 'i32', length: p.tokens * p.topK, fill: { kind: 'int', lo: 0, hi: p.experts } },
    ...(zLoss ? [{ name: 'logits', access: 'read' as const, type: 'f32' as const, length: te, fill: { kind: 'float' as const, lo: -4, hi: 4 } }] : []),
    ...(p.accumulate ? [{ name: 'counts_accum', access: 'readwrite' as const, type: 'u32' as const, length: p.experts, fill: { kind: 'int' as const, lo: 0, hi: 50 } }] : []),
    ...(p.givenCounts ? [{ name: 'counts_global', access: 'read' as const, type: 'u32' as const, length: p.experts, fill: { kind: 'int' as const, lo: 0, hi: 50 } }] : []),
    { name: 'stats_counts', access: 'write', type: 'u32', length: p.experts },
    { name: 'loss', access: 'write', type: 'f32', length: 2 },
    { name: 'd_probs', access: 'write', type: 'f32', length: p.experts },
    ...(zLoss ? [{ name: 'd_logits_z', access: 'write' as const, type: 'f32' as const, length: te }] : []),
    ...(p.total ? [{ name: 'loss_total', access: 'write' as const, type: 'f32' as const, length: 1 }] : []),
    ...(p.addend
      ? [
          { name: 'loss_addend', access: 'read' as const, type: 'f32' as const, length: 1 },
          { name: 'loss_sum', access: 'write' as const, type: 'f32' as const, length: 1 },
        ]
      : []),
    ...(p.grad
      ? [
          { name: 'd_loss', access: 'read' as const, type: 'f32' as const, length: 1, fill: { kind: 'float' as const, lo: 0.5, hi: 2 } },
          { name: 'd_x', access: 'write' as const, type: 'f32' as const, length: te },
        ]
      : []),
  ];
  const lanesPerExpert = Math.floor(WORKGROUP / p.experts);
  const tags = [p.zLossCoef > 0 ? 'z' : '', p.accumulate ? 'acc' : '', p.givenCounts ? 'global' : '', p.total ? 'sum' : '', p.grad ? 'grad' : '', p.addend ? 'add' : ''].filter(Boolean).join('_');
  return {
    template: 'aux_loss',
    label: `aux_loss${tags ? `_${tags}` : ''}_${p.tokens}x${p.experts}_k${p.topK}${WORKGROUP === PARALLEL_WORKGROUP ? '' : `_wg${WORKGROUP}`}`,
    params: {
      tokens: p.tokens,
      experts: p.experts,
      assignments: p.tokens * p.topK,
      lanesPerExpert,
      usedLanes: lanesPerExpert * p.experts,
      wideExperts: p.experts > WORKGROUP,
      balanceCoef: f32Literal(p.balanceCoef * p.experts),
      zLoss,
      zScale: f32Literal((2 * p.zLossCoef) / p.tokens),
      zCoefPerToken: f32Literal(p.zLossCoef / p.tokens),
      invTokens: f32Literal(1 / p.tokens),
      accumulate: p.accumulate,
      givenCounts: p.givenCounts ?? false,
      total: p.total ?? false,
      addend: p.addend ?? false,
      grad: p.grad ?? false,
    },
    bindings,
    workgroupSize: [WORKGROUP, 1, 1],
    dispatch: [1, 1, 1],
    features: [],
  };
}

type Inputs = Readonly<Record<string, ArrayLike<number>>>;

export function auxLossOracle(p: AuxLossParams) {
  return (inputs: Inputs): Record<string, Float32Array | Uint32Array> => {
    const { tokens: T, experts: E } = p;
    const counts = new Uint32Array(E);
    for (let a = 0; a < T * p.topK; a++) {
      const e = inputs.topk_idx[a];
      if (e >= 0 && e < E) counts[e]++;
    }
    const basis = p.accumulate ? Uint32Array.from(counts, (c, e) => c + inputs.counts_accum[e]) : p.givenCounts ? Uint32Array.from(inputs.counts_global) : counts;
    const total = basis.reduce((a, b) => a + b, 0);
    const loss = new Float32Array(2);
    const dProbs = new Float32Array(E);
    let balance = 0;
    for (let e = 0; e < E; e++) {
      const f = total > 0 ? basis[e] / total : 0;
      let mean = 0;
      for (let t = 0; t < T; t++) mean += inputs.probs[t * E + e];
      mean /= T;
      balance += f * mean;
      dProbs[e] = (p.balanceCoef * E * f) / T;
    }
    loss[0] = p.balanceCoef * E * balance;
    const result: Record<string, Float32Array | Uint32Array> = { stats_counts: counts, loss, d_probs: dProbs };
    if (p.accumulate) result.counts_accum = basis;
    if (p.zLossCoef > 0) {
      const dz = new Float32Array(T * E);
      let z = 0;
      for (let t = 0; t < T; t++) {
        const row = Array.from({ length: E }, (_, e) => inputs.logits[t * E + e]);
        const m = Math.max(...row);
        const lse = m + Math.log(row.reduce((s, x) => s + Math.exp(x - m), 0));
        z += lse * lse;
        for (let e = 0; e < E; e++) dz[t * E + e] = ((2 * p.zLossCoef) / T) * lse * Math.exp(row[e] - lse);
      }
      loss[1] = (p.zLossCoef * z) / T;
      result.d_logits_z = dz;
    }
    if (p.total) result.loss_total = Float32Array.of(loss[0] + loss[1]);
    if (p.addend) result.loss_sum = Float32Array.of(inputs.loss_addend[0] + result.loss_total[0]);
    if (p.grad) result.d_x = Float32Array.from({ length: T * E }, (_, i) => inputs.d_loss[0] * (dProbs[i % E] + (result.d_logits_z?.[i] ?? 0)));
    return result;
  };
}

export function auxLossCase(p: AuxLossParams, caps: RowKernelCaps): KernelCase {
  return { program: auxLossProgram(p, caps), oracle: auxLossOracle(p), tolerance: { atol: 1e-5, rtol: 1e-4 } };
}
