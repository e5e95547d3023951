// Node factories: the only way IR nodes come to exist. Each call checks operand types through
// inferTypes and returns a frozen node, so an ill-typed graph cannot be built. Helpers return the
// node's Value(s) for ergonomic graph construction.
import { inferTypes } from './infer.ts';
import type { ActivationFn, ElementwiseBinary, ElementwiseUnary, MatmulRope, Node, NodeOf, OpAttrs, OpName, ParamInit, ParamRole, Value, DType } from './types.ts';
import { typeOf } from './types.ts';

function deepFreeze<T>(x: T): T {
  if (x && typeof x === 'object' && !Object.isFrozen(x)) {
    Object.freeze(x);
    for (const v of Object.values(x)) deepFreeze(v);
  }
  return x;
}

/** Builds any node; the typed helpers below are thin wrappers. */
export function makeNode<K extends OpName>(op: K, inputs: readonly Value[], attrs: OpAttrs[K]): NodeOf<K> {
  const types = inferTypes(op, inputs.map(typeOf), attrs);
  const frozenAttrs = deepFreeze(structuredClone(attrs));
  const node = { op, inputs: Object.freeze([...inputs]), attrs: frozenAttrs, types: deepFreeze(types) } as unknown as NodeOf<K>;
  return Object.freeze(node);
}

/** Same op and attrs as `node`, new inputs; returns `node` itself when nothing changed. */
export function withInputs(node: Node, inputs: readonly Value[]): Node {
  if (inputs.length === node.inputs.length && inputs.every((v, i) => v.node === node.inputs[i].node && v.index === node.inputs[i].index)) return node;
  return makeNode(node.op, inputs, node.attrs as OpAttrs[typeof node.op]) as Node;
}

const outputs = new WeakMap<Node, Value[]>();

/** The i-th output of a node. The same Value object is returned for the same (node, i). */
export function out(node: Node, index = 0): Value {
  let vals = outputs.get(node);
  if (!vals) {
    vals = node.types.map((_, i) => Object.freeze({ node, index: i }));
    outputs.set(node, vals);
  }
  const v = vals[index];
  if (!v) throw new Error(`${node.op} has no output ${index}`);
  return v;
}

const one = <K extends OpName>(op: K, inputs: readonly Value[], attrs: OpAttrs[K]): Value => out(makeNode(op, inputs, attrs) as Node);
const all = <K extends OpName>(op: K, inputs: readonly Value[], attrs: OpAttrs[K]): Value[] => {
  const n = makeNode(op, inputs, attrs) as Node;
  return n.types.map((_, i) => out(n, i));
};

