// `sdmoec run`: trains the model of a .moe file. Compiles one training step (forward, backward,
// optimizer) into a single-submit plan and a forward-only evaluation plan sharing its weights,
// streams batches from the prepared corpus, and per step feeds [lr, step] to the device, runs the
// plan and reads back loss, gradient norm and the aux losses (one round trip). Metrics go to JSONL
// (train; eval with the metrics the eval block names, runtime/train/evaluate.ts; and a spectral line
// per re-basing), checkpoints are atomic, `--resume` restores params, Adam moments, data position
// and guard state so the loss curve continues exactly as an uninterrupted run would. A NaN or exploding loss stops the run
// before anything is saved, so the last checkpoint on disk is the last good one.
// `grad_accum` N: a step draws N micro-batches, runs them through the accumulating plan (`trainStep`)
// and updates once; every step counter (schedule, bias correction, re-basing, checkpoints) counts
// optimizer steps, and checkpoints fall between steps, where the accumulators are zero.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { Writable } from 'node:stream';
import { InternalError, UserError } from '../../base/errors.ts';
import { loadConfig } from '../../compiler/config/index.ts';
import type { EvalConfig, ModelConfig, NormalisedConfig, TrainConfig } from '../../compiler/config/types.ts';
import { stableJson } from '../../base/stable-json.ts';
import { numel } from '../../compiler/ir/types.ts';
import { LoweringError, modelOutputs } from '../../compiler/lower/model.ts';
import { compileTraining, type CompiledTraining, type CompileOptions } from '../../compiler/pipeline.ts';
import { findLatestCheckpoint, loadCheckpoint, removeCheckpointsAfter, saveCheckpoint, type ParamTensor } from '../checkpoint/checkpoint.ts';
import { prepareData, BatchSampler, type PreparedData, type SamplerState } from '../data/index.ts';
import { acquireDevice, assertNoDeviceErrors, GpuError } from '../device.ts';
import { KernelExecutor } from '../executor.ts';
import { DivergenceError, DivergenceGuard, guardOptions, type GuardState } from '../metrics/guard.ts';
import { MetricsWriter, type SpectralMetrics } from '../metrics/jsonl.ts';
import { TrainingProgress } from '../metrics/progress.ts';
import { StepExecutor } from '../step-executor.ts';
import { learningRate } from './schedule.ts';
import { diagnoseExperts, type ExpertDiagnostics } from '../sd/diagnostics.ts';
import { diagnosticsInputs } from './diagnostics.ts';
import { describeResult, implicitEval, metricFields, openEvaluation, runEvaluation, type EvalResult, type EvalSetup } from './evaluate.ts';
import { describeChanges, diffRunConfig, readRunConfig, runDirOf, type RunConfigRecord } from './run-config.ts';
import { applyRebase, carriedRebaseBudgetMs, initializeSpectral, rebaseOverlapStart, rebasePrefetchNames, rebaseSpectral, spectralMatrices, startRebase, warmRebase, type RebaseReport } from './spectral.ts';
import { rebaseThreadWanted, RebaseWorker, settleWithin, type RebaseTicket } from './rebase-worker.ts';

export interface RunOptions {
  /** The .moe file; optional with `resume`, whose run directory records the resolved config. */
  readonly file?: string;
  readonly overrides?: readonly string[];
  /** Run directory (default runs/<model>). */
  readonly out?: string;
  /** Resume from this run directory or checkpoint directory. */
  readonly resume?: string;
  /** Start over in an existing run directory, deleting its checkpoints and metrics. */
  readonly force?: boolean;
  /** Resume even when FILE/overrides change more than logging intervals (the changes are printed). */
  readonly allowChanges?: boolean;
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
  /** Overlap each SD-MoE re-basing with the next step's first dispatches (default true; false
   *  re-bases synchronously after the step: the same values, for A/B tests and benches). */
  readonly overlapRebase?: boolean;
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
  /** SD-MoE re-basings of this run: computed while the next step ran, or between steps (before a
   *  checkpoint, an evaluation, the last step, or with a plan that cannot read them with the step),
   *  the main thread's wall time on them in all (the SVDs it computed itself and the writes; not the
   *  idle wait for the re-basing thread), and how many of their SVDs that thread computed
   *  (rebase-worker.ts) out of all. */
  readonly rebases: { readonly overlapped: number; readonly synchronous: number; readonly seconds: number; readonly svds: number; readonly svdsOnThread: number };
}

