// Every IR pass, by name, with a one-line summary. Each pass is a pure Graph → Graph function in
// its own file; any of them can run alone (`sdmoec opt --passes=a,b FILE.ir`) for text-in,
// text-out tests. The default training pipeline is the ordered list `TRAINING_PIPELINE`.
import type { Graph } from '../ir/types.ts';
import { autodiff } from './autodiff.ts';
import { cse } from './cse.ts';
import { fuseAttentionGradRope } from './fuse-attention-grad-rope.ts';
import { fuseAuxLoss } from './fuse-aux-loss.ts';
import { fuseAuxLossSum } from './fuse-aux-loss-sum.ts';
import { fuseAuxLossDispatch } from './fuse-aux-loss-dispatch.ts';
import { fuseLossSum } from './fuse-loss-sum.ts';
import { fuseCombineAdd } from './fuse-combine-add.ts';
import { fuseCombineNorm } from './fuse-combine-norm.ts';
import { fuseCombineRouterGrad } from './fuse-combine-router-grad.ts';
import { fuseEmbeddingNorm } from './fuse-embedding-norm.ts';
import { fuseEmbeddingSort } from './fuse-embedding-sort.ts';
import { fuseNormMatmul } from './fuse-norm-matmul.ts';
import { fuseNormGradCombineGrad } from './fuse-norm-grad-combine-grad.ts';
import { fuseRouterLogits } from './fuse-router-logits.ts';
import { fuseCrossEntropy } from './fuse-cross-entropy.ts';
import { fuseExpertWeight } from './fuse-expert-weight.ts';
import { fuseGatherGradAdd } from './fuse-gather-grad-add.ts';
import { fuseGatherGradMatmul } from './fuse-gather-grad-matmul.ts';
import { fuseGradXAdd } from './fuse-grad-x-add.ts';
import { fuseLmHeadXent } from './fuse-lm-head-xent.ts';
import { fuseMatmulAdd } from './fuse-matmul-add.ts';
import { fuseMatmulRope } from './fuse-matmul-rope.ts';
import { fuseRmsnormGradAdd } from './fuse-rmsnorm-grad-add.ts';
import { fuseRopePair } from './fuse-rope-pair.ts';
import { fuseSwigluGemm } from './fuse-swiglu-gemm.ts';
import { optimizer, DEFAULT_OPTIMIZER, type OptimizerOptions } from './optimizer.ts';
import { simplify } from './simplify.ts';

export interface PassContext {
  readonly optimizer?: OptimizerOptions;
}

export interface PassInfo {
  readonly name: string;
  readonly summary: string;
  /** A fusion the program is correct without: CompileOptions.withoutPasses may leave it out (bench/fusions.ts). */
  readonly optional?: true;
  readonly run: (g: Graph, ctx: PassContext) => Graph;
}

