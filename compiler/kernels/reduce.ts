// Reductions (sum, max, mean, sum of squares) along one axis of an N-d tensor, viewed as
// [outer, axis, inner]. The builder picks the strategy so the templates stay logic-free:
//  - `row` (inner == 1): each reduced row is contiguous, so a group of lanes strides over it and
//    combines partial results with a shared-memory tree; short rows are packed several to a
//    workgroup so every workgroup stays full (on lavapipe dispatch and barrier costs dominate).
//  - `strided` (inner > 1): one lane per output element loops over the axis; neighbouring lanes
//    read neighbouring `inner` positions, so every step of the loop is a coalesced load. When the
//    outputs are too few to occupy the device, the axis is also split over workgroup y and the
//    partial results meet in a shared-memory tree.
// On CPU adapters (RowKernelCaps.cpuAdapter: lavapipe, SwiftShader) both strategies take a `lane`
// layout where it pays (see reduceLane): one invocation per output, LANE_OUTPUTS_PER_GROUP per
// workgroup, no shared memory and no barrier (on lavapipe a workgroup is a serial loop over SIMD
// chunks and each barrier is a pass over all of them). Long reductions keep the tree, where its
// barriers are paid for by the work. GPUs get the tree layouts above. The same templates render
// both (the lane layout is their tree-free case).
// Invariants: the output is dense, row-major, shape = input shape with the axis removed (or kept
// as 1); accumulation is in f32; max is exact, sums are compared with a length-scaled tolerance.
import type { RowKernelCaps } from '../../base/caps.ts';
import { ceilDiv, f32Literal, spreadWorkgroups, type KernelCase, type KernelProgram, type Tolerance } from './types.ts';

export type ReduceOp = 'sum' | 'max' | 'mean' | 'sumsq';
export const REDUCE_OPS: readonly ReduceOp[] = ['sum', 'max', 'mean', 'sumsq'];

export type ReduceStrategy = 'row' | 'strided';

export interface ReduceParams {
  readonly op: ReduceOp;
  readonly shape: readonly number[];
  /** Axis to reduce; negative counts from the end like NumPy. */
  readonly axis: number;
  /** Keep the reduced axis as a dimension of size 1 in the output shape. */
  readonly keepDims?: boolean;
  /** Forces a strategy (tests use it to run both on the same shape); normally chosen from the shape. */
  readonly strategy?: ReduceStrategy;
}

/** Lanes per workgroup; 256 is the WebGPU default limit and keeps lavapipe's 8-wide SIMD busy. */
const WORKGROUP = 256;
/** Row tiling (see rowTiling): total lanes to aim for, and the bounds on lanes per row. */
const TARGET_LANES = 1024;
const MIN_LANES = 4;
const MIN_ELEMENTS_PER_LANE = 32;
/** The strided kernel's split lanes each walk a column with a large stride; more of them measured faster. */
const STRIDED_TARGET_LANES = 4096;
/** CPU adapters: outputs per workgroup of the lane layout, and when it applies (see reduceLane). */
const LANE_OUTPUTS_PER_GROUP = 64;
const LANE_MIN_OUTPUTS = 64;
const LANE_MAX_LENGTH = 4096;

const size = (shape: readonly number[]): number => shape.reduce((p, d) => p * d, 1);
/** Identity of max: the most negative finite f32 (WGSL has no infinity literal). */
export const F32_MAX = 3.4028234663852886e38;
const nextPow2 = (n: number): number => 2 ** Math.ceil(Math.log2(Math.max(1, n)));

export interface ReduceGeometry {
  readonly outer: number;
  readonly length: number;
  readonly inner: number;
  readonly axis: number;
  readonly outShape: number[];
}