export interface TrainingSession {
  readonly model: ModelConfig;
  readonly train: TrainConfig;
  readonly compiled: CompiledTraining;
  readonly step: StepExecutor;
  /** The executor of `evalSetup` (kept under this name for callers that run it directly). */
  readonly evaluation: StepExecutor;
  /** What an evaluation scores and reports: the file's eval block, else implicitEval(train). */
  readonly evalSetup: EvalSetup;
  /** Global-batch load balancing with grad_accum > 1: the expert-counting forward pass. */
  readonly counting?: StepExecutor;
  readonly data: PreparedData;
}

/** One micro-batch of token ids and next-token targets. */
export interface MicroBatch {
  readonly inputs: Int32Array;
  readonly targets: Int32Array;
}

/** Outputs reduced over a step's micro-batches: float outputs (losses and aux losses, each a mean
 *  over the micro-batch) are averaged, integer ones (expert counts) summed; the gradient norm is
 *  the last micro-batch's, the only one computed (over the accumulated gradient). */
function combineMicroBatches(captured: Record<string, (Float32Array | Int32Array)[]>): Record<string, Float32Array | Int32Array> {
  const out: Record<string, Float32Array | Int32Array> = {};
  for (const [name, slots] of Object.entries(captured)) {
    if (name === 'grad_norm') {
      out[name] = slots[slots.length - 1];
      continue;
    }
    const sum = slots[0] instanceof Int32Array;
    const total = slots[0] instanceof Int32Array ? new Int32Array(slots[0].length) : new Float32Array(slots[0].length);
    for (const slot of slots) for (let i = 0; i < total.length; i++) total[i] += slot[i];
    if (!sum) for (let i = 0; i < total.length; i++) total[i] /= slots.length;
    out[name] = total;
  }
  return out;
}

/**
 * One optimizer step over `batches` (as many as the step's micro-batches): with global-batch load
 * balancing the counting pass first sees every micro-batch, then each micro-batch runs forward and
 * backward into the accumulators and the last one also the update. Returns the named outputs,
 * reduced over the micro-batches (combineMicroBatches); lr and step must be written already.
 */
export async function trainStep(session: Pick<TrainingSession, 'step' | 'counting'>, batches: readonly MicroBatch[], names: readonly string[]): Promise<Record<string, Float32Array | Int32Array>> {
  return (await trainStepReading(session, batches, names, [])).outputs;
}

/**
 * trainStep that also reads `params` after the update: in the step's own read-back when the plan
 * has one micro-batch (an SD-MoE re-basing step saves its second round trip), else `params` is
 * null and the caller reads them itself.
 */
export async function trainStepReading(
  session: Pick<TrainingSession, 'step' | 'counting'>,
  batches: readonly MicroBatch[],
  names: readonly string[],
  params: readonly string[],
  during?: { readonly at: number; readonly work: () => Promise<void> },
): Promise<{ outputs: Record<string, Float32Array | Int32Array>; params: Record<string, Float32Array> | null }> {
  const { step: exec, counting } = session;
  const n = exec.microBatches;
  if (batches.length !== n) throw new Error(`trainStep: ${batches.length} micro-batches for a plan of ${n}`);
  if (during && n !== 1) throw new InternalError('trainStep: host work during a step needs a plan of one micro-batch');
  if (n === 1) {
    exec.writeInput('tokens', batches[0].inputs);
    exec.writeInput('targets', batches[0].targets);
    // The read-back copies ride in the step's own command buffer (StepExecutor#run's `read`).
    const read = { outputs: names, params };
    if (during) await exec.runAround(during.at, during.work, read);
    else exec.run('step', { read });
    const staged = await exec.readStaged();
    return { outputs: staged.outputs, params: params.length === 0 ? null : staged.params };
  }
  if (counting) {
    batches.forEach((b, m) => {
      counting.writeInput('tokens', b.inputs);
      counting.run('step', { clearAuxCounts: m === 0 });
    });
  }
  batches.forEach((b, m) => {
    exec.writeInput('tokens', b.inputs);
    exec.writeInput('targets', b.targets);
    exec.run(m < n - 1 ? 'micro' : 'last');
    exec.captureOutputs(names, m, n);
  });
  return { outputs: combineMicroBatches(await exec.readCaptured(names, n)), params: null };
}

