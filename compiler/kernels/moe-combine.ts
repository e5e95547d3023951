// MoE combine (un-permute and weight): out[t, :] = Σ_j topk_w[t, j] · Y[perm_row[t·k + j], :]
// (+ an optional addend such as the residual or an ungated shared expert, + an optional sigmoid-
// gated shared expert sigmoid(gate[t]) · shared[t, :]), and its backward.
//
// Invariants:
// - Forward gathers (one invocation per output element), so it has no write conflicts and needs no
//   atomics; dropped assignments (perm_row < 0) contribute nothing. With `weighted: false` it is the
//   plain sum Σ_j Y[perm_row[t·k + j]] that un-permutes dX (the backward of the row gather).
// - Backward writes every output from exactly one place: dY row r is owned by its assignment
//   (src_token[r], src_slot[r]) read from the row side, d topk_w[t, j] by assignment t·k + j. One
//   workgroup serves row i and assignment i at once (both number T·k), reductions are fixed-order
//   trees, so results are deterministic. Padding rows (src_token < 0) get dY = 0. With the norm backward in
//   front (normGrad, CPU adapters) a token's invocation writes its k rows of dY by perm_row instead (a scatter:
//   perm_row is one-to-one on the rows it names) and the padding rows among its k row indices; still one writer each.
// - The addend's gradient is d_out itself, so it needs no kernel.
//
// Variants (chosen from the adapter by moeCombineVariant, never by a flag):
// - `rows` (CPU adapters: lavapipe, SwiftShader): one invocation per output row (forward: token;
//   backward: row i and assignment i), serial loops over the row in vec4 units when the width
//   allows, no barriers, 64 rows per workgroup. On lavapipe a workgroup is a serial loop over
//   SIMD-8 chunks and every barrier is costly: the workgroup-per-row backward took 3.8 ms at
//   512×2 rows of 64, this one ~0.1 ms. The sums run in the same order as the GPU variants' forward
//   (ascending j, then addend, then shared expert); the backward's dot products run in ascending d.
// - `parallel` (GPUs): forward one invocation per output element; backward one 64-lane workgroup
//   per row with a fixed-order shared-memory tree (wide rows are split across lanes).
// Both are deterministic (no atomics, fixed summation order).
import type { RowKernelCaps } from '../../base/caps.ts';
import { InternalError } from '../../base/errors.ts';
import { routerBackwardOracle, routerBackwardParts, routerBackwardTag, type RouterBackwardParams } from './router.ts';
import { laneBroadcast, normRowLayout, rmsnormBackwardOracle, rmsnormGradLayout, rmsnormWeightGradOracle, rowNormInKernel, rowNormOracle, rowNormOutBindings, rowNormParams, type RowNorm } from './rmsnorm.ts';
import { ceilDiv, rowUnits, spreadWorkgroups, type KernelBinding, type KernelCase, type KernelProgram } from './types.ts';

export interface MoeCombineParams {
  readonly tokens: number;
  readonly topK: number;
  readonly dim: number;
  /** Multiply each expert row by its top-k weight (false: plain sum, the dX un-permute). */
  readonly weighted: boolean;
  /** Add a [T, D] buffer (residual stream or ungated shared expert output). */
  readonly addend: boolean;
  /** Add sigmoid(gate[t]) · shared[t, :] (Qwen-style gated shared expert). */
  readonly gatedShared: boolean;
  /** Unweighted only: a second [T·k, D] tensor y2 added to y per assignment, Σ_j (y + y2)[perm_row[t·k + j]]
   *  (the dX un-permute of two expert GEMMs' gradients without materialising their sum: fuse-gather-grad-add). */
  readonly second?: boolean;
  /**
   * Unweighted only: also add proj_a [T, E] · proj_bᵀ (proj_b [D, E]) to each result row, the router
   * logits' input gradient of the matmul_add that read the un-permute (fuse-gather-grad-matmul); per
   * element the subgroup GEMM's FMA chain over e from 0, then added, so the same bits. Only where
   * moeGatherProjectInKernel says so.
   */
  readonly project?: { readonly experts: number };
  /**
   * Also RMS-normalise each result row (fuse-combine-norm): binding norm_w [D] in, norm_y [T, D] and
   * rstd [T] out, as the rmsnorm lane kernel computes them from `out` (the same sum of squares in the
   * same order, so the same bits). Only where moeCombineNormInKernel says so.
   */
  readonly norm?: RowNorm;
}

