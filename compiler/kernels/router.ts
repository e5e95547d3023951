// MoE router kernels: scores (softmax or sigmoid) from router logits [T, E], top-k selection per
// token, and the backward pass to d(logits). One invocation per token. Nothing of size E lives in
// private memory (WGSL caps a function's private variables at 8 KiB, and lavapipe spills them):
// the scores are written to `probs` and read back by the same invocation, top-k is one pass that
// keeps a sorted list of k candidates (O(E) compares plus O(k) per insertion, instead of k argmax
// passes), and group-limited routing keeps one score per group. So E is bounded only by
// ROUTER_MAX_EXPERTS (shared with the other MoE kernels, enforced by `check`), k by ROUTER_MAX_TOPK
// and the group count by ROUTER_MAX_GROUPS (the private lists' sizes).
//
// Invariants:
// - Ties are broken by the lower expert index: experts are visited in ascending order and a newcomer
//   must be strictly greater to pass a kept candidate, which is exactly repeated strict argmax.
// - The selection key is the logit itself when that is order-equivalent to the score (no bias;
//   group maxima are then order-equivalent too): softmax and sigmoid are monotone, and comparing exact f32 logits keeps the GPU and
//   the float64 oracle from disagreeing on near-ties that rounding would create.
// - The optional per-expert bias (aux-loss-free balancing) changes *which* experts are chosen, never
//   the weights: weights are the unbiased scores, so the bias receives no gradient.
// - Group-limited routing follows DeepSeek-V3's reference code (deepseek-ai/DeepSeek-V3,
//   inference/model.py, Gate.forward; arXiv 2412.19437 §2.1.2 node-limited routing): with the
//   selection bias a group's score is the sum of its two best biased scores (what HF transformers'
//   DeepseekV3 router always does), without it the group's best score (DeepSeek-V2's
//   group-limited greedy); groups of one expert use that expert's key. The `topk` best groups stay
//   eligible, the others are excluded outright (their experts are never chosen).
// - Backward treats the selection as constant (it is piecewise constant in the logits) and flows
//   d(topk_w) through the optional renormalisation and the score function; an optional dProbs
//   (aux-loss gradient w.r.t. the full probabilities, either [T, E] or broadcast [E]) is added, and
//   optionally a gradient already w.r.t. the logits (the z-loss) is summed into d_logits.
//
// Forward variants (chosen from the adapter by routerVariant, never by a flag), both one invocation
// per token and bit-identical in their outputs:
// - `serial` (CPU adapters: lavapipe, SwiftShader; templates/router_serial.wgsl.hbs): the k
//   candidates live in named registers and a newcomer is inserted by a fixed branch-free shift;
//   scores are written once (max, sum and score passes) instead of written and rescaled in place.
//   A SIMD chunk of 8 tokens never diverges into per-lane insertion loops.
// - `list` (GPUs, and CPU adapters past ROUTER_SERIAL_MAX_TOPK; templates/router.wgsl.hbs): the
//   sorted candidate list in a private array with an insertion loop, which a GPU keeps in
//   registers or fast local memory.
// The backward and the bias update have one variant each (already one invocation per token, and a
// single small workgroup).
// With `project` (fuse-router-logits; serial variant, E ≤ ROWS_MAX_N in vec4 blocks) the kernel takes
// x and the gate matrix instead of logits: each invocation forms its token's logits with the rows
// matmul's FMA order (x RMS-normalised first with the lane rmsnorm's sums when `project.norm`),
// stores them and routes them as above, so its outputs are bitwise those of the three kernels it replaces.
import type { RowKernelCaps } from '../../base/caps.ts';
import { InternalError } from '../../base/errors.ts';
import { ceilDiv, f32Literal, spreadWorkgroups, type KernelBinding, type KernelCase, type KernelProgram } from './types.ts';
import { rmsnormReference, rowNormInKernel, rowNormParams, type RowNorm } from './rmsnorm.ts';
import { matmulOracle, ROWS_MAX_N } from './matmul.ts';

/** Experts per MoE layer every MoE kernel supports (the aux-loss histogram in workgroup memory is
 *  the binding one); `check` refuses more (compiler/config/model.ts). */