function trainBlock(config: NormalisedConfig, file: string): { model: ModelConfig; train: TrainConfig } {
  const train = config.train;
  if (!train) throw new UserError(`${file}: no train block; add 'train <model> { … }' to train a model`);
  const model = config.models.find((m) => m.name === train.model);
  if (!model) throw new UserError(`${file}: train block names unknown model '${train.model}'`);
  return { model, train };
}

/** `data path("…")` is relative to the .moe file, like an import, not to the working directory. */
export function resolveDataPath<T extends { data: TrainConfig['data'] }>(block: T, file: string): T {
  return block.data.kind === 'path' && !isAbsolute(block.data.path) ? { ...block, data: { ...block.data, path: resolve(dirname(file), block.data.path) } } : block;
}

/** The model and train config of a .moe file's train block and its eval block (null when none),
 *  overrides applied, data paths resolved. */
export function resolveRunConfig(file: string, overrides: readonly string[] = [], log: (line: string) => void = () => {}): { model: ModelConfig; train: TrainConfig; eval: EvalConfig | null } {
  const { config, warnings } = loadConfig(file, { overrides: [...overrides] });
  for (const w of warnings) log(`warning: ${w.message}`);
  const { model, train } = trainBlock(config, file);
  return { model, train: resolveDataPath(train, file), eval: config.eval ? resolveDataPath(config.eval, file) : null };
}

/** Loads a .moe file and opens a session for its train block. */
export async function openSessionFromFile(file: string, overrides: readonly string[] = [], log: (line: string) => void = () => {}, compile: CompileOptions = {}): Promise<TrainingSession> {
  const { model, train, eval: evalBlock } = resolveRunConfig(file, overrides, log);
  return openSession(model, train, file, log, evalBlock ?? undefined, { compile });
}

/** Compiles, allocates and initialises everything a run needs; shared by `run`, `eval` and tests.
 *  `evalSpec`: what evaluations score and report (default implicitEval(train)). `testSplit`: the
 *  run holds out a test split (its eval block's `split test`; default: whether evalSpec says so),
 *  which changes its train documents, so evaluating a run's checkpoint must repeat the run's choice. */
