// RMSNorm over rows of length D: y = x · rstd ⊙ w with rstd = 1 / sqrt(mean(x²) + eps). Three
// programs, all deterministic (fixed reduction trees, no atomics):
//   rmsnorm          one workgroup per row → y, and rstd per row for the weight gradient;
//   rmsnorm_backward one workgroup per row → dx = rstd·(dy⊙w) − x·rstd³·mean(dy⊙w⊙x); it
//                    recomputes rstd from x because the row reduction it needs anyway is the same pass;
//   rmsnorm_weight_grad  dw[j] = Σ_rows dy[r,j]·x[r,j]·rstd[r]: workgroups own 64 columns, and
//                    ROW_LANES lanes stride over rows whose partials are summed in a fixed order.
import { InternalError } from '../../base/errors.ts';
import { ceilDiv, f32Literal, spreadWorkgroups, type KernelCase, type KernelProgram } from './types.ts';

export interface RmsnormParams {
  readonly rows: number;
  readonly dim: number;
  readonly eps: number;
}

// Row layout shared by the norm kernels (layernorm.ts uses the same launch shape).
export const ROW_WORKGROUP = 64;
export const COLUMNS_PER_GROUP = 64;
export const ROW_LANES = 4;

/** The shape every norm kernel takes: rows × dim and eps. */
export interface NormShape {
  readonly rows: number;
  readonly dim: number;
  readonly eps: number;
}

export function checkNormShape(kernel: string, p: NormShape): void {
  if (!(Number.isInteger(p.rows) && p.rows > 0 && Number.isInteger(p.dim) && p.dim > 0)) {
    throw new InternalError(`${kernel}: rows and dim must be positive integers, got ${p.rows}x${p.dim}`);
  }
  if (!(p.eps >= 0 && Number.isFinite(p.eps))) throw new InternalError(`${kernel}: eps must be a finite non-negative number, got ${p.eps}`);
}

export const normTag = (p: NormShape): string => `${p.rows}x${p.dim}`;

/** One workgroup per row, spread over x and y: dispatch and the template's common params. */
export function normPerRow(p: NormShape) {
  const { dispatch, dispatchX } = spreadWorkgroups(p.rows);
  return { dispatch, params: { rows: p.rows, dim: p.dim, eps: f32Literal(p.eps), invDim: f32Literal(1 / p.dim), dispatchX } };
}

const checkParams = (p: RmsnormParams): void => checkNormShape('rmsnorm', p);
const tag = normTag;
const perRow = normPerRow;

export function rmsnormProgram(p: RmsnormParams): KernelProgram {
  checkParams(p);
  const { dispatch, params } = perRow(p);
  return {
    template: 'rmsnorm',
    label: `rmsnorm_fwd_${tag(p)}`,
    params,
    bindings: [
      { name: 'x', access: 'read', type: 'f32', length: p.rows * p.dim },
      { name: 'w', access: 'read', type: 'f32', length: p.dim },
      { name: 'y', access: 'write', type: 'f32', length: p.rows * p.dim },
      { name: 'rstd', access: 'write', type: 'f32', length: p.rows },
    ],
    workgroupSize: [ROW_WORKGROUP, 1, 1],
    dispatch,
    features: [],
  };
}

export function rmsnormBackwardProgram(p: RmsnormParams): KernelProgram {
  checkParams(p);
  const { dispatch, params } = perRow(p);
  return {
    template: 'rmsnorm_backward',
    label: `rmsnorm_bwd_${tag(p)}`,
    params,
    bindings: [
      { name: 'dy', access: 'read', type: 'f32', length: p.rows * p.dim },
      { name: 'x', access: 'read', type: 'f32', length: p.rows * p.dim },
      { name: 'w', access: 'read', type: 'f32', length: p.dim },
      { name: 'dx', access: 'write', type: 'f32', length: p.rows * p.dim },
    ],
    workgroupSize: [ROW_WORKGROUP, 1, 1],
    dispatch,
    features: [],
  };
}

