// Reads one resolved `model` block into a ModelConfig: defaults, ranges, cross-field rules
// (heads divide dim, top_k ≤ experts, rank < min(m, n), …) and warnings for legal oddities.
import { suggestion, type Loc } from '../../grammar/index.ts';
import { MAX_HEAD_DIM } from '../kernels/attention.ts';
import { MOE_MAX_EXPERTS, ROUTER_MAX_GROUPS, ROUTER_MAX_TOPK } from '../kernels/router.ts';
import { BlockReader } from './reader.ts';
import {
  GATED_ACTIVATIONS,
  SPECTRAL_TARGETS,
  type Activation,
  type AttentionConfig,
  type CapacityConfig,
  type ModelConfig,
  type MoeConfig,
  type NormConfig,
  type RouterConfig,
  type SharedExpertConfig,
  type SpectralConfig,
  type SpectralTarget,
} from './types.ts';

const ACTIVATIONS: readonly Activation[] = ['swiglu', 'geglu', 'gelu', 'relu', 'silu'];

function readAttention(r: BlockReader, dim: number): AttentionConfig {
  const a = r.sub('attention');
  const defaultHeads = dim % 64 === 0 ? Math.max(1, dim / 64) : 1;
  const heads = a.int('heads', defaultHeads, { min: 1 });
  const kvHeads = a.int('kv_heads', heads, { min: 1 });
  const headDimWritten = a.present('head_dim');
  const headDim = a.int('head_dim', Math.max(1, Math.floor(dim / heads)), { min: 1 });
  const ropeTheta = a.number('rope_theta', 10000, { above: 0 });
  a.finish();
  const bag = r.ctx.bag;
  if (!r.ok('dim') || !a.ok('heads', 'kv_heads', 'head_dim')) return { heads, kvHeads, headDim, ropeTheta };
  if (!headDimWritten && dim % heads !== 0) {
    bag.error(`attention.heads (${heads}) must divide dim (${dim}), or set attention.head_dim`, a.where('heads'));
  } else if (headDim % 2 !== 0) {
    bag.error(`head dimension ${headDim} must be even for rotary embeddings`, a.where(headDimWritten ? 'head_dim' : 'heads'));
  } else if (headDim > MAX_HEAD_DIM) {
    bag.error(`head dimension ${headDim} is above the ${MAX_HEAD_DIM} the attention kernel supports; use more heads or set attention.head_dim`, a.where(headDimWritten ? 'head_dim' : 'heads'));
  }
  if (heads % kvHeads !== 0) {
    bag.error(`attention.kv_heads (${kvHeads}) must divide attention.heads (${heads})`, a.where('kv_heads'));
  }
  return { heads, kvHeads, headDim, ropeTheta };
}

function readNorm(r: BlockReader): NormConfig {
  const norm = r.call(
    'norm',
    {
      rmsnorm: [{ name: 'eps', type: 'number', default: 1e-6, range: { above: 0 } }],
      layernorm: [{ name: 'eps', type: 'number', default: 1e-5, range: { above: 0 } }],
    },
    'rmsnorm',
  )!;
  return { kind: norm.kind as NormConfig['kind'], eps: norm.args.eps as number };
}

