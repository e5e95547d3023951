// Mean of per-row values over the rows whose target counts (0 ≤ target < vocab): the scalar
// cross-entropy loss with ignored targets, matching the `count` the fused cross-entropy gradient
// divides by. One workgroup: each lane sums a strided slice, then a shared-memory tree combines.
import { type KernelCase, type KernelProgram } from './types.ts';

export interface MaskedMeanParams {
  readonly rows: number;
  readonly vocab: number;
}

const WORKGROUP = 256;

export function maskedMeanProgram(p: MaskedMeanParams): KernelProgram {
  if (!(Number.isInteger(p.rows) && p.rows > 0)) throw new Error(`masked mean: rows must be a positive integer, got ${p.rows}`);
  const treeStrides: number[] = [];
  for (let s = WORKGROUP / 2; s >= 1; s /= 2) treeStrides.push(s);
  return {
    template: 'masked_mean',
    label: `masked_mean_${p.rows}_v${p.vocab}`,
    params: { rows: p.rows, vocab: p.vocab, treeStrides },
    bindings: [
      { name: 'values', access: 'read', type: 'f32', length: p.rows },
      { name: 'targets', access: 'read', type: 'i32', length: p.rows, fill: { kind: 'int', lo: -1, hi: p.vocab + 1 } },
      { name: 'mean', access: 'write', type: 'f32', length: 1 },
    ],
    workgroupSize: [WORKGROUP, 1, 1],
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
    return { mean: Float32Array.of(sum / Math.max(count, 1)) };
  };
}

export function maskedMeanCase(p: MaskedMeanParams): KernelCase {
  return { program: maskedMeanProgram(p), oracle: maskedMeanOracle(p), tolerance: { atol: 1e-6, rtol: 1e-5 } };
}
