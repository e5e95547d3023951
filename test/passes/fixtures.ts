// Builders of the pass-test inputs. Each `<pass>/<case>` graph is printed to
// cases/<pass>/<case>.in.ir (a golden itself, so an IR change re-blesses inputs and expected
// outputs together with UPDATE_GOLDENS=1); the pass test then runs the pass on the parsed text.
import { ir } from '../../compiler/ir/build.ts';
import { graph } from '../../compiler/ir/graph.ts';
import type { Graph, Value } from '../../compiler/ir/types.ts';
import { autodiff } from '../../compiler/passes/autodiff.ts';
import { cse } from '../../compiler/passes/cse.ts';
import { fuseAuxLoss } from '../../compiler/passes/fuse-aux-loss.ts';
import { fuseAuxLossDispatch } from '../../compiler/passes/fuse-aux-loss-dispatch.ts';
import { fuseCrossEntropy } from '../../compiler/passes/fuse-cross-entropy.ts';
import { fuseLossSum } from '../../compiler/passes/fuse-loss-sum.ts';
import { fuseCombineAdd } from '../../compiler/passes/fuse-combine-add.ts';
import { fuseCombineRouterGrad } from '../../compiler/passes/fuse-combine-router-grad.ts';
import { fuseRmsnormGradAdd } from '../../compiler/passes/fuse-rmsnorm-grad-add.ts';
import { fuseGatherGradAdd } from '../../compiler/passes/fuse-gather-grad-add.ts';
import { fuseGatherGradMatmul } from '../../compiler/passes/fuse-gather-grad-matmul.ts';
import { fuseMatmulAdd } from '../../compiler/passes/fuse-matmul-add.ts';
import { fuseNormMatmul } from '../../compiler/passes/fuse-norm-matmul.ts';
import { fuseRopePair } from '../../compiler/passes/fuse-rope-pair.ts';
import { simplify } from '../../compiler/passes/simplify.ts';
import { mlpLoss, moeBlockLoss } from '../ir/small-graphs.ts';

/** embedding → rmsnorm → rope → attention (2 heads over 1 KV head) → tied LM head → CE mean. */
function attentionBlock(): Graph {
  const T = 4, V = 6, D = 4;
  const tokens = ir.input('tokens', 'i32', [T]);
  const targets = ir.input('targets', 'i32', [T]);
  const embed = ir.param('embed', [V, D], { kind: 'normal', std: 0.5 }, 'embed');
  const x = ir.embedding(embed, tokens);
  const h = ir.rmsnorm(x, ir.param('norm', [D], { kind: 'ones' }, 'norm'), 1e-5);
  const rope = { theta: 10000, headDim: 2, seqLen: 2, inverse: false };
  const q = ir.rope(ir.matmul(h, ir.param('wq', [D, 4], { kind: 'normal', std: 0.5 })), { ...rope, heads: 2 });
  const k = ir.rope(ir.matmul(h, ir.param('wk', [D, 2], { kind: 'normal', std: 0.5 })), { ...rope, heads: 1 });
  const v = ir.matmul(h, ir.param('wv', [D, 2], { kind: 'normal', std: 0.5 }));
  const [o] = ir.attention(q, k, v, { heads: 2, kvHeads: 1, headDim: 2, seqLen: 2 });
  const [, loss] = ir.crossEntropy(ir.matmul(ir.add(x, o), embed, false, true), targets);
  return graph('attn_block', { loss });
}

/** Every simplify rule once, plus look-alikes that must stay (0 − x, broadcasting ×1, ×2, real reshape). */
function unitOps(): Graph {
  const x = ir.input('x', 'f32', [2, 3]);
  const row = ir.input('row', 'f32', [3]);
  const a = ir.mul(x, ir.constant(1, [2, 3]));
  const b = ir.mul(ir.constant(1), a);
  const c = ir.add(b, ir.constant(0, []));
  const d = ir.add(ir.constant(0, [2, 3]), c);
  const e = ir.sub(d, ir.constant(0, []));
  const f = ir.reshape(e, [2, 3]);
  const keepSub = ir.sub(ir.constant(0, []), f);
  const keepBroadcast = ir.mul(row, ir.constant(1, [2, 3]));
  const keepTwo = ir.mul(x, ir.constant(2));
  return graph('units', { y: ir.add(keepSub, ir.add(keepBroadcast, keepTwo)), r: ir.reshape(x, [3, 2]) });
}

