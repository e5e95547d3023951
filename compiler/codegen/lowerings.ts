// Kernel lowering of every IR op: which KernelPrograms a node becomes and how its operands,
// results and scratch buffers bind to them. One function per op; the planner (plan.ts) owns buffer
// allocation and ordering. Ops with no kernel (param, input, const, reshape) never reach here.
import type { DeviceCaps } from '../../base/caps.ts';
import type { NodeOf, OpName, TensorType } from '../ir/types.ts';
import { gatherGradOperands, gradXOperands, numel, routerOperands } from '../ir/types.ts';
import type { KernelCase } from './kernel.ts';
import { attentionBackwardCases, attentionCase, attentionGradRopeInKernel } from '../kernels/attention.ts';
import { adamwCase } from '../kernels/adamw.ts';
import { sgdCase } from '../kernels/sgd.ts';
import { auxLossCase, auxLossWorkgroup, type AuxLossParams } from '../kernels/aux-loss.ts';
import { gradNormFinalizeCase, gradNormPartialSlots, gradNormPartialsCase } from '../kernels/grad-norm.ts';
import { crossEntropyCase } from '../kernels/cross-entropy.ts';
import { elementwiseCase } from '../kernels/elementwise.ts';
import { maskedMeanCase } from '../kernels/masked-mean.ts';
import { lmHeadChunkRows, lmHeadXentCase, lmHeadXentScaleCase } from '../kernels/lm-head-xent.ts';
import { BufferLimitError } from '../lower/model.ts';
import { embeddingBackwardCase, embeddingCase, embeddingNormInKernel, embeddingSortCase, embeddingSortInKernel } from '../kernels/embedding.ts';
import { matmulCase, matmulNormInKernel, matmulRopeInKernel, type MatmulParams } from '../kernels/matmul.ts';
import { groupedMatmulBackwardParams, groupedMatmulCase, groupedMatmulDwCase, type GroupedMatmulParams } from '../kernels/grouped-matmul.ts';
import { moeCombineBackwardCase, moeCombineCase, moeCombineNormInKernel, moeCombineRouterGradInKernel,
  moeCombineNormGradInKernel, moeGatherProjectInKernel } from '../kernels/moe-combine.ts';
import { moeGatherCase, moePermuteCases, moePermuteSerialCase, moePermuteVariant, permuteBlocks } from '../kernels/moe-permute.ts';
import { reduceCase } from '../kernels/reduce.ts';
import { sdProxyCase } from '../kernels/sd-proxy.ts';
import { sdProjectFused, sdProjectFusedCase, sdSplitACase, sdSplitApCase, sdSplitBCase, sdSplitOutCase, sdSplitCpartLength, sdSplitOutPcCase, sdSplitPair, sdSplitVariant, type SdSplitBatch, type SdSplitOutMode, type SdSplitParams } from '../kernels/sd-split.ts';
import { rmsnormBackwardCase, rmsnormBackwardDwCase, rmsnormCase, rmsnormGradLayout, rmsnormWeightGradCase } from '../kernels/rmsnorm.ts';
import { ropeCase } from '../kernels/rope.ts';
import { routerBackwardCase, routerBiasUpdateCase, routerCase, routerProjectInKernel, type RouterParams } from '../kernels/router.ts';
import { swigluBackwardCase, swigluCase } from '../kernels/swiglu.ts';
import { layernormBackwardCase, layernormCase, layernormParamGradCase } from '../kernels/layernorm.ts';
import { activationBackwardCase, activationCase } from '../kernels/activation.ts';

export interface LoweringContext {
  readonly caps: DeviceCaps;
  /** Buffer of operand i. */
  input(i: number): number;
  inputType(i: number): TensorType;
  /** Buffer of result i (already allocated by the planner). */
  output(i: number): number;
  /** Where a buffer lives: its own buffer, or a slot of a slab (then `of` is the slab's id). */
  storage(id: number): { of: number; offset: number; bytes: number };
  /** Global-batch load balancing, on load-balance aux nodes only: the expert-count buffer this
   *  loss accumulates into (the counting pass) or takes f_e from (the training step). */
  readonly auxCounts?: { readonly mode: 'accumulate' | 'given'; readonly buffer: number };
  /** A binding-sized window of buffer `id` (bytes at `offset`, a multiple of 256), valid while
   *  this node runs: how a kernel works on a row slice of a tensor. */
  view(id: number, offset: number, bytes: number, name: string): number;
  /** Scratch buffer freed when this node is done. */
  temp(bytes: number, name: string): number;
  /** Appends a dispatch of the case's program (its oracle comes along for `sdmoec test`);
   *  `bindings` maps each binding name of the program to a buffer. */
  emit(kernel: KernelCase, bindings: Readonly<Record<string, number>>): void;
}

type Lowering<K extends OpName> = (node: NodeOf<K>, ctx: LoweringContext) => void;

const leaf = (op: string) => (): void => {
  throw new Error(`${op} has no kernel; the planner handles it`);
};

const rowsCols = (t: TensorType): [number, number] => [numel(t) / t.shape[t.shape.length - 1], t.shape[t.shape.length - 1]];

function routerParams(a: NodeOf<'router'>['attrs'] | NodeOf<'router_grad'>['attrs'], tokens: number, experts: number, selectionBias = false): RouterParams {
  // The backward holds the selection fixed, so groups and bias matter to the forward only.
  const groups = 'groups' in a && a.groups !== undefined && a.groups > 1 ? { groups: { count: a.groups, topk: a.topGroups ?? a.groups } } : {};
  return { tokens, experts, topK: a.topK, scoring: a.score, normalize: a.normalize, scale: a.scale, selectionBias, ...groups };
}


/** Forward grouped GEMM params from the operands: xs [R,K], weights [E,K,N] (last weight operand). */
function groupedParams(experts: number, sharedWeight: boolean, c: LoweringContext): GroupedMatmulParams {
  const rows = c.inputType(0).shape[0];
  const w = c.inputType(sharedWeight ? 2 : 1).shape;
  return { rows, experts, inner: w[1], out: w[2], weightLayout: 'io', sharedWeight };
}

/** Weight bindings: the per-expert weights, plus W_c when the operand is the SD-MoE proxy. */
function groupedWeights(sharedWeight: boolean, c: LoweringContext): Record<string, number> {
  return sharedWeight ? { w_common: c.input(1), w: c.input(2), c: c.output(0) } : { w: c.input(1), c: c.output(0) };
}

/**
 * The one aux-loss dispatch of a node of either kind: load balance reads the probabilities, z-loss
 * the logits (bound as the probabilities too, with the balance coefficient 0, since the kernel
 * always reads them). The kernel writes the node's loss (balance + z) to `total` and, given
 * `grad`, d_x = dLoss · dL/dx; its other results go to scratch.
 */
