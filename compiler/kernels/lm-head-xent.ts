// Kernels of the chunked LM head + cross-entropy (IR ops `lm_head_xent*`, lowered in
// compiler/codegen/lowerings.ts): the logits [T, V] are never materialised whole. The lowering
// walks the tokens in chunks of `lmHeadChunkRows` rows; per chunk a matmul writes the chunk's
// logits [n, V] into one scratch buffer, `lm_head_xent` turns them into per-row losses and, when
// training, overwrites them in place with dlogits, and two matmuls take dh and dW from it.
//
//   lm_head_xent        one workgroup per row: max, Σ exp(l − max) (fixed trees, deterministic),
//                       loss[t] = logsumexp(l_t) − l_t[target] (0 for an ignored row) and, with
//                       withGrad, l_t ← (softmax(l_t) − onehot(target)) · scale[0] in place;
//   lm_head_xent_scale  one workgroup: scale[0] = dMean[0] / count, count = rows whose target is
//                       in [0, V) over the whole batch (0 when there are none), so every chunk uses
//                       the batch's count without recounting it.
// A target outside [0, V) (−1 by convention) is ignored, as in the unchunked cross_entropy.
// Which adapter gets which: GPUs the workgroup-per-row kernel above and the 256-lane tree for the
// scale; CPU adapters (caps.cpuAdapter: lavapipe, SwiftShader) an invocation per row
// (compiler/kernels/xent-rows.ts, in place like this one) and a 64-lane scale with one barrier
// (maskedCombine in masked-mean.ts).
// Invariant of the in-place update: each logit is read (max, sum) and rewritten by the same lane
// (same stride), and the target logit every lane needs is read before any lane writes.
import type { RowKernelCaps } from '../../base/caps.ts';
import { maskedCombine } from './masked-mean.ts';
import { xentRowsProgram } from './xent-rows.ts';
import { f32Literal, spreadWorkgroups, type KernelBinding, type KernelCase, type KernelProgram } from './types.ts';

export interface LmHeadXentParams {
  /** Rows of this chunk. */
  readonly rows: number;
  readonly vocab: number;
  /** Also overwrite the logits with dlogits (training); false: per-row loss only (evaluation). */
  readonly withGrad: boolean;
}

export interface LmHeadXentScaleParams {
  /** Rows of the whole batch. */
  readonly rows: number;
  readonly vocab: number;
}

/** Bytes the logits scratch of one chunk may take (above it, the logits are split by rows). */
export const LM_HEAD_CHUNK_BYTES = 128 * 2 ** 20;
/** Chunks start at multiples of this many rows: every row slice of an f32/i32 tensor then starts
 *  at a multiple of 256 bytes, the portable minStorageBufferOffsetAlignment of a binding. */
export const LM_HEAD_ROW_GRANULE = 64;

// Small like cross_entropy's: every barrier makes lavapipe cycle through the workgroup's lanes.
const WORKGROUP = 64;

/**
 * Rows per chunk for `tokens` rows of `vocab` logits: all of them when they fit in
 * min(LM_HEAD_CHUNK_BYTES, limit), else the largest multiple of LM_HEAD_ROW_GRANULE that does;
 * null when not even one granule of rows fits the binding limit.
 */
export function lmHeadChunkRows(tokens: number, vocab: number, limitBytes: number): number | null {
  const rowBytes = vocab * 4;
  const budget = Math.min(LM_HEAD_CHUNK_BYTES, limitBytes);
  if (tokens * rowBytes <= budget) return tokens;
  const rows = Math.floor(budget / rowBytes / LM_HEAD_ROW_GRANULE) * LM_HEAD_ROW_GRANULE;
  return rows >= LM_HEAD_ROW_GRANULE ? rows : null;
}

function checkParams(what: string, rows: number, vocab: number): void {
  if (!(Number.isInteger(rows) && rows > 0 && Number.isInteger(vocab) && vocab > 0)) {
    throw new Error(`${what}: rows and vocab must be positive integers, got ${rows}x${vocab}`);
  }
}

