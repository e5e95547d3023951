// Lowers a normalised model config to the forward IR graph of one training micro-batch:
// tokens → embedding → [RMSNorm → attention (RoPE, grouped KV) → residual → RMSNorm → dense FFN or
// MoE block] × layers → RMSNorm → LM head → cross-entropy (+ router aux losses) = `loss`.
//
// MoE block: router GEMM → router (scores, top-k) → dispatch (count, prefix-sum, permute, all on
// the device) → grouped expert GEMMs (gate, up, down) → weighted combine, plus shared experts
// (optionally sigmoid-gated). Spectral targets get their expert weights as `expert_weight` proxies
// (W_c + W_u(i)) whose gradient rule is SD-MoE's projection; everything else is unchanged, which
// is how a baseline and its SD variant differ by one line of .moe.
import type { ModelConfig, SpectralTarget } from '../config/types.ts';
import { ir } from '../ir/build.ts';
import { graph } from '../ir/graph.ts';
import type { Graph, ParamInit, ParamRole, Value } from '../ir/types.ts';
import { LM_HEAD_CHUNK_BYTES } from '../kernels/lm-head-xent.ts';

export class LoweringError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LoweringError';
  }
}

/** A plan refused because a buffer would exceed the adapter's storage binding limit (the message
 *  names the buffer); `compile` reports it as an error, not as a skipped back end. */
export class BufferLimitError extends LoweringError {
  constructor(message: string) {
    super(message);
    this.name = 'BufferLimitError';
  }
}

export interface LoweringShape {
  /** Sequences per micro-batch. */
  readonly batch: number;
  readonly seqLen: number;
}

export interface LoweringOptions {
  /**
   * LM head + cross-entropy: `whole` materialises the logits [T, V] (matmul, then cross_entropy);
   * `chunked` uses `lm_head_xent`, which never holds more than a chunk of rows; `auto` (default)
   * chunks exactly when the logits exceed one chunk (LM_HEAD_CHUNK_BYTES, or the binding limit
   * when that is smaller), so small vocabularies keep the plain path (docs/benchmarks.md, lm-head).
   */
  readonly lmHead?: 'auto' | 'chunked' | 'whole';
  /** The adapter's storage binding limit (bytes), for `auto`; default: no limit below the chunk size. */
  readonly maxBindingBytes?: number;
}

/** Whether the LM head of `tokens` rows over `vocab` is lowered to the chunked op. */
export function chunkedLmHead(tokens: number, vocab: number, opts: LoweringOptions = {}): boolean {
  const mode = opts.lmHead ?? 'auto';
  return mode === 'chunked' || (mode === 'auto' && tokens * vocab * 4 > Math.min(LM_HEAD_CHUNK_BYTES, opts.maxBindingBytes ?? Infinity));
}

const ONES: ParamInit = { kind: 'ones' };

function checkSupported(m: ModelConfig): void {
  const unsupported: string[] = [];
  if (m.norm.kind !== 'rmsnorm') unsupported.push(`norm ${m.norm.kind}`);
  if (m.moe.activation !== 'swiglu') unsupported.push(`activation ${m.moe.activation}`);
  if (m.moe.router.groups > 1) unsupported.push('group-limited routing');
  if (m.moe.router.auxFreeBias) unsupported.push('aux-loss-free bias');
  const undecomposed = (m.spectral?.targets ?? []).filter((t) => !t.startsWith('expert.'));
  if (undecomposed.length > 0) unsupported.push(`spectral targets ${undecomposed.join(', ')} (only expert.* matrices are decomposed)`);
  // Load-balance scope: the engine trains one micro-batch per optimizer step (grad_accum 1, which
  // the trainer enforces), so 'global' and 'micro_batch' statistics are the same batch.
  if (unsupported.length > 0) {
    throw new LoweringError(`model ${m.name}: the training engine does not support ${unsupported.join(', ')} yet`);
  }
}

