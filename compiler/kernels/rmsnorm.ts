// RMSNorm over rows of length D: y = x · rstd ⊙ w with rstd = 1 / sqrt(mean(x²) + eps). Three
// programs, all deterministic (fixed summation orders, no atomics):
//   rmsnorm          → y, and rstd per row for the weight gradient;
//   rmsnorm_backward → dx = rstd·(dy⊙w) − x·rstd³·mean(dy⊙w⊙x); it recomputes rstd from x because
//                    the row reduction it needs anyway is the same pass; with `addend` it writes
//                    dx + addend (the residual stream's gradient so far: fuse-rmsnorm-grad-add),
//                    which saves an elementwise dispatch per norm in the backward;
//   rmsnorm_weight_grad  dw[j] = Σ_rows dy[r,j]·x[r,j]·rstd[r];
//   rmsnorm_backward_dw_lane  both of the last two in one dispatch on CPU adapters (rmsnormGradLayout):
//                    dw's column workgroups, then dx's row workgroups, independent of each other.
// Row layouts (NormVariant, chosen by normVariant from the adapter's RowKernelCaps, shared with
// layernorm.ts):
//   lane      CPU adapters (lavapipe, SwiftShader): rows up to LANE_MAX_DIM, or any row when the
//             adapter has no subgroups; one invocation per row,
//             serial loops, LANE_ROWS_PER_GROUP rows per workgroup, no shared memory or barriers
//             (on lavapipe a workgroup runs as a serial loop over SIMD chunks and each barrier is a
//             pass over all of them: 512×64 forward 880 µs as a tree, ~100 µs like this);
//   subgroup  CPU adapters with subgroups, longer rows: one subgroup per row (subgroupAdd),
//             SUBGROUP_ROWS_PER_GROUP rows per workgroup, no barriers;
//   tree      GPUs (and the fallback): one workgroup of ROW_WORKGROUP per row and a shared-memory
//             tree, the layout that suits a GPU's parallel lanes.
// The weight gradient has a lane layout too (an invocation per column looping over the rows) for
// CPU adapters; GPUs keep columns × ROW_LANES row lanes and a fixed-order sum of the lane partials.
// The subgroup layout and the column-per-lane weight gradient read vec4s whenever dim % 4 == 0
// (lavapipe pays per load instruction, not per byte); the lane layout reads scalars (see normRowLayout).
import { InternalError } from '../../base/errors.ts';
import type { RowKernelCaps } from '../../base/caps.ts';
import { ceilDiv, f32Literal, rowUnits, spreadWorkgroups, type KernelBinding, type KernelCase, type KernelProgram } from './types.ts';

export interface RmsnormParams {
  readonly rows: number;
  readonly dim: number;
  readonly eps: number;
}

// Row layout shared by the norm kernels (layernorm.ts uses the same launch shape).
export const ROW_WORKGROUP = 64;
export const COLUMNS_PER_GROUP = 64;
export const ROW_LANES = 4;
/** Lane layout: at most this many rows per workgroup (one invocation each; 8..128 measured alike at
 * 512×64), fewer when that leaves under LANE_MIN_GROUPS workgroups for the CPU's threads. */
export const LANE_ROWS_PER_GROUP = 64;
const LANE_MIN_GROUPS = 8;
const LANE_MIN_ROWS_PER_GROUP = 8;
/** Subgroup layout: rows per workgroup (one subgroup each; 4..32 measured alike at 512×64 and
 * 4096×256, 1 was 1.2-1.4× slower), within a workgroup of at most MAX_SUBGROUP_WORKGROUP. */