function readRouter(m: BlockReader, experts: number, topK: number, sizesOk: boolean): RouterConfig {
  const r = m.sub('router');
  const bag = m.ctx.bag;
  const score = r.choice('score', ['softmax', 'sigmoid'] as const, 'softmax');
  const normalizeTopK = r.bool('normalize_top_k', score === 'sigmoid');
  const aux = r.call(
    'aux_loss',
    {
      load_balance: [
        { name: 'coef', type: 'number', default: 0.01, range: { min: 0 } },
        { name: 'scope', type: 'name', default: 'micro_batch', options: ['micro_batch', 'global'] },
      ],
    },
    'load_balance',
    true,
  );
  const zLoss = r.numberOrOff('z_loss', null, { min: 0 }) ?? 0;
  const groups = r.int('groups', 1, { min: 1 });
  const topGroups = r.int('top_groups', groups, { min: 1 });
  const routedScale = r.number('routed_scale', 1, { above: 0 });
  const biasRate = r.numberOrOff('aux_free_bias', null, { above: 0 });
  r.finish();

  if (!sizesOk || !r.ok('groups', 'top_groups') || groups === 1) {
    // nothing to relate: sizes already reported, or routing is not group-limited
  } else if (groups > ROUTER_MAX_GROUPS) {
    bag.error(`router.groups (${groups}): the router kernel supports at most ${ROUTER_MAX_GROUPS} groups`, r.where('groups'));
  } else if (experts % groups !== 0) bag.error(`router.groups (${groups}) must divide the number of experts (${experts})`, r.where('groups'));
  else if (topGroups > groups) bag.error(`router.top_groups (${topGroups}) must be at most router.groups (${groups})`, r.where('top_groups'));
  else if (topK > topGroups * (experts / groups)) {
    bag.error(`top_k (${topK}) exceeds the ${topGroups * (experts / groups)} experts reachable in ${topGroups} of ${groups} groups`, r.where('top_groups'));
  }
  const auxLoss = aux ? { coef: aux.args.coef as number, scope: aux.args.scope as 'micro_batch' | 'global' } : null;
  if (auxLoss && auxLoss.coef > 0.1) bag.warning(`aux_loss coefficient ${auxLoss.coef} is unusually large (typical: 0.001–0.01)`, r.where('aux_loss'));
  if (zLoss > 0.01) bag.warning(`z_loss ${zLoss} is unusually large (typical: 0.001)`, r.where('z_loss'));
  if (experts > 1 && (!auxLoss || auxLoss.coef === 0) && biasRate === null) {
    bag.warning('no load balancing (aux_loss off and aux_free_bias off): routing may collapse onto a few experts', r.where('aux_loss'));
  }
  if (normalizeTopK && topK === 1 && score === 'softmax') {
    bag.warning('normalize_top_k with top_k 1 makes every routing weight 1, so the router gets no gradient through the expert output', r.where('normalize_top_k'));
  }
  return {
    score,
    normalizeTopK,
    auxLoss,
    zLoss,
    groups,
    topGroups,
    routedScale,
    auxFreeBias: biasRate === null ? null : { rate: biasRate },
  };
}

function readCapacity(m: BlockReader): CapacityConfig {
  const v = m.value('capacity');
  if (v === undefined) return { kind: 'dropless' };
  if (v.kind === 'name' && v.name === 'dropless') return { kind: 'dropless' };
  if (v.kind === 'number' && v.value > 0) {
    if (v.value < 1) m.ctx.bag.warning(`capacity factor ${v.raw} < 1 drops tokens even when the load is perfectly balanced`, v.loc);
    return { kind: 'factor', factor: v.value };
  }
  const word = v.kind === 'name' ? v.name : '';
  m.ctx.bag.error(`'moe.capacity' must be 'dropless' or a positive capacity factor such as 1.25${suggestion(word, ['dropless'])}`, v.loc);
  return { kind: 'dropless' };
}