/** Duplicated single- and multi-output nodes, and near-duplicates (other attrs) that must stay apart. */
function duplicates(): Graph {
  const x = ir.input('x', 'f32', [4, 3]);
  const w = ir.param('w', [3, 4], { kind: 'normal', std: 0.5 });
  const m1 = ir.matmul(x, w);
  const m2 = ir.matmul(x, w);
  const transposed = ir.matmul(x, ir.param('w2', [4, 3], { kind: 'normal', std: 0.5 }), false, true);
  const [i1, w1] = ir.router(m1, { score: 'softmax', topK: 2, normalize: true, scale: 1 });
  const [i2, w2] = ir.router(m2, { score: 'softmax', topK: 2, normalize: true, scale: 1 });
  const [, w3] = ir.router(m1, { score: 'softmax', topK: 2, normalize: false, scale: 1 });
  const s = ir.add(ir.add(w1, w2), w3);
  return graph('dups', { s, d: ir.sub(ir.unary('square', m1), ir.unary('square', m2)), t: transposed, i1, i2 });
}

/** An LM head with cross-entropy: the forward loss and its gradient read the same logits. */
function lmHeadLoss(): Graph {
  const h = ir.input('h', 'f32', [6, 4]);
  const targets = ir.input('targets', 'i32', [6]);
  const w = ir.param('lm_head', [4, 5], { kind: 'normal', std: 0.5 });
  const [rows, mean] = ir.crossEntropy(ir.matmul(h, w), targets);
  return graph('lm_head', { loss: mean, ce_tokens: rows });
}

/** The chunked LM head over a tied [V,D] table that the embedding also reads (its gradient sums both). */
function chunkedLmHeadLoss(): Graph {
  const tokens = ir.input('tokens', 'i32', [6]);
  const targets = ir.input('targets', 'i32', [6]);
  const table = ir.param('embed', [5, 4], { kind: 'normal', std: 0.5 });
  const h = ir.matmul(ir.embedding(table, tokens), ir.param('proj', [4, 4], { kind: 'normal', std: 0.5 }));
  const [rows, mean] = ir.lmHeadXent(h, table, targets, true);
  return graph('lm_head_chunked', { loss: mean, ce_tokens: rows });
}

/** Two pre-norm residual blocks x + tanh(rmsnorm(x)·W) and a final norm: each norm's dx meets the
 *  residual stream's gradient in an add (the final norm's dx also feeds the last block, so it stays). */
function residualNorms(): Graph {
  const T = 5, D = 3, V = 4;
  const targets = ir.input('targets', 'i32', [T]);
  let h = ir.input('x', 'f32', [T, D]);
  for (let l = 0; l < 2; l++) {
    const n = ir.rmsnorm(h, ir.param(`norm${l}`, [D], { kind: 'ones' }, 'norm'), 1e-5);
    h = ir.add(h, ir.unary('tanh', ir.matmul(n, ir.param(`w${l}`, [D, D], { kind: 'normal', std: 0.5 }))));
  }
  const final = ir.rmsnorm(h, ir.param('final_norm', [D], { kind: 'ones' }, 'norm'), 1e-5);
  const [, loss] = ir.crossEntropy(ir.matmul(final, ir.param('head', [D, V], { kind: 'normal', std: 0.5 })), targets);
  return graph('residual_norms', { loss });
}

/** A routed block with both aux losses on its router (balance on the probabilities, z on the
 *  logits) added to the main loss, and a second balance loss of another coefficient on the same
 *  router: each loss pairs only with the gradient of its own kind and attrs. */
function moeAuxLoss(): Graph {
  const T = 6, D = 4, E = 3, K = 2;
  const x = ir.input('x', 'f32', [T, D]);
  const logits = ir.matmul(x, ir.param('router', [D, E], { kind: 'normal', std: 0.5 }));
  const [idx, w, probs] = ir.router(logits, { score: 'softmax', topK: K, normalize: false, scale: 1 });
  const main = ir.reduce('sum', ir.reduce('sum', ir.unary('square', w), 1), 0);
  const aux = { experts: E, topK: K };
  const balance = ir.auxLoss(probs, idx, { kind: 'load_balance', coef: 0.1, ...aux });
  const balance2 = ir.auxLoss(probs, idx, { kind: 'load_balance', coef: 0.3, ...aux });
  const z = ir.auxLoss(logits, idx, { kind: 'z_loss', coef: 0.01, ...aux });
  return graph('moe_aux', { loss: ir.add(ir.add(ir.add(main, balance), z), balance2), balance, z });
}