export const SUBGROUP_ROWS_PER_GROUP = 8;
const MAX_SUBGROUP_WORKGROUP = 256;
/** Longest row the lane layout takes on a CPU adapter with subgroups; longer rows go subgroup-per-row.
 * Measured on lavapipe (GPU µs, best of interleaved runs under load 30, fwd / bwd), lane vs
 * subgroup: 512×64 111/157 vs 131/177; 512×128 197/498 vs 184/452; 512×256 400/596 vs 308/1055;
 * 256×512 374/609 vs 249/387; 4096×256 7386/37965 vs 3644/5872 (every lane load is a gather
 * from 8 rows, where a subgroup reads its row contiguously as vec4s). Under load 10, lane vs
 * subgroup vs tree: 512×1024 2818/8651 vs 786/1376 vs 6947/9765; 512×4096 13763/35422 vs
 * 4981/5538 vs 20546/30245; 16×4096 229/393 vs 131/229 vs 328/328. So a CPU adapter without
 * subgroups keeps the lane layout at every length: about the tree's cost at 4096, faster below. */
export const LANE_MAX_DIM = 96;
/** Weight-gradient lane layout: columns (or vec4 column groups) per workgroup. */
const DW_LANE_GROUP = 64;

export type NormVariant = 'lane' | 'subgroup' | 'tree';

/** The row layout for rows of `dim` on an adapter (see the file header). */
export function normVariant(caps: RowKernelCaps, dim: number): NormVariant {
  if (!caps.cpuAdapter) return 'tree';
  return dim > LANE_MAX_DIM && caps.subgroups ? 'subgroup' : 'lane';
}

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

/**
 * Launch shape of a per-row norm kernel in `variant`: the template suffix, workgroup size,
 * dispatch, the template's common params, and whether row-length bindings are vec4.
 */
export function normRowLayout(p: NormShape, variant: NormVariant, caps: RowKernelCaps, laneVec4 = false) {
  // vec4 where neighbouring lanes read neighbouring vec4s (subgroup), and in the lane layout when the
  // kernel asks (`laneVec4`: the rmsnorm lane templates, whose loops hide their trip count). There
  // every lane reads a different row: LLVM took 20-50 s to compile those vec4 gathers on lavapipe
  // with the loops unrolled (scalar: under 1 s); with the trip count hidden they compile in well
  // under a second and run in 0.65-0.72 (forward) and 0.73-0.88 (fused dx + dw) × the scalar lane
  // kernel's time at 512×64 and 1024×128 (`npm run bench -- row-variants`). Their sums run component by
  // component in the scalar kernel's order, so both give the same bits (a dot() per vec4
  // reassociated them, enough to move an AdamW update whose gradient sat at float32 noise in
  // test/codegen/end-to-end.test.ts). The layernorm lane templates stay scalar.
  const vec4 = (variant === 'subgroup' || (variant === 'lane' && laneVec4)) && p.dim % 4 === 0;
  const common = { rows: p.rows, dim: p.dim, cols: vec4 ? p.dim / 4 : p.dim, vec4, eps: f32Literal(p.eps), invDim: f32Literal(1 / p.dim) };
  if (variant === 'tree') {
    const { dispatch, params } = normPerRow(p);
    return { suffix: '', workgroupSize: [ROW_WORKGROUP, 1, 1] as const, dispatch, params: { ...common, ...params }, vec4, features: [] as GPUFeatureName[] };
  }
  if (variant === 'lane') {
    const perGroup = Math.max(LANE_MIN_ROWS_PER_GROUP, Math.min(LANE_ROWS_PER_GROUP, nextPow2(ceilDiv(p.rows, LANE_MIN_GROUPS))));
    const { dispatch, dispatchX } = spreadWorkgroups(ceilDiv(p.rows, perGroup));
    return { suffix: '_lane', workgroupSize: [perGroup, 1, 1] as const, dispatch, params: { ...common, dispatchX }, vec4, features: [] as GPUFeatureName[] };
  }
  if (!caps.subgroups) throw new InternalError(`norm kernels: the subgroup layout needs an adapter with subgroups`);
  // Wide subgroups get fewer rows per workgroup so it stays within the default 256 invocations.
  const rowsPerGroup = Math.max(1, Math.min(SUBGROUP_ROWS_PER_GROUP, Math.floor(MAX_SUBGROUP_WORKGROUP / caps.subgroupMinSize)));
  const { dispatch, dispatchX } = spreadWorkgroups(ceilDiv(p.rows, rowsPerGroup));
  return {
    suffix: '_subgroup',
    workgroupSize: [rowsPerGroup * caps.subgroupMinSize, 1, 1] as const,
    dispatch,
    params: { ...common, rowsPerGroup, dispatchX },
    vec4,
    features: ['subgroups'] as GPUFeatureName[],
  };
}