export const ir = {
  input: (name: string, dtype: DType, shape: readonly number[]) => one('input', [], { name, dtype, shape }),
  param: (name: string, shape: readonly number[], init: ParamInit, group = 'default', role?: ParamRole) =>
    one('param', [], role ? { name, shape, init, group, role } : { name, shape, init, group }),
  constant: (value: number, shape: readonly number[] = []) => one('const', [], { value, shape }),
  unary: (fn: ElementwiseUnary, x: Value) => one('unary', [x], { fn }),
  binary: (fn: ElementwiseBinary, a: Value, b: Value) => one('binary', [a, b], { fn }),
  add: (a: Value, b: Value) => one('binary', [a, b], { fn: 'add' }),
  sub: (a: Value, b: Value) => one('binary', [a, b], { fn: 'sub' }),
  mul: (a: Value, b: Value) => one('binary', [a, b], { fn: 'mul' }),
  div: (a: Value, b: Value) => one('binary', [a, b], { fn: 'div' }),
  reduce: (fn: OpAttrs['reduce']['fn'], x: Value, axis: number, keepDims = false) => one('reduce', [x], { fn, axis, keepDims }),
  reshape: (x: Value, shape: readonly number[]) => one('reshape', [x], { shape }),
  matmul: (a: Value, b: Value, transA = false, transB = false) => one('matmul', [a, b], { transA, transB }),
  /** op(A)·op(B) with each head of its rows rotated by the forward rope (fuse-matmul-rope). */
  matmulRope: (a: Value, b: Value, transA: boolean, transB: boolean, rope: MatmulRope) => one('matmul', [a, b], { transA, transB, rope }),
  matmulAdd: (a: Value, b: Value, c: Value, transA = false, transB = false) => one('matmul_add', [a, b, c], { transA, transB }),
  embedding: (table: Value, ids: Value) => one('embedding', [table, ids], {}),
  /** A lookup (its operands and attrs as they are) that also sorts its ids for the backward (fuse-embedding-sort):
   *  its outputs, then sortedTokens and rowStart. */
  embeddingSorting: (operands: readonly Value[], attrs: OpAttrs['embedding']) => all('embedding', operands, { ...attrs, sort: true }),
  embeddingGrad: (dOut: Value, ids: Value, vocab: number, sorted?: readonly [Value, Value]) => one('embedding_grad', sorted ? [dOut, ids, ...sorted] : [dOut, ids], { vocab }),
  /** The normalised rows (output 0); output 1 holds 1/rms per row for the backward. */
  rmsnorm: (x: Value, w: Value, eps: number) => one('rmsnorm', [x, w], { eps }),
  /** A product whose A operand is RMS-normalised first (fuse-norm-matmul): (y·B, y, rstd). */
  matmulNorm: (x: Value, b: Value, normWeight: Value, eps: number, transB = false) => all('matmul', [x, b, normWeight], { transA: false, transB, norm: { eps } }) as [Value, Value, Value],
  /** An embedding lookup that also RMS-normalises the rows it writes (fuse-embedding-norm): (out, y, rstd). */
  embeddingNorm: (table: Value, ids: Value, normWeight: Value, eps: number) => all('embedding', [table, ids, normWeight], { norm: { eps } }) as [Value, Value, Value],
  /** dx (+ addend, when given) and dw. */
  rmsnormGrad: (dy: Value, x: Value, w: Value, rstd: Value, eps: number, addend?: Value) => all('rmsnorm_grad', addend ? [dy, x, w, rstd, addend] : [dy, x, w, rstd], { eps }) as [Value, Value],
  /** (y, per-row mean, per-row 1/std); the statistics feed the backward. */
  layernorm: (x: Value, w: Value, b: Value, eps: number) => all('layernorm', [x, w, b], { eps }) as [Value, Value, Value],
  /** (dx, dw, db) */
  layernormGrad: (dy: Value, x: Value, w: Value, mean: Value, rstd: Value, eps: number) =>
    all('layernorm_grad', [dy, x, w, mean, rstd], { eps }) as [Value, Value, Value],
  rope: (x: Value, a: OpAttrs['rope']) => one('rope', [x], a),
  /** x and x2 (pairHeads heads) rotated by one rope node. */
  ropePair: (x: Value, x2: Value, a: OpAttrs['rope'] & { pairHeads: number }) => all('rope', [x, x2], a) as [Value, Value],
  attention: (q: Value, k: Value, v: Value, a: OpAttrs['attention']) => all('attention', [q, k, v], a) as [Value, Value],
  attentionGrad: (dOut: Value, q: Value, k: Value, v: Value, o: Value, lse: Value, a: OpAttrs['attention_grad']) =>
    all('attention_grad', [dOut, q, k, v, o, lse], a) as [Value, Value, Value],
  swiglu: (g: Value, u: Value) => one('swiglu', [g, u], {}),
  swigluGrad: (dh: Value, g: Value, u: Value) => all('swiglu_grad', [dh, g, u], {}) as [Value, Value],
  geglu: (g: Value, u: Value) => one('geglu', [g, u], {}),
  gegluGrad: (dh: Value, g: Value, u: Value) => all('geglu_grad', [dh, g, u], {}) as [Value, Value],
  activation: (fn: ActivationFn, x: Value) => one('activation', [x], { fn }),
  activationGrad: (fn: ActivationFn, dh: Value, x: Value) => one('activation_grad', [dh, x], { fn }),
  /** A router that computes its logits x·W itself (x RMS-normalised first by normWeight when given; fuse-router-logits):
   *  (idx, weights, probs, logits) and with the norm (y, rstd). */
  routerProject: (x: Value, weight: Value, a: OpAttrs['router'], normWeight?: { value: Value; eps: number }, bias?: Value) =>
    all('router', [x, weight, ...(normWeight ? [normWeight.value] : []), ...(bias ? [bias] : [])], { ...a, project: normWeight ? { norm: { eps: normWeight.eps } } : {} }),
  /** (idx, weights, probs); `bias` [E] shifts the choice only (aux-loss-free balancing). */
  router: (logits: Value, a: OpAttrs['router'], bias?: Value) => all('router', bias ? [logits, bias] : [logits], a) as [Value, Value, Value],
  routerBiasUpdate: (bias: Value, idx: Value, rate: number) => one('router_bias_update', [bias, idx], { rate }),
  routerGrad: (dW: Value, probs: Value, idx: Value, dProbs: Value, a: OpAttrs['router_grad']) => one('router_grad', [dW, probs, idx, dProbs], a),
  /** (xs, permRow, counts, srcToken, srcSlot) */
  moeDispatch: (x: Value, idx: Value, a: OpAttrs['moe_dispatch']) => all('moe_dispatch', [x, idx], a) as [Value, Value, Value, Value, Value],
  /** A dispatch (its operands and attrs as they are) that also computes the fused load-balance aux loss
   *  aux_loss(probs, its idx, dLoss) (fuse-aux-loss-dispatch): its five results, then (loss, dProbs). */
  moeDispatchAux: (operands: readonly Value[], a: OpAttrs['moe_dispatch'], probs: Value, dLoss: Value, aux: OpAttrs['aux_loss']) =>
    all('moe_dispatch', [...operands, probs, dLoss], { ...a, aux }) as [Value, Value, Value, Value, Value, Value, Value],
  /** `dXs2`: a second [R, D] gradient summed with dXs per row (fuse-gather-grad-add). */
  moeGatherGrad: (dXs: Value, permRow: Value, topK: number, dXs2?: Value) => one('moe_gather_grad', dXs2 ? [dXs, permRow, dXs2] : [dXs, permRow], { topK }),
  /** An un-permute from its operands and attrs as given (passes that rewire one: gatherGradOperands' layout). */
  moeGatherGradOperands: (operands: readonly Value[], a: OpAttrs['moe_gather_grad']) => one('moe_gather_grad', operands, a),
  groupedMatmul: (xs: Value, weights: readonly Value[], counts: Value, a: OpAttrs['grouped_matmul']) =>
    one('grouped_matmul', [xs, ...weights, counts], a),
  groupedMatmulGradX: (dY: Value, weights: readonly Value[], counts: Value, a: OpAttrs['grouped_matmul_grad_x']) =>
    one('grouped_matmul_grad_x', [dY, ...weights, counts], a),
  /** A grouped data gradient (its operands and attrs as they are) that adds `addend` [R,K] to its product (fuse-grad-x-add). */
  groupedMatmulGradXAdd: (operands: readonly Value[], a: OpAttrs['grouped_matmul_grad_x'], addend: Value) => one('grouped_matmul_grad_x', [...operands, addend], { ...a, addend: true }),
  /** The up GEMM with SwiGLU in its epilogue: (u, h = silu(g) ⊙ u) (fuse-swiglu-gemm). */
  groupedMatmulSwiglu: (xs: Value, weights: readonly Value[], counts: Value, g: Value, a: OpAttrs['grouped_matmul_swiglu']) =>
    all('grouped_matmul_swiglu', [xs, ...weights, counts, g], a) as [Value, Value],
  /** dh = dY · W[e]ᵀ with SwiGLU's backward in its epilogue: (dg, du) (fuse-swiglu-gemm). */
  groupedMatmulGradXSwiglu: (dY: Value, weights: readonly Value[], counts: Value, g: Value, u: Value, a: OpAttrs['grouped_matmul_grad_x_swiglu']) =>
    all('grouped_matmul_grad_x_swiglu', [dY, ...weights, counts, g, u], a) as [Value, Value],
  groupedMatmulGradW: (xs: Value, dY: Value, counts: Value, experts: number) => one('grouped_matmul_grad_w', [xs, dY, counts], { experts }),
  /** Σ_j w·ys rows per token (+ addend, when given). */
  moeCombine: (ys: Value, permRow: Value, weights: Value, topK: number, addend?: Value) => one('moe_combine', addend ? [ys, permRow, weights, addend] : [ys, permRow, weights], { topK }),
  /** A residual combine that also RMS-normalises its result (fuse-combine-norm): (out, y, rstd). */
  moeCombineNorm: (ys: Value, permRow: Value, weights: Value, addend: Value, normWeight: Value, topK: number, eps: number) =>
    all('moe_combine', [ys, permRow, weights, addend, normWeight], { topK, norm: { eps } }) as [Value, Value, Value],
  moeCombineGrad: (dOut: Value, ys: Value, permRow: Value, weights: Value, srcToken: Value, srcSlot: Value, topK: number) =>
    all('moe_combine_grad', [dOut, ys, permRow, weights, srcToken, srcSlot], { topK }) as [Value, Value],
  /** A combine backward (its operands as they are) that also runs router_grad(its dWeights, probs, idx, dProbs)
   *  (fuse-combine-router-grad): (dYs, dWeights, dLogits). */
  moeCombineGradRouter: (operands: readonly Value[], topK: number, probs: Value, idx: Value, dProbs: Value, router: OpAttrs['router_grad']) =>
    all('moe_combine_grad', [...operands, probs, idx, dProbs], { topK, router }) as [Value, Value, Value],
  /** A combine backward whose d_out is rmsnorm_grad(dy, x, w, rstd[, addend])'s dx, run by the node itself
   *  (fuse-norm-grad-combine-grad): `rest` are the combine's operands after d_out; dy first, x, w, rstd (and addend)
   *  appended; outputs the combine backward's, then dx and dw. */
  moeCombineGradNormGrad: (combine: NodeOf<'moe_combine_grad'>, rest: readonly Value[], norm: { dy: Value; x: Value; w: Value; rstd: Value; addend?: Value; eps: number }) =>
    all('moe_combine_grad', [norm.dy, ...rest, norm.x, norm.w, norm.rstd, ...(norm.addend ? [norm.addend] : [])], { ...combine.attrs, normGrad: { eps: norm.eps, addend: norm.addend !== undefined } }),
  auxLoss: (x: Value, idx: Value, a: OpAttrs['aux_loss']) => one('aux_loss', [x, idx], a),
  auxLossGrad: (dLoss: Value, x: Value, idx: Value, a: OpAttrs['aux_loss_grad']) => one('aux_loss_grad', [dLoss, x, idx], a),
  /** The loss and its gradient w.r.t. x (scaled by dLoss) from one node. */
  auxLossFused: (x: Value, idx: Value, dLoss: Value, a: OpAttrs['aux_loss']) => all('aux_loss', [x, idx, dLoss], a) as [Value, Value],
  /** The fused loss and gradient, and addend + loss (the running total loss). */
  auxLossFusedSum: (x: Value, idx: Value, dLoss: Value, addend: Value, a: OpAttrs['aux_loss']) => all('aux_loss', [x, idx, dLoss, addend], a) as [Value, Value, Value],
  /** (per-row loss [T], mean over non-ignored rows []) */
  crossEntropy: (logits: Value, targets: Value) => all('cross_entropy', [logits, targets], {}) as [Value, Value],
  crossEntropyGrad: (dMean: Value, logits: Value, targets: Value) => one('cross_entropy_grad', [dMean, logits, targets], {}),
  crossEntropyFused: (logits: Value, targets: Value, dMean: Value) => all('cross_entropy_fused', [logits, targets, dMean], {}) as [Value, Value, Value],
  /** A fused cross-entropy (its operands as they are) adding one more scalar to its total (fuse-loss-sum):
   *  (rows, mean, dlogits, sum). */
  crossEntropyFusedSum: (operands: readonly Value[], addend: Value) => all('cross_entropy_fused', [...operands, addend], {}) as [Value, Value, Value, Value],
  /** (per-row loss [T], mean []) of softmax(h · W) (W transposed with transW) without whole logits */
  lmHeadXent: (h: Value, w: Value, targets: Value, transW: boolean) => all('lm_head_xent', [h, w, targets], { transW }) as [Value, Value],
  /** (dh, dW) of the mean of lm_head_xent, scaled by dMean */
  lmHeadXentGrad: (dMean: Value, h: Value, w: Value, targets: Value, transW: boolean) => all('lm_head_xent_grad', [dMean, h, w, targets], { transW }) as [Value, Value],
  /** (rows, mean, dh, dW): forward and gradient in one pass over the logit chunks */
  lmHeadXentFused: (h: Value, w: Value, targets: Value, dMean: Value, transW: boolean) =>
    all('lm_head_xent_fused', [h, w, targets, dMean], { transW }) as [Value, Value, Value, Value],
  expertWeight: (wc: Value, wu: Value, a: OpAttrs['expert_weight'], bases?: readonly [Value, Value]) =>
    one('expert_weight', [wc, wu, ...(bases ?? [])], a),
  sdSplitGrad: (g: Value, uk: Value, vk: Value, a: OpAttrs['sd_split_grad']) => all('sd_split_grad', [g, uk, vk], a) as [Value, Value],
  /** (new W_c, new W_u) from W_c, W_u, their AdamW steps Δ_c, Δ_u and the bases U_k, V_k. */
  sdProjectUpdate: (wc: Value, wu: Value, dc: Value, du: Value, uk: Value, vk: Value, a: OpAttrs['sd_project_update']) =>
    all('sd_project_update', [wc, wu, dc, du, uk, vk], a) as [Value, Value],
  gradNorm: (grads: readonly Value[], maxNorm: number) => one('grad_norm', grads, { maxNorm }),
  adamw: (p: Value, g: Value, m: Value, v: Value, lr: Value, step: Value, clip: Value, a: OpAttrs['adamw']) =>
    all('adamw', [p, g, m, v, lr, step, clip], a) as [Value, Value, Value],
  /** (new p or its step, new momentum buffer): torch.optim.SGD's update (OpAttrs['sgd']). */
  sgd: (p: Value, g: Value, buf: Value, lr: Value, clip: Value, a: OpAttrs['sgd']) => all('sgd', [p, g, buf, lr, clip], a) as [Value, Value],
};
