// Reverse-mode gradient rules, one per op. A rule receives the forward node and the gradients of
// its outputs (undefined where an output does not reach the loss) and returns the gradient of each
// input (undefined for non-differentiable inputs such as token ids and routing indices).
//
// Custom-gradient seam (SD-MoE): `expert_weight` builds the proxy W_c + W_u(i). Without spectral
// decoupling its rule is the plain sum rule (W_c gets Σ_i G(i), W_u(i) gets G(i)); with it, the
// rule emits `sd_split_grad`, which projects each expert's gradient onto the shared subspace and
// its double complement instead of summing. No other part of the compiler knows about SD.
import { ir, out } from '../ir/build.ts';
import { IrError } from '../ir/infer.ts';
import type { Node, NodeOf, OpName, Value } from '../ir/types.ts';
import { typeOf } from '../ir/types.ts';

export type Grad = Value | undefined;
type Rule<K extends OpName> = (node: NodeOf<K>, grads: readonly Grad[]) => Grad[];

const zerosLike = (v: Value): Value => ir.constant(0, typeOf(v).shape);
const need = (g: Grad, v: Value): Value => g ?? zerosLike(v);

/** Sums a broadcast gradient back down to `shape` (NumPy broadcasting in reverse). */
export function unbroadcast(g: Value, shape: readonly number[]): Value {
  let cur = g;
  const gs = typeOf(g).shape;
  const lead = gs.length - shape.length;
  for (let i = 0; i < lead; i++) cur = ir.reduce('sum', cur, 0);
  for (let i = 0; i < shape.length; i++) {
    if (shape[i] === 1 && typeOf(cur).shape[i] !== 1) cur = ir.reduce('sum', cur, i, true);
  }
  return cur;
}

/** Broadcasts `g` (a reduced tensor) back to `shape` by multiplying with ones. */
function expandTo(g: Value, shape: readonly number[]): Value {
  return ir.mul(g, ir.constant(1, shape));
}

/** matmul_add seen as its matmul part (same operands a, b and attrs) for the shared rule. */
function makeMatmulView(n: NodeOf<'matmul_add'>): NodeOf<'matmul'> {
  return { ...n, op: 'matmul', inputs: n.inputs.slice(0, 2) } as unknown as NodeOf<'matmul'>;
}

function noGrad(op: string): never {
  throw new IrError(`no gradient rule for ${op}`);
}

