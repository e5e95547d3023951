// Prints a NormalisedConfig back as canonical .moe text: every model fully expanded (no extends),
// every default written out. Invariant (tested): checking the printed text gives the same config.
import type { DataConfig, EvalConfig, ExperimentConfig, ModelConfig, NormalisedConfig, TrainConfig } from './types.ts';

/** Shortest text that parses back to exactly the same number. */
export function formatNumber(n: number): string {
  return String(n);
}

function every(n: number | null): string {
  return n === null ? 'off' : `every ${n} steps`;
}

function data(d: DataConfig): string {
  return d.kind === 'gutenberg' ? 'gutenberg' : `path(${JSON.stringify(d.path)})`;
}

export function printModel(m: ModelConfig): string {
  const f = formatNumber;
  const r = m.moe.router;
  const lines = [
    `model ${m.name} {`,
    `  vocab ${f(m.vocab)}  dim ${f(m.dim)}  layers ${f(m.layers)}  max_seq ${f(m.maxSeq)}`,
    `  dense_layers ${f(m.denseLayers)}  dense_hidden ${f(m.denseHidden)}`,
    `  tie_embeddings ${m.tieEmbeddings}  init_std ${f(m.initStd)}`,
    `  attention { heads ${f(m.attention.heads)}  kv_heads ${f(m.attention.kvHeads)}  head_dim ${f(m.attention.headDim)}  rope_theta ${f(m.attention.ropeTheta)} }`,
    `  norm ${m.norm.kind}(eps = ${f(m.norm.eps)})`,
    `  moe {`,
    `    experts ${f(m.moe.experts)}  top_k ${f(m.moe.topK)}  expert_hidden ${f(m.moe.expertHidden)}  activation ${m.moe.activation}`,
    `    capacity ${m.moe.capacity.kind === 'dropless' ? 'dropless' : f(m.moe.capacity.factor)}`,
    m.moe.shared
      ? `    shared_expert { count ${f(m.moe.shared.count)}  hidden ${f(m.moe.shared.hidden)}  gated ${m.moe.shared.gated} }`
      : `    shared_expert off`,
    `    router {`,
    `      score ${r.score}  normalize_top_k ${r.normalizeTopK}`,
    `      aux_loss ${r.auxLoss ? `load_balance(coef = ${f(r.auxLoss.coef)}, scope = ${r.auxLoss.scope})` : 'off'}`,
    `      z_loss ${r.zLoss === 0 ? 'off' : f(r.zLoss)}`,
    `      groups ${f(r.groups)}  top_groups ${f(r.topGroups)}  routed_scale ${f(r.routedScale)}`,
    `      aux_free_bias ${r.auxFreeBias ? f(r.auxFreeBias.rate) : 'off'}`,
    `    }`,
    `  }`,
  ];
  const s = m.spectral;
  if (s) {
    lines.push(
      `  spectral {`,
      `    targets ${s.targets.join(', ')}`,
      `    rank ${f(s.rank)}  rebase every ${f(s.rebaseEvery)} steps  init ${s.init}`,
      `    residual ${s.residual}  reproject ${s.reproject}  moments ${s.moments}  project ${s.project}  common_grad ${s.commonGrad}`,
      `  }`,
    );
  } else {
    lines.push(`  spectral off`);
  }
  lines.push('}');
  return lines.join('\n');
}

/** `withEvalBlock`: the file has an eval block, which refuses `eval_batches` (its `batches` rules). */
export function printTrain(t: TrainConfig, withEvalBlock = false): string {
  const f = formatNumber;
  const o = t.optimizer;
  const optimizer =
    o.kind === 'adamw'
      ? `adamw(lr = ${f(o.lr)}, betas = (${f(o.betas[0])}, ${f(o.betas[1])}), eps = ${f(o.eps)}, weight_decay = ${f(o.weightDecay)})`
      : o.kind === 'adam'
        ? `adam(lr = ${f(o.lr)}, betas = (${f(o.betas[0])}, ${f(o.betas[1])}), eps = ${f(o.eps)})`
        : `sgd(lr = ${f(o.lr)}, momentum = ${f(o.momentum)}, weight_decay = ${f(o.weightDecay)})`;
  const s = t.schedule;
  const schedule = s.kind === 'constant' ? `constant(warmup = ${f(s.warmup)})` : `${s.kind}(warmup = ${f(s.warmup)}, min_lr_ratio = ${f(s.minLrRatio)})`;
  return [
    `train ${t.model} {`,
    `  data ${data(t.data)}  tokenizer ${t.tokenizer}  seq_len ${f(t.seqLen)}  batch ${f(t.batch)}  grad_accum ${f(t.gradAccum)}`,
    `  steps ${f(t.steps)}  seed ${f(t.seed)}`,
    `  optimizer ${optimizer}`,
    `  clip_grad ${t.clipGrad === null ? 'off' : f(t.clipGrad)}`,
    `  schedule ${schedule}`,
    `  eval ${every(t.evalEvery)}${withEvalBlock ? '' : `  eval_batches ${f(t.evalBatches)}`}  checkpoint ${every(t.checkpointEvery)}  log ${every(t.logEvery)}`,
    t.divergence
      ? `  divergence { factor ${f(t.divergence.factor)}  uniform_factor ${t.divergence.uniformFactor === null ? 'off' : f(t.divergence.uniformFactor)}  patience ${f(t.divergence.patience)}  ema ${f(t.divergence.ema)} }`
      : `  divergence off`,
    `}`,
  ].join('\n');
}

export function printEval(e: EvalConfig): string {
  const f = formatNumber;
  return [
    `eval ${e.model} {`,
    `  data ${data(e.data)}  split ${e.split}  batches ${e.batches === 'all' ? 'all' : f(e.batches)}  batch ${f(e.batch)}  seq_len ${f(e.seqLen)}`,
    `  metrics ${e.metrics.join(', ')}`,
    `}`,
  ].join('\n');
}

/** Overrides are printed as written (`key=value` → `key = value`), so they re-check identically. */
export function printExperiment(x: ExperimentConfig): string {
  const arm = (a: ExperimentConfig['arms'][number]): string => {
    const args = a.overrides.map((o) => {
      const eq = o.indexOf('=');
      return `${o.slice(0, eq)} = ${o.slice(eq + 1)}`;
    });
    return `  arm ${a.name}${args.length ? `(${args.join(', ')})` : ''}`;
  };
  const sweep = (s: ExperimentConfig['sweeps'][number]): string =>
    `  sweep ${s.key}(${[...s.values, ...(s.arms ? [`arms = (${s.arms.join(', ')})`] : [])].join(', ')})`;
  return [
    `experiment ${x.name} {`,
    ...x.arms.map(arm),
    `  baseline ${x.baseline}`,
    ...x.sweeps.map(sweep),
    `  seeds ${x.seeds.map(formatNumber).join(', ')}${x.steps === null ? '' : `  steps ${formatNumber(x.steps)}`}  eval_batches ${x.evalBatches === 'all' ? 'all' : formatNumber(x.evalBatches)}`,
    `  metrics ${x.metrics.join(', ')}`,
    `}`,
  ].join('\n');
}

/** The whole file, canonical form. */
export function printConfig(config: NormalisedConfig): string {
  const parts = config.models.map(printModel);
  if (config.train) parts.push(printTrain(config.train, config.eval !== null));
  if (config.eval) parts.push(printEval(config.eval));
  if (config.experiment) parts.push(printExperiment(config.experiment));
  return parts.join('\n\n') + '\n';
}