export const MOE_MAX_EXPERTS = 2048;
export const ROUTER_MAX_EXPERTS = MOE_MAX_EXPERTS;
/** Size of the private sorted candidate list. */
export const ROUTER_MAX_TOPK = 64;
/** Size of the private per-group score list. */
export const ROUTER_MAX_GROUPS = 256;

export interface RouterParams {
  readonly tokens: number;
  readonly experts: number;
  readonly topK: number;
  readonly scoring: 'softmax' | 'sigmoid';
  /** Renormalise the selected scores to sum to 1 before scaling. */
  readonly normalize: boolean;
  /** Routed scaling factor multiplied into every top-k weight (1 for none). */
  readonly scale: number;
  /** DeepSeek-V3 group-limited routing: experts split into `count` equal groups, `topk` kept. */
  readonly groups?: { readonly count: number; readonly topk: number };
  /** A per-expert bias [E] added to the scores for selection only. */
  readonly selectionBias: boolean;
  /**
   * The router computes its logits itself (fuse-router-logits): bindings x [T, dim], w_r [dim, E] and
   * with `norm` norm_w [dim] in, logits [T, E] out (read back by the routing), with `norm` also norm_y
   * [T, dim] and rstd [T]: x's rows RMS-normalised first as the lane rmsnorm does, the product taken as
   * the rows matmul does (the same bits). Only where routerProjectInKernel says so.
   */
  readonly project?: { readonly dim: number; readonly norm?: RowNorm };
}

export interface RouterBackwardParams extends RouterParams {
  /** Aux-loss gradient w.r.t. the probabilities: absent, full [T, E], or one value per expert [E]. */
  readonly dProbs: 'none' | 'full' | 'broadcast';
  /** Add a gradient that is already w.r.t. the logits (the z-loss's d_logits_z) into d_logits. */
  readonly addDLogits?: boolean;
}

const WORKGROUP = 64;

export type RouterVariant = 'serial' | 'list';

/** Largest k the serial variant unrolls its candidate registers for: its code grows with k, and at
 *  top-64 lavapipe took ~10× longer to compile it than the list variant (42 s against 4 s under
 *  load), while at top-8..12 it compiles in about twice the list variant's time. */
export const ROUTER_SERIAL_MAX_TOPK = 16;

export function routerVariant(caps: RowKernelCaps, topK: number): RouterVariant {
  return caps.cpuAdapter && topK <= ROUTER_SERIAL_MAX_TOPK ? 'serial' : 'list';
}

/**
 * Whether the router kernel can take its logits' product itself (fuse-router-logits): the serial
 * variant (an invocation per token, as the rows matmul that would compute them), at most
 * ROWS_MAX_N experts in vec4 blocks (the rows matmul's size class: the same FMA order, so the same
 * bits), rows of x as vec4s; with a norm, the lane rmsnorm's layout (rowNormInKernel). Elsewhere the
 * lowering runs the product (and the rmsnorm) first and routes its logits.
 */
export function routerProjectInKernel(p: Pick<RouterParams, 'topK' | 'experts'>, project: { readonly dim: number; readonly norm?: RowNorm }, caps: RowKernelCaps): boolean {
  return routerVariant(caps, p.topK) === 'serial' && p.experts % 4 === 0 && p.experts <= ROWS_MAX_N && project.dim % 4 === 0 && (!project.norm || rowNormInKernel(caps, project.dim));
}

function validate(p: RouterParams): void {
  // User-facing limits are refused by `check` with a location; reaching here is a compiler bug.
  if (p.experts < 1 || p.experts > ROUTER_MAX_EXPERTS) throw new InternalError(`router: ${p.experts} experts; the router kernel supports 1..${ROUTER_MAX_EXPERTS}`);
  if (p.topK < 1 || p.topK > ROUTER_MAX_TOPK) throw new InternalError(`router: top-k ${p.topK}; the router kernel supports 1..${ROUTER_MAX_TOPK}`);
  if (p.topK > p.experts) throw new InternalError(`router: top-k ${p.topK} exceeds the ${p.experts} experts`);
  if (p.tokens < 1) throw new InternalError('router: needs at least one token');
  if (p.groups) {
    const { count, topk } = p.groups;
    if (count < 1 || count > ROUTER_MAX_GROUPS || p.experts % count !== 0) throw new InternalError(`router: ${p.experts} experts do not split into ${count} equal groups`);
    if (topk < 1 || topk > count) throw new InternalError(`router: topk_group ${topk} must be in 1..${count}`);
    if (topk * (p.experts / count) < p.topK) throw new InternalError(`router: ${topk} groups of ${p.experts / count} experts cannot supply top-${p.topK}`);
  }
}