export const PASSES: readonly PassInfo[] = [
  { name: 'autodiff', summary: 'reverse-mode gradients of `loss` w.r.t. every trainable param, as grad.<p> outputs', run: (g) => autodiff(g) },
  { name: 'simplify', summary: 'drop multiplications by one, additions of zero and identity reshapes', run: (g) => simplify(g) },
  { name: 'cse', summary: 'merge nodes with identical op, attrs and operands', run: (g) => cse(g) },
  { name: 'fuse-expert-weight', summary: 'fold W_c + W_u(i) proxies into the grouped expert GEMMs that read them', run: (g) => fuseExpertWeight(g) },
  { name: 'fuse-cross-entropy', summary: 'one row pass for a cross-entropy and its gradient over the same logits', run: (g) => fuseCrossEntropy(g) },
  { name: 'fuse-lm-head-xent', summary: 'one pass over the logit chunks for a chunked LM-head cross-entropy and its gradient', run: (g) => fuseLmHeadXent(g) },
  { name: 'fuse-matmul-add', summary: 'x + A·B as one matmul accumulating onto x (residuals, gradient sums)', optional: true, run: (g) => fuseMatmulAdd(g) },
  { name: 'fuse-rmsnorm-grad-add', summary: 'acc + rmsnorm dx as one rmsnorm_grad adding acc in its row pass (residual gradients)', optional: true, run: (g) => fuseRmsnormGradAdd(g) },
  { name: 'fuse-rope-pair', summary: 'two ropes of the same rotation (q and k, dq and dk) as one two-operand rope', optional: true, run: (g) => fuseRopePair(g) },
  { name: 'fuse-matmul-rope', summary: 'the forward rope of q and k into the matmuls that project them (rotated in the GEMM epilogue)', optional: true, run: (g) => fuseMatmulRope(g) },
  { name: 'fuse-attention-grad-rope', summary: 'the inverse rope of dq and dk into the attention_grad that produces them (rotated as they are stored)', optional: true, run: (g) => fuseAttentionGradRope(g) },
  { name: 'fuse-aux-loss', summary: 'an MoE aux loss and its gradient as one aux_loss node (one dispatch per layer)', run: (g) => fuseAuxLoss(g) },
  { name: 'fuse-aux-loss-dispatch', summary: 'a fused load-balance aux loss into the moe_dispatch permuting its idx (computed from the permutation\'s histogram in the serial permute on CPU adapters)', optional: true, run: (g) => fuseAuxLossDispatch(g) },
  { name: 'fuse-loss-sum', summary: 'the total loss, ((ce + aux_1) + aux_2) + …, as addends of the fused cross-entropy (its masked-mean dispatch writes the sum)', optional: true, run: (g) => fuseLossSum(g) },
  { name: 'fuse-aux-loss-sum', summary: 'total + a fused aux loss as a fourth operand of that aux node (the scalar loss adds)', run: (g) => fuseAuxLossSum(g) },
  { name: 'fuse-combine-add', summary: 'x + moe_combine(...) as one combine adding x in its epilogue (the MoE residual)', optional: true, run: (g) => fuseCombineAdd(g) },
  { name: 'fuse-combine-norm', summary: 'rmsnorm(moe_combine(..., x)) as one combine normalising its result (the next norm of the residual stream)', optional: true, run: (g) => fuseCombineNorm(g) },
  { name: 'fuse-embedding-norm', summary: 'rmsnorm(embedding(...)) as one lookup normalising the rows it copies (the first norm of the residual stream)', optional: true, run: (g) => fuseEmbeddingNorm(g) },
  { name: 'fuse-norm-matmul', summary: 'matmul(rmsnorm(x), W) as one product normalising A in its prologue (the pre-MoE norm into the router logits)', optional: true, run: (g) => fuseNormMatmul(g) },
  { name: 'fuse-router-logits', summary: 'router(matmul(x, W)) as one router computing its logits (with the matmul\'s fused norm): the MoE gate in the router kernel', optional: true, run: (g) => fuseRouterLogits(g) },
  { name: 'fuse-embedding-sort', summary: 'the backward\'s sort of the token ids into the forward lookup of the same ids (its extra workgroup on CPU adapters)', optional: true, run: (g) => fuseEmbeddingSort(g) },
  { name: 'fuse-gather-grad-add', summary: 'moe_gather_grad(a + b) as one un-permute summing a and b per row (SwiGLU experts\' two input gradients)', optional: true, run: (g) => fuseGatherGradAdd(g) },
  { name: 'fuse-grad-x-add', summary: 'moe_gather_grad(a, permRow, b) of two grouped data gradients as the un-permute of one, b\'s GEMM adding a in its epilogue (in place)', optional: true, run: (g) => fuseGradXAdd(g) },
  { name: 'fuse-gather-grad-matmul', summary: 'matmul_add(dl, W_r, moe_gather_grad(...)) as one un-permute adding the router logits\' input gradient in its row pass', optional: true, run: (g) => fuseGatherGradMatmul(g) },
  { name: 'fuse-combine-router-grad', summary: 'router_grad(moe_combine_grad(...) dWeights) as one combine backward also differentiating the router (a token\'s k dots and its router backward in one invocation on CPU adapters)', optional: true, run: (g) => fuseCombineRouterGrad(g) },
  { name: 'fuse-norm-grad-combine-grad', summary: 'moe_combine_grad(rmsnorm_grad(...) dx) as one combine backward running the norm backward in front (a token\'s dx row handed to its expert rows as it is stored, on CPU adapters)', optional: true, run: (g) => fuseNormGradCombineGrad(g) },
  { name: 'fuse-swiglu-gemm', summary: 'SwiGLU into the grouped GEMMs beside it: h in the up GEMM\'s epilogue, (dg, du) in the down data-gradient GEMM\'s', optional: true, run: (g) => fuseSwigluGemm(g) },
  { name: 'optimizer', summary: 'global-norm clipping and one AdamW update per param (update.<p>, state.<p>.*)', run: (g, ctx) => optimizer(g, ctx.optimizer ?? DEFAULT_OPTIMIZER) },
];

// `fuse-expert-weight` is not in the default pipelines: on lavapipe, materialising each SD proxy
// once per step (one broadcast add) was ~12 % faster per demo_sd step than summing W_c + W_u in
// every grouped GEMM load (median of 20 timed steps after 3 warm-ups, two builds each,
// alternating: 104 and 109 ms against 119 and 128 ms; measured with a throwaway script while
// choosing the default; `npm run bench -- train-step --set train.model=demo_sd` on each build
// reproduces the comparison). It stays available
// (`sdmoec opt --passes=fuse-expert-weight`) for adapters where memory or bandwidth favour it.
export const TRAINING_PIPELINE: readonly string[] = ['autodiff', 'simplify', 'cse', 'fuse-cross-entropy', 'fuse-lm-head-xent', 'fuse-matmul-add', 'fuse-rmsnorm-grad-add', 'fuse-rope-pair', 'fuse-matmul-rope', 'fuse-attention-grad-rope', 'fuse-aux-loss', 'fuse-aux-loss-dispatch', 'fuse-loss-sum', 'fuse-aux-loss-sum', 'fuse-combine-add', 'fuse-combine-norm', 'fuse-embedding-norm', 'fuse-norm-matmul', 'fuse-router-logits', 'fuse-embedding-sort', 'fuse-gather-grad-add', 'fuse-grad-x-add', 'fuse-gather-grad-matmul', 'fuse-combine-router-grad', 'fuse-norm-grad-combine-grad', 'fuse-swiglu-gemm', 'optimizer', 'cse'];

/** The forward-only program used for evaluation. */
export const EVALUATION_PIPELINE = ['simplify', 'cse', 'fuse-matmul-add', 'fuse-rope-pair', 'fuse-matmul-rope', 'fuse-combine-add', 'fuse-combine-norm', 'fuse-embedding-norm', 'fuse-norm-matmul', 'fuse-router-logits', 'fuse-swiglu-gemm'] as const;

export function findPass(name: string): PassInfo | undefined {
  return PASSES.find((p) => p.name === name);
}

export function runPasses(g: Graph, names: readonly string[], ctx: PassContext = {}, after?: (name: string, g: Graph) => void): Graph {
  let cur = g;
  for (const name of names) {
    const pass = findPass(name);
    if (!pass) throw new Error(`unknown pass '${name}'`);
    cur = pass.run(cur, ctx);
    after?.(name, cur);
  }
  return cur;
}
