// `sdmoec run`: trains the model of a .moe file. Compiles one training step (forward, backward,
// optimizer) into a single-submit plan and a forward-only evaluation plan sharing its weights,
// streams batches from the prepared corpus, and per step feeds [lr, step] to the device, runs the
// plan and reads back loss and gradient norm (one round trip). Metrics go to JSONL, checkpoints
// are atomic, `--resume` restores params, Adam moments, data position and guard state so the loss
// curve continues exactly as an uninterrupted run would. A NaN or exploding loss stops the run
// before anything is saved, so the last checkpoint on disk is the last good one.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { Writable } from 'node:stream';
import { UserError } from '../../base/errors.ts';
import { loadConfig } from '../../compiler/config/index.ts';
import type { ModelConfig, NormalisedConfig, TrainConfig } from '../../compiler/config/types.ts';
import { stableJson } from '../../base/stable-json.ts';
import { numel } from '../../compiler/ir/types.ts';
import { LoweringError } from '../../compiler/lower/model.ts';
import { compileTraining, type CompiledTraining } from '../../compiler/pipeline.ts';
import { paramsWithRole } from '../../compiler/codegen/plan.ts';
import { findLatestCheckpoint, loadCheckpoint, removeCheckpointsAfter, saveCheckpoint, type ParamTensor } from '../checkpoint/checkpoint.ts';
import { prepareData, validationBatches, BatchSampler, targetByteCount, bitsPerByte, type PreparedData, type SamplerState } from '../data/index.ts';
import { acquireDevice, assertNoDeviceErrors } from '../device.ts';
import { KernelExecutor } from '../executor.ts';
import { DivergenceError, DivergenceGuard, guardOptions, type GuardState } from '../metrics/guard.ts';
import { MetricsWriter } from '../metrics/jsonl.ts';
import { TrainingProgress } from '../metrics/progress.ts';
import { StepExecutor } from '../step-executor.ts';
import { learningRate } from './schedule.ts';
import { principalSimilarity } from '../sd/metrics.ts';
import { initializeSpectral, rebaseSpectral, spectralMatrices, type RebaseReport } from './spectral.ts';

export interface RunOptions {
  readonly file: string;
  readonly overrides?: readonly string[];
  /** Run directory (default runs/<model>). */
  readonly out?: string;
  /** Resume from this run directory or checkpoint directory. */
  readonly resume?: string;
  /** Start over in an existing run directory, deleting its checkpoints and metrics. */
  readonly force?: boolean;
  /** Stop after this step as if interrupted (a checkpoint is written there); resume later. */
  readonly stopAfter?: number;
  readonly log?: (line: string) => void;
  readonly progressStream?: NodeJS.WritableStream & { isTTY?: boolean };
  /** Called after every step instead of drawing the run's own progress bar (a caller such as
   *  `sdmoec experiment` draws one display for many runs; two redrawing bars would fight). */
  readonly onStep?: (step: number, info: { total: number; loss: number; tokensPerSec: number }) => void;
  /** Called once the last step is done (not when interrupted or diverged), with the live session,
   *  so a caller can evaluate or read the trained weights without reloading a checkpoint. */
  readonly afterTraining?: (session: TrainingSession) => Promise<void>;
}

export interface RunSummary {
  readonly runDir: string;
  readonly model: string;
  readonly steps: number;
  readonly finalLoss: number;
  readonly lastEval: { loss: number; bitsPerByte: number } | null;
  readonly lastCheckpoint: string | null;
  readonly tokensPerSecond: number;
  readonly dispatchesPerStep: number;
}

export interface TrainingSession {
  readonly model: ModelConfig;
  readonly train: TrainConfig;
  readonly compiled: CompiledTraining;
  readonly step: StepExecutor;
  readonly evaluation: StepExecutor;
  readonly data: PreparedData;
}

function trainBlock(config: NormalisedConfig, file: string): { model: ModelConfig; train: TrainConfig } {
  const train = config.train;
  if (!train) throw new UserError(`${file}: no train block; add 'train <model> { … }' to train a model`);
  const model = config.models.find((m) => m.name === train.model);
  if (!model) throw new UserError(`${file}: train block names unknown model '${train.model}'`);
  if (train.optimizer.kind === 'sgd') throw new UserError(`${file}: optimizer sgd is not supported by the training engine yet (use adamw)`);
  if (train.gradAccum !== 1) throw new UserError(`${file}: grad_accum ${train.gradAccum} is not supported by the training engine yet`);
  return { model, train };
}