/** How the selection key is formed (see header: logits when order-equivalent to scores). */
function selectionKey(p: RouterParams): 'logit' | 'biased' {
  // Without the bias, group maxima and top-k of the scores are those of the logits (monotone).
  return p.selectionBias ? 'biased' : 'logit';
}

function configTag(p: RouterParams): string {
  const parts = [p.scoring === 'softmax' ? 'sm' : 'sig', `k${p.topK}`];
  if (p.normalize) parts.push('norm');
  if (p.scale !== 1) parts.push(`s${String(p.scale).replace('.', 'p')}`);
  if (p.groups) parts.push(`g${p.groups.count}of${p.groups.topk}`);
  if (p.selectionBias) parts.push('bias');
  return parts.join('_');
}

function commonParams(p: RouterParams, dispatchX: number) {
  const key = selectionKey(p);
  return {
    tokens: p.tokens,
    experts: p.experts,
    topK: p.topK,
    softmax: p.scoring === 'softmax',
    normalize: p.normalize,
    scale: f32Literal(p.scale),
    keyFromBias: key === 'biased',
    grouped: p.groups !== undefined,
    groupCount: p.groups?.count ?? 1,
    groupSize: p.groups ? p.experts / p.groups.count : p.experts,
    groupTopk: p.groups?.topk ?? 1,
    groupPairSum: p.groups !== undefined && p.experts / p.groups.count > 1 && p.selectionBias,
    dispatchX,
  };
}

export function routerProgram(p: RouterParams, caps: RowKernelCaps, variant: RouterVariant = routerVariant(caps, p.topK)): KernelProgram {
  validate(p);
  const serial = variant === 'serial';
  if (serial && p.topK > ROUTER_SERIAL_MAX_TOPK) throw new InternalError(`router: the serial variant supports top-k up to ${ROUTER_SERIAL_MAX_TOPK}, got ${p.topK}`);
  const { dispatch, dispatchX } = spreadWorkgroups(ceilDiv(p.tokens, WORKGROUP));
  const te = p.tokens * p.experts;
  const tk = p.tokens * p.topK;
  const project = p.project;
  if (project && (!serial || !routerProjectInKernel(p, project, caps))) throw new InternalError(`router: this variant cannot compute its ${p.experts} logits from rows of ${project.dim}; run the product first`);
  const broadcast = caps.subgroups;
  const projectBindings: KernelBinding[] = project
    ? [
        { name: 'x', access: 'read', type: 'f32', length: p.tokens * project.dim, vec4: true },
        ...(project.norm ? [{ name: 'norm_w', access: 'read' as const, type: 'f32' as const, length: project.dim, vec4: true }] : []),
        { name: 'w_r', access: 'read', type: 'f32', length: project.dim * p.experts, vec4: true },
      ]
    : [];
  const bindings: KernelBinding[] = [
    ...projectBindings,
    project ? { name: 'logits', access: 'readwrite', type: 'f32', length: te } : { name: 'logits', access: 'read', type: 'f32', length: te, fill: { kind: 'float', lo: -4, hi: 4 } },
    ...(p.selectionBias ? [{ name: 'bias', access: 'read' as const, type: 'f32' as const, length: p.experts, fill: { kind: 'float' as const, lo: -0.3, hi: 0.3 } }] : []),
    { name: 'topk_idx', access: 'write', type: 'i32', length: tk },
    { name: 'topk_w', access: 'write', type: 'f32', length: tk },
    { name: 'probs', access: 'write', type: 'f32', length: te },
    ...(project?.norm
      ? [
          { name: 'norm_y', access: 'write' as const, type: 'f32' as const, length: p.tokens * project.dim, vec4: true },
          { name: 'rstd', access: 'write' as const, type: 'f32' as const, length: p.tokens },
        ]
      : []),
  ];
  const projectTag = project ? `_x${project.dim}${project.norm ? '_norm' : ''}${broadcast ? '_sg' : ''}` : '';
  return {
    template: serial ? 'router_serial' : 'router',
    label: `router_${configTag(p)}_${p.tokens}x${p.experts}${serial ? '_serial' : ''}${projectTag}`,
    params: {
      ...commonParams(p, dispatchX),
      ...(project
        ? {
            project: true,
            broadcast,
            dimVec: project.dim / 4,
            expertsVec: p.experts / 4,
            accs: Array.from({ length: p.experts / 4 }, (_, v) => ({ v, first: 4 * v })),
            ...rowNormParams(project.norm, project.dim),
          }
        : {}),
      // The serial variant's candidate registers 0..k-1, and the shift of slot s from slot s - 1,
      // last slot first (each reads its upper neighbour before that one is overwritten).
      ...(serial
        ? {
            slots: Array.from({ length: p.topK }, (_, s) => ({ s })),
            last: p.topK - 1,
            shifts: Array.from({ length: p.topK - 1 }, (_, i) => ({ s: p.topK - 1 - i, prev: p.topK - 2 - i })),
          }
        : {}),
    },
    bindings,
    workgroupSize: [WORKGROUP, 1, 1],
    dispatch,
    features: project && broadcast ? ['subgroups'] : [],
  };
}

