// Reads `train` and `eval` blocks into TrainConfig / EvalConfig, checked against their model.
import { describeValue } from '../../grammar/index.ts';
import type { BlockReader } from './reader.ts';
import { DEFAULT_EVAL_METRICS, EVAL_METRICS, type DataConfig, type DivergenceConfig, type EvalConfig, type EvalMetric, type ModelConfig, type OptimizerConfig, type ScheduleConfig, type TrainConfig } from './types.ts';

function readData(r: BlockReader, fallback: DataConfig): DataConfig {
  // Absent: the fallback as it is (an eval block inherits the train block's path(…) whole).
  if (!r.present('data')) return fallback;
  const data = r.call('data', { gutenberg: [], path: [{ name: 'dir', type: 'string' }] }, fallback.kind);
  if (!data) return fallback;
  if (data.kind === 'path') {
    const dir = data.args.dir;
    if (typeof dir === 'string') return { kind: 'path', path: dir };
    return fallback.kind === 'path' ? fallback : { kind: 'gutenberg' };
  }
  return { kind: 'gutenberg' };
}

function readOptimizer(r: BlockReader): OptimizerConfig {
  const lr = { name: 'lr', type: 'number', default: 3e-4, range: { above: 0 } } as const;
  const betas = { name: 'betas', type: 'pair', default: [0.9, 0.95] as [number, number], range: { min: 0, below: 1 } } as const;
  const eps = { name: 'eps', type: 'number', default: 1e-8, range: { above: 0 } } as const;
  const weightDecay = { name: 'weight_decay', type: 'number', default: 0.1, range: { min: 0 } } as const;
  const opt = r.call(
    'optimizer',
    {
      adamw: [lr, betas, eps, weightDecay],
      adam: [lr, betas, eps],
      sgd: [{ ...lr, default: 0.1 }, { name: 'momentum', type: 'number', default: 0.9, range: { min: 0, below: 1 } }, { ...weightDecay, default: 0 }],
    },
    'adamw',
  )!;
  const a = opt.args;
  const pair = (a.betas as [number, number] | undefined) ?? [0.9, 0.95];
  return {
    kind: opt.kind as OptimizerConfig['kind'],
    lr: a.lr as number,
    betas: opt.kind === 'sgd' ? [0.9, 0.999] : pair,
    eps: opt.kind === 'sgd' ? 1e-8 : (a.eps as number),
    weightDecay: opt.kind === 'adam' ? 0 : (a.weight_decay as number),
    momentum: opt.kind === 'sgd' ? (a.momentum as number) : 0,
  };
}

function readSchedule(r: BlockReader, steps: number): ScheduleConfig {
  const warmup = { name: 'warmup', type: 'int', default: 0, range: { min: 0 } } as const;
  const minLr = { name: 'min_lr_ratio', type: 'number', default: 0.1, range: { min: 0, max: 1 } } as const;
  const s = r.call('schedule', { cosine: [warmup, minLr], linear: [warmup, minLr], constant: [warmup] }, 'cosine')!;
  const schedule: ScheduleConfig = {
    kind: s.kind as ScheduleConfig['kind'],
    warmup: s.args.warmup as number,
    minLrRatio: s.kind === 'constant' ? 1 : (s.args.min_lr_ratio as number),
  };
  if (schedule.warmup > steps) r.ctx.bag.error(`schedule warmup (${schedule.warmup}) is longer than training (${steps} steps)`, r.where('schedule'));
  else if (schedule.warmup * 2 > steps) r.ctx.bag.warning(`schedule warmup (${schedule.warmup}) covers more than half of training (${steps} steps)`, r.where('schedule'));
  return schedule;
}

/** `divergence { factor 3  uniform_factor 1.5  patience 3  ema 0.9 }` or `divergence off`.
 *  Defaults (docs/language.md says why): 3× the best smoothed loss for 3 steps, 1.5× ln(vocab). */
function readDivergence(r: BlockReader): DivergenceConfig | null {
  const d = r.sub('divergence');
  const on = !r.present('divergence') || r.enabled('divergence', d);
  const config: DivergenceConfig = {
    factor: d.number('factor', 3, { above: 1 }),
    uniformFactor: d.numberOrOff('uniform_factor', 1.5, { above: 1 }),
    patience: d.int('patience', 3, { min: 1 }),
    ema: d.number('ema', 0.9, { min: 0, below: 1 }),
  };
  d.finish();
  return on ? config : null;
}

/** Token ids every tokenizer reserves: 256 bytes + `<|endoftext|>` (runtime/data/prepare.ts's
 *  special tokens; test/data/tokenizer-kind.test.ts keeps the two in step). */
export const TOKENIZER_BASE_VOCAB = 257;

/** `hasEvalBlock`: the file's eval block then decides in-training evaluations (its `batches`), so
 *  an explicit `eval_batches` would be ignored and is refused. */