export function lmHeadXentProgram(p: LmHeadXentParams, caps: RowKernelCaps): KernelProgram {
  checkParams('lm_head_xent', p.rows, p.vocab);
  const label = `lm_head_xent_${p.withGrad ? 'grad_' : ''}${p.rows}x${p.vocab}`;
  const bindings: KernelBinding[] = [
    { name: 'logits', access: p.withGrad ? 'readwrite' : 'read', type: 'f32', length: p.rows * p.vocab, fill: { kind: 'float', lo: -8, hi: 8 } },
    { name: 'targets', access: 'read', type: 'i32', length: p.rows, fill: { kind: 'int', lo: -1, hi: p.vocab } },
    ...(p.withGrad ? [{ name: 'scale', access: 'read' as const, type: 'f32' as const, length: 1, fill: { kind: 'float' as const, lo: 0.01, hi: 1 } }] : []),
    { name: 'loss', access: 'write', type: 'f32', length: p.rows },
  ];
  if (caps.cpuAdapter) return xentRowsProgram({ kernel: 'lm_head_xent', label, rows: p.rows, vocab: p.vocab, withGrad: p.withGrad, inPlace: true }, bindings);
  const { dispatch, dispatchX } = spreadWorkgroups(p.rows);
  return {
    template: 'lm_head_xent',
    label,
    params: { rows: p.rows, vocab: p.vocab, withGrad: p.withGrad, negInf: f32Literal(-3.4028234663852886e38), dispatchX },
    bindings,
    workgroupSize: [WORKGROUP, 1, 1],
    dispatch,
    features: [],
  };
}

export function lmHeadXentScaleProgram(p: LmHeadXentScaleParams, caps: RowKernelCaps): KernelProgram {
  checkParams('lm_head_xent_scale', p.rows, p.vocab);
  const { lanes, serialCombine, treeStrides } = maskedCombine(caps);
  return {
    template: 'lm_head_xent_scale',
    label: `lm_head_xent_scale_${p.rows}_v${p.vocab}${serialCombine ? '_serial' : ''}`,
    params: { rows: p.rows, vocab: p.vocab, serialCombine, treeStrides },
    bindings: [
      { name: 'targets', access: 'read', type: 'i32', length: p.rows, fill: { kind: 'int', lo: -1, hi: p.vocab + 1 } },
      { name: 'dMean', access: 'read', type: 'f32', length: 1, fill: { kind: 'float', lo: 0.5, hi: 2 } },
      { name: 'scale', access: 'write', type: 'f32', length: 1 },
    ],
    workgroupSize: [lanes, 1, 1],
    dispatch: [1, 1, 1],
    features: [],
  };
}

type Inputs = Readonly<Record<string, ArrayLike<number>>>;
const isCounted = (target: number, vocab: number): boolean => target >= 0 && target < vocab;

/** float64 reference of one chunk: per-row loss and, with withGrad, the rewritten logits. */
export function lmHeadXentReference(p: LmHeadXentParams, inputs: Inputs): Record<string, Float64Array> {
  const loss = new Float64Array(p.rows);
  const logits = Float64Array.from(inputs.logits);
  for (let t = 0; t < p.rows; t++) {
    const target = inputs.targets[t];
    const row = t * p.vocab;
    const counted = isCounted(target, p.vocab);
    let max = -Infinity;
    for (let j = 0; j < p.vocab; j++) max = Math.max(max, inputs.logits[row + j]);
    let sum = 0;
    for (let j = 0; j < p.vocab; j++) sum += Math.exp(inputs.logits[row + j] - max);
    const lse = max + Math.log(sum);
    loss[t] = counted ? lse - inputs.logits[row + target] : 0;
    if (!p.withGrad) continue;
    const scale = counted ? inputs.scale[0] : 0;
    for (let j = 0; j < p.vocab; j++) logits[row + j] = (Math.exp(inputs.logits[row + j] - lse) - (j === target ? 1 : 0)) * scale;
  }
  return p.withGrad ? { loss, logits } : { loss };
}

export const lmHeadXentOracle = (p: LmHeadXentParams) => (inputs: Inputs) =>
  Object.fromEntries(Object.entries(lmHeadXentReference(p, inputs)).map(([k, v]) => [k, Float32Array.from(v)]));

export function lmHeadXentScaleOracle(p: LmHeadXentScaleParams) {
  return (inputs: Inputs): Record<string, Float32Array> => {
    let count = 0;
    for (let t = 0; t < p.rows; t++) if (isCounted(inputs.targets[t], p.vocab)) count++;
    return { scale: Float32Array.of(count > 0 ? inputs.dMean[0] / count : 0) };
  };
}

export function lmHeadXentCase(p: LmHeadXentParams, caps: RowKernelCaps): KernelCase {
  return { program: lmHeadXentProgram(p, caps), oracle: lmHeadXentOracle(p), tolerance: { atol: 1e-5, rtol: 1e-5 } };
}

export function lmHeadXentScaleCase(p: LmHeadXentScaleParams, caps: RowKernelCaps): KernelCase {
  return { program: lmHeadXentScaleProgram(p, caps), oracle: lmHeadXentScaleOracle(p), tolerance: { atol: 1e-7, rtol: 1e-6 } };
}