/**
 * The router backward's own bindings (all but d_topk_w) and the params of templates/partials/
 * router_backward_fn: one token's d_logits, shared by the router_backward kernel and the combine
 * backward that differentiates the router too (fuse-combine-router-grad).
 */
export function routerBackwardParts(p: RouterBackwardParams): { params: Record<string, unknown>; inputs: KernelBinding[]; output: KernelBinding } {
  validate(p);
  const te = p.tokens * p.experts;
  return {
    params: { ...commonParams(p, 0), hasDProbs: p.dProbs !== 'none', dProbsFull: p.dProbs === 'full', addDLogits: p.addDLogits === true },
    inputs: [
      { name: 'probs', access: 'read', type: 'f32', length: te, fill: { kind: 'float', lo: 0.02, hi: 1 } },
      { name: 'topk_idx', access: 'read', type: 'i32', length: p.tokens * p.topK, fill: { kind: 'int', lo: 0, hi: p.experts } },
      ...(p.dProbs !== 'none' ? [{ name: 'd_probs', access: 'read' as const, type: 'f32' as const, length: p.dProbs === 'full' ? te : p.experts }] : []),
      ...(p.addDLogits ? [{ name: 'd_logits_extra', access: 'read' as const, type: 'f32' as const, length: te }] : []),
    ],
    output: { name: 'd_logits', access: 'write', type: 'f32', length: te },
  };
}

/** Label part of a router backward's configuration (its kernel's label without the shape). */
export const routerBackwardTag = (p: RouterBackwardParams): string => `${configTag(p)}${p.dProbs === 'none' ? '' : `_dp${p.dProbs}`}${p.addDLogits ? '_dlx' : ''}`;

export function routerBackwardProgram(p: RouterBackwardParams): KernelProgram {
  const { dispatch, dispatchX } = spreadWorkgroups(ceilDiv(p.tokens, WORKGROUP));
  const parts = routerBackwardParts(p);
  const [probs, topkIdx, ...rest] = parts.inputs;
  const bindings: KernelBinding[] = [probs, topkIdx, { name: 'd_topk_w', access: 'read', type: 'f32', length: p.tokens * p.topK }, ...rest, parts.output];
  return {
    template: 'router_backward',
    label: `router_bwd_${routerBackwardTag(p)}_${p.tokens}x${p.experts}`,
    params: { ...parts.params, dispatchX },
    bindings,
    workgroupSize: [WORKGROUP, 1, 1],
    dispatch,
    features: [],
  };
}

type Inputs = Readonly<Record<string, ArrayLike<number>>>;

/** Scores of one token in float64. */
function scoresOf(p: RouterParams, logits: ArrayLike<number>, t: number): number[] {
  const row = Array.from({ length: p.experts }, (_, e) => logits[t * p.experts + e]);
  if (p.scoring === 'sigmoid') return row.map((x) => 1 / (1 + Math.exp(-x)));
  const m = Math.max(...row);
  const ex = row.map((x) => Math.exp(x - m));
  const s = ex.reduce((a, b) => a + b, 0);
  return ex.map((x) => x / s);
}