function readMoe(r: BlockReader): MoeConfig {
  const m = r.sub('moe');
  const bag = r.ctx.bag;
  const written = { experts: m.int('experts', undefined, { min: 1 }), topK: m.int('top_k', undefined, { min: 1 }) };
  const hidden = m.int('expert_hidden', undefined, { min: 1 });
  const segments = m.int('segments', 1, { min: 1 });
  const activation = m.choice('activation', ACTIVATIONS, 'swiglu');
  const capacity = readCapacity(m);

  const sizesOk = m.ok('experts', 'top_k', 'expert_hidden', 'segments');
  if (sizesOk && hidden % segments !== 0) bag.error(`moe.segments (${segments}) must divide moe.expert_hidden (${hidden})`, m.where('segments'));
  // Fine-grained segmentation (DeepSeekMoE): each expert splits into `segments` smaller ones and
  // top_k grows by the same factor, so compute per token stays the same.
  const experts = written.experts * segments;
  const topK = written.topK * segments;
  const expertHidden = Math.max(1, Math.floor(hidden / segments));
  if (!sizesOk) {
    // already reported
  } else if (written.topK > written.experts) {
    bag.error(`moe.top_k (${written.topK}) must be at most moe.experts (${written.experts})`, m.where('top_k'));
  } else if (experts > MOE_MAX_EXPERTS) {
    // The engine's MoE kernels' limits (compiler/kernels/router.ts), refused here rather than
    // when a kernel is built.
    const how = segments > 1 ? ` (${written.experts} × ${segments} segments)` : '';
    bag.error(`${experts} routed experts${how}: the MoE kernels support at most ${MOE_MAX_EXPERTS} per layer`, m.where(segments > 1 && written.experts <= MOE_MAX_EXPERTS ? 'segments' : 'experts'));
  } else if (topK > ROUTER_MAX_TOPK) {
    const how = segments > 1 ? ` (${written.topK} × ${segments} segments)` : '';
    bag.error(`top-${topK} routing${how}: the router kernel supports at most top-${ROUTER_MAX_TOPK}`, m.where(segments > 1 && written.topK <= ROUTER_MAX_TOPK ? 'segments' : 'top_k'));
  } else if (topK === experts && experts > 1) {
    bag.warning(`moe.top_k equals moe.experts: every token uses every expert, so routing only reweights them`, m.where('top_k'));
  }

  const s = m.sub('shared_expert');
  const sharedCount = s.int('count', 1, { min: 1 });
  const sharedHidden = s.int('hidden', expertHidden, { min: 1 });
  const sharedGated = s.bool('gated', false);
  s.finish();
  const shared: SharedExpertConfig | null = m.enabled('shared_expert', s)
    ? { count: sharedCount, hidden: sharedHidden, gated: sharedGated }
    : null;

  const router = readRouter(m, experts, topK, sizesOk && written.topK <= written.experts);
  m.finish();
  return { experts, topK, expertHidden, activation, shared, capacity, router };
}