export function reduceGeometry(p: ReduceParams): ReduceGeometry {
  const rank = p.shape.length;
  if (rank === 0) throw new Error('cannot reduce a scalar');
  if (!Number.isInteger(p.axis) || p.axis < -rank || p.axis >= rank) throw new Error(`axis ${p.axis} is out of range for shape [${p.shape}]`);
  if (p.shape.some((d) => !Number.isInteger(d) || d < 1)) throw new Error(`shape [${p.shape}] must have positive integer dimensions`);
  const axis = p.axis < 0 ? p.axis + rank : p.axis;
  const outShape = p.keepDims ? p.shape.map((d, i) => (i === axis ? 1 : d)) : p.shape.filter((_, i) => i !== axis);
  return { outer: size(p.shape.slice(0, axis)), length: p.shape[axis], inner: size(p.shape.slice(axis + 1)), axis, outShape };
}

/**
 * Lanes per row and rows per workgroup for the workgroup-per-row kernels (shared with softmax).
 * Measured on lavapipe, where each barrier and shared-memory step costs far more than a load:
 * give a row only as many lanes as it takes to spread the rows over about TARGET_LANES lanes in
 * total (enough workgroups for every core), at least MIN_LANES so neighbouring lanes read
 * neighbouring elements, and at most one lane per MIN_ELEMENTS_PER_LANE elements so the tree's
 * barriers are paid for by real work. Powers of two, so the tree halves evenly; the rest of the
 * workgroup is filled with further rows.
 */
export function rowTiling(length: number, rows: number): { lanes: number; rowsPerGroup: number; treeStrides: number[] } {
  const lanes = lanesPerOutput(length, rows, MIN_LANES);
  return { lanes, rowsPerGroup: WORKGROUP / lanes, treeStrides: halvings(lanes) };
}

function lanesPerOutput(length: number, outputs: number, minLanes: number, targetLanes = TARGET_LANES): number {
  const maxLanes = Math.min(WORKGROUP, nextPow2(ceilDiv(length, MIN_ELEMENTS_PER_LANE)));
  return Math.min(maxLanes, Math.max(minLanes, nextPow2(ceilDiv(targetLanes, outputs))));
}

/** The strides of a tree over `n` (a power of two) partial results: n/2, n/4, ..., 1. */
function halvings(n: number): number[] {
  const strides: number[] = [];
  for (let s = n / 2; s >= 1; s /= 2) strides.push(s);
  return strides;
}

export function reduceStrategy(p: ReduceParams): ReduceStrategy {
  return p.strategy ?? (reduceGeometry(p).inner === 1 ? 'row' : 'strided');
}

/**
 * True when the lane layout (an invocation per output, no tree) applies, on CPU adapters only:
 *  - row: the axis is at most LANE_MAX_LENGTH (longer rows keep the tree, whose barriers are then
 *    paid for, and a lane per long row would stride through many rows at once);
 *  - strided: neighbouring lanes read neighbouring columns, so it applies with enough outputs to
 *    share out over the threads, or with an axis short enough for one invocation.
 * Measured on lavapipe (µs, tree → lane): sum 512×64 rows 52 → 39, max 4096×256 rows 4319 → 1271,
 * sum 8×4096 rows 85 → 39, sum 512×64 over axis 0 72 → 46.
 */
export function reduceLane(caps: RowKernelCaps, strategy: ReduceStrategy, outputs: number, length: number): boolean {
  if (!caps.cpuAdapter) return false;
  return length <= LANE_MAX_LENGTH || (strategy === 'strided' && outputs >= LANE_MIN_OUTPUTS);
}

