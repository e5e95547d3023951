// Cross-entropy over logits [T, V] with i32 targets [T], fused with its gradient. One workgroup
// per row: max, then Σ exp(l − max) (numerically stable), then
//   loss[t]       = logsumexp(l_t) − l_t[target]            (nats; 0 for an ignored row)
//   dlogits[t, j] = (softmax(l_t)_j − [j = target]) · gradScale[0] / count
// where count is the number of non-ignored rows in the whole batch. A target outside [0, V)
// (−1 by convention) is ignored. gradScale is read from a one-element storage buffer so loss
// scaling (or 1/accumulation steps) changes without recompiling. `withGrad: false` gives the
// loss-only program for evaluation. Every workgroup counts the targets itself (T reads) instead of
// depending on a separate counting dispatch.
// Which adapter gets which layout: GPUs the workgroup-per-row kernel here
// (templates/cross_entropy.wgsl.hbs, 64-lane reduction trees); CPU adapters (caps.cpuAdapter:
// lavapipe, SwiftShader) an invocation per row with no reduction tree (compiler/kernels/xent-rows.ts),
// 4× faster on lavapipe at the demo's 512 × 1024.
import type { RowKernelCaps } from '../../base/caps.ts';
import { xentRowsProgram } from './xent-rows.ts';
import { f32Literal, spreadWorkgroups, type KernelBinding, type KernelCase, type KernelProgram } from './types.ts';

export interface CrossEntropyParams {
  readonly tokens: number;
  readonly vocab: number;
  /** Also write dlogits (training); false writes the per-row loss only (evaluation). */
  readonly withGrad: boolean;
  /**
   * dlogits written over the logits (binding `logits` read_write, no `dlogits`): the planner hands the
   * logits' buffer to dlogits when they die here (crossEntropyInPlace). Each row is read and rewritten
   * by one invocation, its target logit read before any write; the stores land on lines the row's
   * reads just brought in instead of a second 2 MiB buffer (at 512 × 1024 on lavapipe a row walk that
   * rewrites its own row took 0.83–0.87 of one writing elsewhere, ad hoc, 40 interleaved rounds × 3).
   */
  readonly inPlace?: boolean;
}

/** Whether this adapter's layout can write dlogits over the logits: the CPU rows kernel (an invocation
 *  owns its row); the workgroup-per-row kernel's lanes would race on the target logit. */
export function crossEntropyInPlace(caps: RowKernelCaps): boolean {
  return caps.cpuAdapter === true;
}

// Small on purpose: every barrier in the reduction trees makes lavapipe cycle through all the
// workgroup's invocations; 64 ran 3× faster than 256 at V = 1024 and 2× at V = 4096.
const WORKGROUP = 64;

function checkParams(p: CrossEntropyParams): void {
  if (!(Number.isInteger(p.tokens) && p.tokens > 0 && Number.isInteger(p.vocab) && p.vocab > 0)) {
    throw new Error(`cross-entropy: tokens and vocab must be positive integers, got ${p.tokens}x${p.vocab}`);
  }
}

export function crossEntropyProgram(p: CrossEntropyParams, caps: RowKernelCaps): KernelProgram {
  checkParams(p);
  const inPlace = p.withGrad && p.inPlace === true;
  if (inPlace && !crossEntropyInPlace(caps)) throw new Error('cross-entropy: only the CPU rows layout writes dlogits over the logits');
  const label = `cross_entropy_${p.withGrad ? 'grad_' : ''}${p.tokens}x${p.vocab}${inPlace ? '_inplace' : ''}`;
  const bindings: KernelBinding[] = [
    { name: 'logits', access: inPlace ? 'readwrite' : 'read', type: 'f32', length: p.tokens * p.vocab, fill: { kind: 'float', lo: -8, hi: 8 } },
    { name: 'targets', access: 'read', type: 'i32', length: p.tokens, fill: { kind: 'int', lo: -1, hi: p.vocab } },
    ...(p.withGrad ? [{ name: 'gradScale', access: 'read' as const, type: 'f32' as const, length: 1, fill: { kind: 'float' as const, lo: 0.5, hi: 2 } }] : []),
    { name: 'loss', access: 'write', type: 'f32', length: p.tokens },
    ...(p.withGrad && !inPlace ? [{ name: 'dlogits', access: 'write' as const, type: 'f32' as const, length: p.tokens * p.vocab }] : []),
  ];
  if (caps.cpuAdapter) return xentRowsProgram({ kernel: 'cross_entropy', label, rows: p.tokens, vocab: p.vocab, withGrad: p.withGrad, inPlace }, bindings);
  const { dispatch, dispatchX } = spreadWorkgroups(p.tokens);
  return {
    template: 'cross_entropy',
    label,
    params: { tokens: p.tokens, vocab: p.vocab, withGrad: p.withGrad, negInf: f32Literal(-3.4028234663852886e38), dispatchX },
    bindings,
    workgroupSize: [WORKGROUP, 1, 1],
    dispatch,
    features: [],
  };
}

type Inputs = Readonly<Record<string, ArrayLike<number>>>;

const isCounted = (target: number, vocab: number): boolean => target >= 0 && target < vocab;

/** float64 reference: per-row loss and, with withGrad, dlogits. */
export function crossEntropyReference(p: CrossEntropyParams, inputs: Inputs): Record<string, Float64Array> {
  const loss = new Float64Array(p.tokens);
  const dlogits = new Float64Array(p.tokens * p.vocab);
  let count = 0;
  for (let t = 0; t < p.tokens; t++) if (isCounted(inputs.targets[t], p.vocab)) count++;
  const scale = p.withGrad && count > 0 ? inputs.gradScale[0] / count : 0;
  for (let t = 0; t < p.tokens; t++) {
    const target = inputs.targets[t];
    if (!isCounted(target, p.vocab)) continue;
    const row = t * p.vocab;
    let max = -Infinity;
    for (let j = 0; j < p.vocab; j++) max = Math.max(max, inputs.logits[row + j]);
    let sum = 0;
    for (let j = 0; j < p.vocab; j++) sum += Math.exp(inputs.logits[row + j] - max);
    const lse = max + Math.log(sum);
    loss[t] = lse - inputs.logits[row + target];
    for (let j = 0; j < p.vocab; j++) dlogits[row + j] = (Math.exp(inputs.logits[row + j] - lse) - (j === target ? 1 : 0)) * scale;
  }
  return p.withGrad ? { loss, dlogits } : { loss };
}

/** Oracle: the reference with f32 outputs, keyed by binding name. */
export const crossEntropyOracle = (p: CrossEntropyParams) => (inputs: Inputs) =>
  Object.fromEntries(Object.entries(crossEntropyReference(p, inputs)).map(([k, v]) => [k === 'dlogits' && p.inPlace ? 'logits' : k, Float32Array.from(v)]));

export function crossEntropyCase(p: CrossEntropyParams, caps: RowKernelCaps): KernelCase {
  return {
    program: crossEntropyProgram(p, caps),
    oracle: crossEntropyOracle(p),
    tolerance: { atol: 1e-5, rtol: 1e-5 },
  };
}