export interface MoeCombineBackwardParams {
  readonly tokens: number;
  readonly topK: number;
  readonly dim: number;
  readonly gatedShared: boolean;
  /**
   * Also differentiate the router (fuse-combine-router-grad): d_logits [T, E] from this kernel's own
   * d_topk_w and the router's probs, topk_idx and the aux loss's d_probs [T, E], as router_backward
   * (templates/partials/router_backward_fn) computes them: invocation t < T takes its token's k dots
   * (the same sums) and then the token's router backward. Only where moeCombineRouterGradInKernel says so.
   */
  readonly router?: { readonly experts: number; readonly scoring: 'softmax' | 'sigmoid'; readonly normalize: boolean; readonly scale: number };
  /**
   * Run the RMSNorm backward whose dx (+ addend) is d_out in front, in the same rows (fuse-norm-grad-combine-grad):
   * bindings dy, x, w, rstd (and addend) in, dx and dw out, in place of d_out; invocation t computes its token's dx
   * row as rmsnorm_backward_dw_lane does and uses each vec4 for the token's d_y rows (scattered by perm_row) and
   * dots as it stores it. Only where moeCombineNormGradInKernel says so.
   */
  readonly normGrad?: { readonly eps: number; readonly addend: boolean };
}

const WORKGROUP = 256;
const BACKWARD_WORKGROUP = 64;
/** Rows per workgroup of the `rows` variant. */
const ROWS_WORKGROUP = 64;

export type MoeCombineVariant = 'rows' | 'parallel';

export function moeCombineVariant(caps: RowKernelCaps): MoeCombineVariant {
  return caps.cpuAdapter ? 'rows' : 'parallel';
}

function check(p: { tokens: number; topK: number; dim: number }): void {
  if (p.tokens < 1 || p.topK < 1 || p.dim < 1) throw new InternalError('moe combine: tokens, top-k and dim must be at least 1');
}

/**
 * Whether the combine kernel can RMS-normalise its rows itself (fuse-combine-norm): the `rows` variant
 * (a token's row belongs to one invocation) over vec4 rows, where the rmsnorm it replaces is the lane
 * kernel (normVariant 'lane'), so the sums match; a weighted residual combine. Elsewhere the lowering
 * runs the rmsnorm kernel after the combine.
 */
export function moeCombineNormInKernel(p: Pick<MoeCombineParams, 'dim' | 'weighted' | 'addend' | 'gatedShared'>, caps: RowKernelCaps): boolean {
  return moeCombineVariant(caps) === 'rows' && rowNormInKernel(caps, p.dim) && p.weighted && p.addend && !p.gatedShared;
}

/** Widest product (E) the un-permute takes in its row loop: the router's expert counts of the models
 *  at hand (the rows matmul's ROWS_MAX_N); wider ones keep their GEMM. */
export const GATHER_PROJECT_MAX_EXPERTS = 8;

/**
 * Whether the un-permute can add the router's K = E product itself (fuse-gather-grad-matmul): the
 * `rows` variant (a token's row belongs to one invocation) of an unweighted combine, E ≤ 8. Elsewhere
 * the lowering runs the matmul after the un-permute, accumulating into its result.
 */
export function moeGatherProjectInKernel(p: Pick<MoeCombineParams, 'weighted' | 'norm'> & { experts: number }, caps: RowKernelCaps): boolean {
  return moeCombineVariant(caps) === 'rows' && !p.weighted && !p.norm && p.experts >= 1 && p.experts <= GATHER_PROJECT_MAX_EXPERTS;
}