function emitAux(
  a: NodeOf<'aux_loss'>['attrs'],
  c: LoweringContext,
  io: { x: number; idx: number; total?: number; grad?: { dLoss: number; dx: number }; sum?: { addend: number; out: number } },
): void {
  const [tokens, experts] = c.inputType(io.x).shape;
  const z = a.kind === 'z_loss';
  const counts = z ? undefined : c.auxCounts;
  const total = io.total !== undefined;
  const p: AuxLossParams = { tokens, experts, topK: a.topK, balanceCoef: z ? 0 : a.coef, zLossCoef: z ? a.coef : 0, accumulate: counts?.mode === 'accumulate', givenCounts: counts?.mode === 'given', total, grad: !!io.grad, addend: !!io.sum };
  const outputs: Record<string, number> = {};
  if (total) outputs.loss_total = io.total!;
  if (io.sum) Object.assign(outputs, { loss_addend: io.sum.addend, loss_sum: io.sum.out });
  if (io.grad) Object.assign(outputs, { d_loss: io.grad.dLoss, d_x: io.grad.dx });
  c.emit(auxLossCase(p, c.caps), {
    probs: c.input(io.x),
    topk_idx: c.input(io.idx),
    ...(z ? { logits: c.input(io.x), d_logits_z: c.temp(tokens * experts * 4, 'd_logits_z') } : {}),
    ...(counts?.mode === 'accumulate' ? { counts_accum: counts.buffer } : counts?.mode === 'given' ? { counts_global: counts.buffer } : {}),
    stats_counts: c.temp(experts * 4, 'stats'),
    loss: c.temp(8, 'loss'),
    d_probs: c.temp(experts * 4, 'd_probs'),
    ...outputs,
  });
}

/** The split's three dispatches for one G (compiler/kernels/sd-split.ts): A = Uᵀ G, B = (G − U A) V, then the out kernel. */
function emitSplitChain(p: SdSplitParams, c: LoweringContext, io: { g: number; u: number; v: number; a: number; b: number }, outs: { gc?: number; gu?: number }, mode?: SdSplitOutMode): void {
  const variant = sdSplitVariant(p, c.caps); // `rows` on CPU adapters
  c.emit(sdSplitACase(p, variant), { g: io.g, u: io.u, a: io.a });
  c.emit(sdSplitBCase(p, variant), io);
  c.emit(sdSplitOutCase(p, variant, mode), { ...io, ...outs });
}

function adamwParams(a: NodeOf<'adamw'>['attrs'], length: number) {
  return { length, beta1: a.beta1, beta2: a.beta2, eps: a.eps, weightDecay: a.weightDecay, resetEvery: a.resetEvery ?? 0, output: a.output ?? 'param' } as const;
}

/**
 * One optimizer dispatch over a whole slab group (see slabs.ts); padding between slots is zero.
 * `state` holds the group's state slabs in the node's operand order (AdamW: m, v; SGD: momentum),
 * `hyper` its runtime-fed operands (AdamW: lr, step; SGD: lr).
 */
export function lowerOptimizerSlab(
  node: NodeOf<'adamw'> | NodeOf<'sgd'>,
  elements: number,
  decay: readonly { readonly start: number; readonly end: number; readonly weightDecay: number }[],
  buffers: { p: number; g: number; state: readonly number[]; hyper: readonly number[]; clip: number },
  emit: LoweringContext['emit'],
  caps?: LoweringContext['caps'],
): void {
  // the slab's decay by element range (the kernels treat one range like a single decay)
  const weightDecay = decay;
  if (node.op === 'sgd') {
    emit(sgdCase({ ...sgdParams(node.attrs, elements), weightDecay }, caps), { param: buffers.p, grad: buffers.g, momentum_buf: buffers.state[0], lr: buffers.hyper[0], clip: buffers.clip });
    return;
  }
  emit(adamwCase({ ...adamwParams(node.attrs, elements), weightDecay }, caps), {
    param: buffers.p,
    grad: buffers.g,
    m: buffers.state[0],
    v: buffers.state[1],
    lr: buffers.hyper[0],
    step: buffers.hyper[1],
    clip: buffers.clip,
  });
}

/**
 * One dispatch for a proxy batch (compiler/codegen/batches.ts): every member's W_c + W_u(e), read
 * from their slab slots (`wc` and `wu` are the slab buffers), written to the batch buffer `out`.
 */
export function lowerProxyBatch(
  p: { readonly experts: number; readonly matrix: number },
  members: readonly { readonly wc: number; readonly wu: number; readonly out: number }[],
  buffers: { wc: number; wu: number; out: number },
  emit: LoweringContext['emit'],
  caps?: LoweringContext['caps'],
): void {
  // byte offsets → elements
  const at = members.map((m) => ({ wc: m.wc / 4, wu: m.wu / 4, out: m.out / 4 }));
  emit(sdProxyCase(p, caps, at), buffers);
}

/**
 * One split batch (compiler/codegen/batches.ts): sd_split_ap and sd_split_out_pc for all members, G
 * back to back in `g`, U's and V's in the basis buffers, Gc and Gu at the members' slots of the slab
 * buffers `gc` and `gu` (bound once when they are one buffer).
 */
export function lowerSplitBatch(
  p: SdSplitParams,
  batch: SdSplitBatch,
  buffers: { g: number; u: number; v: number; gc: number; gu: number },
  c: LoweringContext,
): void {
  const n = batch.count;
  const { g, u, v } = buffers;
  const a = c.temp(n * p.experts * p.rank * p.cols * 4, 'a');
  const pm = c.temp(n * p.experts * p.rows * p.rank * 4, 'p');
  const cpart = c.temp(n * sdSplitCpartLength(p) * 4, 'cpart');
  c.emit(sdSplitApCase(p, c.caps, batch), { g, u, v, a, p: pm, cpart });
  c.emit(sdSplitOutPcCase(p, c.caps, batch), { g, u, v, a, p: pm, cpart, ...(batch.sharedOut ? { gu: buffers.gu } : { gc: buffers.gc, gu: buffers.gu }) });
}

/**
 * One matmul batch (compiler/codegen/batches.ts): the members' GEMMs as one batched matmul, A
 * broadcast (batch stride 0), B from `b` at `b.stride` bytes per member, C into `c` at `cSlot` bytes
 * per member (matmul batches: B a window of the params slab, C the batch buffer; weight-gradient
 * batches: B the batch buffer, C a window of the gradient slab).
 */
export function lowerMatmulBatch(
  batch: { readonly members: readonly unknown[]; readonly M: number; readonly N: number; readonly K: number; readonly transA: boolean; readonly transB: boolean; readonly b: { readonly stride: number }; readonly cSlot: number; readonly rope?: MatmulParams['rope'] },
  buffers: { a: number; b: number; c: number },
  emit: LoweringContext['emit'],
  caps: LoweringContext['caps'],
): void {
  const { M, N, K, transA, transB } = batch;
  emit(matmulCase({ M, N, K, transA, transB, batch: batch.members.length, aBatchStride: 0, bBatchStride: batch.b.stride / 4, cBatchStride: batch.cSlot / 4, ...(batch.rope ? { rope: batch.rope } : {}) }, caps), buffers);
}

function sgdParams(a: NodeOf<'sgd'>['attrs'], length: number) {
  return { length, momentum: a.momentum, weightDecay: a.weightDecay, output: a.output ?? 'param' } as const;
}

