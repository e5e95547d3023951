// The tiny MoE transformer config shared by the whole-model gradient test and the pass pipeline
// tests: vocab 32, dim 16, 2 layers, 2 heads over 1 KV head (headDim 8), 4 experts top-2 of hidden
// 12, one gated shared expert, load-balance aux loss and z-loss; batch 2 × seqLen 4. Built by hand
// (not parsed from .moe) so these tests depend only on the normalised config type.
import type { ModelConfig } from '../../compiler/config/types.ts';

export const SHAPE = { batch: 2, seqLen: 4 };
export const T = SHAPE.batch * SHAPE.seqLen;

export function tinyModel(spectral: boolean): ModelConfig {
  return {
    name: spectral ? 'tiny_sd' : 'tiny',
    vocab: 32,
    dim: 16,
    layers: 2,
    maxSeq: SHAPE.seqLen,
    denseLayers: 0,
    denseHidden: 0,
    tieEmbeddings: false,
    initStd: 0.3,
    attention: { heads: 2, kvHeads: 1, headDim: 8, ropeTheta: 10000 },
    norm: { kind: 'rmsnorm', eps: 1e-5 },
    moe: {
      experts: 4,
      topK: 2,
      expertHidden: 12,
      activation: 'swiglu',
      shared: { count: 1, hidden: 8, gated: true },
      capacity: { kind: 'dropless' },
      router: {
        score: 'softmax',
        normalizeTopK: true,
        auxLoss: { coef: 0.1, scope: 'micro_batch' },
        zLoss: 0.01,
        groups: 1,
        topGroups: 1,
        routedScale: 1,
        auxFreeBias: null,
      },
    },
    spectral: spectral
      ? {
          targets: ['expert.gate', 'expert.up', 'expert.down'],
          rank: 2,
          rebaseEvery: 16,
          init: 'orthogonal_complement',
          residual: 'keep',
          reproject: true,
          moments: 'keep',
          project: 'gradient',
          commonGrad: 'sum',
        }
      : null,
  };
}