export function readTrain(r: BlockReader, model: ModelConfig | null, hasEvalBlock = false): TrainConfig {
  const bag = r.ctx.bag;
  const data = readData(r, { kind: 'gutenberg' });
  const tokenizer = r.choice('tokenizer', ['bpe', 'byte'] as const, 'bpe');
  const maxSeq = model?.maxSeq ?? Infinity;
  const seqLen = r.int('seq_len', Number.isFinite(maxSeq) ? maxSeq : 256, { min: 2 });
  const batch = r.int('batch', 8, { min: 1 });
  const gradAccum = r.int('grad_accum', 1, { min: 1 });
  const steps = r.int('steps', 1000, { min: 1 });
  const seed = r.int('seed', 0, { min: 0 });
  const optimizer = readOptimizer(r);
  const clipGrad = r.numberOrOff('clip_grad', 1.0, { above: 0 });
  const schedule = readSchedule(r, steps);
  const evalEvery = r.interval('eval', Math.max(1, Math.floor(steps / 10)), true);
  const evalBatches = r.int('eval_batches', 4, { min: 1 });
  if (hasEvalBlock && r.present('eval_batches')) {
    bag.error(`'eval_batches' has no effect in a file with an eval block: that block's 'batches' sets the batches of every evaluation, in training too`, r.where('eval_batches'));
  }
  const checkpointEvery = r.interval('checkpoint', null, true);
  const logEvery = r.interval('log', 10, false) ?? 10;
  const divergence = readDivergence(r);
  r.finish();

  if (model) {
    if (seqLen > model.maxSeq) bag.error(`seq_len (${seqLen}) exceeds the model's max_seq (${model.maxSeq})`, r.where('seq_len'));
    if (model.vocab >= 2 && model.vocab < TOKENIZER_BASE_VOCAB) {
      const what = tokenizer === 'byte' ? 'the byte tokenizer emits' : 'the BPE tokenizer needs at least';
      bag.error(`${what} ${TOKENIZER_BASE_VOCAB} token ids (256 bytes + <|endoftext|>), model ${model.name} has vocab ${model.vocab}`, r.where('tokenizer'));
    }
    // The aux-free bias moves after each router's choice (router_bias_update); with accumulation
    // that would be once per micro-batch, and a global-scope counting pass would count with the
    // step's starting bias. Refused until the update runs once per step on accumulated counts.
    if (gradAccum > 1 && model.moe.router.auxFreeBias) {
      bag.error(`grad_accum ${gradAccum} with model ${model.name}'s aux_free_bias is not supported: the bias would move once per micro-batch, not once per step (use grad_accum 1 and a larger batch)`, r.where('grad_accum'));
    }
    if (model.spectral && model.spectral.rebaseEvery > steps) {
      bag.warning(`spectral re-basing every ${model.spectral.rebaseEvery} steps never happens in ${steps} steps`, r.where('steps'));
    }
  }
  if (evalEvery !== null && evalEvery > steps) bag.warning(`eval every ${evalEvery} steps never runs in ${steps} steps`, r.where('eval'));
  if (checkpointEvery !== null && checkpointEvery > steps) bag.warning(`checkpoint every ${checkpointEvery} steps never runs in ${steps} steps`, r.where('checkpoint'));
  return {
    model: model?.name ?? '',
    data,
    tokenizer,
    seqLen,
    batch,
    gradAccum,
    steps,
    seed,
    optimizer,
    clipGrad,
    schedule,
    evalEvery,
    evalBatches,
    checkpointEvery,
    logEvery,
    divergence,
  };
}

export function readEval(r: BlockReader, model: ModelConfig | null, train: TrainConfig | null): EvalConfig {
  const bag = r.ctx.bag;
  const data = readData(r, train?.data ?? { kind: 'gutenberg' });
  const split = r.choice('split', ['validation', 'test'] as const, 'validation');
  let batches: number | 'all' = 'all';
  const bv = r.value('batches');
  if (bv) {
    if (bv.kind === 'name' && bv.name === 'all') batches = 'all';
    else if (bv.kind === 'number' && Number.isInteger(bv.value) && bv.value >= 1 && bv.value <= 2 ** 31 - 1) batches = bv.value;
    else if (!(bv.kind === 'number' && Number.isNaN(bv.value))) bag.error(`'batches' must be a positive integer or 'all', found '${describeValue(bv)}'`, bv.loc);
  }
  const batch = r.int('batch', train?.batch ?? 8, { min: 1 });
  const seqLen = r.int('seq_len', train?.seqLen ?? model?.maxSeq ?? 256, { min: 2 });
  const metricValues = r.values('metrics');
  const metrics: EvalMetric[] = [];
  for (const v of metricValues ?? []) {
    const m = r.checkChoice('metrics', v, EVAL_METRICS);
    if (m && !metrics.includes(m)) metrics.push(m);
  }
  if (metricValues === undefined) metrics.push(...DEFAULT_EVAL_METRICS);
  r.finish();
  if (model && seqLen > model.maxSeq) bag.error(`seq_len (${seqLen}) exceeds the model's max_seq (${model.maxSeq})`, r.where('seq_len'));
  // A run evaluates the model it trains; an eval block about another model would be ignored by it.
  if (model && train && train.model && train.model !== model.name) {
    bag.error(`the eval block evaluates model ${model.name}, but the train block trains ${train.model}: evaluations during training and of its checkpoints are of ${train.model} (name it here, or set eval.model)`, r.anchor);
  }
  return { model: model?.name ?? '', data, split, batches, batch, seqLen, metrics };
}
