// Parameter and memory summary of a model (and its train block): parameter counts, total and
// active per token, f32 memory for weights, gradients, optimizer state and activations, and the
// size of each GPU buffer checked against the adapter's maxStorageBufferBindingSize.
// Buffer layout assumed here (until the IR defines its own): one buffer per layer per weight
// kind, routed experts stacked [experts, out, in]; activations for one micro-batch.
import { GATED_ACTIVATIONS, type ModelConfig, type NormalisedConfig, type TrainConfig } from './types.ts';
import { chunkedLmHead } from '../lower/model.ts';
import { lmHeadChunkRows } from '../kernels/lm-head-xent.ts';

export interface Limits {
  /** Adapter name, for messages. */
  name?: string;
  maxStorageBufferBindingSize: number;
  maxBufferSize?: number;
}

export interface BufferEstimate {
  name: string;
  shape: number[];
  bytes: number;
  kind: 'parameter' | 'activation';
}

export interface ParameterCounts {
  embedding: number;
  lmHead: number;
  attention: number;
  norms: number;
  router: number;
  routedExperts: number;
  sharedExperts: number;
  dense: number;
  /** W_c matrices added by SD-MoE during training; merged away at inference. */
  spectralCommon: number;
  /** Everything trained (includes spectralCommon). */
  total: number;
  /** Parameters one token touches at inference (W_c merged into the experts it uses). */
  activePerToken: number;
}

export interface MemoryEstimate {
  parameterBytes: number;
  /** The gradients, twice with grad_accum > 1 (the accumulators, compiler/kernels/grad-accum.ts). */
  gradientBytes: number;
  optimizerBytes: number;
  /** Spectral bases U_k, V_k and aux-free bias state. */
  extraStateBytes: number;
  /** Saved activations of one micro-batch; null without a train block. */
  activationBytes: number | null;
  totalBytes: number;
}

export interface Summary {
  model: string;
  params: ParameterCounts;
  memory: MemoryEstimate;
  buffers: BufferEstimate[];
  /** Buffers larger than limits.maxStorageBufferBindingSize. */
  oversized: BufferEstimate[];
  limits: Limits;
}