/** Loads a .moe file and opens a session for its train block. */
export async function openSessionFromFile(file: string, overrides: readonly string[] = [], log: (line: string) => void = () => {}): Promise<TrainingSession> {
  const { config, warnings } = loadConfig(file, { overrides: [...overrides] });
  for (const w of warnings) log(`warning: ${w.message}`);
  const { model, train: declared } = trainBlock(config, file);
  // `data path("…")` is relative to the .moe file, like an import, not to the working directory.
  const train = declared.data.kind === 'path' && !isAbsolute(declared.data.path) ? { ...declared, data: { ...declared.data, path: resolve(dirname(file), declared.data.path) } } : declared;
  return openSession(model, train, file, log);
}

/** Compiles, allocates and initialises everything a run needs; shared by `run`, `eval` and tests. */
export async function openSession(model: ModelConfig, train: TrainConfig, where: string, log: (line: string) => void = () => {}): Promise<TrainingSession> {
  const ctx = await acquireDevice();
  log(`device: ${ctx.adapterName}`);
  const data = prepareData({
    source: train.data,
    vocabSize: model.vocab,
    seqLen: train.seqLen,
    onProgress: (e) => log(`data: ${e.message}`),
  });
  let compiled: CompiledTraining;
  try {
    compiled = compileTraining(model, train, ctx.caps);
  } catch (e) {
    if (e instanceof LoweringError) throw new UserError(`${where}: ${e.message}`);
    throw e;
  }
  const exec = KernelExecutor.shared(ctx);
  const step = new StepExecutor(exec, compiled.stepPlan);
  await step.init(train.seed);
  const evaluation = new StepExecutor(exec, compiled.evalPlan);
  await evaluation.init(train.seed, step);
  log(`compiled: ${compiled.stepPlan.dispatches.length} dispatches per training step, ${compiled.evalPlan.dispatches.length} per evaluation batch, ${exec.pipelineCount} pipelines, ${(compiled.stepPlan.totalBytes / 2 ** 20).toFixed(1)} MiB of buffers`);
  // lavapipe compiles each shader to machine code on its first dispatch, not at pipeline creation.
  if (/llvmpipe|lavapipe/i.test(ctx.adapterName)) log('note: on lavapipe the first training step and the first evaluation also compile the shaders (tens of seconds)');
  return { model, train, compiled, step, evaluation, data };
}

export function configHash(model: ModelConfig, train: TrainConfig): string {
  // The divergence guard's thresholds do not change the computation: leaving them out lets a run
  // stopped by the guard resume with looser ones (and keeps the hashes of older checkpoints).
  return createHash('sha256')
    .update(stableJson({ model, train: { ...train, divergence: undefined, steps: 0, evalEvery: 0, checkpointEvery: 0, logEvery: 0 } }))
    .digest('hex')
    .slice(0, 16);
}

/** Expert matrices too large for a quick host-side SVD are left out of the overlap metric. */
const OVERLAP_MAX_ELEMENTS = 512 * 512;

/**
 * Mean pairwise principal-subspace similarity of the routed experts' matrices (the digest's
 * stand-in metric for the paper's expert overlap; SD-MoE aims below 0.1). Baseline experts are
 * `<m>` [E,K,N]; SD experts are the proxies `<m>.common + <m>.unique[e]`. NaN when no matrix is
 * small enough to analyse on the host quickly.
 */