/**
 * The RMSNorm backward on buffers (rmsnorm_grad, and fuse-norm-grad-combine-grad where its kernel cannot run the
 * norm itself): dx (+ addend) and dw in one lane dispatch where the layout allows (rmsnormGradLayout), else two.
 */
function emitRmsnormGrad(c: LoweringContext, p: { rows: number; dim: number; eps: number }, b: { dy: number; x: number; w: number; rstd: number; addend?: number; dx: number; dw: number }): void {
  const addend = b.addend !== undefined;
  // dy4, x4: the fused lane kernel's vec4 views of dy and x (the same buffers, read only).
  const io = { dy: b.dy, x: b.x, w: b.w, ...(addend ? { addend: b.addend } : {}), rstd: b.rstd, dx: b.dx, dw: b.dw, dy4: b.dy, x4: b.x };
  if (rmsnormGradLayout(c.caps, p.dim) === 'fused-lane') {
    c.emit(rmsnormBackwardDwCase({ ...p, addend }, c.caps), io);
    return;
  }
  c.emit(rmsnormBackwardCase({ ...p, addend }, c.caps), io);
  c.emit(rmsnormWeightGradCase(p, c.caps), io);
}

/**
 * A node that writes rows and RMS-normalises them (fuse-combine-norm, fuse-embedding-norm: outputs
 * out, y, rstd) on a layout whose kernel cannot: the rmsnorm kernel of out, weight operand `weight`.
 */
function emitRowNormAfter(c: LoweringContext, rows: number, dim: number, eps: number, weight: number): void {
  emitRmsnorm(c, rows, dim, eps, { x: c.output(0), w: c.input(weight), y: c.output(1), rstd: c.output(2) });
}

/** The rmsnorm kernel on buffers: what a norm fusion runs where its kernel cannot normalise itself. */
function emitRmsnorm(c: LoweringContext, rows: number, dim: number, eps: number, io: { x: number; w: number; y: number; rstd: number }): void {
  c.emit(rmsnormCase({ rows, dim, eps }, c.caps), io);
}

/**
 * The LM head with cross-entropy, chunk by chunk over the tokens (compiler/kernels/lm-head-xent.ts):
 * per chunk of n rows, logits [n,V] = h_c · W into one scratch buffer, per-row loss (and, with a
 * gradient, dlogits written over the logits), then dh_c = G · Wᵀ and dW (+)= h_cᵀ · G (Gᵀ · h_c
 * for the tied [V,D] weight). The batch-wide scale dMean / count is computed once up front and
 * the mean over the rows once at the end. Buffers at or below the chunk budget: one chunk and no
 * views. The whole logits never exist, so the largest buffer is min(T, chunk)·V floats.
 */
function emitLmHeadXent(
  c: LoweringContext,
  transW: boolean,
  io: { h: number; w: number; targets: number; rows: number; mean?: number; grad?: { dMean: number; dh: number; dw: number } },
  hType: TensorType,
  wType: TensorType,
): void {
  const [T, D] = hType.shape;
  const V = wType.shape[transW ? 0 : 1];
  const limit = Math.min(c.caps.maxStorageBufferBindingSize, c.caps.maxBufferSize);
  const chunk = lmHeadChunkRows(T, V, limit);
  if (chunk === null) {
    throw new BufferLimitError(`buffer 'logits' of the LM head: a chunk of 64 rows of ${V} floats (${((64 * V * 4) / 2 ** 20).toFixed(1)} MiB) is above the storage binding limit of ${(limit / 2 ** 20).toFixed(1)} MiB`);
  }
  const logits = c.temp(chunk * V * 4, 'logits_chunk');
  const g = io.grad;
  const scale = g ? c.temp(4, 'scale') : -1;
  if (g) c.emit(lmHeadXentScaleCase({ rows: T, vocab: V }, c.caps), { targets: io.targets, dMean: g.dMean, scale });
  for (let r0 = 0; r0 < T; r0 += chunk) {
    const n = Math.min(chunk, T - r0);
    const slice = (id: number, width: number, name: string): number => (n === T ? id : c.view(id, r0 * width * 4, n * width * 4, `${name}[${r0}:${r0 + n}]`));
    const hc = slice(io.h, D, 'h');
    c.emit(matmulCase({ M: n, N: V, K: D, transB: transW }, c.caps), { a: hc, b: io.w, c: logits });
    c.emit(lmHeadXentCase({ rows: n, vocab: V, withGrad: !!g }, c.caps), { logits, targets: slice(io.targets, 1, 'targets'), ...(g ? { scale } : {}), loss: slice(io.rows, 1, 'loss') });
    if (!g) continue;
    c.emit(matmulCase({ M: n, N: D, K: V, transB: !transW }, c.caps), { a: logits, b: io.w, c: slice(g.dh, D, 'dh') });
    const accumulate = r0 > 0;
    if (transW) c.emit(matmulCase({ M: V, N: D, K: n, transA: true, accumulate }, c.caps), { a: logits, b: hc, c: g.dw });
    else c.emit(matmulCase({ M: D, N: V, K: n, transA: true, accumulate }, c.caps), { a: hc, b: logits, c: g.dw });
  }
  if (io.mean !== undefined) c.emit(maskedMeanCase({ rows: T, vocab: V }, c.caps), { values: io.rows, targets: io.targets, mean: io.mean });
}

/** A product of RMS-normalised rows (fuse-norm-matmul): in the GEMM's prologue where it can, else the rmsnorm kernel first. */
function emitNormProduct(c: LoweringContext, p: MatmulParams, norm: { eps: number }, io: { x: number; b: number; w: number; c: number; y: number; rstd: number }): void {
  if (matmulNormInKernel({ ...p, norm }, c.caps)) {
    c.emit(matmulCase({ ...p, norm }, c.caps), { a: io.x, b: io.b, norm_w: io.w, c: io.c, norm_y: io.y, rstd: io.rstd });
    return;
  }
  emitRmsnorm(c, p.M, p.K, norm.eps, { x: io.x, w: io.w, y: io.y, rstd: io.rstd });
  c.emit(matmulCase(p, c.caps), { a: io.y, b: io.b, c: io.c });
}

