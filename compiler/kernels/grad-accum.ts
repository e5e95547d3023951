// Gradient accumulation over the micro-batches of one optimizer step (`train { grad_accum N }`).
// Every gradient producer overwrites its gradient slot, so the step keeps one accumulator per
// gradient slab (and per gradient outside a slab), as large as the slab:
//   'add'     acc += g                            after micro-batches 1 … N−1
//   'finish'  g = (g + acc) · scale;  acc = 0     after micro-batch N, before the norm and the update
// With scale = 1/N the optimizer then sees the mean of the micro-batch gradients, which is the
// gradient of the mean loss over the N·B sequences (the per-micro-batch losses are means over
// equally many tokens). `finish` zeroes the accumulator for the next step, so a step needs no
// clear and a checkpoint taken between steps holds no accumulation state.
//
// Invariants: one dispatch per slab (the padding between slots is zero on both sides and stays
// zero); the accumulator is bound read-write and the gradient read (`add`) or read-write
// (`finish`), never the same buffer twice.
import { InternalError } from '../../base/errors.ts';
import { elementwiseLayout, layoutParams, type ElementwiseCaps } from './elementwise-layout.ts';
import { f32Literal, type KernelCase, type KernelProgram } from './types.ts';

export interface GradAccumParams {
  readonly length: number;
  readonly mode: 'add' | 'finish';
  /** 'finish' only: the factor applied to g + acc (1 / micro-batches). */
  readonly scale?: number;
}

/** `caps`: the elementwise layout (compiler/kernels/elementwise-layout.ts) (CPU adapters 64 × 16 vectors, GPUs 256 × 1). */
export function gradAccumProgram(p: GradAccumParams, caps?: ElementwiseCaps): KernelProgram {
  if (!(Number.isInteger(p.length) && p.length >= 1)) throw new InternalError(`grad_accum: length must be a positive integer, got ${p.length}`);
  const scale = p.scale ?? 1;
  if (p.mode === 'finish' && !(scale > 0 && Number.isFinite(scale))) throw new InternalError(`grad_accum: scale must be positive, got ${scale}`);
  const vec4 = p.length % 4 === 0;
  const layout = elementwiseLayout(p.length, vec4, caps);
  const finish = p.mode === 'finish';
  return {
    template: 'grad_accum',
    label: `grad_accum_${p.mode}_${p.length}${vec4 ? '_v4' : ''}${layout.suffix}`,
    params: { length: p.length, ...layoutParams(layout), finish, scale: f32Literal(scale) },
    bindings: [
      { name: 'grad', access: finish ? 'readwrite' : 'read', type: 'f32', length: p.length, vec4 },
      { name: 'acc', access: 'readwrite', type: 'f32', length: p.length, vec4 },
    ],
    workgroupSize: [layout.workgroup, 1, 1],
    dispatch: layout.dispatch,
    features: [],
  };
}

export function gradAccumOracle(p: GradAccumParams) {
  return (inputs: Readonly<Record<string, ArrayLike<number>>>): Record<string, Float32Array> => {
    const acc = new Float32Array(p.length);
    if (p.mode === 'add') {
      for (let i = 0; i < p.length; i++) acc[i] = inputs.acc[i] + inputs.grad[i];
      return { acc };
    }
    const grad = new Float32Array(p.length);
    for (let i = 0; i < p.length; i++) grad[i] = (inputs.grad[i] + inputs.acc[i]) * (p.scale ?? 1);
    return { grad, acc };
  };
}

export function gradAccumCase(p: GradAccumParams, caps?: ElementwiseCaps): KernelCase {
  return { program: gradAccumProgram(p, caps), oracle: gradAccumOracle(p), tolerance: { atol: 1e-7, rtol: 1e-6 } };
}
