// Mean of per-row values over the rows whose target counts (0 ≤ target < vocab): the scalar
// cross-entropy loss with ignored targets, matching the `count` the fused cross-entropy gradient
// divides by. One workgroup: each lane sums a strided slice, then
//  - GPUs: a shared-memory tree of 256 lanes combines (a barrier per level);
//  - CPU adapters (caps.cpuAdapter): 64 lanes, one barrier, and lane 0 adds the 64 partial sums
//    serially: on lavapipe each barrier makes the thread cycle through the whole workgroup, so the
//    8-level tree cost more than the sums (see serialCombine in the template).
import type { RowKernelCaps } from '../../base/caps.ts';
import { type KernelCase, type KernelProgram } from './types.ts';

export interface MaskedMeanParams {
  readonly rows: number;
  readonly vocab: number;
  /** Scalar addends (bindings addend0…, [1] each): also write sum = ((mean + addend0) + addend1) + …,
   *  the step's total loss (fuse-loss-sum). */
  readonly addends?: number;
}

const WORKGROUP = 256;
const CPU_WORKGROUP = 64;

/** Lanes and combine of the one-workgroup count/sum kernels (masked mean, lm_head_xent_scale). */
export function maskedCombine(caps: RowKernelCaps): { lanes: number; serialCombine: boolean; treeStrides: number[] } {
  if (caps.cpuAdapter) return { lanes: CPU_WORKGROUP, serialCombine: true, treeStrides: [] };
  const treeStrides: number[] = [];
  for (let s = WORKGROUP / 2; s >= 1; s /= 2) treeStrides.push(s);
  return { lanes: WORKGROUP, serialCombine: false, treeStrides };
}

export function maskedMeanProgram(p: MaskedMeanParams, caps: RowKernelCaps): KernelProgram {
  if (!(Number.isInteger(p.rows) && p.rows > 0)) throw new Error(`masked mean: rows must be a positive integer, got ${p.rows}`);
  const { lanes, serialCombine, treeStrides } = maskedCombine(caps);
  const addends = Array.from({ length: p.addends ?? 0 }, (_, i) => `addend${i}`);
  return {
    template: 'masked_mean',
    label: `masked_mean_${p.rows}_v${p.vocab}${addends.length ? `_sum${addends.length}` : ''}${serialCombine ? '_serial' : ''}`,
    params: { rows: p.rows, vocab: p.vocab, serialCombine, treeStrides, addends },
    bindings: [
      { name: 'values', access: 'read', type: 'f32', length: p.rows },
      { name: 'targets', access: 'read', type: 'i32', length: p.rows, fill: { kind: 'int', lo: -1, hi: p.vocab + 1 } },
      { name: 'mean', access: 'write', type: 'f32', length: 1 },
      ...addends.map((name) => ({ name, access: 'read' as const, type: 'f32' as const, length: 1 })),
      ...(addends.length ? [{ name: 'loss_sum', access: 'write' as const, type: 'f32' as const, length: 1 }] : []),
    ],
    workgroupSize: [lanes, 1, 1],
    dispatch: [1, 1, 1],
    features: [],
  };
}

export function maskedMeanOracle(p: MaskedMeanParams) {
  return (inputs: Readonly<Record<string, ArrayLike<number>>>): Record<string, Float32Array> => {
    let sum = 0;
    let count = 0;
    for (let t = 0; t < p.rows; t++) {
      const target = inputs.targets[t];
      if (target >= 0 && target < p.vocab) {
        sum += inputs.values[t];
        count++;
      }
    }
    const mean = Math.fround(sum / Math.max(count, 1));
    if (!p.addends) return { mean: Float32Array.of(mean) };
    let total = mean;
    for (let i = 0; i < p.addends; i++) total = Math.fround(total + inputs[`addend${i}`][0]);
    return { mean: Float32Array.of(mean), loss_sum: Float32Array.of(total) };
  };
}

export function maskedMeanCase(p: MaskedMeanParams, caps: RowKernelCaps): KernelCase {
  return { program: maskedMeanProgram(p, caps), oracle: maskedMeanOracle(p), tolerance: { atol: 1e-6, rtol: 1e-5 } };
}