export function lowerModel(m: ModelConfig, shape: LoweringShape, opts: LoweringOptions = {}): Graph {
  checkSupported(m);
  const T = shape.batch * shape.seqLen;
  const D = m.dim;
  const { heads, kvHeads, headDim, ropeTheta } = m.attention;
  const std = m.initStd;
  const residualStd = std / Math.sqrt(2 * m.layers);
  const normal = (s: number): ParamInit => ({ kind: 'normal', std: s });
  const eps = m.norm.eps;
  const spectral = new Set<SpectralTarget>(m.spectral?.targets ?? []);
  const rank = m.spectral?.rank ?? 0;

  const tokens = ir.input('tokens', 'i32', [T]);
  const targets = ir.input('targets', 'i32', [T]);
  const embed = ir.param('embed', [m.vocab, D], normal(std), 'embed');
  let x = ir.embedding(embed, tokens);
  const aux: Value[] = [];
  const outputs: Record<string, Value> = {};

  const denseSwiglu = (prefix: string, h: Value, hidden: number): Value => {
    const g = ir.matmul(h, ir.param(`${prefix}.gate`, [D, hidden], normal(std)));
    const u = ir.matmul(h, ir.param(`${prefix}.up`, [D, hidden], normal(std)));
    return ir.matmul(ir.swiglu(g, u), ir.param(`${prefix}.down`, [hidden, D], normal(residualStd)));
  };

  for (let l = 0; l < m.layers; l++) {
    const p = `layers.${l}`;
    const h = ir.rmsnorm(x, ir.param(`${p}.attn_norm`, [D], ONES, 'norm'), eps);
    const ropeAttrs = { theta: ropeTheta, headDim, seqLen: shape.seqLen, inverse: false };
    const q = ir.rope(ir.matmul(h, ir.param(`${p}.attn.q`, [D, heads * headDim], normal(std))), { ...ropeAttrs, heads });
    const k = ir.rope(ir.matmul(h, ir.param(`${p}.attn.k`, [D, kvHeads * headDim], normal(std))), { ...ropeAttrs, heads: kvHeads });
    const v = ir.matmul(h, ir.param(`${p}.attn.v`, [D, kvHeads * headDim], normal(std)));
    const [o] = ir.attention(q, k, v, { heads, kvHeads, headDim, seqLen: shape.seqLen });
    x = ir.add(x, ir.matmul(o, ir.param(`${p}.attn.o`, [heads * headDim, D], normal(residualStd))));

    const h2 = ir.rmsnorm(x, ir.param(`${p}.ffn_norm`, [D], ONES, 'norm'), eps);
    if (l < m.denseLayers) {
      x = ir.add(x, denseSwiglu(`${p}.ffn`, h2, m.denseHidden));
      continue;
    }
    const { experts: E, topK, expertHidden: F, router } = m.moe;
    const logits = ir.matmul(h2, ir.param(`${p}.moe.router`, [D, E], normal(std), 'router', { kind: 'router', layer: l }));
    const [idx, weights, probs] = ir.router(logits, { score: router.score, topK, normalize: router.normalizeTopK, scale: router.routedScale });
    const capacity = m.moe.capacity.kind === 'factor' ? { capacityFactor: m.moe.capacity.factor } : {};
    const [xs, permRow, counts] = ir.moeDispatch(h2, idx, { experts: E, topK, ...capacity });
    outputs[`moe.${l}.counts`] = counts;
    const expertWeight = (matrix: 'gate' | 'up' | 'down', rows: number, cols: number, s: number): Value => {
      const name = `${p}.moe.experts.${matrix}`;
      if (!spectral.has(`expert.${matrix}`)) return ir.param(name, [E, rows, cols], normal(s), 'experts', { kind: 'experts', layer: l, matrix });
      const sd = (part: 'common' | 'unique' | 'basis_u' | 'basis_v'): ParamRole => ({ kind: 'sd', part, layer: l, matrix, target: name });
      const common = ir.param(`${name}.common`, [rows, cols], normal(s), 'experts_common', sd('common'));
      const unique = ir.param(`${name}.unique`, [E, rows, cols], normal(s), 'experts', sd('unique'));
      const bases = [
        ir.param(`${name}.U_k`, [rows, rank], { kind: 'zeros' }, 'frozen', sd('basis_u')),
        ir.param(`${name}.V_k`, [cols, rank], { kind: 'zeros' }, 'frozen', sd('basis_v')),
      ] as const;
      return ir.expertWeight(common, unique, { experts: E, spectral: true, aggregate: m.spectral!.commonGrad, ...(m.spectral!.project === 'update' ? { project: 'update' as const } : {}) }, bases);
    };
    const gm = { experts: E, sharedWeight: false };
    const g = ir.groupedMatmul(xs, [expertWeight('gate', D, F, std)], counts, gm);
    const u = ir.groupedMatmul(xs, [expertWeight('up', D, F, std)], counts, gm);
    const ys = ir.groupedMatmul(ir.swiglu(g, u), [expertWeight('down', F, D, residualStd)], counts, gm);
    let y = ir.moeCombine(ys, permRow, weights, topK);
    if (m.moe.shared) {
      let s = denseSwiglu(`${p}.moe.shared`, h2, m.moe.shared.count * m.moe.shared.hidden);
      if (m.moe.shared.gated) s = ir.mul(ir.unary('sigmoid', ir.matmul(h2, ir.param(`${p}.moe.shared.gate_proj`, [D, 1], normal(std), 'router'))), s);
      y = ir.add(y, s);
    }
    if (router.auxLoss) {
      const lb = ir.auxLoss(probs, idx, { kind: 'load_balance', coef: router.auxLoss.coef, experts: E, topK });
      outputs[`aux.${l}.load_balance`] = lb;
      aux.push(lb);
    }
    if (router.zLoss > 0) {
      const z = ir.auxLoss(logits, idx, { kind: 'z_loss', coef: router.zLoss, experts: E, topK });
      outputs[`aux.${l}.z_loss`] = z;
      aux.push(z);
    }
    x = ir.add(x, y);
  }

  const hf = ir.rmsnorm(x, ir.param('final_norm', [D], ONES, 'norm'), eps);
  const head = m.tieEmbeddings ? embed : ir.param('lm_head', [D, m.vocab], normal(std));
  const [ceTokens, ce] = chunkedLmHead(T, m.vocab, opts)
    ? ir.lmHeadXent(hf, head, targets, m.tieEmbeddings)
    : ir.crossEntropy(ir.matmul(hf, head, false, m.tieEmbeddings), targets);
  let loss = ce;
  for (const a of aux) loss = ir.add(loss, a);
  return graph(m.name, { loss, ce_loss: ce, ce_tokens: ceTokens, ...outputs });
}