export async function openSession(
  model: ModelConfig,
  train: TrainConfig,
  where: string,
  log: (line: string) => void = () => {},
  evalSpec?: EvalConfig,
  opts: { testSplit?: boolean; compile?: CompileOptions } = {},
): Promise<TrainingSession> {
  const ctx = await acquireDevice();
  log(`device: ${ctx.adapterName}`);
  const data = prepareData({
    source: train.data,
    tokenizer: train.tokenizer,
    testSplit: opts.testSplit ?? evalSpec?.split === 'test',
    vocabSize: model.vocab,
    seqLen: train.seqLen,
    batch: train.batch,
    // One line per phase with its time: the per-merge and per-document counts are for a live bar,
    // not for a log (a non-TTY run printed a line per 38 merges and per document).
    onProgress: (e) => {
      if (e.done === undefined) log(`data: ${e.message}`);
    },
  });
  let compiled: CompiledTraining;
  try {
    compiled = compileTraining(model, train, ctx.caps, opts.compile);
  } catch (e) {
    if (e instanceof LoweringError) throw new UserError(`${where}: ${e.message}`);
    throw e;
  }
  const exec = KernelExecutor.shared(ctx);
  const step = new StepExecutor(exec, compiled.stepPlan);
  await step.init(train.seed);
  let evalSetup: EvalSetup;
  try {
    evalSetup = await openEvaluation({ model, train, spec: evalSpec ?? implicitEval(train), compiled, exec, step, data, log });
  } catch (e) {
    if (e instanceof LoweringError) throw new UserError(`${where}: ${e.message}`);
    throw e;
  }
  const evaluation = evalSetup.executor;
  let counting: StepExecutor | undefined;
  if (compiled.countPlan) {
    counting = new StepExecutor(exec, compiled.countPlan);
    await counting.init(train.seed, step);
  }
  log(`compiled: ${compiled.stepPlan.dispatches.length} dispatches per training step, ${compiled.evalPlan.dispatches.length} per evaluation batch, ${exec.pipelineCount} pipelines, ${(compiled.stepPlan.totalBytes / 2 ** 20).toFixed(1)} MiB of buffers`);
  // lavapipe compiles each shader to machine code on its first dispatch, not at pipeline creation.
  if (/llvmpipe|lavapipe/i.test(ctx.adapterName)) log('note: on lavapipe the first training step and the first evaluation also compile the shaders (tens of seconds)');
  if (train.gradAccum > 1) log(`grad_accum ${train.gradAccum}: ${train.gradAccum} micro-batches of ${train.batch} sequences per optimizer step${counting ? `, load-balance statistics over the global batch (a counting pass of ${compiled.countPlan!.dispatches.length} dispatches per micro-batch)` : ''}`);
  return { model, train, compiled, step, evaluation, evalSetup, ...(counting ? { counting } : {}), data };
}

export function configHash(model: ModelConfig, train: TrainConfig): string {
  // The divergence guard's thresholds do not change the computation: leaving them out lets a run
  // stopped by the guard resume with looser ones (and keeps the hashes of older checkpoints).
  return createHash('sha256')
    .update(stableJson({ model, train: { ...train, divergence: undefined, steps: 0, evalEvery: 0, checkpointEvery: 0, logEvery: 0 } }))
    .digest('hex')
    .slice(0, 16);
}

/** The expert diagnostics of the session's live weights (runtime/train/diagnostics.ts). */
export async function expertDiagnostics(session: TrainingSession): Promise<ExpertDiagnostics[]> {
  const inputs = await diagnosticsInputs(session.compiled.stepPlan, (name) => session.step.readParam(name));
  return inputs.map((input) => diagnoseExperts(input));
}

/** The `type: 'spectral'` metrics line of one re-basing (written at every re-basing, log step or not). */
export function spectralLine(step: number, report: RebaseReport, timing: { seconds: number; overlapped: boolean }): SpectralMetrics {
  return {
    type: 'spectral',
    step,
    seconds: timing.seconds,
    overlapped: timing.overlapped,
    energy_top_k: report.energyTopK,
    residual_norm: report.residualNorm,
    matrices: report.matrices.map((m) => ({
      name: m.name,
      layer: m.layer,
      matrix: m.matrix,
      energy_top_k: m.energyTopK,
      residual_norm: m.residualNorm,
      basis_overlap: { left: m.basisOverlap.left, right: m.basisOverlap.right },
      reprojected_norm: { mean: m.reprojectedNorm.mean, max: m.reprojectedNorm.max },
      singular_values: [...m.singularValues],
    })),
  };
}

/** The session's evaluation (runtime/train/evaluate.ts) over `maxBatches` held-out batches
 *  (default: its spec's `batches`; 'all' or Infinity: the whole split). */
export async function evaluate(session: TrainingSession, maxBatches?: number | 'all'): Promise<EvalResult> {
  return runEvaluation(session.evalSetup, session.data.tokenizer, maxBatches === Infinity ? 'all' : maxBatches);
}

