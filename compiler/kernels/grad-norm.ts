// Global gradient L2 norm and clip scale, on the device, in two stages:
//   1. partials: per gradient buffer (or sub-range of a packed gradient arena), each workgroup
//      writes the sum of squares of its chunk into its own slot of a small `partials` buffer;
//   2. finalize: one workgroup sums all partials and writes clip = [scale, norm] with
//      scale = min(1, maxNorm / (norm + 1e-6)) (1 when clipping is off).
// The optimizer reads `clip[0]` from the device, so no norm is read back to the CPU per step.
//
// Two layouts (GradNormVariant, chosen by gradNormVariant from the adapter):
//   tree  GPUs: a stage-1 workgroup of 256 sums its chunk through a shared-memory tree into one
//         slot; stage 2 is one workgroup with a tree;
//   lane  CPU adapters (lavapipe): no barriers anywhere. A stage-1 workgroup of LANE_WORKGROUP lanes
//         strides over its chunk and every lane writes its own slot (LANE_WORKGROUP slots per
//         chunk); stage 2 is a single invocation summing the slots in order (as vec4s when it can).
//         On lavapipe every barrier is a pass over all SIMD chunks of a workgroup (360960 floats:
//         1640 µs as a tree in the demo step's profile).
//
// Invariants:
// - Every slot of `partials` is owned by exactly one lane or workgroup of one stage-1 dispatch (the
//   caller lays out `partialOffset`s with `gradNormPartialSlots` for the same caps); slots outside a
//   dispatch's range are left untouched, so buffers can be reduced by separate dispatches into one
//   partials buffer.
// - Reductions are strided per-lane sums then a tree or an in-order loop: bitwise reproducible.
import { InternalError } from '../../base/errors.ts';
import type { RowKernelCaps } from '../../base/caps.ts';
import { ceilDiv, f32Literal, spreadWorkgroups, type KernelCase, type KernelProgram } from './types.ts';

const WORKGROUP = 256;
const ITEMS_PER_LANE = 16;
/** Elements reduced by one stage-1 workgroup of the tree layout. */
export const GRAD_NORM_CHUNK = WORKGROUP * ITEMS_PER_LANE;
/** Lanes (and so partial slots) per stage-1 workgroup of the lane layout, and the elements it
 * reduces: measured on lavapipe over 360960 floats, 4096 → 203 µs, 8192 → 184, 16384 → 170,
 * 32768 → 164 (64 lanes; 32 and 128 were slower). 16384 keeps a few chunks per core on small slabs. */
const LANE_WORKGROUP = 64;
const LANE_CHUNK = 16384;
/** Long ranges get longer lane chunks so there are at most this many (still a few per core): the
 * serial finalize then reads at most 64·LANE_MAX_CHUNKS slots per range (100M floats in 16384-float
 * chunks would leave it 390656 slots, 688 µs against the tree's 85). */
const LANE_MAX_CHUNKS = 256;

export type GradNormVariant = 'lane' | 'tree';

export const gradNormVariant = (caps: RowKernelCaps): GradNormVariant => (caps.cpuAdapter ? 'lane' : 'tree');

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

const slotsPerChunk = (variant: GradNormVariant): number => (variant === 'lane' ? LANE_WORKGROUP : 1);
/** Elements per stage-1 workgroup for a range of `length`; lane chunks are multiples of 4·LANE_WORKGROUP. */
function chunkOf(variant: GradNormVariant, length: number): number {
  if (variant === 'tree') return GRAD_NORM_CHUNK;
  const unit = 4 * LANE_WORKGROUP;
  return Math.max(LANE_CHUNK, ceilDiv(ceilDiv(length, LANE_MAX_CHUNKS), unit) * unit);
}

/** Partial slots one stage-1 dispatch over `length` elements writes, in the layout `caps` selects. */
export const gradNormPartialSlots = (length: number, caps: RowKernelCaps, variant = gradNormVariant(caps)): number =>
  ceilDiv(length, chunkOf(variant, length)) * slotsPerChunk(variant);

/** vec4 loads when the range and the buffer are 4-aligned (packed slabs are): lavapipe pays per load, not per byte. */
const useVec4 = (p: GradNormPartialsParams): boolean => p.elementOffset % 4 === 0 && p.length % 4 === 0 && p.bufferLength % 4 === 0;