export function reduceProgram(p: ReduceParams, caps: RowKernelCaps): KernelProgram {
  const g = reduceGeometry(p);
  const strategy = reduceStrategy(p);
  const outputs = g.outer * g.inner;
  const lane = reduceLane(caps, strategy, outputs, g.length);
  const opFlags = {
    isMax: p.op === 'max',
    squares: p.op === 'sumsq',
    mean: p.op === 'mean',
    identity: f32Literal(p.op === 'max' ? -F32_MAX : 0),
    lengthF: f32Literal(g.length),
  };
  const label = `reduce_${p.op}_${p.shape.join('x')}_ax${g.axis}${p.keepDims ? '_keep' : ''}_${strategy}${lane ? '_lane' : ''}`;
  const bindings = [
    { name: 'x', access: 'read' as const, type: 'f32' as const, length: size(p.shape) },
    { name: 'out', access: 'write' as const, type: 'f32' as const, length: outputs },
  ];
  if (strategy === 'row') {
    if (g.inner !== 1 && p.strategy) throw new Error(`the row strategy needs the reduced axis to be innermost (inner = ${g.inner})`);
    const { lanes, rowsPerGroup, treeStrides } = lane ? { lanes: 1, rowsPerGroup: LANE_OUTPUTS_PER_GROUP, treeStrides: [] } : rowTiling(g.length, outputs);
    const { dispatch, dispatchX } = spreadWorkgroups(ceilDiv(outputs, rowsPerGroup));
    return {
      template: 'reduce_row',
      label,
      params: { op: p.op, ...opFlags, rows: outputs, length: g.length, lanes, rowsPerGroup, groupSize: lanes * rowsPerGroup, tree: lanes > 1, treeStrides, dispatchX },
      bindings,
      workgroupSize: [lanes, rowsPerGroup, 1],
      dispatch,
      features: [],
    };
  }
  // Few outputs over a long axis would leave most lanes idle: split the axis over `split` lanes
  // (workgroup y) whose partial results meet in a shared-memory tree.
  const split = lane ? 1 : lanesPerOutput(g.length, outputs, 1, STRIDED_TARGET_LANES);
  const columns = lane ? LANE_OUTPUTS_PER_GROUP : WORKGROUP / split;
  const { dispatch, dispatchX } = spreadWorkgroups(ceilDiv(outputs, columns));
  return {
    template: 'reduce_strided',
    label,
    params: {
      op: p.op,
      ...opFlags,
      outputs,
      length: g.length,
      inner: g.inner,
      rowStride: g.length * g.inner,
      columns,
      split,
      groupSize: columns * split,
      tree: split > 1,
      treeStrides: halvings(split).map((s) => ({ rows: s, slots: s * columns })),
      dispatchX,
    },
    bindings,
    workgroupSize: [columns, split, 1],
    dispatch,
    features: [],
  };
}

/** Plain CPU reference with float64 accumulation. */
export function reduceOracle(p: ReduceParams) {
  const g = reduceGeometry(p);
  return (inputs: Readonly<Record<string, ArrayLike<number>>>): Record<string, Float32Array> => {
    const x = inputs.x;
    const out = new Float32Array(g.outer * g.inner);
    for (let o = 0; o < g.outer; o++) {
      for (let j = 0; j < g.inner; j++) {
        let acc = p.op === 'max' ? -Infinity : 0;
        for (let k = 0; k < g.length; k++) {
          const v = x[(o * g.length + k) * g.inner + j];
          if (p.op === 'max') acc = Math.max(acc, v);
          else acc += p.op === 'sumsq' ? v * v : v;
        }
        out[o * g.inner + j] = p.op === 'mean' ? acc / g.length : acc;
      }
    }
    return { out };
  };
}

/**
 * f32 summation error grows with the number of terms (worst case ~ n·u·Σ|x|); with inputs in
 * [-1, 1) a bound of 2^-22 per term is comfortably above what either strategy produces while still
 * catching a dropped or doubled element (an error of order 1). Max involves no rounding at all.
 */
export function reduceTolerance(p: ReduceParams): Tolerance {
  const { length } = reduceGeometry(p);
  if (p.op === 'max') return { atol: 0, rtol: 0 };
  const perTerm = 2 ** -22;
  return { atol: Math.max(1e-6, (perTerm * length) / (p.op === 'mean' ? length : 1)), rtol: 1e-5 };
}

export function reduceCase(p: ReduceParams, caps: RowKernelCaps): KernelCase {
  return { program: reduceProgram(p, caps), oracle: reduceOracle(p), tolerance: reduceTolerance(p) };
}