export async function expertOverlap(session: TrainingSession): Promise<number> {
  const plan = session.compiled.stepPlan;
  const values: number[] = [];
  for (const { name, spec } of paramsWithRole(plan, 'experts')) {
    const [E, K, N] = spec.type.shape;
    if (K * N > OVERLAP_MAX_ELEMENTS) continue;
    values.push(principalSimilarity(await session.step.readParam(name), K, N, E).mean);
  }
  for (const m of spectralMatrices(plan)) {
    const { rows: K, cols: N, experts: E } = m;
    if (K * N > OVERLAP_MAX_ELEMENTS) continue;
    const experts = await session.step.readParam(m.params.unique);
    const common = await session.step.readParam(m.params.common);
    for (let e = 0; e < E; e++) for (let i = 0; i < K * N; i++) experts[e * K * N + i] += common[i];
    values.push(principalSimilarity(experts, K, N, E).mean);
  }
  return values.length > 0 ? values.reduce((a, b) => a + b, 0) / values.length : NaN;
}

/** Mean cross-entropy and bits per byte over the configured number of validation batches. */
export async function evaluate(session: TrainingSession, maxBatches: number): Promise<{ loss: number; bitsPerByte: number; tokens: number }> {
  const { train, data, evaluation } = session;
  let nats = 0;
  let bytes = 0;
  let tokens = 0;
  for (const batch of validationBatches(data.validation, { seqLen: train.seqLen, batch: train.batch, maxBatches })) {
    evaluation.writeInput('tokens', batch.inputs);
    evaluation.writeInput('targets', batch.targets);
    evaluation.run();
    const { ce_tokens } = await evaluation.readOutputs(['ce_tokens']);
    assertNoDeviceErrors(evaluation.exec.ctx, 'evaluation');
    for (let i = 0; i < batch.targets.length; i++) {
      if (batch.targets[i] >= 0) {
        nats += ce_tokens[i];
        tokens++;
      }
    }
    bytes += targetByteCount(data.tokenizer, batch.targets);
  }
  return { loss: nats / tokens, bitsPerByte: bitsPerByte(nats, bytes), tokens };
}

async function snapshot(session: TrainingSession): Promise<{ params: Map<string, ParamTensor>; optimizer: Map<string, ParamTensor> }> {
  const params = new Map<string, ParamTensor>();
  const optimizer = new Map<string, ParamTensor>();
  for (const [name, spec] of Object.entries(session.compiled.stepPlan.params)) {
    const tensor = { shape: [...spec.type.shape], data: await session.step.readParam(name) };
    if (spec.role?.kind === 'adam') optimizer.set(name, tensor);
    else params.set(name, tensor);
  }
  return { params, optimizer };
}

export function restore(session: TrainingSession, tensors: Map<string, { shape: readonly number[]; data: ArrayLike<number> }>, where: string): void {
  for (const [name, spec] of Object.entries(session.compiled.stepPlan.params)) {
    const t = tensors.get(name);
    if (!t) throw new UserError(`${where}: checkpoint has no tensor '${name}' (was it written by a different model?)`);
    if (t.data.length !== numel(spec.type)) throw new UserError(`${where}: tensor '${name}' has ${t.data.length} elements, the model expects ${numel(spec.type)}`);
    session.step.writeParam(name, Float32Array.from(t.data));
  }
}

/** Where the run's own progress display goes when the caller draws its own (`onStep`). */
const nullStream = new Writable({ write: (_chunk, _enc, done) => done() });

/** The error a guard verdict becomes: the step, the reason, the last good checkpoint, what next. */
async function divergenceError(
  verdict: { step: number; reason: DivergenceError['reason']; message: string },
  opts: RunOptions,
  runDir: string,
  lastCheckpoint: string | null,
): Promise<DivergenceError> {
  const last = lastCheckpoint ?? (await findLatestCheckpoint(runDir)) ?? null;
  const sets = (opts.overrides ?? []).map((o) => ` --set ${o}`).join('');
  const advice = 'Try a lower learning rate, a longer warmup or gradient clipping (train.clip_grad)';
  const next = last
    ? `the last good checkpoint is ${last}; resume it with: sdmoec run ${opts.file}${sets} --resume ${runDir}\n` +
      `(a resumed run repeats the same steps; add --set train.divergence=off to continue past this check, or start over with a new setting and --force)`
    : `the last good checkpoint is (none written yet): start over with a new setting`;
  return new DivergenceError(`training stopped at step ${verdict.step} (${verdict.reason}): ${verdict.message}. ${advice}.\n${next}`, verdict.step, verdict.reason, last);
}