const F32 = 4;

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${u === 0 ? v : v.toFixed(1)} ${units[u]}`;
}

export function formatCount(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)}B`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}K`;
  return String(n);
}

const product = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/** Summary of a file's target model (the trained one, else the evaluated one, else the last) with
 *  its train block, or of any model with an optional train block. */
export function summarize(config: NormalisedConfig, limits: Limits): Summary;
export function summarize(model: ModelConfig, train: TrainConfig | null, limits: Limits): Summary;
export function summarize(first: NormalisedConfig | ModelConfig, second: Limits | TrainConfig | null, third?: Limits): Summary {
  if ('models' in first) {
    const name = first.train?.model ?? first.eval?.model;
    const model = first.models.find((m) => m.name === name) ?? first.models[first.models.length - 1];
    return summarizeModel(model, first.train && first.train.model === model.name ? first.train : null, second as Limits);
  }
  return summarizeModel(first, second as TrainConfig | null, third!);
}

function summarizeModel(model: ModelConfig, train: TrainConfig | null, limits: Limits): Summary {
  const { dim, vocab, layers, denseLayers, attention: att, moe } = model;
  const moeLayers = layers - denseLayers;
  const ffnMatrices = GATED_ACTIVATIONS.includes(moe.activation) ? 3 : 2;
  const qDim = att.heads * att.headDim;
  const kvDim = att.kvHeads * att.headDim;
  const normSize = model.norm.kind === 'layernorm' ? 2 * dim : dim;

  const perLayerAttention = dim * qDim + 2 * dim * kvDim + qDim * dim;
  const routedPerExpert = ffnMatrices * dim * moe.expertHidden;
  const sharedPerLayer = moe.shared ? moe.shared.count * ffnMatrices * dim * moe.shared.hidden + (moe.shared.gated ? dim : 0) : 0;
  const densePerLayer = ffnMatrices * dim * model.denseHidden;

  let spectralCommon = 0;
  const commonShapes: { name: string; shape: number[] }[] = [];
  for (const target of model.spectral?.targets ?? []) {
    const [group, matrix] = target.split('.');
    const hidden = group === 'expert' ? moe.expertHidden : group === 'shared' ? (moe.shared?.hidden ?? 0) : model.denseHidden;
    const count = group === 'dense' ? denseLayers : moeLayers;
    spectralCommon += count * dim * hidden;
    commonShapes.push({ name: `spectral.common.${target}`, shape: matrix === 'down' ? [dim, hidden] : [hidden, dim] });
  }

  const params: ParameterCounts = {
    embedding: vocab * dim,
    lmHead: model.tieEmbeddings ? 0 : vocab * dim,
    attention: layers * perLayerAttention,
    norms: (2 * layers + 1) * normSize,
    router: moeLayers * dim * moe.experts,
    routedExperts: moeLayers * moe.experts * routedPerExpert,
    sharedExperts: moeLayers * sharedPerLayer,
    dense: denseLayers * densePerLayer,
    spectralCommon,
    total: 0,
    activePerToken: 0,
  };
  const alwaysOn = params.embedding + params.lmHead + params.attention + params.norms + params.router + params.sharedExperts + params.dense;
  params.total = alwaysOn + params.routedExperts + spectralCommon;
  params.activePerToken = alwaysOn + moeLayers * moe.topK * routedPerExpert;

  // AdamW/Adam: two moments; SGD: its momentum buffer, which the engine keeps at momentum 0 too
  // (compiler/passes/optimizer.ts: one sgd op shape for every μ).
  const optimizerSlots = train ? (train.optimizer.kind === 'sgd' ? 1 : 2) : 2;
  const rank = model.spectral?.rank ?? 0;
  let extraState = 0;
  for (const target of model.spectral?.targets ?? []) {
    const [group] = target.split('.');
    const hidden = group === 'expert' ? moe.expertHidden : group === 'shared' ? (moe.shared?.hidden ?? 0) : model.denseHidden;
    extraState += (group === 'dense' ? denseLayers : moeLayers) * (dim + hidden) * rank * F32;
  }
  if (moe.router.auxFreeBias) extraState += moeLayers * moe.experts * F32;

  const buffers: BufferEstimate[] = [];
  const param = (name: string, shape: number[]) => buffers.push({ name, shape, bytes: product(shape) * F32, kind: 'parameter' });
  const act = (name: string, shape: number[]) => buffers.push({ name, shape, bytes: product(shape) * F32, kind: 'activation' });
  param('embedding', [vocab, dim]);
  if (!model.tieEmbeddings) param('lm_head', [vocab, dim]);
  param('layers[*].attention.q', [qDim, dim]);
  param('layers[*].attention.kv', [2 * kvDim, dim]);
  param('layers[*].attention.o', [dim, qDim]);
  if (moeLayers > 0) {
    param('layers[*].moe.router', [moe.experts, dim]);
    if (ffnMatrices === 3) param('layers[*].moe.experts.gate', [moe.experts, moe.expertHidden, dim]);
    param('layers[*].moe.experts.up', [moe.experts, moe.expertHidden, dim]);
    param('layers[*].moe.experts.down', [moe.experts, dim, moe.expertHidden]);
    if (moe.shared) param('layers[*].moe.shared.up', [moe.shared.count, moe.shared.hidden, dim]);
  }
  if (denseLayers > 0) param('layers[*].dense.up', [model.denseHidden, dim]);
  for (const c of commonShapes) param(`layers[*].${c.name}`, c.shape);

  let activationBytes: number | null = null;
  if (train) {
    const tokens = train.batch * train.seqLen;
    const attentionActs = tokens * (2 * dim + 2 * qDim + 2 * kvDim) + train.batch * att.heads * train.seqLen * train.seqLen;
    const sharedActs = moe.shared ? tokens * moe.shared.count * moe.shared.hidden * ffnMatrices : 0;
    const moeActs = tokens * (dim + moe.experts + moe.topK * (moe.expertHidden * ffnMatrices + dim)) + sharedActs;
    const denseActs = tokens * (dim + model.denseHidden * ffnMatrices);
    // The LM head's logits: whole (and their gradient) for small vocabularies, else one row chunk
    // at a time, overwritten by its gradient (compiler/kernels/lm-head-xent.ts).
    const maxBindingBytes = Math.min(limits.maxStorageBufferBindingSize, limits.maxBufferSize ?? Infinity);
    const chunkRows = chunkedLmHead(tokens, vocab, { maxBindingBytes }) ? (lmHeadChunkRows(tokens, vocab, maxBindingBytes) ?? tokens) : tokens;
    const logits = (chunkRows === tokens ? 2 : 1) * chunkRows * vocab;
    activationBytes = (layers * attentionActs + moeLayers * moeActs + denseLayers * denseActs + logits) * F32;
    act('logits', [chunkRows, vocab]);
    act('attention.scores', [train.batch, att.heads, train.seqLen, train.seqLen]);
    if (moeLayers > 0) act('moe.expert_hidden', [tokens * moe.topK, moe.expertHidden]);
    act('hidden_states', [tokens, dim]);
  }

  const parameterBytes = params.total * F32;
  const memory: MemoryEstimate = {
    parameterBytes,
    gradientBytes: (train && train.gradAccum > 1 ? 2 : 1) * parameterBytes,
    optimizerBytes: optimizerSlots * parameterBytes,
    extraStateBytes: extraState,
    activationBytes,
    totalBytes: 0,
  };
  memory.totalBytes = memory.parameterBytes + memory.gradientBytes + memory.optimizerBytes + memory.extraStateBytes + (activationBytes ?? 0);
  buffers.sort((a, b) => b.bytes - a.bytes);
  const oversized = buffers.filter((b) => b.bytes > limits.maxStorageBufferBindingSize);
  return { model: model.name, params, memory, buffers, oversized, limits };
}

/** One line per oversized buffer (identical buffers of several models listed once), naming it. */
export function oversizeMessages(summaries: Summary[]): string[] {
  const byBuffer = new Map<string, { buffer: BufferEstimate; limits: Limits; models: string[] }>();
  for (const s of summaries) {
    for (const b of s.oversized) {
      const key = `${b.name}|${b.shape.join('x')}`;
      const seen = byBuffer.get(key);
      if (seen) seen.models.push(s.model);
      else byBuffer.set(key, { buffer: b, limits: s.limits, models: [s.model] });
    }
  }
  return [...byBuffer.values()].map(
    ({ buffer: b, limits, models }) =>
      `buffer '${b.name}' [${b.shape.join('×')}] f32 needs ${formatBytes(b.bytes)}, above maxStorageBufferBindingSize ` +
      `${formatBytes(limits.maxStorageBufferBindingSize)}${limits.name ? ` (${limits.name})` : ''}; model${models.length > 1 ? 's' : ''} ${models.join(', ')}`,
  );
}

/** Human-readable markdown summary. */
export function renderSummary(s: Summary): string {
  const p = s.params;
  const m = s.memory;
  const row = (label: string, value: string) => `| ${label} | ${value} |`;
  const lines = [
    `## ${s.model}`,
    '',
    '| parameters | count |',
    '|---|---|',
    row('total (trained)', `${formatCount(p.total)} (${p.total})`),
    row('active per token', `${formatCount(p.activePerToken)} (${p.activePerToken})`),
    row('embedding + lm_head', formatCount(p.embedding + p.lmHead)),
    row('attention', formatCount(p.attention)),
    row('router', formatCount(p.router)),
    row('routed experts', formatCount(p.routedExperts)),
    row('shared experts', formatCount(p.sharedExperts)),
    row('dense FFN layers', formatCount(p.dense)),
    row('spectral common W_c', formatCount(p.spectralCommon)),
    '',
    '| memory (f32) | bytes |',
    '|---|---|',
    row('weights', formatBytes(m.parameterBytes)),
    row('gradients', formatBytes(m.gradientBytes)),
    row('optimizer state', formatBytes(m.optimizerBytes)),
    row('spectral bases / bias state', formatBytes(m.extraStateBytes)),
    row('activations (one micro-batch)', m.activationBytes === null ? 'n/a (no train block)' : formatBytes(m.activationBytes)),
    row('total', formatBytes(m.totalBytes)),
    '',
    `Largest buffers (limit ${formatBytes(s.limits.maxStorageBufferBindingSize)}${s.limits.name ? `, ${s.limits.name}` : ''}):`,
    '',
    ...s.buffers.slice(0, 6).map((b) => `- ${b.name} [${b.shape.join('×')}]: ${formatBytes(b.bytes)}${b.bytes > s.limits.maxStorageBufferBindingSize ? '  **exceeds the limit**' : ''}`),
  ];
  return lines.join('\n') + '\n';
}