/** Two MoE blocks, each with a load-balance aux loss on its router (the second also a z-loss), and a
 *  cross-entropy head: loss = ((ce + balance0) + balance1) + z1, as lowerModel sums them. The balance
 *  losses fuse-aux-loss-dispatch folds into the dispatches, the chain fuse-loss-sum folds into the
 *  cross-entropy. */
function moeAuxXent(): Graph {
  const T = 6, D = 4, E = 3, K = 2, V = 5;
  const targets = ir.input('targets', 'i32', [T]);
  let h = ir.matmul(ir.input('x', 'f32', [T, D]), ir.param('proj', [D, D], { kind: 'normal', std: 0.5 }));
  const aux: Value[] = [];
  const outputs: Record<string, Value> = {};
  for (let l = 0; l < 2; l++) {
    const logits = ir.matmul(h, ir.param(`router${l}`, [D, E], { kind: 'normal', std: 0.5 }));
    const [idx, w, probs] = ir.router(logits, { score: 'softmax', topK: K, normalize: false, scale: 1 });
    const [xs, permRow, counts] = ir.moeDispatch(h, idx, { experts: E, topK: K });
    const ys = ir.groupedMatmul(xs, [ir.param(`experts${l}`, [E, D, D], { kind: 'normal', std: 0.5 })], counts, { experts: E, sharedWeight: false });
    h = ir.add(h, ir.moeCombine(ys, permRow, w, K));
    outputs[`balance${l}`] = ir.auxLoss(probs, idx, { kind: 'load_balance', coef: 0.1 * (l + 1), experts: E, topK: K });
    aux.push(outputs[`balance${l}`]);
    if (l === 1) aux.push(ir.auxLoss(logits, idx, { kind: 'z_loss', coef: 0.01, experts: E, topK: K }));
  }
  const [, ce] = ir.crossEntropy(ir.matmul(h, ir.param('head', [D, V], { kind: 'normal', std: 0.5 })), targets);
  return graph('moe_aux_xent', { loss: aux.reduce((total, a) => ir.add(total, a), ce), ce, ...outputs });
}

/** Two MoE blocks on a residual stream, x + combine(...): the second block's output is also a graph
 *  output of its own, so only the first add fuses. */
function moeResidual(): Graph {
  const T = 6, D = 4, E = 3, K = 2;
  let h = ir.input('x', 'f32', [T, D]);
  const blocks: Value[] = [];
  for (let l = 0; l < 2; l++) {
    const [idx, w] = ir.router(ir.matmul(h, ir.param(`router${l}`, [D, E], { kind: 'normal', std: 0.5 })), { score: 'softmax', topK: K, normalize: true, scale: 1 });
    const [xs, permRow, counts] = ir.moeDispatch(h, idx, { experts: E, topK: K });
    const ys = ir.groupedMatmul(xs, [ir.param(`experts${l}`, [E, D, D], { kind: 'normal', std: 0.5 })], counts, { experts: E, sharedWeight: false });
    blocks.push(ir.moeCombine(ys, permRow, w, K));
    h = ir.add(h, blocks[l]);
  }
  const loss = ir.reduce('sum', ir.reduce('sum', ir.unary('square', h), 1), 0);
  return graph('moe_residual', { loss, last_block: blocks[1] });
}

/** An MoE block of SwiGLU experts: the dispatched rows feed the gate and the up GEMM, so their input
 *  gradients are added before the un-permute (fuse-gather-grad-add). */