export function rmsnormWeightGradProgram(p: RmsnormParams): KernelProgram {
  checkParams(p);
  const { dispatch, dispatchX } = spreadWorkgroups(ceilDiv(p.dim, COLUMNS_PER_GROUP));
  return {
    template: 'rmsnorm_weight_grad',
    label: `rmsnorm_dw_${tag(p)}`,
    params: { rows: p.rows, dim: p.dim, lanes: ROW_LANES, dispatchX },
    bindings: [
      { name: 'dy', access: 'read', type: 'f32', length: p.rows * p.dim },
      { name: 'x', access: 'read', type: 'f32', length: p.rows * p.dim },
      { name: 'rstd', access: 'read', type: 'f32', length: p.rows, fill: { kind: 'float', lo: 0.5, hi: 2 } },
      { name: 'dw', access: 'write', type: 'f32', length: p.dim },
    ],
    workgroupSize: [COLUMNS_PER_GROUP, ROW_LANES, 1],
    dispatch,
    features: [],
  };
}

type Inputs = Readonly<Record<string, ArrayLike<number>>>;

function rowRstd(p: RmsnormParams, x: ArrayLike<number>, r: number): number {
  let sumSq = 0;
  for (let j = 0; j < p.dim; j++) sumSq += x[r * p.dim + j] ** 2;
  return 1 / Math.sqrt(sumSq / p.dim + p.eps);
}

/** float64 forward reference. */
export function rmsnormReference(p: RmsnormParams, inputs: Inputs): { y: Float64Array; rstd: Float64Array } {
  const y = new Float64Array(p.rows * p.dim);
  const rstd = new Float64Array(p.rows);
  for (let r = 0; r < p.rows; r++) {
    rstd[r] = rowRstd(p, inputs.x, r);
    for (let j = 0; j < p.dim; j++) y[r * p.dim + j] = inputs.x[r * p.dim + j] * rstd[r] * inputs.w[j];
  }
  return { y, rstd };
}

/** float64 reference for dx (from dy, x, w). */
export function rmsnormBackwardReference(p: RmsnormParams, inputs: Inputs): { dx: Float64Array } {
  const dx = new Float64Array(p.rows * p.dim);
  for (let r = 0; r < p.rows; r++) {
    const rstd = rowRstd(p, inputs.x, r);
    let dot = 0;
    for (let j = 0; j < p.dim; j++) dot += inputs.dy[r * p.dim + j] * inputs.w[j] * inputs.x[r * p.dim + j];
    for (let j = 0; j < p.dim; j++) {
      const i = r * p.dim + j;
      dx[i] = rstd * inputs.dy[i] * inputs.w[j] - (inputs.x[i] * rstd ** 3 * dot) / p.dim;
    }
  }
  return { dx };
}

/** float64 reference for dw (from dy, x and the forward's rstd). */
export function rmsnormWeightGradReference(p: RmsnormParams, inputs: Inputs): { dw: Float64Array } {
  const dw = new Float64Array(p.dim);
  for (let r = 0; r < p.rows; r++) {
    for (let j = 0; j < p.dim; j++) dw[j] += inputs.dy[r * p.dim + j] * inputs.x[r * p.dim + j] * inputs.rstd[r];
  }
  return { dw };
}

const toF32 = (r: Record<string, Float64Array>): Record<string, Float32Array> =>
  Object.fromEntries(Object.entries(r).map(([k, v]) => [k, Float32Array.from(v)]));

/** Oracles: the references above with f32 outputs, keyed by binding name. */
export const rmsnormOracle = (p: RmsnormParams) => (inputs: Inputs) => toF32(rmsnormReference(p, inputs));
export const rmsnormBackwardOracle = (p: RmsnormParams) => (inputs: Inputs) => toF32(rmsnormBackwardReference(p, inputs));
export const rmsnormWeightGradOracle = (p: RmsnormParams) => (inputs: Inputs) => toF32(rmsnormWeightGradReference(p, inputs));

export function rmsnormCase(p: RmsnormParams): KernelCase {
  return { program: rmsnormProgram(p), oracle: rmsnormOracle(p), tolerance: { atol: 1e-5, rtol: 1e-4 } };
}

export function rmsnormBackwardCase(p: RmsnormParams): KernelCase {
  return { program: rmsnormBackwardProgram(p), oracle: rmsnormBackwardOracle(p), tolerance: { atol: 1e-5, rtol: 1e-4 } };
}

export function rmsnormWeightGradCase(p: RmsnormParams): KernelCase {
  // sums over all rows in f32: rounding grows with the row count
  return { program: rmsnormWeightGradProgram(p), oracle: rmsnormWeightGradOracle(p), tolerance: { atol: 1e-5 + 1e-7 * p.rows, rtol: 1e-4 } };
}
