// Held-out evaluation as an eval block declares it (docs/language.md#eval): which data, batch shape
// and number of batches are scored, and which metrics are computed and logged. Used by `sdmoec run`
// (every `eval every N` step), `sdmoec eval` (a checkpoint) and `sdmoec experiment` (the end of a cell).
//
// A file without an eval block evaluates as before there was one: the train block's data, batch and
// seq_len, `eval_batches` batches during training (the whole split in `sdmoec eval`), and
// DEFAULT_EVAL_METRICS. Invariants:
// - Batches are validationBatches(): fixed windows from the start of the held-out stream, so every
//   evaluation of a run scores the same tokens; `batches all` scores every window of the split.
// - Padding rows of the last batch (targets −1) count in no metric: loss, bits per byte and router
//   entropy skip them token by token; expert load comes from the device's per-expert counts, which
//   include padding rows, so it sums full batches only (expert_load_tokens says how many tokens).
// - An eval batch or seq_len other than the train block's gets its own forward plan
//   (compileEvaluation) on the training program's weights; so does router_entropy, which needs the
//   router scores as an output.
import { InternalError, UserError } from '../../base/errors.ts';
import { stableJson } from '../../base/stable-json.ts';
import { DEFAULT_EVAL_METRICS, type EvalConfig, type EvalMetric, type ModelConfig, type TrainConfig } from '../../compiler/config/types.ts';
import { compileEvaluation, type CompiledTraining } from '../../compiler/pipeline.ts';
import { modelOutputs, type ModelOutputRole } from '../../compiler/lower/model.ts';
import { bitsPerByte, prepareHeldOut, targetByteCount, validationBatches, type PreparedData, type TokenArray } from '../data/index.ts';
import { assertNoDeviceErrors } from '../device.ts';
import type { KernelExecutor } from '../executor.ts';
import { StepExecutor } from '../step-executor.ts';
import { summarizeDiagnostics, type ExpertDiagnostics } from '../sd/diagnostics.ts';

/** The evaluation of a run without an eval block: the train block's data and shape; during
 *  training `eval_batches` batches, in `sdmoec eval` the whole split. */
export function implicitEval(train: TrainConfig, batches: number | 'all' = train.evalBatches): EvalConfig {
  return { model: train.model, data: train.data, split: 'validation', batches, batch: train.batch, seqLen: train.seqLen, metrics: [...DEFAULT_EVAL_METRICS] };
}

export interface EvalSetup {
  readonly spec: EvalConfig;
  readonly executor: StepExecutor;
  /** The held-out token stream the spec scores (the run's own validation split unless `data` differs). */
  readonly tokens: TokenArray;
  /** What the stream is, for messages. */
  readonly source: string;
  /** The evaluation plan's role-carrying outputs (expert counts, router scores, aux losses), by role. */
  readonly outputs: readonly { readonly name: string; readonly role: ModelOutputRole }[];
}

/** Builds the executor and held-out stream of an evaluation; shares weights with `step`. */
export async function openEvaluation(opts: {
  model: ModelConfig;
  train: TrainConfig;
  spec: EvalConfig;
  compiled: CompiledTraining;
  exec: KernelExecutor;
  step: StepExecutor;
  data: PreparedData;
  log: (line: string) => void;
}): Promise<EvalSetup> {
  const { model, train, spec, compiled, exec, step, data, log } = opts;
  const needsProbs = spec.metrics.includes('router_entropy');
  const sameShape = spec.batch === train.batch && spec.seqLen === train.seqLen;
  const plan = sameShape && !needsProbs ? compiled.evalPlan : compileEvaluation(model, { batch: spec.batch, seqLen: spec.seqLen, routerProbs: needsProbs }, exec.ctx.caps).evalPlan;
  const executor = new StepExecutor(exec, plan);
  await executor.init(train.seed, step);
  const outputs = modelOutputs(model, { routerProbs: needsProbs });
  for (const o of outputs) if (!plan.outputs[o.name]) throw new InternalError(`the evaluation plan lacks output ${o.name} (${o.role.kind})`);
  if (plan !== compiled.evalPlan) log(`eval: own plan for batch ${spec.batch} × ${spec.seqLen}${needsProbs ? ' with router scores' : ''}, ${plan.dispatches.length} dispatches per batch`);
  if (stableJson(spec.data) === stableJson(train.data)) {
    const tokens = spec.split === 'test' ? data.test : data.validation;
    if (!tokens) throw new UserError(`this run holds out no test split (its data was prepared without one, so it trained on those documents): evaluate split validation`);
    if (tokens.length < spec.seqLen + 1) {
      throw new UserError(`the ${spec.split} split has ${tokens.length} tokens, fewer than the eval block's seq_len + 1 = ${spec.seqLen + 1}; lower its seq_len or add text`);
    }
    return { spec, executor, tokens, source: `${spec.split} split of ${data.corpusIdentity}`, outputs };
  }
  const held = prepareHeldOut({ source: spec.data, split: spec.split, tokenizer: data.tokenizer, tokenizerKey: data.cacheKey, seqLen: spec.seqLen, onProgress: (e) => log(`data: ${e.message}`) });
  return { spec, executor, tokens: held.tokens, source: `${spec.split} split of ${held.corpusIdentity}`, outputs };
}