function moeSwiglu(): Graph {
  const T = 6, D = 4, E = 3, K = 2, F = 5;
  // x comes from a param, so the block's input gradient (the un-permute) is needed
  const x = ir.matmul(ir.input('x', 'f32', [T, D]), ir.param('proj', [D, D], { kind: 'normal', std: 0.5 }));
  const [idx, w] = ir.router(ir.matmul(x, ir.param('router', [D, E], { kind: 'normal', std: 0.5 })), { score: 'softmax', topK: K, normalize: true, scale: 1 });
  const [xs, permRow, counts] = ir.moeDispatch(x, idx, { experts: E, topK: K });
  const gm = (a: Value, name: string, inner: number, out: number) => ir.groupedMatmul(a, [ir.param(name, [E, inner, out], { kind: 'normal', std: 0.5 })], counts, { experts: E, sharedWeight: false });
  const h = ir.swiglu(gm(xs, 'gate', D, F), gm(xs, 'up', D, F));
  const y = ir.moeCombine(gm(h, 'down', F, D), permRow, w, K);
  return graph('moe_swiglu', { loss: ir.reduce('sum', ir.reduce('sum', ir.unary('square', y), 1), 0) });
}

/** Pre-norm MoE blocks on a residual stream: each block reads rmsnorm(h), its combine adds h (after
 *  fuse-combine-add), and a final rmsnorm feeds the loss: the norms fuse-combine-norm folds into the combines. */
function moeResidualNorms(): Graph {
  const T = 6, D = 4, E = 3, K = 2;
  let h = ir.matmul(ir.input('x', 'f32', [T, D]), ir.param('proj', [D, D], { kind: 'normal', std: 0.5 }));
  const normed = (name: string): Value => ir.rmsnorm(h, ir.param(name, [D], { kind: 'normal', std: 0.5 }), 1e-5);
  for (let l = 0; l < 2; l++) {
    const x = normed(`norm${l}`);
    const [idx, w] = ir.router(ir.matmul(x, ir.param(`router${l}`, [D, E], { kind: 'normal', std: 0.5 })), { score: 'softmax', topK: K, normalize: true, scale: 1 });
    const [xs, permRow, counts] = ir.moeDispatch(x, idx, { experts: E, topK: K });
    const ys = ir.groupedMatmul(xs, [ir.param(`experts${l}`, [E, D, D], { kind: 'normal', std: 0.5 })], counts, { experts: E, sharedWeight: false });
    h = ir.add(h, ir.moeCombine(ys, permRow, w, K));
  }
  const loss = ir.reduce('sum', ir.reduce('sum', ir.unary('square', normed('final_norm')), 1), 0);
  return graph('moe_residual_norms', { loss, residual: h });
}

/** ids → embedding → rmsnorm → a projection and a residual add → loss: the first norm of the
 *  residual stream, the one fuse-embedding-norm folds into the lookup (vocab 4: the feeds' ids). */
function lookupNorm(): Graph {
  const T = 6, V = 4, D = 4;
  const x = ir.embedding(ir.param('table', [V, D], { kind: 'normal', std: 0.5 }), ir.input('ids', 'i32', [T]));
  const h = ir.add(x, ir.matmul(ir.rmsnorm(x, ir.param('norm0', [D], { kind: 'normal', std: 0.5 }), 1e-5), ir.param('proj', [D, D], { kind: 'normal', std: 0.5 })));
  const loss = ir.reduce('sum', ir.reduce('sum', ir.unary('square', h), 1), 0);
  return graph('lookup_norm', { loss, rows: x });
}

/** x → rmsnorm → a router's logits (the only matmul reading y, N = 2) and y itself elsewhere (as the
 *  expert dispatch reads it) → loss: the pre-MoE norm fuse-norm-matmul folds into the router's product.
 *  With `shared`, a second product reads y too (attention's q, k, v do): the pass leaves the norm alone. */
function normRouter(shared: boolean): Graph {
  const T = 6, D = 4;
  const x = ir.input('x', 'f32', [T, D]);
  const y = ir.rmsnorm(x, ir.param('ffn_norm', [D], { kind: 'normal', std: 0.5 }), 1e-5);
  const other = shared ? ir.matmul(y, ir.param('proj', [D, D], { kind: 'normal', std: 0.5 })) : ir.unary('square', y);
  const logits = ir.matmul(y, ir.param('router', [D, 2], { kind: 'normal', std: 0.5 }));
  const loss = ir.add(ir.reduce('sum', ir.reduce('sum', ir.unary('square', other), 1), 0), ir.reduce('sum', ir.reduce('sum', ir.unary('square', logits), 1), 0));
  return graph('norm_router', { loss, logits });
}