/** Strict-greater argmax over eligible indices in ascending order (ties → lower index). */
function argmaxEligible(key: readonly number[], eligible: (i: number) => boolean): number {
  let best = -1;
  for (let i = 0; i < key.length; i++) if (eligible(i) && (best < 0 || key[i] > key[best])) best = i;
  return best;
}

/** The experts one token selects, in selection order. */
export function routerSelect(p: RouterParams, logitsRow: readonly number[], scores: readonly number[], bias?: ArrayLike<number>): number[] {
  const kind = selectionKey(p);
  const key = scores.map((s, e) => (kind === 'logit' ? logitsRow[e] : s + bias![e]));
  const allowed = new Array<boolean>(p.experts).fill(true);
  if (p.groups) {
    const size = p.experts / p.groups.count;
    const groupScore = Array.from({ length: p.groups.count }, (_, g) => {
      const members = key.slice(g * size, (g + 1) * size);
      const first = argmaxEligible(members, () => true);
      if (size === 1 || !p.selectionBias) return members[first];
      const second = argmaxEligible(members, (i) => i !== first);
      return members[first] + members[second];
    });
    const keep = new Array<boolean>(p.groups.count).fill(false);
    for (let s = 0; s < p.groups.topk; s++) keep[argmaxEligible(groupScore, (g) => !keep[g])] = true;
    for (let e = 0; e < p.experts; e++) allowed[e] = keep[Math.floor(e / size)];
  }
  const chosen: number[] = [];
  for (let j = 0; j < p.topK; j++) chosen.push(argmaxEligible(key, (e) => allowed[e] && !chosen.includes(e)));
  return chosen;
}

export function routerOracle(p: RouterParams) {
  return (given: Inputs): Record<string, Float32Array | Int32Array> => {
    const { tokens: T, experts: E, topK: K } = p;
    // fuse-router-logits: the rmsnorm reference of x's rows (rounded to f32 as norm_y stores them), then the
    // product with w_r rounded to f32 as logits stores it; the routing below reads those f32 logits.
    const project = p.project;
    const normed = project?.norm ? rmsnormReference({ rows: T, dim: project.dim, eps: project.norm.eps }, { x: given.x, w: given.norm_w }) : undefined;
    const normY = normed ? Float32Array.from(normed.y) : undefined;
    const projected = project ? matmulOracle({ M: T, N: E, K: project.dim })({ a: normY ?? given.x, b: given.w_r }).c : undefined;
    const inputs = projected ? { ...given, logits: projected } : given;
    const probs = new Float32Array(T * E);
    const topkIdx = new Int32Array(T * K);
    const topkW = new Float32Array(T * K);
    for (let t = 0; t < T; t++) {
      const s = scoresOf(p, inputs.logits, t);
      for (let e = 0; e < E; e++) probs[t * E + e] = s[e];
      const row = Array.from({ length: E }, (_, e) => inputs.logits[t * E + e]);
      const chosen = routerSelect(p, row, s, inputs.bias);
      const sum = chosen.reduce((a, e) => a + s[e], 0);
      chosen.forEach((e, j) => {
        topkIdx[t * K + j] = e;
        topkW[t * K + j] = (p.normalize ? s[e] / sum : s[e]) * p.scale;
      });
    }
    const routed = { topk_idx: topkIdx, topk_w: topkW, probs };
    if (!projected) return routed;
    return { ...routed, logits: projected, ...(normed && normY ? { norm_y: normY, rstd: Float32Array.from(normed.rstd) } : {}) };
  };
}

