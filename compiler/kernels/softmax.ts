// Softmax and log-softmax along the last axis, and their backward kernels. Each row is handled by
// a group of lanes of one workgroup (short rows packed several to a workgroup, see rowTiling):
//  - forward: one pass keeps a running max and a sum rescaled to it (online softmax), the lanes'
//    (max, sum) pairs merge through a shared-memory tree, then a second pass writes
//    exp(x - max) / sum, or x - max - log(sum) for log-softmax. Subtracting the row max keeps every
//    exponent <= 0, so inputs of any magnitude neither overflow nor divide by infinity.
//  - backward: softmax y gives dx = y * (dy - sum(dy * y)); log-softmax y gives
//    dx = dy - exp(y) * sum(dy), one shared-memory sum per row either way.
// Which adapter gets which layout:
//  - GPUs (and callers without caps): the lanes-per-row layout above (templates/softmax*.wgsl.hbs).
//  - CPU adapters (caps.cpuAdapter: lavapipe, SwiftShader): one invocation per row walking it
//    serially, ROWS_PER_GROUP rows per workgroup, no barrier (templates/softmax_rows.wgsl.hbs), in
//    vec4s when the row length is a multiple of 4: lavapipe runs a workgroup as a serial loop over
//    SIMD chunks, where each tree level's barrier costs more than the row's arithmetic and every
//    per-lane load or store is a gather/scatter that a vec4 amortises over four floats (the same
//    layout as the cross-entropy rows, compiler/kernels/xent-rows.ts).
// Invariants: input and output are dense row-major with rows of length shape[-1]; f32 throughout.
import type { RowKernelCaps } from '../../base/caps.ts';
import { rowTiling, F32_MAX } from './reduce.ts';
import { ceilDiv, f32Literal, rowUnits, spreadWorkgroups, type KernelCase, type KernelProgram, type Tolerance } from './types.ts';

export interface SoftmaxParams {
  readonly shape: readonly number[];
  /** Log-softmax (what cross-entropy needs) instead of softmax. */
  readonly log?: boolean;
  /** The gradient kernel: inputs y (the forward output) and dy, output dx. */
  readonly backward?: boolean;
}

const size = (shape: readonly number[]): number => shape.reduce((p, d) => p * d, 1);

function rowsAndLength(p: SoftmaxParams): { rows: number; length: number } {
  if (p.shape.length === 0) throw new Error('softmax needs at least one axis');
  if (p.shape.some((d) => !Number.isInteger(d) || d < 1)) throw new Error(`shape [${p.shape}] must have positive integer dimensions`);
  const length = p.shape[p.shape.length - 1];
  return { rows: size(p.shape) / length, length };
}

/** Rows (invocations) per workgroup of the CPU-adapter layout. */
const ROWS_PER_GROUP = 32;

export function softmaxProgram(p: SoftmaxParams, caps?: RowKernelCaps): KernelProgram {
  const { rows, length } = rowsAndLength(p);
  const n = rows * length;
  const name = `${p.log ? 'logsoftmax' : 'softmax'}${p.backward ? '_bwd' : ''}`;
  const bindings = p.backward
    ? [
        // y as the forward pass would produce it: probabilities, or log-probabilities.
        { name: 'y', access: 'read' as const, type: 'f32' as const, length: n, fill: p.log ? { kind: 'float' as const, lo: -8, hi: 0 } : { kind: 'float' as const, lo: 0, hi: 1 } },
        { name: 'dy', access: 'read' as const, type: 'f32' as const, length: n },
        { name: 'dx', access: 'write' as const, type: 'f32' as const, length: n },
      ]
    : [
        { name: 'x', access: 'read' as const, type: 'f32' as const, length: n },
        { name: 'out', access: 'write' as const, type: 'f32' as const, length: n },
      ];
  if (caps?.cpuAdapter) {
    const { vec4, dimVec: steps } = rowUnits(length);
    const { dispatch, dispatchX } = spreadWorkgroups(ceilDiv(rows, ROWS_PER_GROUP));
    return {
      template: 'softmax_rows',
      label: `${name}_${p.shape.join('x')}_rows`,
      params: {
        log: p.log ?? false,
        backward: p.backward ?? false,
        rows,
        length,
        vec4,
        elem: vec4 ? 'vec4<f32>' : 'f32',
        steps,
        dispatchX,
        lowest: f32Literal(-F32_MAX),
      },
      bindings: vec4 ? bindings.map((b) => ({ ...b, vec4: true })) : bindings,
      workgroupSize: [ROWS_PER_GROUP, 1, 1],
      dispatch,
      features: [],
    };
  }
  const { lanes, rowsPerGroup, treeStrides } = rowTiling(length, rows);
  const { dispatch, dispatchX } = spreadWorkgroups(ceilDiv(rows, rowsPerGroup));
  return {
    template: p.backward ? 'softmax_backward' : 'softmax',
    label: `${name}_${p.shape.join('x')}`,
    params: {
      log: p.log ?? false,
      rows,
      length,
      lanes,
      rowsPerGroup,
      groupSize: lanes * rowsPerGroup,
      tree: lanes > 1,
      treeStrides,
      dispatchX,
      lowest: f32Literal(-F32_MAX),
    },
    bindings,
    workgroupSize: [lanes, rowsPerGroup, 1],
    dispatch,
    features: [],
  };
}

/** Plain CPU reference with float64 arithmetic, row by row. */
export function softmaxOracle(p: SoftmaxParams) {
  const { rows, length } = rowsAndLength(p);
  return (inputs: Readonly<Record<string, ArrayLike<number>>>): Record<string, Float32Array> => {
    const result = new Float32Array(rows * length);
    for (let r = 0; r < rows; r++) {
      const base = r * length;
      if (p.backward) {
        const { y, dy } = inputs;
        let dot = 0;
        for (let k = 0; k < length; k++) dot += p.log ? dy[base + k] : dy[base + k] * y[base + k];
        for (let k = 0; k < length; k++) {
          const i = base + k;
          result[i] = p.log ? dy[i] - Math.exp(y[i]) * dot : y[i] * (dy[i] - dot);
        }
      } else {
        const x = inputs.x;
        let max = -Infinity;
        for (let k = 0; k < length; k++) max = Math.max(max, x[base + k]);
        let sum = 0;
        for (let k = 0; k < length; k++) sum += Math.exp(x[base + k] - max);
        for (let k = 0; k < length; k++) {
          const shifted = x[base + k] - max;
          result[base + k] = p.log ? shifted - Math.log(sum) : Math.exp(shifted) / sum;
        }
      }
    }
    return p.backward ? { dx: result } : { out: result };
  };
}

/**
 * Forward: exp and log are accurate to a few ulp on the device, and x - max is rounded to f32
 * before exp, so a relative error of order 1e-5 is expected at the inputs' magnitude.
 * Backward: the row sum carries the usual f32 summation error, growing with the row length.
 */
export function softmaxTolerance(p: SoftmaxParams): Tolerance {
  const { length } = rowsAndLength(p);
  if (p.backward) return { atol: Math.max(1e-6, 2 ** -22 * length), rtol: 1e-5 };
  return { atol: 1e-6, rtol: 3e-5 };
}

export function softmaxCase(p: SoftmaxParams, caps?: RowKernelCaps): KernelCase {
  return { program: softmaxProgram(p, caps), oracle: softmaxOracle(p), tolerance: softmaxTolerance(p) };
}