/** x → (rmsnorm →) the gate's logits → router → a weighted loss, the logits also read by a z-loss-like
 *  square, and (with the norm) y by the experts' side: the MoE gate fuse-router-logits folds into the router.
 *  Without the norm, a selection bias rides along. */
function gateRouter(norm: boolean): Graph {
  const T = 6, D = 4, E = 4;
  const x = ir.input('x', 'f32', [T, D]);
  const y = norm ? ir.rmsnorm(x, ir.param('ffn_norm', [D], { kind: 'normal', std: 0.5 }), 1e-5) : x;
  const logits = ir.matmul(y, ir.param('router', [D, E], { kind: 'normal', std: 0.8 }));
  const attrs = { score: 'softmax' as const, topK: 2, normalize: !norm, scale: 1 };
  const [, weights, probs] = norm ? ir.router(logits, attrs) : ir.router(logits, attrs, ir.param('router_bias', [E], { kind: 'normal', std: 0.1 }));
  const sum2 = (v: Value) => ir.reduce('sum', ir.reduce('sum', v, 1), 0);
  let loss = ir.add(ir.add(sum2(ir.unary('square', weights)), sum2(ir.unary('square', probs))), sum2(ir.unary('square', logits)));
  if (norm) loss = ir.add(loss, sum2(ir.unary('square', y)));
  return graph('gate_router', { loss });
}