/** d(logits) from d(topk_w) (+ dProbs), with the selection held fixed. */
export function routerBackwardOracle(p: RouterBackwardParams) {
  return (inputs: Inputs): Record<string, Float32Array> => {
    const { tokens: T, experts: E, topK: K } = p;
    const dLogits = new Float32Array(T * E);
    for (let t = 0; t < T; t++) {
      const prob = (e: number) => inputs.probs[t * E + e];
      const dS = Array.from({ length: E }, (_, e) =>
        p.dProbs === 'full' ? inputs.d_probs[t * E + e] : p.dProbs === 'broadcast' ? inputs.d_probs[e] : 0,
      );
      const idx = Array.from({ length: K }, (_, j) => inputs.topk_idx[t * K + j]);
      const w = idx.map((e) => prob(e));
      const sum = w.reduce((a, b) => a + b, 0);
      const dn = idx.map((_, j) => p.scale * inputs.d_topk_w[t * K + j]);
      const dot = dn.reduce((a, d, j) => a + d * (w[j] / sum), 0);
      idx.forEach((e, j) => {
        dS[e] += p.normalize ? (dn[j] - dot) / sum : dn[j];
      });
      const dotS = dS.reduce((a, d, e) => a + d * prob(e), 0);
      for (let e = 0; e < E; e++) {
        const s = prob(e);
        const extra = p.addDLogits ? inputs.d_logits_extra[t * E + e] : 0;
        dLogits[t * E + e] = (p.scoring === 'softmax' ? s * (dS[e] - dotS) : dS[e] * s * (1 - s)) + extra;
      }
    }
    return { d_logits: dLogits };
  };
}

export function routerCase(p: RouterParams, caps: RowKernelCaps, variant?: RouterVariant): KernelCase {
  return { program: routerProgram(p, caps, variant), oracle: routerOracle(p), tolerance: { atol: 1e-6, rtol: 1e-5 } };
}

export function routerBackwardCase(p: RouterBackwardParams): KernelCase {
  return { program: routerBackwardProgram(p), oracle: routerBackwardOracle(p), tolerance: { atol: 1e-5, rtol: 1e-4 } };
}

// Aux-loss-free bias update (DeepSeek-V3, arXiv 2412.19437 §2.1.2): after each step every expert's
// selection bias moves by `rate` towards balance, b_e += rate · sign(T·k/E − load_e), where load_e
// counts this step's assignments to e. One workgroup: an integer histogram in workgroup memory
// (exact, order-independent), then each lane updates experts lane, lane + WG, …, in place.
export interface RouterBiasUpdateParams {
  readonly experts: number;
  /** T·k assignments in topk_idx. */
  readonly assignments: number;
  readonly rate: number;
}

const BIAS_WORKGROUP = 256;

export function routerBiasUpdateProgram(p: RouterBiasUpdateParams): KernelProgram {
  if (p.experts < 1 || p.experts > ROUTER_MAX_EXPERTS) throw new InternalError(`router bias update: ${p.experts} experts; supported 1..${ROUTER_MAX_EXPERTS}`);
  if (p.assignments < 1 || !(p.rate > 0)) throw new InternalError('router bias update: needs assignments and a positive rate');
  return {
    template: 'router_bias_update',
    label: `router_bias_update_${p.assignments}_e${p.experts}`,
    params: { experts: p.experts, assignments: p.assignments, meanLoad: f32Literal(p.assignments / p.experts), rate: f32Literal(p.rate) },
    bindings: [
      { name: 'topk_idx', access: 'read', type: 'i32', length: p.assignments, fill: { kind: 'int', lo: -1, hi: p.experts + 1 } },
      { name: 'bias', access: 'readwrite', type: 'f32', length: p.experts, fill: { kind: 'float', lo: -0.3, hi: 0.3 } },
    ],
    workgroupSize: [BIAS_WORKGROUP, 1, 1],
    dispatch: [1, 1, 1],
    features: [],
  };
}

export function routerBiasUpdateOracle(p: RouterBiasUpdateParams) {
  return (inputs: Inputs): Record<string, Float32Array> => {
    const load = new Float64Array(p.experts);
    for (let a = 0; a < p.assignments; a++) {
      const e = inputs.topk_idx[a];
      if (e >= 0 && e < p.experts) load[e]++;
    }
    const mean = p.assignments / p.experts;
    return { bias: Float32Array.from({ length: p.experts }, (_, e) => inputs.bias[e] + p.rate * Math.sign(mean - load[e])) };
  };
}

export function routerBiasUpdateCase(p: RouterBiasUpdateParams): KernelCase {
  return { program: routerBiasUpdateProgram(p), oracle: routerBiasUpdateOracle(p), tolerance: { atol: 1e-7, rtol: 1e-6 } };
}