const RULES: { [K in OpName]: Rule<K> } = {
  input: () => [],
  param: () => [],
  const: () => [],
  unary: (n, [g]) => {
    if (!g) return [undefined];
    const x = n.inputs[0];
    const y = out(n as Node);
    switch (n.attrs.fn) {
      case 'neg': return [ir.unary('neg', g)];
      case 'exp': return [ir.mul(g, y)];
      case 'log': return [ir.div(g, x)];
      case 'sqrt': return [ir.div(ir.mul(g, ir.constant(0.5)), y)];
      case 'rsqrt': return [ir.mul(ir.mul(g, ir.constant(-0.5)), ir.mul(y, ir.unary('square', y)))];
      case 'square': return [ir.mul(ir.mul(g, ir.constant(2)), x)];
      case 'sigmoid': return [ir.mul(g, ir.mul(y, ir.binary('sub', ir.constant(1), y)))];
      case 'tanh': return [ir.mul(g, ir.binary('sub', ir.constant(1), ir.unary('square', y)))];
      case 'silu': {
        const s = ir.unary('sigmoid', x);
        return [ir.mul(g, ir.mul(s, ir.add(ir.constant(1), ir.mul(x, ir.binary('sub', ir.constant(1), s)))))];
      }
      case 'relu': return noGrad('relu');
    }
  },
  binary: (n, [g]) => {
    if (!g) return [undefined, undefined];
    const [a, b] = n.inputs;
    const sa = typeOf(a).shape;
    const sb = typeOf(b).shape;
    switch (n.attrs.fn) {
      case 'add': return [unbroadcast(g, sa), unbroadcast(g, sb)];
      case 'sub': return [unbroadcast(g, sa), unbroadcast(ir.unary('neg', g), sb)];
      case 'mul': return [unbroadcast(ir.mul(g, b), sa), unbroadcast(ir.mul(g, a), sb)];
      case 'div': {
        const ga = ir.div(g, b);
        return [unbroadcast(ga, sa), unbroadcast(ir.unary('neg', ir.div(ir.mul(ga, a), b)), sb)];
      }
      default: return noGrad(n.attrs.fn);
    }
  },
  reduce: (n, [g]) => {
    if (!g) return [undefined];
    const x = n.inputs[0];
    const shape = typeOf(x).shape;
    const keep = shape.map((d, i) => (i === n.attrs.axis ? 1 : d));
    const gk = n.attrs.keepDims ? g : ir.reshape(g, keep);
    if (n.attrs.fn === 'sum') return [expandTo(gk, shape)];
    if (n.attrs.fn === 'mean') return [expandTo(ir.mul(gk, ir.constant(1 / shape[n.attrs.axis])), shape)];
    return noGrad('reduce max');
  },
  reshape: (n, [g]) => [g && ir.reshape(g, typeOf(n.inputs[0]).shape)],
  matmul: (n, [g, gy, grstd]) => {
    // fuse-norm-matmul comes after autodiff: a product with a fused norm is never differentiated.
    if (n.attrs.norm || gy || grstd) throw new IrError('matmul: a fused rmsnorm (fuse-norm-matmul) is not differentiable; fuse after autodiff');
    if (!g) return [undefined, undefined];
    // fuse-matmul-rope runs after autodiff; a roped product's gradient would need the inverse rotation first.
    if (n.attrs.rope) return noGrad('matmul with a fused rope (fuse-matmul-rope runs after autodiff)');
    const [a, b] = n.inputs;
    const { transA, transB } = n.attrs;
    const da = transA ? ir.matmul(b, g, transB, true) : ir.matmul(g, b, false, !transB);
    const db = transB ? ir.matmul(g, a, true, transA) : ir.matmul(a, g, !transA, false);
    return [da, db];
  },
  matmul_add: (n, [g]) => {
    if (!g) return [undefined, undefined, undefined];
    const [da, db] = RULES.matmul(makeMatmulView(n), [g]);
    return [da, db, g];
  },
  embedding: (n, [g, gy, grstd]) => {
    // fuse-embedding-norm and fuse-embedding-sort come after autodiff: their outputs are never differentiated.
    if (n.attrs.sort) throw new IrError('embedding: the ids\' sort (fuse-embedding-sort) is fused after autodiff');
    if (gy || grstd) throw new IrError('embedding: the fused rmsnorm outputs (fuse-embedding-norm) are not differentiable; fuse after autodiff');
    return [g && ir.embeddingGrad(g, n.inputs[1], typeOf(n.inputs[0]).shape[0]), ...n.inputs.slice(1).map(() => undefined)];
  },
  embedding_grad: () => noGrad('embedding_grad'),
  rmsnorm: (n, [g, grstd]) => {
    if (grstd) throw new IrError('rmsnorm: the 1/rms output is not differentiable');
    if (!g) return [undefined, undefined];
    const [dx, dw] = ir.rmsnormGrad(g, n.inputs[0], n.inputs[1], out(n as Node, 1), n.attrs.eps);
    return [dx, dw];
  },
  rmsnorm_grad: () => noGrad('rmsnorm_grad'),
  layernorm: (n, [g, gmean, grstd]) => {
    if (gmean || grstd) throw new IrError('layernorm: the mean and 1/std outputs are not differentiable');
    if (!g) return [undefined, undefined, undefined];
    return ir.layernormGrad(g, n.inputs[0], n.inputs[1], out(n as Node, 1), out(n as Node, 2), n.attrs.eps);
  },
  layernorm_grad: () => noGrad('layernorm_grad'),
  rope: (n, [g, g2]) => {
    const { pairHeads, ...single } = n.attrs;
    const inverse = { ...single, inverse: !n.attrs.inverse };
    if (pairHeads === undefined) return [g && ir.rope(g, inverse)];
    if (g && g2) return ir.ropePair(g, g2, { ...inverse, pairHeads });
    return [g && ir.rope(g, inverse), g2 && ir.rope(g2, { ...inverse, heads: pairHeads })];
  },
  attention: (n, [g, glse]) => {
    if (glse) throw new IrError('attention: the log-sum-exp output is not differentiable');
    if (!g) return [undefined, undefined, undefined];
    const [q, k, v] = n.inputs;
    return ir.attentionGrad(g, q, k, v, out(n as Node, 0), out(n as Node, 1), n.attrs);
  },
  attention_grad: () => noGrad('attention_grad'),
  swiglu: (n, [g]) => (g ? ir.swigluGrad(g, n.inputs[0], n.inputs[1]) : [undefined, undefined]),
  swiglu_grad: () => noGrad('swiglu_grad'),
  geglu: (n, [g]) => (g ? ir.gegluGrad(g, n.inputs[0], n.inputs[1]) : [undefined, undefined]),
  geglu_grad: () => noGrad('geglu_grad'),
  activation: (n, [g]) => [g && ir.activationGrad(n.attrs.fn, g, n.inputs[0])],
  activation_grad: () => noGrad('activation_grad'),
  router: (n, [, gw, gprobs]) => {
    // fuse-router-logits comes after autodiff: a router with its own product is never differentiated.
    if (n.attrs.project) throw new IrError('router: a fused product (fuse-router-logits) is not differentiable; fuse after autodiff');
    // The selection bias only changes the (piecewise constant) choice: it gets no gradient.
    const noBias = n.inputs.length === 2 ? [undefined] : [];
    if (!gw && !gprobs) return [undefined, ...noBias];
    const probs = out(n as Node, 2);
    const { score, topK, normalize, scale } = n.attrs;
    return [ir.routerGrad(need(gw, out(n as Node, 1)), probs, out(n as Node, 0), need(gprobs, probs), { score, topK, normalize, scale }), ...noBias];
  },
  router_bias_update: () => noGrad('router_bias_update'),
  router_grad: () => noGrad('router_grad'),
  moe_dispatch: (n, [gxs]) => [gxs && ir.moeGatherGrad(gxs, out(n as Node, 1), n.attrs.topK), undefined],
  moe_gather_grad: () => noGrad('moe_gather_grad'),
  grouped_matmul: (n, [g]) => {
    if (!g) return n.inputs.map(() => undefined);
    const xs = n.inputs[0];
    const counts = n.inputs[n.inputs.length - 1];
    const weights = n.inputs.slice(1, -1);
    const dxs = ir.groupedMatmulGradX(g, weights, counts, n.attrs);
    const dw = ir.groupedMatmulGradW(xs, g, counts, n.attrs.experts);
    // A fused shared weight (W_c + W_u) receives the plain sum rule here; SD models never reach
    // this branch before autodiff because fusion runs after differentiation.
    const dWeights = n.attrs.sharedWeight ? [ir.reduce('sum', dw, 0), dw] : [dw];
    return [dxs, ...dWeights, undefined];
  },
  grouped_matmul_grad_x: () => noGrad('grouped_matmul_grad_x'),
  grouped_matmul_grad_w: () => noGrad('grouped_matmul_grad_w'),
  // fuse-swiglu-gemm's products appear only after autodiff
  grouped_matmul_swiglu: () => noGrad('grouped_matmul_swiglu'),
  grouped_matmul_grad_x_swiglu: () => noGrad('grouped_matmul_grad_x_swiglu'),
  moe_combine: (n, [g, gy, grstd]) => {
    // fuse-combine-norm comes after autodiff: its normalised outputs are never differentiated.
    if (gy || grstd) throw new IrError('moe_combine: the fused rmsnorm outputs (fuse-combine-norm) are not differentiable; fuse after autodiff');
    if (!g) return n.inputs.map(() => undefined);
    const [ys, permRow, w] = n.inputs;
    // The row → (token, slot) maps come from the dispatch that produced permRow.
    const dispatch = permRow.node;
    if (dispatch.op !== 'moe_dispatch') throw new IrError('moe_combine: permRow must come from moe_dispatch');
    const [dys, dw] = ir.moeCombineGrad(g, ys, permRow, w, out(dispatch, 3), out(dispatch, 4), n.attrs.topK);
    // An addend's gradient is g itself.
    return n.inputs.length >= 4 ? [dys, undefined, dw, g, ...n.inputs.slice(4).map(() => undefined)] : [dys, undefined, dw];
  },
  moe_combine_grad: () => noGrad('moe_combine_grad'),
  aux_loss: (n, [g, gdx, gsum]) => {
    // The fused forms (fuse-aux-loss, fuse-aux-loss-sum) come after autodiff: only the loss itself is differentiated.
    if (gdx || gsum) throw new IrError('aux_loss: the fused gradient and sum outputs are not differentiable');
    return [g && ir.auxLossGrad(g, n.inputs[0], n.inputs[1], n.attrs), ...n.inputs.slice(1).map(() => undefined)];
  },
  aux_loss_grad: () => noGrad('aux_loss_grad'),
  cross_entropy: (n, [gRows, gMean]) => {
    // Only the mean is differentiable: its gradient kernel is fused with the loss (one row pass).
    if (gRows) throw new IrError('cross_entropy: differentiate the mean output, not the per-row losses');
    return [gMean && ir.crossEntropyGrad(gMean, n.inputs[0], n.inputs[1]), undefined];
  },
  cross_entropy_grad: () => noGrad('cross_entropy_grad'),
  cross_entropy_fused: () => noGrad('cross_entropy_fused'),
  lm_head_xent: (n, [gRows, gMean]) => {
    // As cross_entropy: only the mean is differentiable; the gradient op recomputes the logits
    // chunk by chunk (fuse-lm-head-xent merges it with this node when it can).
    if (gRows) throw new IrError('lm_head_xent: differentiate the mean output, not the per-row losses');
    if (!gMean) return [undefined, undefined, undefined];
    const [h, w, targets] = n.inputs;
    const [dh, dw] = ir.lmHeadXentGrad(gMean, h, w, targets, n.attrs.transW);
    return [dh, dw, undefined];
  },
  lm_head_xent_grad: () => noGrad('lm_head_xent_grad'),
  lm_head_xent_fused: () => noGrad('lm_head_xent_fused'),
  expert_weight: (n, [g]) => {
    if (!g) return n.inputs.map(() => undefined);
    if (!n.attrs.spectral) return [ir.reduce('sum', g, 0), g];
    // `project update`: raw gradients (Σ_i G(i) or their mean for W_c, G(i) for W_u(i)); the
    // optimizer projects the AdamW step instead (sd_project_update).
    if (n.attrs.project === 'update') return [ir.reduce(n.attrs.aggregate, g, 0), g, undefined, undefined];
    const [, , uk, vk] = n.inputs;
    const rank = typeOf(uk).shape[1];
    const [gc, gu] = ir.sdSplitGrad(g, uk, vk, { experts: n.attrs.experts, rank, aggregate: n.attrs.aggregate });
    return [gc, gu, undefined, undefined];
  },
  sd_split_grad: () => noGrad('sd_split_grad'),
  sd_project_update: () => noGrad('sd_project_update'),
  grad_norm: () => noGrad('grad_norm'),
  adamw: () => noGrad('adamw'),
  sgd: () => noGrad('sgd'),
};

export function gradientRule(node: Node, grads: readonly Grad[]): Grad[] {
  const rule = RULES[node.op] as Rule<typeof node.op>;
  return rule(node as never, grads);
}