export function moeCombineProgram(p: MoeCombineParams, caps: RowKernelCaps, variant: MoeCombineVariant = moeCombineVariant(caps)): KernelProgram {
  check(p);
  const norm = p.norm;
  if (norm && !(variant === 'rows' && moeCombineNormInKernel(p, caps))) throw new InternalError('moe combine: this layout cannot normalise its rows; run the rmsnorm kernel after it');
  const second = p.second ?? false;
  if (second && p.weighted) throw new InternalError('moe combine: a second y is summed only by the unweighted combine (dX un-permute)');
  const project = p.project;
  if (project && !(variant === 'rows' && moeGatherProjectInKernel({ ...p, experts: project.experts }, caps))) throw new InternalError('moe combine: this layout cannot add the product; run the matmul after it');
  const rows = p.tokens * p.topK;
  const n = p.tokens * p.dim;
  const byRow = variant === 'rows';
  const { vec4, dimVec } = byRow ? rowUnits(p.dim) : { vec4: false, dimVec: p.dim };
  const wg = byRow ? ROWS_WORKGROUP : WORKGROUP;
  const { dispatch, dispatchX } = spreadWorkgroups(ceilDiv(byRow ? p.tokens : n, wg));
  const bindings: KernelBinding[] = [
    { name: 'y', access: 'read', type: 'f32', length: rows * p.dim, vec4 },
    ...(second ? [{ name: 'y2', access: 'read' as const, type: 'f32' as const, length: rows * p.dim, vec4 }] : []),
    { name: 'perm_row', access: 'read', type: 'i32', length: rows, fill: { kind: 'int', lo: -1, hi: rows } },
    ...(p.weighted ? [{ name: 'topk_w', access: 'read' as const, type: 'f32' as const, length: rows }] : []),
    ...(p.addend ? [{ name: 'addend', access: 'read' as const, type: 'f32' as const, length: n, vec4 }] : []),
    ...(p.gatedShared
      ? [
          { name: 'shared_out', access: 'read' as const, type: 'f32' as const, length: n, vec4 },
          { name: 'gate', access: 'read' as const, type: 'f32' as const, length: p.tokens, fill: { kind: 'float' as const, lo: -3, hi: 3 } },
        ]
      : []),
    ...(project
      ? [
          { name: 'proj_a', access: 'read' as const, type: 'f32' as const, length: p.tokens * project.experts },
          { name: 'proj_b', access: 'read' as const, type: 'f32' as const, length: p.dim * project.experts },
        ]
      : []),
    ...rowNormOutBindings(norm, p.tokens, p.dim, vec4),
  ];
  // proj_b's rows as vec4s by lane 0, broadcast to the subgroup (lavapipe loads per lane even at one
  // address), where the rows are vec4s, the experts fill vec4s and the adapter has subgroups.
  const projectBroadcast = project !== undefined && vec4 && project.experts % 4 === 0 && caps.subgroups === true;
  if (projectBroadcast) bindings.forEach((b, i) => { if (b.name === 'proj_b') bindings[i] = { ...b, vec4: true }; });
  const tags = [p.weighted ? 'w' : second ? 'sum2' : 'sum', p.addend ? 'add' : '', p.gatedShared ? 'gshared' : '', project ? `proj${project.experts}${projectBroadcast ? 'sg' : ''}` : '', norm ? 'norm' : ''].filter(Boolean).join('_');
  return {
    template: byRow ? 'moe_combine_rows' : 'moe_combine',
    label: `moe_combine_${tags}_${p.tokens}x${p.topK}_d${p.dim}${byRow ? '_rows' : ''}`,
    params: {
      n,
      tokens: p.tokens,
      dim: p.dim,
      vec4,
      dimVec,
      topK: p.topK,
      weighted: p.weighted,
      second,
      addend: p.addend,
      gatedShared: p.gatedShared,
      project: project !== undefined,
      projectExperts: project?.experts ?? 0,
      projectBroadcast,
      projectQuads: project ? project.experts / 4 : 0,
      dispatchX,
      ...rowNormParams(norm, p.dim),
    },
    bindings,
    workgroupSize: [wg, 1, 1],
    dispatch,
    features: projectBroadcast ? ['subgroups'] : [],
  };
}

/** The router backward a combine backward runs for its tokens (its d_probs full [T, E]). */
const routerOf = (p: MoeCombineBackwardParams): RouterBackwardParams | undefined =>
  p.router && { tokens: p.tokens, topK: p.topK, experts: p.router.experts, scoring: p.router.scoring, normalize: p.router.normalize, scale: p.router.scale, selectionBias: false, dProbs: 'full' };

/**
 * Whether the combine backward can differentiate the router too (fuse-combine-router-grad): the `rows`
 * variant, whose invocation per index can own a token's k assignments, without a gated shared expert.
 * Elsewhere the lowering runs router_backward after it.
 */
export function moeCombineRouterGradInKernel(p: Pick<MoeCombineBackwardParams, 'gatedShared'>, caps: RowKernelCaps): boolean {
  return moeCombineVariant(caps) === 'rows' && !p.gatedShared;
}

/** The portable maxUniformBufferBindingSize: the norm weight's uniform binding (see combineBackwardNormProgram). */
const UNIFORM_BINDING_BYTES = 65536;