const nextPow2 = (n: number): number => 2 ** Math.ceil(Math.log2(Math.max(1, n)));

const variantTag = (v: NormVariant): string => (v === 'tree' ? '' : `_${v}`);
/** `4` after `_lane` when the lane layout reads vec4s. */
const laneTag = (v: NormVariant, vec4: boolean): string => (v === 'lane' && vec4 ? '4' : '');

const checkParams = (p: RmsnormParams): void => checkNormShape('rmsnorm', p);
const tag = normTag;

/**
 * Whether a vec4 lane kernel hands out the row-invariant operand w by
 * subgroupBroadcast from one lane instead of loading it in every lane: on lavapipe a per-lane load costs a check and a
 * load per active lane even when every lane reads the same address. `npm run bench -- row-variants` (30 interleaved
 * rounds of 10 dispatches, load ≈ 1): forward 0.87–0.90, fused dx + dw 0.89–0.94 of the per-lane kernels at 512×64 and
 * 1024×128; same arithmetic, same bits (test/kernels/rmsnorm.test.ts). Label suffix `_sg`.
 */
export function laneBroadcast(caps: RowKernelCaps, variant: NormVariant, vec4: boolean): boolean {
  return variant === 'lane' && vec4 && caps.subgroups;
}

/** `laneVec4` (default on): the lane layout reads rows as vec4s when dim % 4 == 0 (see normRowLayout). */
export function rmsnormProgram(p: RmsnormParams, caps: RowKernelCaps, variant = normVariant(caps, p.dim), laneVec4 = true): KernelProgram {
  checkParams(p);
  const l = normRowLayout(p, variant, caps, laneVec4);
  const v4 = l.vec4 ? { vec4: true } : {};
  const broadcast = laneBroadcast(caps, variant, l.vec4);
  return {
    template: `rmsnorm${l.suffix}`,
    label: `rmsnorm_fwd_${tag(p)}${variantTag(variant)}${laneTag(variant, l.vec4)}${broadcast ? '_sg' : ''}`,
    params: { ...l.params, broadcast },
    bindings: [
      { name: 'x', access: 'read', type: 'f32', length: p.rows * p.dim, ...v4 },
      { name: 'w', access: 'read', type: 'f32', length: p.dim, ...v4 },
      { name: 'y', access: 'write', type: 'f32', length: p.rows * p.dim, ...v4 },
      { name: 'rstd', access: 'write', type: 'f32', length: p.rows },
    ],
    workgroupSize: l.workgroupSize,
    dispatch: l.dispatch,
    features: broadcast ? ['subgroups'] : l.features,
  };
}

/** The backward's shape; `addend` adds a [rows, dim] tensor to dx in the same pass. */
export interface RmsnormBackwardParams extends RmsnormParams {
  readonly addend?: boolean;
}

