// LayerNorm over rows of length D, PyTorch nn.LayerNorm semantics (elementwise affine with bias,
// biased variance): y = (x − mean)·rstd ⊙ w + b, rstd = 1/sqrt(var + eps). Three programs, all
// deterministic (fixed summation orders, no atomics):
//   layernorm             → y, and the row's mean and rstd for the backward; the variance is a
//                         second pass over the centred row (no E[x²] − mean² cancellation in f32);
//   layernorm_backward    → dx = rstd·(g − mean(g) − x̂·mean(g⊙x̂)), g = dy⊙w, x̂ = (x − mean)·rstd,
//                         from the forward's saved statistics;
//   layernorm_param_grad  dw[j] = Σ_rows dy·x̂, db[j] = Σ_rows dy in one pass.
// Row layouts are rmsnorm.ts's (NormVariant from normVariant, same launch shapes): `lane` (an
// invocation per row, CPU adapters, short rows), `subgroup` (a subgroup per row, CPU adapters with
// subgroups, longer rows), `tree` (a workgroup per row with a shared-memory tree, GPUs). The
// parameter gradient has a column-per-invocation `lane` layout for CPU adapters; GPUs keep 64
// columns × ROW_LANES row lanes per workgroup, lane partials summed in a fixed order.
import type { RowKernelCaps } from '../../base/caps.ts';
import {
  checkNormShape,
  COLUMNS_PER_GROUP,
  normColumnLayout,
  normColumnVariant,
  normRowLayout,
  normTag,
  normVariant,
  ROW_LANES,
  type NormVariant,
} from './rmsnorm.ts';
import { ceilDiv, spreadWorkgroups, type KernelCase, type KernelProgram } from './types.ts';

export interface LayernormParams {
  readonly rows: number;
  readonly dim: number;
  readonly eps: number;
}

/** Random-input range of a saved 1/std: positive, as the forward writes it. */
const RSTD_FILL = { kind: 'float', lo: 0.5, hi: 2 } as const;

const checkParams = (p: LayernormParams): void => checkNormShape('layernorm', p);
const tag = normTag;
const variantTag = (v: NormVariant): string => (v === 'tree' ? '' : `_${v}`);

export function layernormProgram(p: LayernormParams, caps: RowKernelCaps, variant = normVariant(caps, p.dim)): KernelProgram {
  checkParams(p);
  const l = normRowLayout(p, variant, caps);
  const v4 = l.vec4 ? { vec4: true } : {};
  return {
    template: `layernorm${l.suffix}`,
    label: `layernorm_fwd_${tag(p)}${variantTag(variant)}`,
    params: l.params,
    bindings: [
      { name: 'x', access: 'read', type: 'f32', length: p.rows * p.dim, ...v4 },
      { name: 'w', access: 'read', type: 'f32', length: p.dim, ...v4 },
      { name: 'b', access: 'read', type: 'f32', length: p.dim, ...v4 },
      { name: 'y', access: 'write', type: 'f32', length: p.rows * p.dim, ...v4 },
      { name: 'mean', access: 'write', type: 'f32', length: p.rows },
      { name: 'rstd', access: 'write', type: 'f32', length: p.rows },
    ],
    workgroupSize: l.workgroupSize,
    dispatch: l.dispatch,
    features: l.features,
  };
}

export function layernormBackwardProgram(p: LayernormParams, caps: RowKernelCaps, variant = normVariant(caps, p.dim)): KernelProgram {
  checkParams(p);
  const l = normRowLayout(p, variant, caps);
  const v4 = l.vec4 ? { vec4: true } : {};
  return {
    template: `layernorm_backward${l.suffix}`,
    label: `layernorm_bwd_${tag(p)}${variantTag(variant)}`,
    params: l.params,
    bindings: [
      { name: 'dy', access: 'read', type: 'f32', length: p.rows * p.dim, ...v4 },
      { name: 'x', access: 'read', type: 'f32', length: p.rows * p.dim, ...v4 },
      { name: 'w', access: 'read', type: 'f32', length: p.dim, ...v4 },
      { name: 'mean', access: 'read', type: 'f32', length: p.rows },
      { name: 'rstd', access: 'read', type: 'f32', length: p.rows, fill: RSTD_FILL },
      { name: 'dx', access: 'write', type: 'f32', length: p.rows * p.dim, ...v4 },
    ],
    workgroupSize: l.workgroupSize,
    dispatch: l.dispatch,
    features: l.features,
  };
}