/** Why a run's checkpoint cannot be evaluated as `spec` says, or null: the test split of the run's
 *  own data exists only when the run held it out (its recorded eval block said `split test`);
 *  otherwise the run trained on those documents. */
export function testSplitProblem(recorded: EvalConfig | null | undefined, train: TrainConfig, spec: EvalConfig): string | null {
  if (spec.split !== 'test' || recorded?.split === 'test' || stableJson(spec.data) !== stableJson(train.data)) return null;
  return 'the run held out no test split (its eval block did not say split test), so it trained on those documents; evaluate split validation, or train with split test in the eval block';
}

export interface EvalResult {
  /** Mean cross-entropy (nats per token) over the scored tokens. */
  readonly loss: number;
  readonly bitsPerByte: number;
  readonly perplexity: number;
  /** Scored target tokens and batches run. */
  readonly tokens: number;
  readonly batches: number;
  /** Per MoE layer (in layer order): each expert's share of the routed assignments; null when no
   *  batch was full (the counts of a padded batch include its padding rows). */
  readonly expertLoad: number[][] | null;
  /** Tokens behind expertLoad. */
  readonly expertLoadTokens: number;
  /** Per MoE layer: mean entropy (nats) of the router's distribution over experts per scored token. */
  readonly routerEntropy: number[] | null;
}


/** Entropy of one token's router scores, normalised to a distribution (softmax scores already sum
 *  to 1; sigmoid scores are divided by their sum). */
function rowEntropy(p: ArrayLike<number>, offset: number, experts: number): number {
  let sum = 0;
  for (let e = 0; e < experts; e++) sum += p[offset + e];
  if (!(sum > 0)) return 0;
  let h = 0;
  for (let e = 0; e < experts; e++) {
    const q = p[offset + e] / sum;
    if (q > 0) h -= q * Math.log(q);
  }
  return h;
}