/**
 * Whether the combine backward can run the RMSNorm backward in front of it itself (fuse-norm-grad-combine-grad):
 * the `rows` variant, vec4 rows, and the norm's fused lane layout (rmsnormGradLayout 'fused-lane': the kernel it
 * replaces, whose sums and dw columns the partials repeat), without a gated shared expert. Elsewhere the lowering
 * runs the norm backward first and the combine backward reads its dx.
 */
export function moeCombineNormGradInKernel(p: Pick<MoeCombineBackwardParams, 'dim' | 'gatedShared'>, caps: RowKernelCaps): boolean {
  // (the same conditions as moeCombineRouterGradInKernel and more: the kernel runs the router's backward too)
  return moeCombineRouterGradInKernel(p, caps) && rowUnits(p.dim).vec4 && rmsnormGradLayout(caps, p.dim) === 'fused-lane' && p.dim * 4 <= UNIFORM_BINDING_BYTES;
}

/** fuse-norm-grad-combine-grad's kernel: a token per invocation (see templates/moe_combine_backward_norm_rows). */
function combineBackwardNormProgram(p: MoeCombineBackwardParams & { normGrad: NonNullable<MoeCombineBackwardParams['normGrad']> }, caps: RowKernelCaps): KernelProgram {
  if (!moeCombineNormGradInKernel(p, caps)) throw new InternalError('moe combine backward: this layout cannot run the norm backward in front; run rmsnorm_grad before it');
  const rows = p.tokens * p.topK;
  const n = p.tokens * p.dim;
  const l = normRowLayout({ rows: p.tokens, dim: p.dim, eps: p.normGrad.eps }, 'lane', caps, true);
  const wg = l.workgroupSize[0];
  const dimVec = p.dim / 4;
  const colGroups = ceilDiv(dimVec, wg);
  const { dispatch, dispatchX } = spreadWorkgroups(ceilDiv(p.tokens, wg) + colGroups);
  const broadcast = laneBroadcast(caps, 'lane', true);
  const addend = p.normGrad.addend;
  const router = routerOf(p);
  const routerParts = router && routerBackwardParts(router);
  const v4 = { vec4: true } as const;
  const bindings: KernelBinding[] = [
    { name: 'dy', access: 'read', type: 'f32', length: n, ...v4 },
    { name: 'x', access: 'read', type: 'f32', length: n, ...v4 },
    // a uniform binding (array<vec4>, as every uniform): with the router and the addend the kernel binds 16 storage
    // buffers without it, the most a stage may have on lavapipe (Dawn's limit); read by lane 0 and broadcast either way
    { name: 'w', access: 'uniform', type: 'f32', length: p.dim },
    ...(addend ? [{ name: 'addend', access: 'read' as const, type: 'f32' as const, length: n, ...v4 }] : []),
    { name: 'rstd', access: 'read', type: 'f32', length: p.tokens, fill: { kind: 'float', lo: 0.5, hi: 2 } },
    { name: 'y', access: 'read', type: 'f32', length: rows * p.dim, ...v4 },
    { name: 'topk_w', access: 'read', type: 'f32', length: rows },
    { name: 'perm_row', access: 'read', type: 'i32', length: rows, fill: { kind: 'int', lo: -1, hi: rows } },
    { name: 'src_token', access: 'read', type: 'i32', length: rows, fill: { kind: 'int', lo: -1, hi: p.tokens } },
    { name: 'dx', access: 'write', type: 'f32', length: n, ...v4 },
    { name: 'dw', access: 'write', type: 'f32', length: p.dim, ...v4 },
    { name: 'd_y', access: 'write', type: 'f32', length: rows * p.dim, ...v4 },
    { name: 'd_topk_w', access: 'write', type: 'f32', length: rows },
    ...(routerParts ? [...routerParts.inputs, routerParts.output] : []),
  ];
  return {
    template: 'moe_combine_backward_norm_rows',
    label: `moe_combine_bwd_normgrad${addend ? '_add' : ''}${router ? `_router_${routerBackwardTag(router)}` : ''}_${p.tokens}x${p.topK}_d${p.dim}_rows${broadcast ? '_sg' : ''}`,
    params: {
      ...l.params,
      tokens: p.tokens,
      dim: p.dim,
      dimVec,
      topK: p.topK,
      slots: Array.from({ length: p.topK }, (_, s) => s),
      lastSlot: p.topK - 1,
      rowVec4: true,
      colGroups,
      addend,
      broadcast,
      router: routerParts?.params,
      dispatchX,
    },
    bindings,
    workgroupSize: [wg, 1, 1],
    dispatch,
    features: broadcast ? ['subgroups'] : [],
  };
}