export function gradNormPartialsProgram(p: GradNormPartialsParams, caps: RowKernelCaps, variant = gradNormVariant(caps)): KernelProgram {
  if (p.length < 1 || p.elementOffset + p.length > p.bufferLength) throw new InternalError(`grad norm: range [${p.elementOffset}, +${p.length}) is outside a buffer of ${p.bufferLength}`);
  const chunk = chunkOf(variant, p.length);
  const chunks = ceilDiv(p.length, chunk);
  const slots = chunks * slotsPerChunk(variant);
  if (p.partialOffset + slots > p.partialsLength) throw new InternalError(`grad norm: ${slots} partial slots at ${p.partialOffset} exceed the ${p.partialsLength} available`);
  const { dispatch, dispatchX } = spreadWorkgroups(chunks);
  // Offsets, lengths and the chunk are counted in vec4s when loading vec4s.
  const vec4 = useVec4(p);
  const width = vec4 ? 4 : 1;
  const lane = variant === 'lane';
  return {
    template: lane ? 'grad_norm_partials_lane' : 'grad_norm_partials',
    label: `grad_norm_partials_${p.elementOffset}+${p.length}of${p.bufferLength}_p${p.partialOffset}of${p.partialsLength}${vec4 ? '_v4' : ''}${lane ? '_lane' : ''}`,
    params: {
      elementOffset: p.elementOffset / width,
      length: p.length / width,
      partialOffset: p.partialOffset,
      chunks,
      slots,
      chunk: chunk / width,
      vec4,
      dispatchX,
    },
    bindings: [
      { name: 'grad', access: 'read', type: 'f32', length: p.bufferLength, vec4 },
      { name: 'partials', access: 'readwrite', type: 'f32', length: p.partialsLength, fill: { kind: 'float', lo: 0, hi: 1 } },
    ],
    workgroupSize: [lane ? LANE_WORKGROUP : WORKGROUP, 1, 1],
    dispatch,
    features: [],
  };
}

export function gradNormFinalizeProgram(p: GradNormFinalizeParams, caps: RowKernelCaps, variant = gradNormVariant(caps)): KernelProgram {
  if (p.partialsLength < 1) throw new InternalError('grad norm: needs at least one partial');
  if (p.maxNorm !== undefined && !(p.maxNorm > 0)) throw new InternalError(`grad norm: max norm must be positive, got ${p.maxNorm}`);
  const lane = variant === 'lane';
  // The lane layout's single invocation reads vec4s when it can (lane partials come in runs of
  // LANE_WORKGROUP slots): a quarter of the loads and four independent running sums.
  const vec4 = lane && p.partialsLength % 4 === 0;
  return {
    template: lane ? 'grad_norm_finalize_lane' : 'grad_norm_finalize',
    label: `grad_norm_finalize_${p.partialsLength}${p.maxNorm === undefined ? '_noclip' : `_max${String(p.maxNorm).replace('.', 'p')}`}${lane ? '_lane' : ''}`,
    params: { partialsLength: p.partialsLength, vec4, count: vec4 ? p.partialsLength / 4 : p.partialsLength, clip: p.maxNorm !== undefined, maxNorm: f32Literal(p.maxNorm ?? 1) },
    bindings: [
      { name: 'partials', access: 'read', type: 'f32', length: p.partialsLength, fill: { kind: 'float', lo: 0, hi: 1 }, ...(vec4 ? { vec4: true } : {}) },
      { name: 'clip', access: 'write', type: 'f32', length: 2 },
    ],
    workgroupSize: [lane ? 1 : WORKGROUP, 1, 1],
    dispatch: [1, 1, 1],
    features: [],
  };
}

type Inputs = Readonly<Record<string, ArrayLike<number>>>;

/** Slot (relative to partialOffset) that element `i` is summed into, in chunks of `size`. */
function slotOf(i: number, size: number, variant: GradNormVariant, width: number): number {
  const chunk = Math.floor(i / size);
  if (variant === 'tree') return chunk;
  const unit = Math.floor((i - chunk * size) / width);
  return chunk * LANE_WORKGROUP + (unit % LANE_WORKGROUP);
}

export function gradNormPartialsOracle(p: GradNormPartialsParams, caps: RowKernelCaps, variant = gradNormVariant(caps)) {
  const width = useVec4(p) ? 4 : 1;
  return (inputs: Inputs): Record<string, Float32Array> => {
    const partials = Float32Array.from(inputs.partials);
    const sums = new Float64Array(gradNormPartialSlots(p.length, caps, variant));
    const size = chunkOf(variant, p.length);
    for (let i = 0; i < p.length; i++) sums[slotOf(i, size, variant, width)] += inputs.grad[p.elementOffset + i] ** 2;
    partials.set(sums, p.partialOffset);
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

export function gradNormPartialsCase(p: GradNormPartialsParams, caps: RowKernelCaps, variant?: GradNormVariant): KernelCase {
  return { program: gradNormPartialsProgram(p, caps, variant), oracle: gradNormPartialsOracle(p, caps, variant), tolerance: { atol: 1e-4, rtol: 1e-5 } };
}

export function gradNormFinalizeCase(p: GradNormFinalizeParams, caps: RowKernelCaps, variant?: GradNormVariant): KernelCase {
  return { program: gradNormFinalizeProgram(p, caps, variant), oracle: gradNormFinalizeOracle(p), tolerance: { atol: 1e-6, rtol: 1e-5 } };
}