export function rmsnormBackwardProgram(p: RmsnormBackwardParams, caps: RowKernelCaps, variant = normVariant(caps, p.dim), laneVec4 = true): KernelProgram {
  checkParams(p);
  const l = normRowLayout(p, variant, caps, laneVec4);
  const v4 = l.vec4 ? { vec4: true } : {};
  const addend = p.addend ?? false;
  return {
    template: `rmsnorm_backward${l.suffix}`,
    label: `rmsnorm_bwd_${tag(p)}${addend ? '_add' : ''}${variantTag(variant)}${laneTag(variant, l.vec4)}`,
    params: { ...l.params, addend },
    bindings: [
      { name: 'dy', access: 'read', type: 'f32', length: p.rows * p.dim, ...v4 },
      { name: 'x', access: 'read', type: 'f32', length: p.rows * p.dim, ...v4 },
      { name: 'w', access: 'read', type: 'f32', length: p.dim, ...v4 },
      ...(addend ? [{ name: 'addend', access: 'read' as const, type: 'f32' as const, length: p.rows * p.dim, ...v4 }] : []),
      { name: 'dx', access: 'write', type: 'f32', length: p.rows * p.dim, ...v4 },
    ],
    workgroupSize: l.workgroupSize,
    dispatch: l.dispatch,
    features: l.features,
  };
}

/** Weight-gradient layout: 'lane' (a column per invocation, CPU adapters) or 'tree' (GPUs). */
export const normColumnVariant = (caps: RowKernelCaps): 'lane' | 'tree' => (caps.cpuAdapter ? 'lane' : 'tree');

/** Column-per-invocation layout of the weight gradients (CPU adapters). */
export function normColumnLayout(p: NormShape) {
  const { vec4, dimVec: cols } = rowUnits(p.dim);
  const wg = Math.min(DW_LANE_GROUP, cols);
  const { dispatch, dispatchX } = spreadWorkgroups(ceilDiv(cols, wg));
  return { vec4, workgroupSize: [wg, 1, 1] as const, dispatch, params: { rows: p.rows, dim: p.dim, cols, vec4, dispatchX } };
}