export const KERNEL_LOWERINGS: { [K in OpName]: Lowering<K> } = {
  input: leaf('input'),
  param: leaf('param'),
  const: leaf('const'),
  reshape: leaf('reshape'),
  unary: (n, c) => {
    c.emit(elementwiseCase({ op: n.attrs.fn, aShape: c.inputType(0).shape }, c.caps), { a: c.input(0), out: c.output(0) });
  },
  binary: (n, c) => {
    c.emit(elementwiseCase({ op: n.attrs.fn, aShape: c.inputType(0).shape, bShape: c.inputType(1).shape }, c.caps), { a: c.input(0), b: c.input(1), out: c.output(0) });
  },
  reduce: (n, c) => {
    c.emit(reduceCase({ op: n.attrs.fn, shape: c.inputType(0).shape, axis: n.attrs.axis, keepDims: n.attrs.keepDims }, c.caps), { x: c.input(0), out: c.output(0) });
  },
  matmul: (n, c) => {
    const [a, b] = [c.inputType(0).shape, c.inputType(1).shape];
    const [M, K] = n.attrs.transA ? [a[1], a[0]] : [a[0], a[1]];
    const N = n.attrs.transB ? b[0] : b[1];
    const p = { M, N, K, transA: n.attrs.transA, transB: n.attrs.transB };
    const norm = n.attrs.norm;
    if (norm) {
      emitNormProduct(c, p, norm, { x: c.input(0), b: c.input(1), w: c.input(2), c: c.output(0), y: c.output(1), rstd: c.output(2) });
      return;
    }
    const rope = n.attrs.rope;
    // a fused rope (fuse-matmul-rope): in the GEMM's epilogue where it can, else in place after it
    const inKernel = rope !== undefined && matmulRopeInKernel({ ...p, rope }, c.caps);
    c.emit(matmulCase({ ...p, ...(inKernel ? { rope } : {}) }, c.caps), { a: c.input(0), b: c.input(1), c: c.output(0) });
    if (rope && !inKernel) c.emit(ropeCase({ tokens: M, seqLen: rope.seqLen, heads: N / rope.headDim, headDim: rope.headDim, theta: rope.theta, inverse: false, inPlace: true }, c.caps), { x: c.output(0) });
  },
  matmul_add: (n, c) => {
    // The planner hands over c's own buffer when c dies here (the GEMM accumulates into it);
    // otherwise the GEMM reads c as its addend and writes the sum elsewhere (no copy first).
    const [a, b] = [c.inputType(0).shape, c.inputType(1).shape];
    const [M, K] = n.attrs.transA ? [a[1], a[0]] : [a[0], a[1]];
    const p = { M, N: n.attrs.transB ? b[0] : b[1], K, transA: n.attrs.transA, transB: n.attrs.transB };
    if (c.output(0) === c.input(2)) c.emit(matmulCase({ ...p, accumulate: true }, c.caps), { a: c.input(0), b: c.input(1), c: c.output(0) });
    else c.emit(matmulCase({ ...p, addend: true }, c.caps), { a: c.input(0), b: c.input(1), d: c.input(2), c: c.output(0) });
  },
  embedding: (n, c) => {
    // With `norm` (fuse-embedding-norm) the rows are RMS-normalised by the lookup kernel where it can,
    // else by the rmsnorm kernel after it. With `sort` (fuse-embedding-sort) the ids' sort for the
    // backward comes out last: run by the lookup kernel's first workgroup where it can, else the sort
    // kernel after the lookup.
    const [vocab, dim] = c.inputType(0).shape;
    const p = { tokens: c.inputType(1).shape[0], vocab, dim };
    const io = { table: c.input(0), ids: c.input(1), out: c.output(0) };
    const norm = n.attrs.norm;
    const sortAt = norm ? 3 : 1;
    const sortIo = { sortedTokens: c.output(sortAt), rowStart: c.output(sortAt + 1) };
    const sortInKernel = n.attrs.sort === true && embeddingSortInKernel(c.caps);
    const sorted = sortInKernel ? { p: { sort: true }, io: sortIo } : { p: {}, io: {} };
    if (norm && embeddingNormInKernel(p, c.caps)) {
      c.emit(embeddingCase({ ...p, norm, ...sorted.p }, c.caps), { ...io, norm_w: c.input(2), norm_y: c.output(1), rstd: c.output(2), ...sorted.io });
    } else {
      c.emit(embeddingCase({ ...p, ...sorted.p }, c.caps), { ...io, ...sorted.io });
      if (norm) emitRowNormAfter(c, p.tokens, dim, norm.eps, 2);
    }
    if (n.attrs.sort && !sortInKernel) c.emit(embeddingSortCase({ tokens: p.tokens, vocab }, c.caps), { ids: c.input(1), ...sortIo });
  },
  embedding_grad: (n, c) => {
    const [tokens, dim] = c.inputType(0).shape;
    const p = { tokens, vocab: n.attrs.vocab, dim };
    // The ids' sort: from the lookup (fuse-embedding-sort: operands 2, 3), else sorted here first.
    if (n.inputs.length === 4) {
      c.emit(embeddingBackwardCase(p, c.caps), { dOut: c.input(0), sortedTokens: c.input(2), rowStart: c.input(3), dTable: c.output(0) });
      return;
    }
    const sortedTokens = c.temp(tokens * 4, 'sorted_tokens');
    const rowStart = c.temp((n.attrs.vocab + 1) * 4, 'row_start');
    c.emit(embeddingSortCase({ tokens, vocab: n.attrs.vocab }, c.caps), { ids: c.input(1), sortedTokens, rowStart });
    c.emit(embeddingBackwardCase(p, c.caps), { dOut: c.input(0), sortedTokens, rowStart, dTable: c.output(0) });
  },
  rmsnorm: (n, c) => {
    const [rows, dim] = c.inputType(0).shape;
    c.emit(rmsnormCase({ rows, dim, eps: n.attrs.eps }, c.caps), { x: c.input(0), w: c.input(1), y: c.output(0), rstd: c.output(1) });
  },
  rmsnorm_grad: (n, c) => {
    // Inputs: dy, x, w, rstd (kept from the forward), and an optional addend that dx is added to.
    const [rows, dim] = c.inputType(1).shape;
    const addend = n.inputs.length === 5 ? c.input(4) : undefined;
    emitRmsnormGrad(c, { rows, dim, eps: n.attrs.eps }, { dy: c.input(0), x: c.input(1), w: c.input(2), rstd: c.input(3), addend, dx: c.output(0), dw: c.output(1) });
  },
  layernorm: (n, c) => {
    const [rows, dim] = c.inputType(0).shape;
    c.emit(layernormCase({ rows, dim, eps: n.attrs.eps }, c.caps), { x: c.input(0), w: c.input(1), b: c.input(2), y: c.output(0), mean: c.output(1), rstd: c.output(2) });
  },
  layernorm_grad: (n, c) => {
    // Inputs: dy, x, w, mean, rstd (the forward's statistics).
    const [rows, dim] = c.inputType(1).shape;
    const p = { rows, dim, eps: n.attrs.eps };
    const stats = { mean: c.input(3), rstd: c.input(4) };
    c.emit(layernormBackwardCase(p, c.caps), { dy: c.input(0), x: c.input(1), w: c.input(2), ...stats, dx: c.output(0) });
    c.emit(layernormParamGradCase(p, c.caps), { dy: c.input(0), x: c.input(1), ...stats, dw: c.output(1), db: c.output(2) });
  },
  rope: (n, c) => {
    // The params are the node's attrs (pairHeads with a second operand: fuse-rope-pair) and the tokens.
    const second: Record<string, number> = n.attrs.pairHeads !== undefined ? { x2: c.input(1), out2: c.output(1) } : {};
    c.emit(ropeCase({ tokens: c.inputType(0).shape[0], ...n.attrs }, c.caps), { x: c.input(0), out: c.output(0), ...second });
  },
  attention: (n, c) => {
    const a = n.attrs;
    const p = { tokens: c.inputType(0).shape[0], seqLen: a.seqLen, heads: a.heads, kvHeads: a.kvHeads, headDim: a.headDim };
    c.emit(attentionCase(p, c.caps), { q: c.input(0), k: c.input(1), v: c.input(2), out: c.output(0), lse: c.output(1) });
  },
  attention_grad: (n, c) => {
    // Inputs: dOut, q, k, v, out, lse. No atomics: dq and (dk, dv) are separate loops (one or two dispatches).
    const a = n.attrs;
    const p = { tokens: c.inputType(1).shape[0], seqLen: a.seqLen, heads: a.heads, kvHeads: a.kvHeads, headDim: a.headDim };
    // dq and dk rotated back (fuse-attention-grad-rope): by the row kernel as it stores them where it can, else in place after.
    const inKernel = a.ropeTheta !== undefined && attentionGradRopeInKernel(p, c.caps);
    const kernels = attentionBackwardCases(p, c.caps, inKernel ? a.ropeTheta : undefined);
    // the row variant's D (one dispatch writes it, the next reads it): as long as the programs' dsum binding
    const dsum = kernels.flatMap((k) => k.program.bindings).find((b) => b.name === 'dsum');
    const bindings = { dOut: c.input(0), q: c.input(1), k: c.input(2), v: c.input(3), out: c.input(4), lse: c.input(5), dq: c.output(0), dk: c.output(1), dv: c.output(2), ...(dsum ? { dsum: c.temp(dsum.length * 4, 'dsum') } : {}) };
    for (const kernel of kernels) c.emit(kernel, bindings);
    if (a.ropeTheta !== undefined && !inKernel) {
      const rope = { tokens: p.tokens, seqLen: a.seqLen, headDim: a.headDim, theta: a.ropeTheta, inverse: true, inPlace: true };
      c.emit(ropeCase({ ...rope, heads: a.heads }, c.caps), { x: c.output(0) });
      c.emit(ropeCase({ ...rope, heads: a.kvHeads }, c.caps), { x: c.output(1) });
    }
  },
  swiglu: (_n, c) => {
    const [tokens, hidden] = rowsCols(c.inputType(0));
    c.emit(swigluCase({ tokens, hidden, packed: false }, c.caps), { g: c.input(0), u: c.input(1), h: c.output(0) });
  },
  swiglu_grad: (_n, c) => {
    const [tokens, hidden] = rowsCols(c.inputType(1));
    c.emit(swigluBackwardCase({ tokens, hidden, packed: false }, c.caps), { dh: c.input(0), g: c.input(1), u: c.input(2), dg: c.output(0), du: c.output(1) });
  },
  geglu: (_n, c) => {
    c.emit(activationCase({ length: numel(c.inputType(0)), fn: 'gelu', gated: true }, c.caps), { g: c.input(0), u: c.input(1), h: c.output(0) });
  },
  geglu_grad: (_n, c) => {
    const p = { length: numel(c.inputType(1)), fn: 'gelu', gated: true } as const;
    c.emit(activationBackwardCase(p, c.caps), { dh: c.input(0), g: c.input(1), u: c.input(2), dg: c.output(0), du: c.output(1) });
  },
  activation: (n, c) => {
    c.emit(activationCase({ length: numel(c.inputType(0)), fn: n.attrs.fn, gated: false }, c.caps), { x: c.input(0), h: c.output(0) });
  },
  activation_grad: (n, c) => {
    c.emit(activationBackwardCase({ length: numel(c.inputType(1)), fn: n.attrs.fn, gated: false }, c.caps), { dh: c.input(0), x: c.input(1), dx: c.output(0) });
  },
  router: (n, c) => {
    const at = routerOperands(n.attrs, n.inputs.map((_, i) => i));
    const bias = at.bias !== undefined;
    const routed = { ...(bias ? { bias: c.input(at.bias!) } : {}), topk_idx: c.output(0), topk_w: c.output(1), probs: c.output(2) };
    const project = n.attrs.project;
    if (!project) {
      const [tokens, experts] = c.inputType(at.logits!).shape;
      c.emit(routerCase(routerParams(n.attrs, tokens, experts, bias), c.caps), { logits: c.input(at.logits!), ...routed });
      return;
    }
    // fuse-router-logits: the router kernel takes the product (and the rmsnorm) where it can; else the
    // rmsnorm kernel runs first, and else the product too, into the logits output, routed after.
    const [tokens, dim] = c.inputType(at.x!).shape;
    const experts = c.inputType(at.weight!).shape[1];
    const p = routerParams(n.attrs, tokens, experts, bias);
    const io = { x: c.input(at.x!), w_r: c.input(at.weight!), logits: c.output(3), ...routed };
    const norm = project.norm;
    const normIo = norm ? { norm_w: c.input(at.normWeight!), norm_y: c.output(4), rstd: c.output(5) } : undefined;
    if (routerProjectInKernel(p, { dim, norm }, c.caps)) {
      c.emit(routerCase({ ...p, project: { dim, norm } }, c.caps), { ...io, ...normIo });
      return;
    }
    if (norm && routerProjectInKernel(p, { dim }, c.caps)) {
      emitRmsnorm(c, tokens, dim, norm.eps, { x: io.x, w: normIo!.norm_w, y: normIo!.norm_y, rstd: normIo!.rstd });
      c.emit(routerCase({ ...p, project: { dim } }, c.caps), { ...io, x: normIo!.norm_y });
      return;
    }
    const product = { M: tokens, N: experts, K: dim, transA: false, transB: false };
    if (norm) emitNormProduct(c, product, norm, { x: io.x, b: io.w_r, w: normIo!.norm_w, c: io.logits, y: normIo!.norm_y, rstd: normIo!.rstd });
    else c.emit(matmulCase(product, c.caps), { a: io.x, b: io.w_r, c: io.logits });
    c.emit(routerCase(p, c.caps), { logits: io.logits, ...routed });
  },
  router_bias_update: (n, c) => {
    // In place: the planner gives the result the bias param's own buffer (plan.ts).
    const [experts] = c.inputType(0).shape;
    const [tokens, topK] = c.inputType(1).shape;
    c.emit(routerBiasUpdateCase({ experts, assignments: tokens * topK, rate: n.attrs.rate }), { topk_idx: c.input(1), bias: c.output(0) });
  },
  router_grad: (n, c) => {
    // Inputs: dW, probs (the forward's), idx, dProbs.
    const [tokens, experts] = c.inputType(1).shape;
    const p = routerParams(n.attrs, tokens, experts);
    c.emit(routerBackwardCase({ ...p, dProbs: 'full' }), { probs: c.input(1), topk_idx: c.input(2), d_topk_w: c.input(0), d_probs: c.input(3), d_logits: c.output(0) });
  },
  moe_dispatch: (n, c) => {
    // Count, scan, scatter (compiler/kernels/moe-permute.ts): O(T·k + E) work, nothing read back;
    // CPU adapters do small routings in one serial dispatch (moePermuteVariant).
    const [tokens, dim] = c.inputType(0).shape;
    const { experts, topK, capacityFactor = 0 } = n.attrs;
    const p = { tokens, experts, topK, ...(capacityFactor > 0 ? { capacityFactor } : {}) };
    const offsets = c.temp((experts + 1) * 4, 'offsets');
    // With `aux` (fuse-aux-loss-dispatch): the serial permutation computes the load-balance loss from
    // its own histogram where the counts are this batch's (no global-batch balancing), else the
    // aux_loss kernel runs after the permutation, as the unfused node did.
    const aux = n.attrs.aux;
    const serial = moePermuteVariant(p, c.caps) === 'serial';
    const auxInPermute = aux !== undefined && serial && c.auxCounts === undefined;
    if (serial) {
      const cursor = c.temp(experts * 4, 'cursor');
      const io = { topk_idx: c.input(1), cursor, counts: c.output(2), offsets, perm_row: c.output(1), src_token: c.output(3), src_slot: c.output(4) };
      if (auxInPermute) c.emit(moePermuteSerialCase(p, { coef: aux.coef, lanes: auxLossWorkgroup(c.caps) }), { ...io, probs: c.input(2), d_loss: c.input(3), loss_total: c.output(5), d_x: c.output(6) });
      else c.emit(moePermuteSerialCase(p), io);
    } else {
      const stages = moePermuteCases(p);
      const blockCounts = c.temp(experts * permuteBlocks(p).blocks * 4, 'block_counts');
      c.emit(stages.count, { topk_idx: c.input(1), block_counts: blockCounts });
      c.emit(stages.scan, { block_counts: blockCounts, counts: c.output(2), offsets });
      c.emit(stages.scatter, { topk_idx: c.input(1), block_counts: blockCounts, offsets, perm_row: c.output(1), src_token: c.output(3), src_slot: c.output(4) });
    }
    if (aux && !auxInPermute) emitAux(aux, c, { x: 2, idx: 1, total: c.output(5), grad: { dLoss: c.input(3), dx: c.output(6) } });
    c.emit(moeGatherCase({ tokens, topK, dim }, c.caps), { x: c.input(0), src_token: c.output(3), xs: c.output(0) });
  },
  moe_gather_grad: (n, c) => {
    // dx[t] = Σ_j dXs[permRow[t·k+j]] (+ dXs2[…], fuse-gather-grad-add): the combine kernel without weights.
    // With `project` (fuse-gather-grad-matmul) + a · bᵀ from the last two operands: in the row loop
    // where it can, else by the matmul accumulating into the un-permuted result, as before the fusion.
    const [rows, dim] = c.inputType(0).shape;
    const at = gatherGradOperands(n.attrs, n.inputs.map((_, i) => i));
    const second = at.dXs2 !== undefined;
    const p = { tokens: rows / n.attrs.topK, topK: n.attrs.topK, dim, weighted: false, addend: false, gatedShared: false, second };
    const io = { y: c.input(at.dXs), perm_row: c.input(at.permRow), ...(second ? { y2: c.input(at.dXs2!) } : {}), out: c.output(0) };
    if (!at.project) {
      c.emit(moeCombineCase(p, c.caps), io);
      return;
    }
    const { a, b } = at.project;
    const experts = c.inputType(a).shape[1];
    if (moeGatherProjectInKernel({ ...p, experts }, c.caps)) {
      c.emit(moeCombineCase({ ...p, project: { experts } }, c.caps), { ...io, proj_a: c.input(a), proj_b: c.input(b) });
      return;
    }
    c.emit(moeCombineCase(p, c.caps), io);
    c.emit(matmulCase({ M: p.tokens, N: dim, K: experts, transA: false, transB: true, accumulate: true }, c.caps), { a: c.input(a), b: c.input(b), c: c.output(0) });
  },
  grouped_matmul: (n, c) => {
    const p = groupedParams(n.attrs.experts, n.attrs.sharedWeight, c);
    c.emit(groupedMatmulCase(p, c.caps), { a: c.input(0), counts: c.input(n.inputs.length - 1), ...groupedWeights(n.attrs.sharedWeight, c) });
  },
  grouped_matmul_grad_x: (n, c) => {
    // dXs = dY · W[e]ᵀ: the forward GEMM with the weight layout flipped. With `addend` (fuse-grad-x-add,
    // the last operand) the product is added to it: in place when the planner handed over its buffer.
    const forward = groupedParams(n.attrs.experts, n.attrs.sharedWeight, c);
    const backward = groupedMatmulBackwardParams(forward);
    const at = gradXOperands(n.attrs, n.inputs.map((_, i) => i));
    const io = { a: c.input(at.dY), counts: c.input(at.counts), ...groupedWeights(n.attrs.sharedWeight, c) };
    if (at.addend === undefined) c.emit(groupedMatmulCase(backward, c.caps), io);
    else if (c.output(0) === c.input(at.addend)) c.emit(groupedMatmulCase({ ...backward, sum: 'accumulate' }, c.caps), io);
    else c.emit(groupedMatmulCase({ ...backward, sum: 'addend' }, c.caps), { ...io, d: c.input(at.addend) });
  },
  grouped_matmul_swiglu: (n, c) => {
    // grouped_matmul's operands, then g: writes u (the product) and h = silu(g) ⊙ u (fuse-swiglu-gemm)
    const p = { ...groupedParams(n.attrs.experts, n.attrs.sharedWeight, c), epilogue: 'swiglu' as const };
    const last = n.inputs.length - 1;
    c.emit(groupedMatmulCase(p, c.caps), { a: c.input(0), counts: c.input(last - 1), ...groupedWeights(n.attrs.sharedWeight, c), g: c.input(last), h: c.output(1) });
  },
  grouped_matmul_grad_x_swiglu: (n, c) => {
    // grouped_matmul_grad_x's operands, then g, u: dh = dY · W[e]ᵀ turned into (dg, du) in the epilogue
    const forward = groupedParams(n.attrs.experts, n.attrs.sharedWeight, c);
    const last = n.inputs.length - 1;
    c.emit(groupedMatmulCase(groupedMatmulBackwardParams(forward, 'swiglu_grad'), c.caps), {
      a: c.input(0),
      counts: c.input(last - 2),
      ...groupedWeights(n.attrs.sharedWeight, c),
      g: c.input(last - 1),
      u: c.input(last),
      du: c.output(1),
    });
  },
  grouped_matmul_grad_w: (n, c) => {
    const [rows, inDim] = c.inputType(0).shape;
    const outDim = c.inputType(1).shape[1];
    c.emit(groupedMatmulDwCase({ rows, experts: n.attrs.experts, inDim, outDim, weightLayout: 'io' }, c.caps), { a: c.input(0), g: c.input(1), counts: c.input(2), dw: c.output(0) });
  },
  moe_combine: (n, c) => {
    // Inputs: ys, permRow, weights, an optional addend (the residual stream: fuse-combine-add) and,
    // with `norm` (fuse-combine-norm), the RMSNorm weight: normalised in the combine kernel where it
    // can, else by the rmsnorm kernel after it.
    const [rows, dim] = c.inputType(0).shape;
    const addend = n.inputs.length >= 4;
    const p = { tokens: rows / n.attrs.topK, topK: n.attrs.topK, dim, weighted: true, addend, gatedShared: false };
    const io = { y: c.input(0), perm_row: c.input(1), topk_w: c.input(2), ...(addend ? { addend: c.input(3) } : {}), out: c.output(0) };
    const norm = n.attrs.norm;
    if (norm && moeCombineNormInKernel(p, c.caps)) {
      c.emit(moeCombineCase({ ...p, norm }, c.caps), { ...io, norm_w: c.input(4), norm_y: c.output(1), rstd: c.output(2) });
      return;
    }
    c.emit(moeCombineCase(p, c.caps), io);
    if (norm) emitRowNormAfter(c, p.tokens, dim, norm.eps, 4);
  },
  moe_combine_grad: (n, c) => {
    // Inputs: dOut, ys, permRow, weights, srcToken, srcSlot (the dispatch's row → assignment map); with
    // `router` (fuse-combine-router-grad) then probs, idx, dProbs: the router's backward from dWeights,
    // in the combine backward's rows where it can, else by router_backward after it. With `normGrad`
    // (fuse-norm-grad-combine-grad) input 0 is a norm's dy, x, w, rstd (and addend) come last and d_out is that
    // norm's dx (the last two outputs dx, dw): in the combine backward's token rows where it can, else the norm
    // backward's kernels run first and the combine backward reads their dx.
    const [rows, dim] = c.inputType(1).shape;
    const tokens = rows / n.attrs.topK;
    const p = { tokens, topK: n.attrs.topK, dim, gatedShared: false };
    const router = n.attrs.router;
    const normGrad = n.attrs.normGrad;
    const routerIo: Record<string, number> = router ? { probs: c.input(6), topk_idx: c.input(7), d_probs: c.input(8), d_logits: c.output(2) } : {};
    const routerKernel = router && { experts: c.inputType(6).shape[1], scoring: router.score, normalize: router.normalize, scale: router.scale };
    let dOut = c.input(0);
    if (normGrad) {
      const at = router ? 9 : 6;
      const outAt = router ? 3 : 2;
      const normIo = { dy: c.input(0), x: c.input(at), w: c.input(at + 1), rstd: c.input(at + 2), dx: c.output(outAt), dw: c.output(outAt + 1) };
      const addend = normGrad.addend ? c.input(at + 3) : undefined;
      // the kernel that runs the norm in its rows also runs the router's backward (both need the rows variant)
      if (moeCombineNormGradInKernel(p, c.caps)) {
        c.emit(moeCombineBackwardCase({ ...p, router: routerKernel, normGrad: { eps: normGrad.eps, addend: normGrad.addend } }, c.caps), {
          ...normIo,
          ...(addend !== undefined ? { addend } : {}),
          y: c.input(1),
          topk_w: c.input(3),
          perm_row: c.input(2),
          src_token: c.input(4),
          d_y: c.output(0),
          d_topk_w: c.output(1),
          ...routerIo,
        });
        return;
      }
      emitRmsnormGrad(c, { rows: tokens, dim, eps: normGrad.eps }, { ...normIo, addend });
      dOut = normIo.dx;
    }
    const io = { d_out: dOut, y: c.input(1), topk_w: c.input(3), perm_row: c.input(2), src_token: c.input(4), src_slot: c.input(5), d_y: c.output(0), d_topk_w: c.output(1) };
    if (!router) {
      c.emit(moeCombineBackwardCase(p, c.caps), io);
      return;
    }
    if (moeCombineRouterGradInKernel(p, c.caps)) {
      c.emit(moeCombineBackwardCase({ ...p, router: routerKernel }, c.caps), { ...io, ...routerIo });
      return;
    }
    c.emit(moeCombineBackwardCase(p, c.caps), io);
    c.emit(routerBackwardCase({ ...routerParams(router, tokens, routerKernel!.experts), dProbs: 'full' }), { ...routerIo, d_topk_w: c.output(1) });
  },
  aux_loss: (n, c) => {
    // Inputs: x, idx, dLoss when fused with its gradient (fuse-aux-loss), then an addend
    // (fuse-aux-loss-sum): one dispatch writes the loss (balance + z; the other coef is 0), d_x
    // and addend + loss.
    const grad = n.inputs.length >= 3 ? { dLoss: c.input(2), dx: c.output(1) } : undefined;
    const sum = n.inputs.length === 4 ? { addend: c.input(3), out: c.output(2) } : undefined;
    emitAux(n.attrs, c, { x: 0, idx: 1, total: c.output(0), grad, sum });
  },
  aux_loss_grad: (n, c) => {
    // Inputs: dLoss [], x, idx; the kernel scales its gradient by dLoss.
    emitAux(n.attrs, c, { x: 1, idx: 2, grad: { dLoss: c.input(0), dx: c.output(0) } });
  },
  cross_entropy: (_n, c) => {
    const [tokens, vocab] = c.inputType(0).shape;
    c.emit(crossEntropyCase({ tokens, vocab, withGrad: false }, c.caps), { logits: c.input(0), targets: c.input(1), loss: c.output(0) });
    c.emit(maskedMeanCase({ rows: tokens, vocab }, c.caps), { values: c.output(0), targets: c.input(1), mean: c.output(1) });
  },
  cross_entropy_fused: (n, c) => {
    // One row pass for loss and gradient, then the masked mean of the rows. The planner hands the
    // logits' buffer to dlogits when they die here and the kernel can rewrite them (crossEntropyInPlace).
    const [tokens, vocab] = c.inputType(0).shape;
    const io = { logits: c.input(0), targets: c.input(1), gradScale: c.input(2), loss: c.output(0) };
    if (c.output(2) === c.input(0)) c.emit(crossEntropyCase({ tokens, vocab, withGrad: true, inPlace: true }, c.caps), io);
    else c.emit(crossEntropyCase({ tokens, vocab, withGrad: true }, c.caps), { ...io, dlogits: c.output(2) });
    // scalar addends after dMean (fuse-loss-sum): the masked mean also writes the total loss
    const addends = n.inputs.length - 3;
    const sum: Record<string, number> = {};
    for (let i = 0; i < addends; i++) sum[`addend${i}`] = c.input(3 + i);
    if (addends > 0) sum.loss_sum = c.output(3);
    c.emit(maskedMeanCase({ rows: tokens, vocab, addends }, c.caps), { values: c.output(0), targets: c.input(1), mean: c.output(1), ...sum });
  },
  cross_entropy_grad: (_n, c) => {
    // Inputs: dMean (one element: the kernel's gradScale), logits, targets.
    const [tokens, vocab] = c.inputType(1).shape;
    c.emit(crossEntropyCase({ tokens, vocab, withGrad: true }, c.caps), {
      logits: c.input(1),
      targets: c.input(2),
      gradScale: c.input(0),
      loss: c.temp(tokens * 4, 'loss'),
      dlogits: c.output(0),
    });
  },
  lm_head_xent: (n, c) => {
    emitLmHeadXent(c, n.attrs.transW, { h: c.input(0), w: c.input(1), targets: c.input(2), rows: c.output(0), mean: c.output(1) }, c.inputType(0), c.inputType(1));
  },
  lm_head_xent_grad: (n, c) => {
    // Inputs: dMean, h, W, targets; the per-row losses are recomputed into scratch.
    const rows = c.temp(c.inputType(1).shape[0] * 4, 'loss');
    const grad = { dMean: c.input(0), dh: c.output(0), dw: c.output(1) };
    emitLmHeadXent(c, n.attrs.transW, { h: c.input(1), w: c.input(2), targets: c.input(3), rows, grad }, c.inputType(1), c.inputType(2));
  },
  lm_head_xent_fused: (n, c) => {
    const grad = { dMean: c.input(3), dh: c.output(2), dw: c.output(3) };
    emitLmHeadXent(c, n.attrs.transW, { h: c.input(0), w: c.input(1), targets: c.input(2), rows: c.output(0), mean: c.output(1), grad }, c.inputType(0), c.inputType(1));
  },
  expert_weight: (_n, c) => {
    // Materialises every proxy W_c + W_u(i) once (sd-proxy: contiguous, vec4 when K·N allows; the
    // generic broadcast add it replaced was ~0.2 ms per demo matrix on lavapipe); the alternative,
    // `fuse-expert-weight`, sums them in every grouped GEMM's weight load instead.
    const [E, K, N] = c.inputType(1).shape;
    c.emit(sdProxyCase({ experts: E, matrix: K * N }, c.caps), { wc: c.input(0), wu: c.input(1), out: c.output(0) });
  },
  sd_split_grad: (n, c) => {
    // SD-MoE gradient split in three dispatches (compiler/kernels/sd-split.ts; two on CPU adapters, sdSplitPair):
    //   A = Uᵀ G(e);  B = (G(e) − U A) V;  Gu(e) = G(e) − U A − B Vᵀ = (I−P_U) G(e) (I−P_V),
    //   Gc = Σ_e (U A + B Vᵀ) (or the mean over experts).
    // It was a seven-dispatch chain (copy, four batched rank-r GEMMs, subtract, reduce over an
    // E×K×N temporary); `npm run bench -- sd-cost` measured the difference (docs/benchmarks.md).
    const [E, K, N] = c.inputType(0).shape;
    const p = { experts: E, rows: K, cols: N, rank: n.attrs.rank, aggregate: n.attrs.aggregate };
    const [G, U, V] = [c.input(0), c.input(1), c.input(2)];
    const A = c.temp(E * p.rank * N * 4, 'a');
    if (sdSplitPair(p, c.caps)) {
      // CPU adapters: two dispatches, A with P = G V (and C = Uᵀ P in row-group parts), then out with B = P − U C.
      const P = c.temp(E * K * p.rank * 4, 'p');
      const C = c.temp(sdSplitCpartLength(p) * 4, 'cpart');
      c.emit(sdSplitApCase(p, c.caps), { g: G, u: U, v: V, a: A, p: P, cpart: C });
      c.emit(sdSplitOutPcCase(p, c.caps), { g: G, u: U, v: V, a: A, p: P, cpart: C, gc: c.output(0), gu: c.output(1) });
      return;
    }
    // (the `rows` variant on CPU adapters whose shape the pair does not take)
    const B = c.temp(E * K * p.rank * 4, 'b');
    emitSplitChain(p, c, { g: G, u: U, v: V, a: A, b: B }, { gc: c.output(0), gu: c.output(1) });
  },
  sd_project_update: (n, c) => {
    // SD-MoE `project update` with the split's three kernels per step (compiler/kernels/sd-split.ts;
    // W_c and W_u are updated in place: the planner hands their buffers over as the outputs):
    //   Δ_c as one "expert": A = Uᵀ Δ_c, B = (Δ_c − U A) V, W_c += U A + B Vᵀ = Δ_c − D(Δ_c)
    //   Δ_u:                  A = Uᵀ Δ_u(e), B = …,        W_u(e) += Δ_u(e) − U A − B Vᵀ = D(Δ_u(e))
    // 6 dispatches instead of the 10 of nine rank-r matmuls and an accumulate (docs/benchmarks.md);
    // on CPU adapters all of it in one (sd_project_fused: a workgroup per matrix, Δ_c and each Δ_u(e)).
    const [E, K, N] = c.inputType(1).shape;
    const r = n.attrs.rank;
    const [Wc, Wu, Dc, Du, U, V] = [c.output(0), c.output(1), c.input(2), c.input(3), c.input(4), c.input(5)];
    const pu = { experts: E, rows: K, cols: N, rank: r, aggregate: 'sum' as const };
    if (sdProjectFused(pu, c.caps)) {
      c.emit(sdProjectFusedCase(pu, c.caps), { dc: Dc, du: Du, u: U, v: V, wc: Wc, wu: Wu });
      return;
    }
    const A = c.temp(E * r * N * 4, 'a');
    const B = c.temp(E * K * r * 4, 'b');
    emitSplitChain({ ...pu, experts: 1 }, c, { g: Dc, u: U, v: V, a: A, b: B }, { gc: Wc }, { common: 'add', unique: 'none' });
    emitSplitChain(pu, c, { g: Du, u: U, v: V, a: A, b: B }, { gu: Wu }, { common: 'none', unique: 'add' });
  },
  grad_norm: (n, c) => {
    // Sum of squares of every gradient into one partials buffer, then one finalize pass. Gradients
    // sharing a slab are reduced by a single dispatch over the slab's span.
    const ranges = new Map<number, { start: number; end: number; bufferElements: number }>();
    n.inputs.forEach((_, i) => {
      const s = c.storage(c.input(i));
      const start = s.offset / 4;
      const end = start + numel(c.inputType(i));
      const r = ranges.get(s.of);
      if (r) {
        r.start = Math.min(r.start, start);
        r.end = Math.max(r.end, end);
      } else {
        ranges.set(s.of, { start, end, bufferElements: c.storage(s.of).bytes / 4 });
      }
    });
    const slots = [...ranges.values()].reduce((sum, r) => sum + gradNormPartialSlots(r.end - r.start, c.caps), 0);
    const partials = c.temp(slots * 4, 'partials');
    let offset = 0;
    for (const [buffer, r] of ranges) {
      const p = { bufferLength: r.bufferElements, elementOffset: r.start, length: r.end - r.start, partialOffset: offset, partialsLength: slots };
      c.emit(gradNormPartialsCase(p, c.caps), { grad: buffer, partials });
      offset += gradNormPartialSlots(p.length, c.caps);
    }
    c.emit(gradNormFinalizeCase({ partialsLength: slots, maxNorm: n.attrs.maxNorm > 0 ? n.attrs.maxNorm : undefined }, c.caps), { partials, clip: c.output(0) });
  },
  adamw: (n, c) => {
    const length = numel(c.inputType(0));
    c.emit(adamwCase(adamwParams(n.attrs, length), c.caps), {
      param: c.input(0),
      grad: c.input(1),
      m: c.input(2),
      v: c.input(3),
      lr: c.input(4),
      step: c.input(5),
      clip: c.input(6),
    });
  },
  sgd: (n, c) => {
    const length = numel(c.inputType(0));
    c.emit(sgdCase(sgdParams(n.attrs, length), c.caps), { param: c.input(0), grad: c.input(1), momentum_buf: c.input(2), lr: c.input(3), clip: c.input(4) });
  },
};