export function moeCombineBackwardProgram(p: MoeCombineBackwardParams, caps: RowKernelCaps, variant: MoeCombineVariant = moeCombineVariant(caps)): KernelProgram {
  check(p);
  if (p.normGrad) {
    if (variant !== 'rows') throw new InternalError('moe combine backward: only the rows variant runs the norm backward in front');
    return combineBackwardNormProgram({ ...p, normGrad: p.normGrad }, caps);
  }
  const rows = p.tokens * p.topK;
  const n = p.tokens * p.dim;
  const byRow = variant === 'rows';
  const { vec4, dimVec } = byRow ? rowUnits(p.dim) : { vec4: false, dimVec: p.dim };
  const wg = byRow ? ROWS_WORKGROUP : BACKWARD_WORKGROUP;
  const { dispatch, dispatchX } = spreadWorkgroups(byRow ? ceilDiv(rows, wg) : rows);
  const router = routerOf(p);
  if (router && !(byRow && moeCombineRouterGradInKernel(p, caps))) throw new InternalError('moe combine backward: this layout cannot differentiate the router; run router_backward after it');
  const routerParts = router && routerBackwardParts(router);
  const bindings: KernelBinding[] = [
    { name: 'd_out', access: 'read', type: 'f32', length: n, vec4 },
    { name: 'y', access: 'read', type: 'f32', length: rows * p.dim, vec4 },
    { name: 'topk_w', access: 'read', type: 'f32', length: rows },
    { name: 'perm_row', access: 'read', type: 'i32', length: rows, fill: { kind: 'int', lo: -1, hi: rows } },
    { name: 'src_token', access: 'read', type: 'i32', length: rows, fill: { kind: 'int', lo: -1, hi: p.tokens } },
    { name: 'src_slot', access: 'read', type: 'i32', length: rows, fill: { kind: 'int', lo: 0, hi: p.topK } },
    ...(p.gatedShared
      ? [
          { name: 'shared_out', access: 'read' as const, type: 'f32' as const, length: n, vec4 },
          { name: 'gate', access: 'read' as const, type: 'f32' as const, length: p.tokens, fill: { kind: 'float' as const, lo: -3, hi: 3 } },
        ]
      : []),
    { name: 'd_y', access: 'write', type: 'f32', length: rows * p.dim, vec4 },
    { name: 'd_topk_w', access: 'write', type: 'f32', length: rows },
    ...(p.gatedShared
      ? [
          { name: 'd_shared_out', access: 'write' as const, type: 'f32' as const, length: n, vec4 },
          { name: 'd_gate', access: 'write' as const, type: 'f32' as const, length: p.tokens },
        ]
      : []),
    ...(routerParts ? [...routerParts.inputs, routerParts.output] : []),
  ];
  return {
    template: byRow ? 'moe_combine_backward_rows' : 'moe_combine_backward',
    label: `moe_combine_bwd${p.gatedShared ? '_gshared' : ''}${router ? `_router_${routerBackwardTag(router)}` : ''}_${p.tokens}x${p.topK}_d${p.dim}${byRow ? '_rows' : ''}`,
    params: { tokens: p.tokens, rows, dim: p.dim, vec4, dimVec, topK: p.topK, gatedShared: p.gatedShared, router: routerParts?.params, dispatchX },
    bindings,
    workgroupSize: [wg, 1, 1],
    dispatch,
    features: [],
  };
}

type Inputs = Readonly<Record<string, ArrayLike<number>>>;
const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));

export function moeCombineOracle(p: MoeCombineParams) {
  return (inputs: Inputs): Record<string, Float32Array> => {
    const { tokens: T, topK: K, dim: D } = p;
    const out = new Float32Array(T * D);
    for (let t = 0; t < T; t++) {
      for (let d = 0; d < D; d++) {
        let acc = 0;
        for (let j = 0; j < K; j++) {
          const row = inputs.perm_row[t * K + j];
          if (row >= 0) acc += p.second ? inputs.y[row * D + d] + inputs.y2[row * D + d] : (p.weighted ? inputs.topk_w[t * K + j] : 1) * inputs.y[row * D + d];
        }
        if (p.addend) acc += inputs.addend[t * D + d];
        if (p.gatedShared) acc += sigmoid(inputs.gate[t]) * inputs.shared_out[t * D + d];
        if (p.project) {
          const E = p.project.experts;
          for (let e = 0; e < E; e++) acc += inputs.proj_a[t * E + e] * inputs.proj_b[d * E + e];
        }
        out[t * D + d] = acc;
      }
    }
    return p.norm ? { out, ...rowNormOracle(p.norm, out, inputs.norm_w, T, D) } : { out };
  };
}