/** Scores `maxBatches` held-out batches (default: the spec's `batches`; 'all' = the whole split). */
export async function runEvaluation(setup: EvalSetup, tokenizer: PreparedData['tokenizer'], maxBatches: number | 'all' = setup.spec.batches): Promise<EvalResult> {
  const { spec, executor } = setup;
  const wantLoad = spec.metrics.includes('expert_load');
  const wantEntropy = spec.metrics.includes('router_entropy');
  // Per MoE layer in layer order (modelOutputs' order): its counts and, with router_entropy, its scores.
  const countNames = setup.outputs.filter((o) => o.role.kind === 'expert_counts').map((o) => o.name);
  const probNames = setup.outputs.filter((o) => o.role.kind === 'router_probs').map((o) => o.name);
  if (wantEntropy && probNames.length !== countNames.length) throw new InternalError('evaluation: router_entropy without the router-score outputs');
  const names = ['ce_tokens', ...(wantLoad ? countNames : []), ...(wantEntropy ? probNames : [])];
  let nats = 0;
  let bytes = 0;
  let tokens = 0;
  let batches = 0;
  const counts = countNames.map(() => [] as number[]);
  let countedTokens = 0;
  const entropy = countNames.map(() => 0);
  for (const batch of validationBatches(setup.tokens, { seqLen: spec.seqLen, batch: spec.batch, maxBatches: maxBatches === 'all' ? Infinity : maxBatches })) {
    executor.writeInput('tokens', batch.inputs);
    executor.writeInput('targets', batch.targets);
    executor.run();
    const out = await executor.readOutputs(names);
    assertNoDeviceErrors(executor.exec.ctx, 'evaluation');
    batches++;
    const ce = out.ce_tokens;
    for (let i = 0; i < batch.targets.length; i++) {
      if (batch.targets[i] < 0) continue;
      nats += ce[i];
      tokens++;
    }
    bytes += targetByteCount(tokenizer, batch.targets);
    if (wantLoad && batch.rows === spec.batch) {
      countNames.forEach((name, j) => {
        const c = out[name];
        for (let e = 0; e < c.length; e++) counts[j][e] = (counts[j][e] ?? 0) + c[e];
      });
      countedTokens += batch.targets.length;
    }
    if (wantEntropy) {
      probNames.forEach((name, j) => {
        const p = out[name];
        const experts = p.length / batch.targets.length;
        for (let i = 0; i < batch.targets.length; i++) if (batch.targets[i] >= 0) entropy[j] += rowEntropy(p, i * experts, experts);
      });
    }
  }
  const loss = nats / tokens;
  return {
    loss,
    bitsPerByte: bitsPerByte(nats, bytes),
    perplexity: Math.exp(loss),
    tokens,
    batches,
    expertLoad: wantLoad && countedTokens > 0 ? counts.map((c) => {
      const total = c.reduce((a, b) => a + b, 0);
      return c.map((x) => x / total);
    }) : null,
    expertLoadTokens: countedTokens,
    routerEntropy: wantEntropy ? entropy.map((h) => h / tokens) : null,
  };
}

/** The named metrics of a result as metrics-line / JSON fields; nothing that was not named.
 *  `diagnostics` (expert_overlap) are the expert diagnostics of the evaluated weights. */
export function metricFields(r: EvalResult, metrics: readonly EvalMetric[], diagnostics?: ExpertDiagnostics[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const m of metrics) {
    if (m === 'loss') out.loss = r.loss;
    else if (m === 'bits_per_byte') out.bits_per_byte = r.bitsPerByte;
    else if (m === 'perplexity') out.perplexity = r.perplexity;
    else if (m === 'expert_load') {
      out.expert_load = r.expertLoad;
      out.expert_load_tokens = r.expertLoadTokens;
      // max / mean share per layer, as the train lines' load_imbalance
      out.eval_load_imbalance = r.expertLoad?.map((l) => Math.max(...l) * l.length) ?? null;
    } else if (m === 'router_entropy') out.router_entropy = r.routerEntropy;
    else if (m === 'expert_overlap' && diagnostics) Object.assign(out, summarizeDiagnostics(diagnostics), { diagnostics });
  }
  return out;
}

/** One line for a terminal: the named scalar metrics. */
export function describeResult(r: EvalResult, metrics: readonly EvalMetric[], fields: Record<string, unknown>): string {
  const parts: string[] = [];
  for (const m of metrics) {
    if (m === 'loss') parts.push(`loss ${r.loss.toFixed(4)}`);
    else if (m === 'bits_per_byte') parts.push(`${r.bitsPerByte.toFixed(4)} bits per byte`);
    else if (m === 'perplexity') parts.push(`perplexity ${r.perplexity.toFixed(2)}`);
    else if (m === 'expert_load') parts.push(r.expertLoad ? `load imbalance ${(fields.eval_load_imbalance as number[]).map((x) => x.toFixed(2)).join('/')}` : 'expert load: no full batch');
    else if (m === 'router_entropy') parts.push(`router entropy ${r.routerEntropy!.map((x) => x.toFixed(3)).join('/')} nats`);
    else if (m === 'expert_overlap' && typeof fields.expert_overlap === 'number') parts.push(`expert overlap ${fields.expert_overlap.toFixed(3)} (${String(fields.expert_overlap_on)})`);
  }
  return `${parts.join(', ')} over ${r.tokens} tokens (${r.batches} batches)`;
}