export const FIXTURES: Readonly<Record<string, () => Graph>> = {
  'fuse-router-logits/norm-gate-grads': () => fuseNormMatmul(cse(simplify(autodiff(gateRouter(true))))),
  'fuse-router-logits/bias-gate-forward': () => gateRouter(false),
  'fuse-norm-matmul/norm-router-forward': () => normRouter(false),
  'fuse-norm-matmul/norm-router-grads': () => cse(simplify(autodiff(normRouter(false)))),
  'fuse-norm-matmul/norm-shared-by-two-products': () => cse(simplify(autodiff(normRouter(true)))),
  'fuse-embedding-sort/lookup-norm-grads': () => cse(simplify(autodiff(lookupNorm()))),
  'fuse-embedding-norm/lookup-norm-forward': lookupNorm,
  'fuse-embedding-norm/lookup-norm-grads': () => cse(simplify(autodiff(lookupNorm()))),
  'fuse-combine-norm/residual-norms-forward': () => fuseCombineAdd(moeResidualNorms()),
  'fuse-combine-norm/residual-norms-grads': () => fuseCombineAdd(cse(simplify(autodiff(moeResidualNorms())))),
  'fuse-gather-grad-add/moe-swiglu-grads': () => cse(simplify(autodiff(moeSwiglu()))),
  'fuse-gather-grad-add/moe-residual-grads': () => cse(simplify(autodiff(moeResidual()))),
  'fuse-grad-x-add/moe-swiglu-grads': () => fuseGatherGradAdd(cse(simplify(autodiff(moeSwiglu())))),
  'fuse-grad-x-add/moe-swiglu-grads-projected': () => fuseGatherGradMatmul(fuseGatherGradAdd(fuseMatmulAdd(cse(simplify(autodiff(moeSwiglu())))))),
  'fuse-grad-x-add/moe-residual-grads': () => cse(simplify(autodiff(moeResidual()))),
  'fuse-gather-grad-matmul/moe-swiglu-grads': () => fuseGatherGradAdd(fuseMatmulAdd(cse(simplify(autodiff(moeSwiglu()))))),
  'fuse-gather-grad-matmul/moe-residual-grads': () => fuseMatmulAdd(cse(simplify(autodiff(moeResidual())))),
  'fuse-combine-router-grad/moe-swiglu-grads': () => cse(simplify(autodiff(moeSwiglu()))),
  'fuse-combine-router-grad/moe-residual-grads': () => cse(simplify(autodiff(moeResidual()))),
  'fuse-norm-grad-combine-grad/residual-norms-grads': () => fuseCombineRouterGrad(fuseRmsnormGradAdd(fuseCombineAdd(cse(simplify(autodiff(moeResidualNorms())))))),
  'fuse-norm-grad-combine-grad/residual-norms-grads-unrouted': () => fuseRmsnormGradAdd(fuseCombineAdd(cse(simplify(autodiff(moeResidualNorms()))))),
  'fuse-swiglu-gemm/moe-swiglu-grads': () => cse(simplify(autodiff(moeSwiglu()))),
  'fuse-swiglu-gemm/moe-swiglu-forward': moeSwiglu,
  'fuse-swiglu-gemm/moe-sd-grads': () => cse(simplify(autodiff(moeBlockLoss(true)))),
  'fuse-lm-head-xent/tied-grads': () => cse(simplify(autodiff(chunkedLmHeadLoss()))),
  'fuse-cross-entropy/lm-head-grads': () => cse(simplify(autodiff(lmHeadLoss()))),
  'fuse-matmul-add/attention-grads': () => cse(simplify(autodiff(attentionBlock()))),
  'fuse-matmul-add/mlp-grads': () => cse(simplify(autodiff(mlpLoss()))),
  'fuse-rmsnorm-grad-add/residual-grads': () => cse(simplify(autodiff(residualNorms()))),
  'fuse-rmsnorm-grad-add/attention-grads': () => cse(simplify(autodiff(attentionBlock()))),
  'fuse-rope-pair/attention-grads': () => cse(simplify(autodiff(attentionBlock()))),
  'fuse-rope-pair/attention-forward': attentionBlock,
  'fuse-matmul-rope/attention-grads': () => fuseRopePair(cse(simplify(autodiff(attentionBlock())))),
  'fuse-matmul-rope/attention-forward': () => fuseRopePair(attentionBlock()),
  // unpaired: each single rope of q and of k fuses on its own
  'fuse-matmul-rope/attention-forward-unpaired': attentionBlock,
  'fuse-attention-grad-rope/attention-grads': () => fuseRopePair(cse(simplify(autodiff(attentionBlock())))),
  // without the pair (fuse-rope-pair not run) there is nothing to fuse
  'fuse-attention-grad-rope/attention-grads-unpaired': () => cse(simplify(autodiff(attentionBlock()))),
  'fuse-aux-loss/moe-aux-grads': () => cse(simplify(autodiff(moeAuxLoss()))),
  'fuse-aux-loss-sum/moe-aux-grads': () => fuseAuxLoss(cse(simplify(autodiff(moeAuxLoss())))),
  'fuse-aux-loss-sum/moe-aux-xent-after-dispatch': () => fuseLossSum(fuseAuxLossDispatch(fuseAuxLoss(fuseCrossEntropy(cse(simplify(autodiff(moeAuxXent()))))))),
  'fuse-aux-loss-dispatch/moe-aux-xent-grads': () => fuseAuxLoss(fuseCrossEntropy(cse(simplify(autodiff(moeAuxXent()))))),
  'fuse-aux-loss-dispatch/moe-aux-grads': () => fuseAuxLoss(cse(simplify(autodiff(moeAuxLoss())))),
  'fuse-loss-sum/moe-aux-xent-grads': () => fuseAuxLossDispatch(fuseAuxLoss(fuseCrossEntropy(cse(simplify(autodiff(moeAuxXent())))))),
  'fuse-loss-sum/moe-aux-xent-unfused-aux': () => fuseAuxLoss(fuseCrossEntropy(cse(simplify(autodiff(moeAuxXent()))))),
  'fuse-combine-add/moe-residual-grads': () => cse(simplify(autodiff(moeResidual()))),
  'fuse-combine-add/moe-residual-forward': moeResidual,
  'autodiff/mlp': mlpLoss,
  'autodiff/moe-sd': () => moeBlockLoss(true),
  'autodiff/attention': attentionBlock,
  'simplify/units': unitOps,
  'simplify/mlp-grads': () => autodiff(mlpLoss()),
  'simplify/attention-grads': () => autodiff(attentionBlock()),
  'cse/dups': duplicates,
  'cse/moe-grads': () => simplify(autodiff(moeBlockLoss(false))),
  'fuse-expert-weight/moe-sd-grads': () => cse(simplify(autodiff(moeBlockLoss(true)))),
  'fuse-expert-weight/moe-forward': () => moeBlockLoss(false),
  'optimizer/mlp-grads': () => cse(simplify(autodiff(mlpLoss()))),
  'optimizer/moe-sd-grads': () => cse(simplify(autodiff(moeBlockLoss(true)))),
};