export function moeCombineBackwardOracle(p: MoeCombineBackwardParams): (inputs: Inputs) => Record<string, Float32Array> {
  if (p.normGrad) {
    // fuse-norm-grad-combine-grad: exactly the norm backward (its dx rounded to f32, as stored), then the combine backward of it
    const norm = { rows: p.tokens, dim: p.dim, eps: p.normGrad.eps, addend: p.normGrad.addend };
    const { normGrad: _, ...plain } = p;
    const combine = moeCombineBackwardOracle(plain);
    return (inputs) => {
      const { dx } = rmsnormBackwardOracle(norm)(inputs);
      const { dw } = rmsnormWeightGradOracle(norm)(inputs);
      // the kernel scatters by perm_row (it binds no src_slot): the row → assignment map is perm_row's inverse, the
      // rows no assignment names are padding (for a consistent routing, exactly the src_token / src_slot given)
      const rows = p.tokens * p.topK;
      const srcToken = new Int32Array(rows).fill(-1);
      const srcSlot = new Int32Array(rows);
      for (let a = 0; a < rows; a++) {
        const row = inputs.perm_row[a];
        if (row >= 0) [srcToken[row], srcSlot[row]] = [Math.floor(a / p.topK), a % p.topK];
      }
      return { ...combine({ ...inputs, d_out: dx, src_token: srcToken, src_slot: srcSlot }), dx, dw };
    };
  }
  return (inputs: Inputs): Record<string, Float32Array> => {
    const { tokens: T, topK: K, dim: D } = p;
    const rows = T * K;
    const dY = new Float32Array(rows * D);
    const dTopkW = new Float32Array(rows);
    for (let r = 0; r < rows; r++) {
      const t = inputs.src_token[r];
      if (t < 0) continue;
      const w = inputs.topk_w[t * K + inputs.src_slot[r]];
      for (let d = 0; d < D; d++) dY[r * D + d] = w * inputs.d_out[t * D + d];
    }
    for (let a = 0; a < rows; a++) {
      const row = inputs.perm_row[a];
      if (row < 0) continue;
      const t = Math.floor(a / K);
      let dot = 0;
      for (let d = 0; d < D; d++) dot += inputs.d_out[t * D + d] * inputs.y[row * D + d];
      dTopkW[a] = dot;
    }
    const result: Record<string, Float32Array> = { d_y: dY, d_topk_w: dTopkW };
    if (p.gatedShared) {
      const dShared = new Float32Array(T * D);
      const dGate = new Float32Array(T);
      for (let t = 0; t < T; t++) {
        const s = sigmoid(inputs.gate[t]);
        let dot = 0;
        for (let d = 0; d < D; d++) {
          dShared[t * D + d] = s * inputs.d_out[t * D + d];
          dot += inputs.d_out[t * D + d] * inputs.shared_out[t * D + d];
        }
        dGate[t] = s * (1 - s) * dot;
      }
      result.d_shared_out = dShared;
      result.d_gate = dGate;
    }
    const router = routerOf(p);
    if (router) Object.assign(result, routerBackwardOracle(router)({ ...inputs, d_topk_w: dTopkW }));
    return result;
  };
}

export function moeCombineCase(p: MoeCombineParams, caps: RowKernelCaps, variant?: MoeCombineVariant): KernelCase {
  return { program: moeCombineProgram(p, caps, variant), oracle: moeCombineOracle(p), tolerance: { atol: 1e-5, rtol: 1e-5 } };
}

export function moeCombineBackwardCase(p: MoeCombineBackwardParams, caps: RowKernelCaps, variant?: MoeCombineVariant): KernelCase {
  return { program: moeCombineBackwardProgram(p, caps, variant), oracle: moeCombineBackwardOracle(p), tolerance: { atol: 1e-4, rtol: 1e-4 } };
}