/** The session's parameters and optimizer state as read off the device (checkpoints, bench/torch-step.ts). */
export async function snapshot(session: TrainingSession): Promise<{ params: Map<string, ParamTensor>; optimizer: Map<string, ParamTensor> }> {
  const params = new Map<string, ParamTensor>();
  const optimizer = new Map<string, ParamTensor>();
  for (const [name, spec] of Object.entries(session.compiled.stepPlan.params)) {
    const tensor = { shape: [...spec.type.shape], data: await session.step.readParam(name) };
    if (spec.role?.kind === 'adam' || spec.role?.kind === 'momentum') optimizer.set(name, tensor);
    else params.set(name, tensor);
  }
  return { params, optimizer };
}

export function restore(session: TrainingSession, tensors: Map<string, { shape: readonly number[]; data: ArrayLike<number> }>, where: string): void {
  for (const [name, spec] of Object.entries(session.compiled.stepPlan.params)) {
    const t = tensors.get(name);
    if (!t) throw new UserError(`${where}: checkpoint has no tensor '${name}' (was it written by a different model?)`);
    if (t.data.length !== numel(spec.type) || t.shape.join(',') !== spec.type.shape.join(',')) {
      throw new UserError(`${where}: tensor '${name}' has shape [${t.shape.join(', ')}] (${t.data.length} elements), the model expects [${spec.type.shape.join(', ')}]`);
    }
    session.step.writeParam(name, Float32Array.from(t.data));
  }
}

/** Where the run's own progress display goes when the caller draws its own (`onStep`). */
const nullStream = new Writable({ write: (_chunk, _enc, done) => done() });

/** The error a guard verdict becomes: the step, the reason, the last good checkpoint, what next. */
/**
 * Fault injection for test/train/faults.test.ts (`SDMOEC_FAULT=device-error:N`): a real WebGPU
 * validation error outside any error scope before step N, as a driver fault would raise.
 */
function injectDeviceError(session: TrainingSession): void {
  session.step.exec.ctx.device.createBuffer({ size: 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.STORAGE });
}

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
    ? `the last good checkpoint is ${last}; resume it with: sdmoec run --resume ${runDir}\n` +
      `(a resumed run repeats the same steps; to continue past this check: sdmoec run ${opts.file ?? 'FILE'}${sets} --set train.divergence=off --resume ${runDir}, or start over with a new setting and --force)`
    : `the last good checkpoint is (none written yet): start over with a new setting`;
  return new DivergenceError(`training stopped at step ${verdict.step} (${verdict.reason}): ${verdict.message}. ${advice}.\n${next}`, verdict.step, verdict.reason, last);
}

