// Global gradient L2 norm and clip scale, on the device, in two stages:
//   1. partials: per gradient buffer (or sub-range of a packed gradient arena), each workgroup
//      writes the sum of squares of its chunk into its own slot of a small `partials` buffer;
//   2. finalize: one workgroup sums all partials and writes clip = [scale, norm] with
//      scale = min(1, maxNorm / (norm + 1e-6)) (1 when clipping is off).
// The optimizer reads `clip[0]` from the device, so no norm is read back to the CPU per step.
//
// Invariants:
// - Every slot of `partials` is owned by exactly one workgroup of one stage-1 dispatch (the caller
//   lays out `partialOffset`s with `gradNormPartialSlots`); slots outside a dispatch's range are
//   left untouched, so buffers can be reduced by separate dispatches into one partials buffer.
// - Reductions are strided per-lane sums then a tree, in a fixed order: bitwise reproducible.
import { InternalError } from '../../base/errors.ts';
import { ceilDiv, f32Literal, spreadWorkgroups, type KernelCase, type KernelProgram } from './types.ts';

const WORKGROUP = 256;
const ITEMS_PER_LANE = 16;
/** Elements reduced by one stage-1 workgroup. */
export const GRAD_NORM_CHUNK = WORKGROUP * ITEMS_PER_LANE;

export interface GradNormPartialsParams {
  /** Elements of the bound gradient buffer. */
  readonly bufferLength: number;
  /** First element reduced and number of elements (a sub-range of a packed arena). */
  readonly elementOffset: number;
  readonly length: number;
  /** First partials slot this dispatch writes; it writes gradNormPartialSlots(length) slots. */
  readonly partialOffset: number;
  /** Total slots of the partials buffer (all gradient buffers together). */
  readonly partialsLength: number;
}

export interface GradNormFinalizeParams {
  readonly partialsLength: number;
  /** Clip threshold; absent = no clipping (scale 1, the norm is still computed for metrics). */
  readonly maxNorm?: number;
}

export const gradNormPartialSlots = (length: number): number => ceilDiv(length, GRAD_NORM_CHUNK);

export function gradNormPartialsProgram(p: GradNormPartialsParams): KernelProgram {
  if (p.length < 1 || p.elementOffset + p.length > p.bufferLength) throw new InternalError(`grad norm: range [${p.elementOffset}, +${p.length}) is outside a buffer of ${p.bufferLength}`);
  const slots = gradNormPartialSlots(p.length);
  if (p.partialOffset + slots > p.partialsLength) throw new InternalError(`grad norm: ${slots} partial slots at ${p.partialOffset} exceed the ${p.partialsLength} available`);
  const { dispatch, dispatchX } = spreadWorkgroups(slots);
  // vec4 loads when the range and the buffer are 4-aligned (packed slabs are): lavapipe pays per
  // load, not per byte. Offsets, lengths and the chunk are then counted in vec4s.
  const vec4 = p.elementOffset % 4 === 0 && p.length % 4 === 0 && p.bufferLength % 4 === 0;
  const width = vec4 ? 4 : 1;
  return {
    template: 'grad_norm_partials',
    label: `grad_norm_partials_${p.elementOffset}+${p.length}of${p.bufferLength}_p${p.partialOffset}of${p.partialsLength}${vec4 ? '_v4' : ''}`,
    params: {
      elementOffset: p.elementOffset / width,
      length: p.length / width,
      partialOffset: p.partialOffset,
      slots,
      chunk: GRAD_NORM_CHUNK / width,
      vec4,
      dispatchX,
    },
    bindings: [
      { name: 'grad', access: 'read', type: 'f32', length: p.bufferLength, vec4 },
      { name: 'partials', access: 'readwrite', type: 'f32', length: p.partialsLength, fill: { kind: 'float', lo: 0, hi: 1 } },
    ],
    workgroupSize: [WORKGROUP, 1, 1],
    dispatch,
    features: [],
  };
}

export function gradNormFinalizeProgram(p: GradNormFinalizeParams): KernelProgram {
  if (p.partialsLength < 1) throw new InternalError('grad norm: needs at least one partial');
  if (p.maxNorm !== undefined && !(p.maxNorm > 0)) throw new InternalError(`grad norm: max norm must be positive, got ${p.maxNorm}`);
  return {
    template: 'grad_norm_finalize',
    label: `grad_norm_finalize_${p.partialsLength}${p.maxNorm === undefined ? '_noclip' : `_max${String(p.maxNorm).replace('.', 'p')}`}`,
    params: { partialsLength: p.partialsLength, clip: p.maxNorm !== undefined, maxNorm: f32Literal(p.maxNorm ?? 1) },
    bindings: [
      { name: 'partials', access: 'read', type: 'f32', length: p.partialsLength, fill: { kind: 'float', lo: 0, hi: 1 } },
      { name: 'clip', access: 'write', type: 'f32', length: 2 },
    ],
    workgroupSize: [WORKGROUP, 1, 1],
    dispatch: [1, 1, 1],
    features: [],
  };
}

type Inputs = Readonly<Record<string, ArrayLike<number>>>;

export function gradNormPartialsOracle(p: GradNormPartialsParams) {
  return (inputs: Inputs): Record<string, Float32Array> => {
    const partials = Float32Array.from(inputs.partials);
    for (let s = 0; s < gradNormPartialSlots(p.length); s++) {
      let acc = 0;
      const end = Math.min(p.length, (s + 1) * GRAD_NORM_CHUNK);
      for (let i = s * GRAD_NORM_CHUNK; i < end; i++) acc += inputs.grad[p.elementOffset + i] ** 2;
      partials[p.partialOffset + s] = acc;
    }
    return { partials };
  };
}

export function gradNormFinalizeOracle(p: GradNormFinalizeParams) {
  return (inputs: Inputs): Record<string, Float32Array> => {
    let sum = 0;
    for (let i = 0; i < p.partialsLength; i++) sum += inputs.partials[i];
    const norm = Math.sqrt(sum);
    const scale = p.maxNorm === undefined ? 1 : Math.min(1, p.maxNorm / (norm + 1e-6));
    return { clip: Float32Array.of(scale, norm) };
  };
}

export function gradNormPartialsCase(p: GradNormPartialsParams): KernelCase {
  return { program: gradNormPartialsProgram(p), oracle: gradNormPartialsOracle(p), tolerance: { atol: 1e-4, rtol: 1e-5 } };
}

export function gradNormFinalizeCase(p: GradNormFinalizeParams): KernelCase {
  return { program: gradNormFinalizeProgram(p), oracle: gradNormFinalizeOracle(p), tolerance: { atol: 1e-6, rtol: 1e-5 } };
}
