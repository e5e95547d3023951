// Lowers a normalised model config to the forward IR graph of one training micro-batch:
// tokens → embedding → [norm → attention (RoPE, grouped KV) → residual → norm → dense FFN or
// MoE block] × layers → norm → LM head → cross-entropy (+ router aux losses) = `loss`.
// The norm is RMSNorm (weight) or LayerNorm (weight and bias, `<weight name>.bias`).
//
// MoE block: router GEMM → router (scores, top-k) → dispatch (count, prefix-sum, permute, all on
// the device) → grouped expert GEMMs (gate, up, down) → weighted combine, plus shared experts
// (optionally sigmoid-gated). Every FFN (routed experts, shared experts, dense layers) uses the
// model's one activation: gated ones (swiglu, geglu) have gate, up and down matrices,
// act(x·gate) ⊙ (x·up) → down; non-gated ones (gelu, relu, silu) have up and down only,
// act(x·up) → down. Spectral targets get their expert weights as `expert_weight` proxies
// (W_c + W_u(i)) whose gradient rule is SD-MoE's projection; everything else is unchanged, which
// is how a baseline and its SD variant differ by one line of .moe.
import { InternalError } from '../../base/errors.ts';
import { GATED_ACTIVATIONS, type ModelConfig, type SpectralTarget } from '../config/types.ts';
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
const ZEROS: ParamInit = { kind: 'zeros' };

function checkSupported(m: ModelConfig): void {
  const unsupported: string[] = [];
  const undecomposed = (m.spectral?.targets ?? []).filter((t) => !t.startsWith('expert.'));
  // `check` refuses these (the matrix does not exist); a config built in code must not lose them silently.
  if (m.spectral?.targets.includes('expert.gate') && !GATED_ACTIVATIONS.includes(m.moe.activation)) unsupported.push(`spectral target expert.gate with the non-gated activation ${m.moe.activation} (no gate matrix)`);
  if (undecomposed.length > 0) unsupported.push(`spectral targets ${undecomposed.join(', ')} (only expert.* matrices are decomposed)`);
  // Load-balance scope is not a lowering matter: this graph is one micro-batch, and with
  // grad_accum > 1 `scope = global` takes f_e from the step's counting pass (compiler/pipeline.ts).
  if (unsupported.length > 0) {
    throw new LoweringError(`model ${m.name}: the training engine does not support ${unsupported.join(', ')} yet`);
  }
}

/** Extra outputs for evaluations: `routerProbs` adds each MoE layer's router scores
 *  `moe.<l>.router_probs` [tokens, experts] (an eval block's router_entropy). */
export interface LoweringOutputs {
  readonly routerProbs?: boolean;
}

/**
 * What the named outputs of a lowered model beyond loss, ce_loss and ce_tokens are. Consumers (the
 * trainer, evaluations) select outputs by role through `modelOutputs`, never by parsing names;
 * `outputName` is the one place the names are made, for lowerModel and modelOutputs alike.
 */
export type ModelOutputRole =
  | { readonly kind: 'expert_counts'; readonly layer: number }
  | { readonly kind: 'router_probs'; readonly layer: number }
  | { readonly kind: 'aux_loss'; readonly layer: number; readonly loss: 'load_balance' | 'z_loss' };

export function outputName(role: ModelOutputRole): string {
  switch (role.kind) {
    case 'expert_counts':
      return `moe.${role.layer}.counts`;
    case 'router_probs':
      return `moe.${role.layer}.router_probs`;
    case 'aux_loss':
      return `aux.${role.layer}.${role.loss}`;
  }
}

/** The role-carrying outputs lowerModel(m, …, opts) adds, in layer order (test/lower/outputs.test.ts
 *  checks the two agree for every model in models/). */
export function modelOutputs(m: ModelConfig, opts: LoweringOutputs = {}): { name: string; role: ModelOutputRole }[] {
  const roles: ModelOutputRole[] = [];
  for (let l = m.denseLayers; l < m.layers; l++) {
    roles.push({ kind: 'expert_counts', layer: l });
    if (opts.routerProbs) roles.push({ kind: 'router_probs', layer: l });
    if (m.moe.router.auxLoss) roles.push({ kind: 'aux_loss', layer: l, loss: 'load_balance' });
    if (m.moe.router.zLoss > 0) roles.push({ kind: 'aux_loss', layer: l, loss: 'z_loss' });
  }
  return roles.map((role) => ({ name: outputName(role), role }));
}