export async function runTraining(opts: RunOptions): Promise<RunSummary> {
  const log = opts.log ?? ((line: string) => process.stdout.write(line + '\n'));
  // Resume continues the run as recorded in its directory; a FILE given with it may change only
  // what cannot change the run's result, unless forced (runtime/train/run-config.ts).
  const resumeRunDir = opts.resume ? runDirOf(opts.resume) : undefined;
  const recorded = resumeRunDir ? readRunConfig(resumeRunDir) : undefined;
  if (!opts.file && !recorded) {
    throw new UserError(
      opts.resume
        ? `${resumeRunDir}: no config.json with the run's resolved config (written by an older sdmoec?); resume with the file and flags it was started with: sdmoec run FILE --set … --resume ${opts.resume}`
        : 'sdmoec run needs a .moe file, or --resume RUN_DIR to continue a run',
    );
  }
  const resolved = opts.file ? resolveRunConfig(opts.file, opts.overrides, log) : { model: recorded!.model, train: recorded!.train, eval: recorded!.eval ?? null };
  const changes = recorded && opts.file ? diffRunConfig(recorded, resolved) : [];
  if (changes.some((c) => !c.harmless) && !opts.allowChanges) {
    throw new UserError(
      `${resumeRunDir}: resuming with ${opts.file}${(opts.overrides ?? []).map((o) => ` --set ${o}`).join('')} would change the run:\n${describeChanges(changes)}\n` +
        `continue it exactly as configured with: sdmoec run --resume ${resumeRunDir}\n(or add --allow-changes to apply these changes anyway)`,
    );
  }
  if (changes.length > 0) log(`resume: config changes applied:\n${describeChanges(changes)}`);
  const session = await openSession(resolved.model, resolved.train, opts.file ?? join(resumeRunDir!, 'config.json'), log, resolved.eval ?? undefined);
  const { model, train, step: exec } = session;
  const runDir = opts.out ?? resumeRunDir ?? join('runs', model.name);
  const hash = configHash(model, train);
  const sampler = new BatchSampler(session.data.train, { seqLen: train.seqLen, batch: train.batch, seed: train.seed });
  let startStep = 0;
  let guardState: GuardState | undefined;
  const spectral = model.spectral;
  const sdMatrices = spectral ? spectralMatrices(session.compiled.stepPlan) : [];
  // What a re-basing step reads with its outputs (one round trip instead of two); the same every time.
  const rebasePrefetch = spectral && sdMatrices.length > 0 ? (rebasePrefetchNames(exec, sdMatrices, spectral) ?? []) : [];
  // A re-basing after step s runs while step s + 1's first `rebaseAt` dispatches do (they touch
  // nothing it writes: the same values as re-basing in between, less wall time). It waits for the
  // next step only when it was read with step s (one micro-batch, W_c within one staging buffer)
  // and nothing else needs the new state first: see flushRebase.
  const rebaseAt = spectral && sdMatrices.length > 0 ? rebaseOverlapStart(session.compiled.stepPlan, sdMatrices, spectral) : 0;
  const rebases = { overlapped: 0, synchronous: 0, seconds: 0, svds: 0, svdsOnThread: 0 };
  // A carried re-basing starts on its thread as soon as its values are read (rebase-worker.ts).
  let pendingRebase: { step: number; ticket: RebaseTicket } | null = null;
  const rebaseWorker = spectral && sdMatrices.length > 0 && rebasePrefetch.length > 0 && opts.overlapRebase !== false && rebaseThreadWanted() ? RebaseWorker.start() : null;

  if (opts.resume) {
    const ckpt = await loadCheckpoint(opts.resume, { configHash: opts.allowChanges ? undefined : hash });
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
  // The host re-basing's JIT, paid once here rather than by the first dozen re-basings (also on resume).
  if (spectral && sdMatrices.length > 0) await warmRebase(sdMatrices, spectral, rebaseWorker);
  mkdirSync(runDir, { recursive: true });
  if (!recorded || changes.length > 0) {
    const record: RunConfigRecord = recorded
      ? { ...recorded, model, train, eval: resolved.eval, configHash: hash, changes: [...(recorded.changes ?? []), { atStep: startStep, changes }] }
      : { model, train, eval: resolved.eval, configHash: hash, ...(opts.file ? { file: opts.file, overrides: opts.overrides ?? [] } : {}) };
    writeFileSync(join(runDir, 'config.json'), JSON.stringify(record, null, 2));
  }
  const metrics = new MetricsWriter(join(runDir, 'metrics.jsonl'), opts.resume ? { resumeStep: startStep } : {});
  const guard = new DivergenceGuard(guardOptions(train.divergence, model.vocab), guardState);
  const progress = new TrainingProgress({ total: train.steps, startStep, stream: opts.onStep ? nullStream : (opts.progressStream ?? process.stdout) });
  // Every micro-batch's tokens count: an optimizer step trains on grad_accum · batch sequences.
  const tokensPerStep = train.gradAccum * train.batch * train.seqLen;
  // By role (compiler/lower/model.ts#modelOutputs), never by parsing output names.
  const roleOutputs = modelOutputs(model);
  for (const o of roleOutputs) if (!session.compiled.stepPlan.outputs[o.name]) throw new InternalError(`the step plan lacks output ${o.name} (${o.role.kind})`);
  const moeLayers = roleOutputs.filter((o) => o.role.kind === 'expert_counts').map((o) => o.name);
  // name → the metrics key of an aux loss: '<layer>.<loss>'
  const auxKey = new Map(roleOutputs.flatMap((o) => (o.role.kind === 'aux_loss' ? [[o.name, `${o.role.layer}.${o.role.loss}`] as const] : [])));
  const auxLosses = [...auxKey.keys()];
  const lr = new Float32Array(1);
  const stepNumber = new Int32Array(1);
  let lastEval: RunSummary['lastEval'] = null;
  let lastCheckpoint: string | null = null;
  let finalLoss = NaN;
  let lastStepRun = startStep;
  let lastStepMs = 0;
  // Largest grad norm and aux losses since the last train line (logged there as max_grad_norm, max_aux).
  let maxGradNorm = -Infinity;
  let maxAux: Record<string, number> = {};
  const started = performance.now();

  // `from`: a started re-basing (its ticket), or the values to re-base now (null: read them first).
  const rebaseNow = async (stepNo: number, from: { ticket: RebaseTicket } | { values: Record<string, Float32Array> | null }, overlapped: boolean): Promise<void> => {
    const t0 = performance.now();
    const report = 'ticket' in from ? applyRebase(exec, sdMatrices, spectral!, from.ticket.finish()) : await rebaseSpectral(exec, sdMatrices, spectral!, from.values);
    const seconds = (performance.now() - t0) / 1000;
    rebases.seconds += seconds;
    rebases.svds += sdMatrices.length;
    rebases.svdsOnThread += 'ticket' in from ? from.ticket.fromThread() : 0;
    metrics.log(spectralLine(stepNo, report, { seconds, overlapped }));
  };
  // A deferred re-basing that no step will carry: a checkpoint, an evaluation or the end of the
  // loop (the last step, an interrupt) comes first.
  const flushRebase = async (): Promise<void> => {
    const pending = pendingRebase;
    pendingRebase = null;
    if (!pending) return;
    await rebaseNow(pending.step, pending, false);
    rebases.synchronous++;
  };

  const checkpoint = async (stepNo: number): Promise<void> => {
    // The checkpoint of a re-basing step holds the new bases (a resumed run continues exactly).
    await flushRebase();
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
      if (process.env.SDMOEC_FAULT === `device-error:${s}`) injectDeviceError(session);
      // The step's micro-batches are the sampler's next grad_accum batches: the same sequences,
      // in the same order, as one batch of grad_accum · batch would be.
      const batches = Array.from({ length: train.gradAccum }, () => sampler.next());
      lr[0] = learningRate(s, train.steps, train.optimizer.lr, train.schedule);
      stepNumber[0] = s;
      exec.writeInput('optimizer.lr', lr);
      // SGD has no bias correction: its plan reads no step number.
      if (exec.plan.inputs['optimizer.step']) exec.writeInput('optimizer.step', stepNumber);
      const t0 = performance.now();
      const logNow = s % train.logEvery === 0 || s === train.steps || s === 1;
      // The aux losses are scalars read every step in the same copy as the loss, so a spike between
      // two log lines still reaches max_aux (the extra bytes cost nothing next to the map round trip).
      const names = ['loss', 'ce_loss', 'grad_norm', ...auxLosses, ...(logNow ? moeLayers : [])];
      // A re-basing step reads W_c, U_k, V_k with its outputs (one round trip instead of two).
      const rebasing = spectral && sdMatrices.length > 0 && s % spectral.rebaseEvery === 0 ? spectral : null;
      const prefetch = rebasing ? rebasePrefetch : [];
      const carried = pendingRebase;
      pendingRebase = null;
      // The carried re-basing's thread has until the device nears dispatch `rebaseAt` (the main thread
      // waits idle; then it computes what is left).
      const during = carried
        ? {
            at: rebaseAt,
            work: async () => {
              await settleWithin(carried.ticket, carriedRebaseBudgetMs(lastStepMs, rebaseAt, exec.dispatchCount));
              await rebaseNow(carried.step, carried, true);
            },
          }
        : undefined;
      const { outputs: out, params: prefetched } = await trainStepReading(session, batches, names, prefetch, during);
      if (carried) rebases.overlapped++;
      assertNoDeviceErrors(session.step.exec.ctx, `training step ${s}`);
      const seconds = (performance.now() - t0) / 1000;
      lastStepMs = seconds * 1000;
      finalLoss = out.loss[0];
      lastStepRun = s;
      // NaN propagates on purpose: a NaN since the last log line must show.
      const worse = (a: number, b: number): number => (Number.isNaN(a) || Number.isNaN(b) ? NaN : Math.max(a, b));
      maxGradNorm = worse(maxGradNorm, out.grad_norm[1]);
      for (const k of auxLosses) maxAux[k] = worse(maxAux[k] ?? -Infinity, out[k][0]);
      // The guard judges the cross-entropy (comparable with ln(vocab)); auxiliary-loss blow-ups
      // show up in the gradient norm.
      const verdict = guard.check(s, out.ce_loss[0], out.grad_norm[1]);
      if (!verdict.ok) throw await divergenceError(verdict, opts, runDir, lastCheckpoint);
      // Re-basing follows the update of every rebaseEvery-th step: carried by step s + 1 when it
      // was read with this step, else now. Either way before anything reads the state (flushRebase).
      if (rebasing) {
        if (prefetched && opts.overlapRebase !== false) pendingRebase = { step: s, ticket: startRebase(sdMatrices, spectral!, prefetched, rebaseWorker) };
        else {
          await rebaseNow(s, { values: prefetched }, false);
          rebases.synchronous++;
        }
      }
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
          aux: Object.fromEntries(auxLosses.map((k) => [auxKey.get(k)!, out[k][0]])),
          tokens_per_expert: tokensPerExpert,
          load_imbalance: tokensPerExpert.map((c) => Math.max(...c) / (c.reduce((a, b) => a + b, 0) / c.length)),
          tokens_per_s: tokensPerStep / seconds,
          max_grad_norm: maxGradNorm,
          max_aux: Object.fromEntries(auxLosses.map((k) => [auxKey.get(k)!, maxAux[k]])),
        });
        maxGradNorm = -Infinity;
        maxAux = {};
      }
      if (train.evalEvery && (s % train.evalEvery === 0 || s === train.steps)) {
        await flushRebase(); // the diagnostics read the bases
        const t1 = performance.now();
        const ev = await evaluate(session);
        const evalSeconds = (performance.now() - t1) / 1000;
        const { metrics: named } = session.evalSetup.spec;
        const t2 = performance.now();
        const diagnostics = named.includes('expert_overlap') ? await expertDiagnostics(session) : undefined;
        const diagnosticsSeconds = (performance.now() - t2) / 1000;
        const fields = metricFields(ev, named, diagnostics);
        lastEval = { loss: ev.loss, bitsPerByte: ev.bitsPerByte };
        metrics.log({ type: 'eval', step: s, ...fields, tokens: ev.tokens, eval_seconds: evalSeconds, ...(diagnostics ? { diagnostics_seconds: diagnosticsSeconds } : {}) });
        progress.log(`step ${s}: validation ${describeResult(ev, named, fields)}`);
      }
      if ((train.checkpointEvery && (s % train.checkpointEvery === 0 || s === train.steps)) || s === opts.stopAfter || interrupted) await checkpoint(s);
      if (interrupted) {
        log(`interrupted after step ${s}; continue with: sdmoec run --resume ${runDir}`);
        break;
      }
    }
    await flushRebase();
  } catch (e) {
    // A device that fails mid-run (lost, or an error no scope caught) is not the user's mistake but
    // not a compiler bug either: say where the run can continue from. Nothing after the last
    // checkpoint was saved, so that checkpoint is the last good state.
    if (!(e instanceof GpuError)) throw e;
    const last = lastCheckpoint ?? (await findLatestCheckpoint(runDir).catch(() => null));
    throw new UserError(
      `the device failed during step ${lastStepRun + 1}: ${e.message}\n` +
        (last ? `the last good checkpoint is ${last}; continue with: sdmoec run --resume ${runDir}` : 'no checkpoint was written yet; start the run again'),
    );
  } finally {
    process.removeListener('SIGINT', onInterrupt);
    progress.stop();
    metrics.close();
    await rebaseWorker?.close();
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
    rebases,
  };
}