function readSpectral(r: BlockReader, model: Omit<ModelConfig, 'spectral' | 'name'>): SpectralConfig | null {
  const s = r.sub('spectral');
  const bag = r.ctx.bag;
  const gated = GATED_ACTIVATIONS.includes(model.moe.activation);
  const defaultTargets: SpectralTarget[] = gated ? ['expert.gate', 'expert.up', 'expert.down'] : ['expert.up', 'expert.down'];
  const targetValues = s.values('targets');
  const targets: SpectralTarget[] = [];
  const targetLocs = new Map<SpectralTarget, Loc>();
  let invalidTargets = 0;
  for (const v of targetValues ?? []) {
    const t = s.checkChoice('targets', v, SPECTRAL_TARGETS);
    if (!t) {
      invalidTargets++;
      continue;
    }
    if (targets.includes(t)) bag.warning(`spectral target '${t}' listed twice`, v.loc);
    else {
      targets.push(t);
      targetLocs.set(t, v.loc);
    }
  }
  if (targetValues === undefined) targets.push(...defaultTargets);
  const rank = s.int('rank', 8, { min: 1 });
  const rebaseEvery = s.interval('rebase', 16, false) ?? 16;
  const init = s.choice('init', ['orthogonal_complement', 'truncated_svd'] as const, 'orthogonal_complement');
  const residual = s.choice('residual', ['keep', 'fold', 'discard'] as const, 'keep');
  const reproject = s.bool('reproject', false);
  const moments = s.choice('moments', ['keep', 'reset'] as const, 'keep');
  const project = s.choice('project', ['gradient', 'update'] as const, 'gradient');
  const commonGrad = s.choice('common_grad', ['sum', 'mean'] as const, 'sum');
  s.finish();
  if (!r.enabled('spectral', s)) return null;

  const moeLayers = model.layers - model.denseLayers;
  const tooSmall: string[] = [];
  const crowded: string[] = [];
  let smallestLimit = Infinity;
  for (const t of targets) {
    const at = targetLocs.get(t) ?? s.where('targets');
    const [group, matrix] = t.split('.') as ['expert' | 'shared' | 'dense', string];
    if (matrix === 'gate' && !gated) {
      bag.error(`spectral target '${t}' needs a gated activation (swiglu or geglu); moe.activation is ${model.moe.activation}`, at);
      continue;
    }
    if (group !== 'expert') {
      // Decoupling needs several matrices sharing one subspace (the routed experts of a layer); the
      // compiler lowers only expert.* targets, so the others are refused here rather than at compile.
      bag.error(`spectral target '${t}' is not supported: only the routed experts' matrices (expert.gate, expert.up, expert.down) are decomposed`, at);
      continue;
    }
    if (group === 'expert' && moeLayers === 0) bag.error(`spectral target '${t}' but every layer is dense`, at);
    if (group === 'expert' && model.moe.experts < 2) bag.error('spectral decomposition needs at least 2 routed experts to share a common subspace', at);
    const hidden = group === 'expert' ? model.moe.expertHidden : group === 'shared' ? (model.moe.shared?.hidden ?? Infinity) : model.denseHidden;
    const limit = Math.min(model.dim, hidden);
    if (!s.ok('rank') || !r.ok('dim')) continue;
    if (rank >= limit) {
      tooSmall.push(t);
      smallestLimit = Math.min(smallestLimit, limit);
    } else if (rank * 4 > limit) crowded.push(`${t} (${limit})`);
  }
  if (tooSmall.length) {
    bag.error(`spectral.rank (${rank}) must be less than min(dim, hidden) = ${smallestLimit} of ${tooSmall.join(', ')}`, s.where('rank'));
  }
  if (crowded.length) {
    bag.warning(`spectral.rank ${rank} is more than a quarter of min(dim, hidden) of ${crowded.join(', ')}; the common subspace dominates`, s.where('rank'));
  }
  if (targets.length === 0 && invalidTargets === 0) bag.warning('spectral is on but targets is empty, so nothing is decomposed', s.where('targets'));
  return { targets, rank, rebaseEvery, init, residual, reproject, moments, project, commonGrad };
}

export function readModel(name: string, r: BlockReader): ModelConfig {
  const bag = r.ctx.bag;
  const vocab = r.int('vocab', undefined, { min: 2 });
  const dim = r.int('dim', undefined, { min: 1 });
  // The bound keeps a typo (65536) from lowering for minutes; the deepest MoE models have ~100 layers.
  const layers = r.int('layers', undefined, { min: 1, max: 1024 });
  const maxSeq = r.int('max_seq', 2048, { min: 2 });
  const tieEmbeddings = r.bool('tie_embeddings', false);
  const initStd = r.number('init_std', 0.02, { above: 0 });
  const attention = readAttention(r, dim);
  const norm = readNorm(r);
  const moe = readMoe(r);
  const denseLayers = r.int('dense_layers', 0, { min: 0 });
  const activeHidden = moe.topK * moe.expertHidden + (moe.shared ? moe.shared.count * moe.shared.hidden : 0);
  const denseHidden = r.int('dense_hidden', activeHidden, { min: 1 });
  if (denseLayers > layers) bag.error(`dense_layers (${denseLayers}) must be at most layers (${layers})`, r.where('dense_layers'));
  else if (denseLayers === layers) bag.warning('every layer is dense (dense_layers = layers), so the moe block is unused', r.where('dense_layers'));
  const base = { vocab, dim, layers, maxSeq, denseLayers, denseHidden, tieEmbeddings, initStd, attention, norm, moe };
  const spectral = readSpectral(r, base);
  r.finish();
  return { name, ...base, spectral };
}
