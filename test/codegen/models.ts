// Tiny model configs for end-to-end compiler tests (kept small so lavapipe runs them in seconds).
import type { Activation, ModelConfig } from '../../compiler/config/types.ts';

export interface TinyModelOptions {
  dense?: boolean;
  spectral?: boolean;
  shared?: boolean;
  /** Default rmsnorm. */
  norm?: 'rmsnorm' | 'layernorm';
  /** Default swiglu; non-gated activations get spectral targets up and down only. */
  activation?: Activation;
  /** Dense first layers (overrides `dense`'s all-dense). */
  denseLayers?: number;
}

export function tinyModel(opts: TinyModelOptions = {}): ModelConfig {
  const activation = opts.activation ?? 'swiglu';
  const gated = activation === 'swiglu' || activation === 'geglu';
  return {
    name: opts.dense ? 'tiny_dense' : opts.spectral ? 'tiny_sd' : 'tiny_moe',
    vocab: 40,
    dim: 16,
    layers: 2,
    maxSeq: 8,
    denseLayers: opts.denseLayers ?? (opts.dense ? 2 : 0),
    denseHidden: 24,
    tieEmbeddings: false,
    initStd: 0.3,
    attention: { heads: 2, kvHeads: 1, headDim: 8, ropeTheta: 10000 },
    norm: { kind: opts.norm ?? 'rmsnorm', eps: 1e-5 },
    moe: {
      experts: 4,
      topK: 2,
      expertHidden: 12,
      activation,
      shared: opts.shared === false ? null : { count: 1, hidden: 8, gated: true },
      capacity: { kind: 'dropless' },
      router: { score: 'softmax', normalizeTopK: true, auxLoss: { coef: 0.01, scope: 'micro_batch' }, zLoss: 0.001, groups: 1, topGroups: 1, routedScale: 1, auxFreeBias: null },
    },
    spectral: opts.spectral
      ? { targets: gated ? ['expert.gate', 'expert.up', 'expert.down'] : ['expert.up', 'expert.down'], rank: 2, rebaseEvery: 16, init: 'orthogonal_complement', residual: 'keep', reproject: true, moments: 'keep', project: 'gradient', commonGrad: 'sum' }
      : null,
  };
}