export function layernormParamGradProgram(p: LayernormParams, caps: RowKernelCaps, variant = normColumnVariant(caps)): KernelProgram {
  checkParams(p);
  if (variant === 'lane') {
    const l = normColumnLayout(p);
    const v4 = l.vec4 ? { vec4: true } : {};
    return {
      template: 'layernorm_param_grad_lane',
      label: `layernorm_dwb_${tag(p)}_lane`,
      params: l.params,
      bindings: [
        { name: 'dy', access: 'read', type: 'f32', length: p.rows * p.dim, ...v4 },
        { name: 'x', access: 'read', type: 'f32', length: p.rows * p.dim, ...v4 },
        { name: 'mean', access: 'read', type: 'f32', length: p.rows },
        { name: 'rstd', access: 'read', type: 'f32', length: p.rows, fill: RSTD_FILL },
        { name: 'dw', access: 'write', type: 'f32', length: p.dim, ...v4 },
        { name: 'db', access: 'write', type: 'f32', length: p.dim, ...v4 },
      ],
      workgroupSize: l.workgroupSize,
      dispatch: l.dispatch,
      features: [],
    };
  }
  const { dispatch, dispatchX } = spreadWorkgroups(ceilDiv(p.dim, COLUMNS_PER_GROUP));
  return {
    template: 'layernorm_param_grad',
    label: `layernorm_dwb_${tag(p)}`,
    params: { rows: p.rows, dim: p.dim, lanes: ROW_LANES, dispatchX },
    bindings: [
      { name: 'dy', access: 'read', type: 'f32', length: p.rows * p.dim },
      { name: 'x', access: 'read', type: 'f32', length: p.rows * p.dim },
      { name: 'mean', access: 'read', type: 'f32', length: p.rows },
      { name: 'rstd', access: 'read', type: 'f32', length: p.rows, fill: RSTD_FILL },
      { name: 'dw', access: 'write', type: 'f32', length: p.dim },
      { name: 'db', access: 'write', type: 'f32', length: p.dim },
    ],
    workgroupSize: [COLUMNS_PER_GROUP, ROW_LANES, 1],
    dispatch,
    features: [],
  };
}

type Inputs = Readonly<Record<string, ArrayLike<number>>>;

/** float64 forward reference (two-pass mean and biased variance). */
export function layernormReference(p: LayernormParams, inputs: Inputs): { y: Float64Array; mean: Float64Array; rstd: Float64Array } {
  const { x, w, b } = inputs;
  const y = new Float64Array(p.rows * p.dim);
  const mean = new Float64Array(p.rows);
  const rstd = new Float64Array(p.rows);
  for (let r = 0; r < p.rows; r++) {
    let sum = 0;
    for (let j = 0; j < p.dim; j++) sum += x[r * p.dim + j];
    mean[r] = sum / p.dim;
    let ss = 0;
    for (let j = 0; j < p.dim; j++) ss += (x[r * p.dim + j] - mean[r]) ** 2;
    rstd[r] = 1 / Math.sqrt(ss / p.dim + p.eps);
    for (let j = 0; j < p.dim; j++) y[r * p.dim + j] = (x[r * p.dim + j] - mean[r]) * rstd[r] * w[j] + b[j];
  }
  return { y, mean, rstd };
}

/** float64 reference for dx (from dy, x, w and the forward's mean and rstd). */
export function layernormBackwardReference(p: LayernormParams, inputs: Inputs): { dx: Float64Array } {
  const { dy, x, w, mean, rstd } = inputs;
  const dx = new Float64Array(p.rows * p.dim);
  for (let r = 0; r < p.rows; r++) {
    const xhat = (j: number) => (x[r * p.dim + j] - mean[r]) * rstd[r];
    let g = 0;
    let gx = 0;
    for (let j = 0; j < p.dim; j++) {
      g += dy[r * p.dim + j] * w[j];
      gx += dy[r * p.dim + j] * w[j] * xhat(j);
    }
    for (let j = 0; j < p.dim; j++) dx[r * p.dim + j] = rstd[r] * (dy[r * p.dim + j] * w[j] - g / p.dim - (xhat(j) * gx) / p.dim);
  }
  return { dx };
}

/** float64 reference for dw and db (from dy, x and the forward's mean and rstd). */
export function layernormParamGradReference(p: LayernormParams, inputs: Inputs): { dw: Float64Array; db: Float64Array } {
  const { dy, x, mean, rstd } = inputs;
  const dw = new Float64Array(p.dim);
  const db = new Float64Array(p.dim);
  for (let r = 0; r < p.rows; r++) {
    for (let j = 0; j < p.dim; j++) {
      dw[j] += dy[r * p.dim + j] * (x[r * p.dim + j] - mean[r]) * rstd[r];
      db[j] += dy[r * p.dim + j];
    }
  }
  return { dw, db };
}

const toF32 = (r: Record<string, Float64Array>): Record<string, Float32Array> =>
  Object.fromEntries(Object.entries(r).map(([k, v]) => [k, Float32Array.from(v)]));

export const layernormOracle = (p: LayernormParams) => (inputs: Inputs) => toF32(layernormReference(p, inputs));
export const layernormBackwardOracle = (p: LayernormParams) => (inputs: Inputs) => toF32(layernormBackwardReference(p, inputs));
export const layernormParamGradOracle = (p: LayernormParams) => (inputs: Inputs) => toF32(layernormParamGradReference(p, inputs));

export function layernormCase(p: LayernormParams, caps: RowKernelCaps, variant?: NormVariant): KernelCase {
  return { program: layernormProgram(p, caps, variant), oracle: layernormOracle(p), tolerance: { atol: 1e-5, rtol: 1e-4 } };
}

export function layernormBackwardCase(p: LayernormParams, caps: RowKernelCaps, variant?: NormVariant): KernelCase {
  return { program: layernormBackwardProgram(p, caps, variant), oracle: layernormBackwardOracle(p), tolerance: { atol: 1e-5, rtol: 1e-4 } };
}

export function layernormParamGradCase(p: LayernormParams, caps: RowKernelCaps, variant?: 'lane' | 'tree'): KernelCase {
  // sums over all rows in f32: rounding grows with the row count
  return { program: layernormParamGradProgram(p, caps, variant), oracle: layernormParamGradOracle(p), tolerance: { atol: 1e-5 + 1e-7 * p.rows, rtol: 1e-4 } };
}
