// In-place accumulate y += x over `length` floats (vec4 when the length allows). The elementwise
// kernels write a separate output, and WebGPU forbids binding one buffer both as an input and as
// the written output of a dispatch, so adding a step into a live buffer (SD-MoE `project update`
// adds the projected step D(Δ) to W_u) needs its own read-write kernel.
import { InternalError } from '../../base/errors.ts';
import { ceilDiv, spreadWorkgroups, type KernelCase, type KernelProgram } from './types.ts';

export interface AccumulateParams {
  readonly length: number;
}

const WORKGROUP = 256;

export function accumulateProgram(p: AccumulateParams): KernelProgram {
  if (!(Number.isInteger(p.length) && p.length >= 1)) throw new InternalError(`accumulate: length must be a positive integer, got ${p.length}`);
  const vec4 = p.length % 4 === 0;
  const units = vec4 ? p.length / 4 : p.length;
  const { dispatch, dispatchX } = spreadWorkgroups(ceilDiv(units, WORKGROUP));
  return {
    template: 'accumulate',
    label: `accumulate_${p.length}${vec4 ? '_v4' : ''}`,
    params: { length: p.length, units, vec4, dispatchX },
    bindings: [
      { name: 'x', access: 'read', type: 'f32', length: p.length, vec4 },
      { name: 'y', access: 'readwrite', type: 'f32', length: p.length, vec4 },
    ],
    workgroupSize: [WORKGROUP, 1, 1],
    dispatch,
    features: [],
  };
}

export function accumulateOracle(p: AccumulateParams) {
  return (inputs: Readonly<Record<string, ArrayLike<number>>>): Record<string, Float32Array> => {
    const y = new Float32Array(p.length);
    for (let i = 0; i < p.length; i++) y[i] = inputs.y[i] + inputs.x[i];
    return { y };
  };
}

export function accumulateCase(p: AccumulateParams): KernelCase {
  return { program: accumulateProgram(p), oracle: accumulateOracle(p), tolerance: { atol: 1e-7, rtol: 1e-6 } };
}
