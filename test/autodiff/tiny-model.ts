// The tiny MoE transformer config shared by the whole-model gradient test and the pass pipeline
// tests: vocab 32, dim 16, 2 layers, 2 heads over 1 KV head (headDim 8), 4 experts top-2 of hidden
// 12, one gated shared expert, load-balance aux loss and z-loss; batch 2 × seqLen 4. Built by hand
// (not parsed from .moe) so these tests depend only on the normalised config type; it is the one
// tiny model of test/codegen/models.ts with a few fields changed, so the two cannot drift apart.
import type { ModelConfig } from '../../compiler/config/types.ts';
import { tinyModel as baseModel } from '../codegen/models.ts';

export const SHAPE = { batch: 2, seqLen: 4 };
export const T = SHAPE.batch * SHAPE.seqLen;

export function tinyModel(spectral: boolean): ModelConfig {
  // The codegen tests' tiny model (test/codegen/models.ts), with this file's smaller vocabulary and
  // sequence and stronger aux losses (their gradients must stand out of the finite-difference noise).
  const m = baseModel({ spectral });
  return {
    ...m,
    name: spectral ? 'tiny_sd' : 'tiny',
    vocab: 32,
    maxSeq: SHAPE.seqLen,
    denseHidden: 0,
    moe: { ...m.moe, router: { ...m.moe.router, auxLoss: { coef: 0.1, scope: 'micro_batch' }, zLoss: 0.01 } },
  };
}