export async function runTraining(opts: RunOptions): Promise<RunSummary> {
  const log = opts.log ?? ((line: string) => process.stdout.write(line + '\n'));
  const session = await openSessionFromFile(opts.file, opts.overrides, log);
  const { model, train, step: exec } = session;
  const runDir = opts.out ?? join('runs', model.name);
  const hash = configHash(model, train);
  const sampler = new BatchSampler(session.data.train, { seqLen: train.seqLen, batch: train.batch, seed: train.seed });
  let startStep = 0;
  let guardState: GuardState | undefined;
  const spectral = model.spectral;
  const sdMatrices = spectral ? spectralMatrices(session.compiled.stepPlan) : [];

  if (opts.resume) {
    const ckpt = await loadCheckpoint(opts.resume, { configHash: hash });
    const tensors = new Map<string, { shape: readonly number[]; data: ArrayLike<number> }>(ckpt.params);
    for (const [name, t] of ckpt.optimizer) tensors.set(name, t);
    restore(session, tensors, ckpt.dir);
    sampler.restore(ckpt.state.sampler as SamplerState);
    guardState = ckpt.state.guard as GuardState | undefined;
    startStep = ckpt.step;
    await removeCheckpointsAfter(runDir, startStep);
    log(`resumed from ${ckpt.dir} at step ${startStep}`);
  } else if (existsSync(runDir) && (await findLatestCheckpoint(runDir))) {
    if (!opts.force) throw new UserError(`run directory ${runDir} already holds checkpoints; continue it with --resume ${runDir}, or start over with --force (or pick another --out)`);
    rmSync(runDir, { recursive: true, force: true });
  }
  if (!opts.resume && spectral && sdMatrices.length > 0) {
    initializeSpectral(exec, sdMatrices, spectral, train.seed);
    log(`spectral: ${sdMatrices.length} decoupled matrices (rank ${spectral.rank}, init ${spectral.init}), re-based every ${spectral.rebaseEvery} steps`);
  }
  mkdirSync(runDir, { recursive: true });
  writeFileSync(join(runDir, 'config.json'), JSON.stringify({ model, train, configHash: hash }, null, 2));
  const metrics = new MetricsWriter(join(runDir, 'metrics.jsonl'), opts.resume ? { resumeStep: startStep } : {});
  const guard = new DivergenceGuard(guardOptions(train.divergence, model.vocab), guardState);
  const progress = new TrainingProgress({ total: train.steps, startStep, stream: opts.onStep ? nullStream : (opts.progressStream ?? process.stdout) });
  const tokensPerStep = train.batch * train.seqLen;
  const moeLayers = Object.keys(session.compiled.stepPlan.outputs).filter((k) => /^moe\.\d+\.counts$/.test(k));
  const auxLosses = Object.keys(session.compiled.stepPlan.outputs).filter((k) => k.startsWith('aux.'));
  const lr = new Float32Array(1);
  const stepNumber = new Int32Array(1);
  let lastEval: RunSummary['lastEval'] = null;
  let lastCheckpoint: string | null = null;
  let finalLoss = NaN;
  let lastStepRun = startStep;
  const started = performance.now();

  const checkpoint = async (stepNo: number): Promise<void> => {
    const { params, optimizer } = await snapshot(session);
    lastCheckpoint = await saveCheckpoint(runDir, { step: stepNo, params, optimizer, state: { sampler: sampler.state(), guard: guard.state(), configHash: hash, metrics: { loss: finalLoss } } }, { keepLast: 3 });
  };

  const lastStep = Math.min(train.steps, opts.stopAfter ?? train.steps);
  // Ctrl-C finishes the current step, writes a checkpoint and stops: nothing is lost.
  let interrupted = false;
  const onInterrupt = (): void => {
    interrupted = true;
    progress.log('interrupt: finishing this step and writing a checkpoint (press Ctrl-C again to abort)');
    process.once('SIGINT', () => process.exit(130));
  };
  process.once('SIGINT', onInterrupt);
  try {
    for (let s = startStep + 1; s <= lastStep; s++) {
      const batch = sampler.next();
      exec.writeInput('tokens', batch.inputs);
      exec.writeInput('targets', batch.targets);
      lr[0] = learningRate(s, train.steps, train.optimizer.lr, train.schedule);
      stepNumber[0] = s;
      exec.writeInput('optimizer.lr', lr);
      exec.writeInput('optimizer.step', stepNumber);
      const t0 = performance.now();
      exec.run();
      const logNow = s % train.logEvery === 0 || s === train.steps || s === 1;
      const names = ['loss', 'ce_loss', 'grad_norm', ...(logNow ? [...moeLayers, ...auxLosses] : [])];
      const out = await exec.readOutputs(names);
      assertNoDeviceErrors(session.step.exec.ctx, `training step ${s}`);
      const seconds = (performance.now() - t0) / 1000;
      finalLoss = out.loss[0];
      lastStepRun = s;
      // The guard judges the cross-entropy (comparable with ln(vocab)); auxiliary-loss blow-ups
      // show up in the gradient norm.
      const verdict = guard.check(s, out.ce_loss[0], out.grad_norm[1]);
      if (!verdict.ok) throw await divergenceError(verdict, opts, runDir, lastCheckpoint);
      // Re-basing follows the update of every rebaseEvery-th step, so a checkpoint of that step
      // already holds the new bases and a resumed run continues exactly.
      let rebased: RebaseReport | undefined;
      if (spectral && sdMatrices.length > 0 && s % spectral.rebaseEvery === 0) rebased = await rebaseSpectral(exec, sdMatrices, spectral);
      progress.update(s, { loss: out.ce_loss[0], tokensPerSec: tokensPerStep / seconds });
      opts.onStep?.(s, { total: train.steps, loss: out.ce_loss[0], tokensPerSec: tokensPerStep / seconds });
      if (logNow) {
        const tokensPerExpert = moeLayers.map((k) => Array.from(out[k]));
        metrics.log({
          type: 'train',
          step: s,
          loss: out.ce_loss[0],
          total_loss: out.loss[0],
          lr: lr[0],
          grad_norm: out.grad_norm[1],
          aux: Object.fromEntries(auxLosses.map((k) => [k.slice('aux.'.length), out[k][0]])),
          tokens_per_expert: tokensPerExpert,
          load_imbalance: tokensPerExpert.map((c) => Math.max(...c) / (c.reduce((a, b) => a + b, 0) / c.length)),
          tokens_per_s: tokensPerStep / seconds,
          ...(rebased ? { spectral: { energy_top_k: rebased.energyTopK, residual_norm: rebased.residualNorm } } : {}),
        });
      }
      if (train.evalEvery && (s % train.evalEvery === 0 || s === train.steps)) {
        const ev = await evaluate(session, train.evalBatches);
        const overlap = await expertOverlap(session);
        lastEval = { loss: ev.loss, bitsPerByte: ev.bitsPerByte };
        metrics.log({ type: 'eval', step: s, loss: ev.loss, bits_per_byte: ev.bitsPerByte, ...(Number.isNaN(overlap) ? {} : { expert_overlap: overlap }) });
        progress.log(`step ${s}: validation loss ${ev.loss.toFixed(4)}, ${ev.bitsPerByte.toFixed(4)} bits/byte${Number.isNaN(overlap) ? '' : `, expert overlap ${overlap.toFixed(3)}`}`);
      }
      if ((train.checkpointEvery && (s % train.checkpointEvery === 0 || s === train.steps)) || s === opts.stopAfter || interrupted) await checkpoint(s);
      if (interrupted) {
        const sets = (opts.overrides ?? []).map((o) => ` --set ${o}`).join('');
        log(`interrupted after step ${s}; continue with: sdmoec run ${opts.file}${sets} --resume ${runDir}`);
        break;
      }
    }
  } finally {
    process.removeListener('SIGINT', onInterrupt);
    progress.stop();
    metrics.close();
  }
  const elapsed = (performance.now() - started) / 1000;
  if (opts.afterTraining && lastStepRun === train.steps) await opts.afterTraining(session);
  const steps = lastStepRun - startStep;
  return {
    runDir,
    model: model.name,
    steps,
    finalLoss,
    lastEval,
    lastCheckpoint,
    tokensPerSecond: (steps * tokensPerStep) / Math.max(elapsed, 1e-9),
    dispatchesPerStep: exec.dispatchCount,
  };
}