export function rmsnormWeightGradProgram(p: RmsnormParams, caps: RowKernelCaps, variant = normColumnVariant(caps)): KernelProgram {
  checkParams(p);
  if (variant === 'lane') {
    const l = normColumnLayout(p);
    const v4 = l.vec4 ? { vec4: true } : {};
    return {
      template: 'rmsnorm_weight_grad_lane',
      label: `rmsnorm_dw_${tag(p)}_lane`,
      params: l.params,
      bindings: [
        { name: 'dy', access: 'read', type: 'f32', length: p.rows * p.dim, ...v4 },
        { name: 'x', access: 'read', type: 'f32', length: p.rows * p.dim, ...v4 },
        { name: 'rstd', access: 'read', type: 'f32', length: p.rows, fill: { kind: 'float', lo: 0.5, hi: 2 } },
        { name: 'dw', access: 'write', type: 'f32', length: p.dim, ...v4 },
      ],
      workgroupSize: l.workgroupSize,
      dispatch: l.dispatch,
      features: [],
    };
  }
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

/**
 * How rmsnorm_grad is dispatched: 'fused-lane' (CPU adapters whose dx takes the lane layout) runs
 * dx and dw as one dispatch of two workgroup ranges (rmsnormBackwardDwProgram); 'separate' (GPUs,
 * long rows) keeps the dx program and the weight-gradient program of their own layouts.
 * Measured on lavapipe at the demo's 512×64, dx + residual add + dw, interleaved pairs in one
 * process (20 repetitions per timed pass, load ≈ 9, helper "fuse"'s ad-hoc script): three
 * dispatches 488 / 505 µs best / median, the fused one 390 / 400. In the whole step
 * (`npm run bench -- train-step`, per-op minima) rmsnorm_grad went 1966 → 1573 µs for 10 → 5
 * dispatches (docs/results/issue8/compare-fusions-demo.md).
 */
export function rmsnormGradLayout(caps: RowKernelCaps, dim: number): 'fused-lane' | 'separate' {
  return normVariant(caps, dim) === 'lane' && normColumnVariant(caps) === 'lane' ? 'fused-lane' : 'separate';
}

/** dx (+ addend) and dw in one dispatch, lane layout: dw's column groups first, then dx's row groups. */
export function rmsnormBackwardDwProgram(p: RmsnormBackwardParams, caps: RowKernelCaps, laneVec4 = true): KernelProgram {
  checkParams(p);
  const l = normRowLayout(p, 'lane', caps, laneVec4);
  // rowVec4: dx's lanes read their rows as vec4s too (normRowLayout), so every row binding is vec4 and dw needs no aliases.
  const rowVec4 = l.vec4;
  const wg = l.workgroupSize[0];
  // dw's lanes take vec4 columns when the row allows (as normColumnLayout), through vec4 aliases of dy, x when those are scalar.
  const { vec4, dimVec: cols } = rowUnits(p.dim);
  const rowGroups = ceilDiv(p.rows, wg);
  const colGroups = ceilDiv(cols, wg);
  const { dispatch, dispatchX } = spreadWorkgroups(rowGroups + colGroups);
  const addend = p.addend ?? false;
  const v4 = vec4 ? { vec4: true } : {};
  const row4 = rowVec4 ? { vec4: true } : {};
  const broadcast = laneBroadcast(caps, 'lane', rowVec4);
  return {
    template: 'rmsnorm_backward_dw_lane',
    label: `rmsnorm_bwd_dw_${tag(p)}${addend ? '_add' : ''}_lane${rowVec4 ? '4' : ''}${broadcast ? '_sg' : ''}`,
    params: { ...l.params, cols, vec4, rowVec4, dispatchX, rowGroups, colGroups, addend, broadcast },
    bindings: [
      { name: 'dy', access: 'read', type: 'f32', length: p.rows * p.dim, ...row4 },
      { name: 'x', access: 'read', type: 'f32', length: p.rows * p.dim, ...row4 },
      { name: 'w', access: 'read', type: 'f32', length: p.dim, ...row4 },
      ...(addend ? [{ name: 'addend', access: 'read' as const, type: 'f32' as const, length: p.rows * p.dim, ...row4 }] : []),
      { name: 'rstd', access: 'read', type: 'f32', length: p.rows, fill: { kind: 'float', lo: 0.5, hi: 2 } },
      { name: 'dx', access: 'write', type: 'f32', length: p.rows * p.dim, ...row4 },
      ...(vec4 && !rowVec4
        ? [
            { name: 'dy4', access: 'read' as const, type: 'f32' as const, length: p.rows * p.dim, vec4: true },
            { name: 'x4', access: 'read' as const, type: 'f32' as const, length: p.rows * p.dim, vec4: true },
          ]
        : []),
      { name: 'dw', access: 'write', type: 'f32', length: p.dim, ...v4 },
    ],
    workgroupSize: l.workgroupSize,
    dispatch,
    features: broadcast ? ['subgroups'] : [],
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

/** float64 reference for dx (from dy, x, w), plus the addend when `p.addend`. */
export function rmsnormBackwardReference(p: RmsnormBackwardParams, inputs: Inputs): { dx: Float64Array } {
  const dx = new Float64Array(p.rows * p.dim);
  for (let r = 0; r < p.rows; r++) {
    const rstd = rowRstd(p, inputs.x, r);
    let dot = 0;
    for (let j = 0; j < p.dim; j++) dot += inputs.dy[r * p.dim + j] * inputs.w[j] * inputs.x[r * p.dim + j];
    for (let j = 0; j < p.dim; j++) {
      const i = r * p.dim + j;
      dx[i] = rstd * inputs.dy[i] * inputs.w[j] - (inputs.x[i] * rstd ** 3 * dot) / p.dim + (p.addend ? inputs.addend[i] : 0);
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
export const rmsnormBackwardOracle = (p: RmsnormBackwardParams) => (inputs: Inputs) => toF32(rmsnormBackwardReference(p, inputs));
export const rmsnormWeightGradOracle = (p: RmsnormParams) => (inputs: Inputs) => toF32(rmsnormWeightGradReference(p, inputs));

export function rmsnormCase(p: RmsnormParams, caps: RowKernelCaps, variant?: NormVariant, laneVec4 = true): KernelCase {
  return { program: rmsnormProgram(p, caps, variant, laneVec4), oracle: rmsnormOracle(p), tolerance: { atol: 1e-5, rtol: 1e-4 } };
}

export function rmsnormBackwardCase(p: RmsnormBackwardParams, caps: RowKernelCaps, variant?: NormVariant, laneVec4 = true): KernelCase {
  return { program: rmsnormBackwardProgram(p, caps, variant, laneVec4), oracle: rmsnormBackwardOracle(p), tolerance: { atol: 1e-5, rtol: 1e-4 } };
}

export function rmsnormBackwardDwCase(p: RmsnormBackwardParams, caps: RowKernelCaps, laneVec4 = true): KernelCase {
  // dw reads dy4, x4 when they exist (the lowering binds dy's and x's buffers to them again).
  const oracle = (inputs: Inputs) => ({
    ...rmsnormBackwardOracle(p)(inputs),
    ...rmsnormWeightGradOracle(p)({ ...inputs, dy: inputs.dy4 ?? inputs.dy, x: inputs.x4 ?? inputs.x }),
  });
  return { program: rmsnormBackwardDwProgram(p, caps, laneVec4), oracle, tolerance: { atol: 1e-5 + 1e-7 * p.rows, rtol: 1e-4 } };
}

export function rmsnormWeightGradCase(p: RmsnormParams, caps: RowKernelCaps, variant?: 'lane' | 'tree'): KernelCase {
  // sums over all rows in f32: rounding grows with the row count
  return { program: rmsnormWeightGradProgram(p, caps, variant), oracle: rmsnormWeightGradOracle(p), tolerance: { atol: 1e-5 + 1e-7 * p.rows, rtol: 1e-4 } };
}

/** The RMSNorm a row-writing kernel applies to its own rows (fuse-combine-norm, fuse-embedding-norm). */
export interface RowNorm {
  readonly eps: number;
}

/**
 * Whether a row-per-invocation kernel writing rows of `dim` can RMS-normalise them itself with the
 * rmsnorm it replaces's sums: vec4 rows and the lane layout (normVariant 'lane'), whose sum of squares
 * the templates/partials/row_norm_* partials repeat component by component (the same bits).
 */
export function rowNormInKernel(caps: RowKernelCaps, dim: number): boolean {
  return rowUnits(dim).vec4 && normVariant(caps, dim) === 'lane';
}

/** Template params of a kernel's own row norm (`norm` false without one). */
export function rowNormParams(norm: RowNorm | undefined, dim: number) {
  return { norm: norm !== undefined, ...(norm ? { eps: f32Literal(norm.eps), invDim: f32Literal(1 / dim) } : {}) };
}

/**
 * The output binding `out` [rows, dim] of a row-writing kernel and, with a norm, the norm's bindings
 * around it: norm_w [dim] (read) before, norm_y [rows, dim] and rstd [rows] (write) after; `out` is
 * then read back for the normalised copy.
 */
export function rowNormOutBindings(norm: RowNorm | undefined, rows: number, dim: number, vec4: boolean): KernelBinding[] {
  const out: KernelBinding = { name: 'out', access: norm ? 'readwrite' : 'write', type: 'f32', length: rows * dim, vec4 };
  if (!norm) return [out];
  return [
    { name: 'norm_w', access: 'read', type: 'f32', length: dim, vec4 },
    out,
    { name: 'norm_y', access: 'write', type: 'f32', length: rows * dim, vec4 },
    { name: 'rstd', access: 'write', type: 'f32', length: rows },
  ];
}

/** The oracle of a kernel's own row norm: the rmsnorm reference of the f32 rows it stored. */
export function rowNormOracle(norm: RowNorm, out: Float32Array, w: ArrayLike<number>, rows: number, dim: number): { norm_y: Float32Array; rstd: Float32Array } {
  const { y, rstd } = rmsnormReference({ rows, dim, eps: norm.eps }, { x: out, w });
  return { norm_y: Float32Array.from(y), rstd: Float32Array.from(rstd) };
}