export function lowerModel(m: ModelConfig, shape: LoweringShape, opts: LoweringOptions & LoweringOutputs = {}): Graph {
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

  const activation = m.moe.activation;
  const gated = GATED_ACTIVATIONS.includes(activation);
  /** The FFN nonlinearity: on (gate, up) pre-activations when gated, on up alone otherwise. */
  const nonlinearity = (g: Value | undefined, u: Value): Value => {
    if (activation === 'swiglu' || activation === 'geglu') {
      if (!g) throw new InternalError(`lowerModel: ${activation} needs a gate pre-activation`);
      return activation === 'swiglu' ? ir.swiglu(g, u) : ir.geglu(g, u);
    }
    return ir.activation(activation, u);
  };
  const norm = (h: Value, name: string): Value =>
    m.norm.kind === 'layernorm'
      ? ir.layernorm(h, ir.param(name, [D], ONES, 'norm'), ir.param(`${name}.bias`, [D], ZEROS, 'norm'), eps)[0]
      : ir.rmsnorm(h, ir.param(name, [D], ONES, 'norm'), eps);

  const denseFfn = (prefix: string, h: Value, hidden: number): Value => {
    const g = gated ? ir.matmul(h, ir.param(`${prefix}.gate`, [D, hidden], normal(std))) : undefined;
    const u = ir.matmul(h, ir.param(`${prefix}.up`, [D, hidden], normal(std)));
    return ir.matmul(nonlinearity(g, u), ir.param(`${prefix}.down`, [hidden, D], normal(residualStd)));
  };

  for (let l = 0; l < m.layers; l++) {
    const p = `layers.${l}`;
    const h = norm(x, `${p}.attn_norm`);
    const ropeAttrs = { theta: ropeTheta, headDim, seqLen: shape.seqLen, inverse: false };
    const q = ir.rope(ir.matmul(h, ir.param(`${p}.attn.q`, [D, heads * headDim], normal(std))), { ...ropeAttrs, heads });
    const k = ir.rope(ir.matmul(h, ir.param(`${p}.attn.k`, [D, kvHeads * headDim], normal(std))), { ...ropeAttrs, heads: kvHeads });
    const v = ir.matmul(h, ir.param(`${p}.attn.v`, [D, kvHeads * headDim], normal(std)));
    const [o] = ir.attention(q, k, v, { heads, kvHeads, headDim, seqLen: shape.seqLen });
    x = ir.add(x, ir.matmul(o, ir.param(`${p}.attn.o`, [heads * headDim, D], normal(residualStd))));

    const h2 = norm(x, `${p}.ffn_norm`);
    if (l < m.denseLayers) {
      x = ir.add(x, denseFfn(`${p}.ffn`, h2, m.denseHidden));
      continue;
    }
    const { experts: E, topK, expertHidden: F, router } = m.moe;
    const logits = ir.matmul(h2, ir.param(`${p}.moe.router`, [D, E], normal(std), 'router', { kind: 'router', layer: l }));
    // DeepSeek-V3 routing options: group-limited choice (router attrs) and the aux-loss-free
    // selection bias, a zero-initialised untrained param the optimizer pass updates after each step.
    const groups = router.groups > 1 ? { groups: router.groups, topGroups: router.topGroups } : {};
    const bias = router.auxFreeBias ? ir.param(`${p}.moe.router_bias`, [E], { kind: 'zeros' }, 'frozen', { kind: 'router_bias', layer: l, rate: router.auxFreeBias.rate }) : undefined;
    const [idx, weights, probs] = ir.router(logits, { score: router.score, topK, normalize: router.normalizeTopK, scale: router.routedScale, ...groups }, bias);
    const capacity = m.moe.capacity.kind === 'factor' ? { capacityFactor: m.moe.capacity.factor } : {};
    const [xs, permRow, counts] = ir.moeDispatch(h2, idx, { experts: E, topK, ...capacity });
    outputs[outputName({ kind: 'expert_counts', layer: l })] = counts;
    if (opts.routerProbs) outputs[outputName({ kind: 'router_probs', layer: l })] = probs;
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
    const g = gated ? ir.groupedMatmul(xs, [expertWeight('gate', D, F, std)], counts, gm) : undefined;
    const u = ir.groupedMatmul(xs, [expertWeight('up', D, F, std)], counts, gm);
    const ys = ir.groupedMatmul(nonlinearity(g, u), [expertWeight('down', F, D, residualStd)], counts, gm);
    let y = ir.moeCombine(ys, permRow, weights, topK);
    if (m.moe.shared) {
      let s = denseFfn(`${p}.moe.shared`, h2, m.moe.shared.count * m.moe.shared.hidden);
      if (m.moe.shared.gated) s = ir.mul(ir.unary('sigmoid', ir.matmul(h2, ir.param(`${p}.moe.shared.gate_proj`, [D, 1], normal(std), 'router'))), s);
      y = ir.add(y, s);
    }
    if (router.auxLoss) {
      const lb = ir.auxLoss(probs, idx, { kind: 'load_balance', coef: router.auxLoss.coef, experts: E, topK });
      outputs[outputName({ kind: 'aux_loss', layer: l, loss: 'load_balance' })] = lb;
      aux.push(lb);
    }
    if (router.zLoss > 0) {
      const z = ir.auxLoss(logits, idx, { kind: 'z_loss', coef: router.zLoss, experts: E, topK });
      outputs[outputName({ kind: 'aux_loss', layer: l, loss: 'z_loss' })] = z;
      aux.push(z);
    }
    x = ir.add(x, y);
  }

  const hf = norm(x, 'final_norm');
  const head = m.tieEmbeddings ? embed : ir.param('lm_head', [D, m.vocab], normal(std));
  const [ceTokens, ce] = chunkedLmHead(T, m.vocab, opts)
    ? ir.lmHeadXent(hf, head, targets, m.tieEmbeddings)
    : ir.crossEntropy(ir.matmul(hf, head, false, m.tieEmbeddings), targets);
  let loss = ce;
  for (const a of aux) loss = ir.add(loss, a);
  return graph(m.name, { loss, ce_loss: ce, ce_tokens: ceTokens, ...outputs });
}
