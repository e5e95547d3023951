// The whole compiler, config to execution plan: lower the model for one micro-batch, run the
// training pass pipeline (TRAINING_PIPELINE in passes/registry.ts: autodiff, simplify, cse, the
// fusions, the optimizer with SD-MoE's update projection when configured, cse), and plan buffers
// and dispatches. The evaluation program is the forward graph alone; it shares the parameter
// buffers of the training program at run time (same param names). The IR verifier runs after every
// pass when asked (`verify`) or when SDMOEC_VERIFY=1 (the test suite sets it).
// `grad_accum` N > 1 plans the step to run per micro-batch and accumulate (plan.ts); with a
// load-balance loss of `scope = global` it also compiles the counting plan: the forward up to the
// last load-balance loss, run over all N micro-batches of a step before the step itself so that
// f_e is the global batch's (aux-loss.ts). Both share the count buffers and params by name.
import { InternalError } from '../base/errors.ts';
import type { ModelConfig, TrainConfig } from './config/types.ts';
import type { DeviceCaps } from '../base/caps.ts';
import { planGraph, planMemory, type ExecutionPlan } from './codegen/plan.ts';
import { BufferLimitError, lowerModel, type LoweringOptions } from './lower/model.ts';
import { verifyGraph } from './ir/text.ts';
import type { Graph } from './ir/types.ts';
import { graph } from './ir/graph.ts';
import { EVALUATION_PIPELINE, PASSES, runPasses, TRAINING_PIPELINE } from './passes/registry.ts';
import { DEFAULT_OPTIMIZER, type OptimizerOptions } from './passes/optimizer.ts';

export interface CompiledTraining {
  readonly forward: Graph;
  readonly step: Graph;
  readonly evaluation: Graph;
  readonly stepPlan: ExecutionPlan;
  readonly evalPlan: ExecutionPlan;
  /** Global-batch load balancing with grad_accum > 1: the expert-counting forward pass. */
  readonly countPlan?: ExecutionPlan;
  /** SD models: whether the proxies W_c + W_u(i) are materialised or summed in the GEMMs, and why. */
  readonly expertWeights: ExpertWeightChoice | null;
}

/** Whether the step needs the counting pre-pass of global-batch load balancing. */
export function needsGlobalCounts(model: ModelConfig, train: TrainConfig): boolean {
  const aux = model.moe.router.auxLoss;
  return train.gradAccum > 1 && aux !== null && aux.scope === 'global' && aux.coef > 0 && model.denseLayers < model.layers;
}

/** The forward graph cut down to its load-balance losses (what the counting pass computes). */
function countingGraph(forward: Graph): Graph {
  const outputs = Object.fromEntries(Object.entries(forward.outputs).filter(([, v]) => v.node.op === 'aux_loss' && v.node.attrs.kind === 'load_balance'));
  return graph(`${forward.name}_counts`, outputs);
}

/** Optimizer settings of a run (`adam` is AdamW with weight decay 0, `sgd` its own kernel); with an SD model also where the projection happens and, for
 *  `moments reset`, the re-basing period that restarts W_c's and W_u's bias correction. */
export function optimizerOptions(train: TrainConfig | null, model?: ModelConfig): OptimizerOptions {
  if (!train) return DEFAULT_OPTIMIZER;
  const s = model?.spectral;
  return {
    kind: train.optimizer.kind === 'sgd' ? 'sgd' : 'adamw',
    momentum: train.optimizer.momentum,
    ...(s ? { spectral: { project: s.project, resetEvery: s.moments === 'reset' ? s.rebaseEvery : 0 } } : {}),
    beta1: train.optimizer.betas[0],
    beta2: train.optimizer.betas[1],
    eps: train.optimizer.eps,
    weightDecay: train.optimizer.weightDecay,
    clipGrad: train.clipGrad ?? 0,
    decayVectors: false,
  };
}

/** Device memory the planner plans for when it chooses how SD-MoE proxies are computed: the
 *  24 GiB card the paper-scale configs aim at (issue 10). A plan above it is still produced. */
export const DEFAULT_DEVICE_MEMORY = 24 * 2 ** 30;

export interface CompileOptions {
  readonly verify?: boolean;
  /** Bytes of device memory for the proxy choice (default DEFAULT_DEVICE_MEMORY). */
  readonly deviceMemory?: number;
  /** LM head lowering (compiler/lower/model.ts#LoweringOptions); default `auto`. */
  readonly lmHead?: LoweringOptions['lmHead'];
  /** SD-MoE proxies W_c + W_u(i): `auto` (default) materialises them unless that plan does not fit
   *  the device memory and the fused proxy GEMM (pass fuse-expert-weight) makes it smaller. */
  readonly expertWeights?: 'auto' | 'materialised' | 'fused';
  /** Optional fusion passes left out of the step and evaluation pipelines (bench/fusions.ts measures
   *  each fusion against the program without it). Only passes marked `optional` in the registry. */
  readonly withoutPasses?: readonly string[];
}

/** Fusions a program stays correct without (PassInfo.optional; the rest of the pipeline is required or changes results). */
export const OPTIONAL_FUSIONS: readonly string[] = PASSES.filter((p) => p.optional).map((p) => p.name);

/** How the SD-MoE proxies are computed in a compiled program, and why. */
export interface ExpertWeightChoice {
  readonly mode: 'materialised' | 'fused';
  readonly reason: string;
}

/** The training pipeline with the proxy sum folded into the grouped GEMMs (after autodiff, which
 *  has applied the proxies' gradient rule by then, and the first cse). */
function withFusedExpertWeights(pipeline: readonly string[]): string[] {
  const at = pipeline.indexOf('cse') + 1;
  return [...pipeline.slice(0, at), 'fuse-expert-weight', ...pipeline.slice(at)];
}

const GiB = (bytes: number): string => `${(bytes / 2 ** 30).toFixed(2)} GiB`;

export function compileTraining(model: ModelConfig, train: TrainConfig, caps: DeviceCaps, opts: CompileOptions = {}): CompiledTraining {
  const maxBindingBytes = Math.min(caps.maxStorageBufferBindingSize, caps.maxBufferSize);
  const forward = lowerModel(model, { batch: train.batch, seqLen: train.seqLen }, { maxBindingBytes, ...(opts.lmHead ? { lmHead: opts.lmHead } : {}) });
  const verify = opts.verify ?? process.env.SDMOEC_VERIFY === '1';
  const after = verify ? (_: string, g: Graph) => verifyGraph(g) : undefined;
  const global = needsGlobalCounts(model, train);
  // The counting pass (scope = global with grad_accum > 1) is planned once: it takes the evaluation
  // pipeline whichever proxy choice the step gets (as it did when built per choice).
  const countPlan = global ? planGraph(runPasses(countingGraph(forward), EVALUATION_PIPELINE, {}, after), caps, { auxCounts: 'accumulate' }) : undefined;
  const without = opts.withoutPasses ?? [];
  for (const name of without) if (!OPTIONAL_FUSIONS.includes(name)) throw new InternalError(`compileTraining: '${name}' is not an optional fusion (${OPTIONAL_FUSIONS.join(', ')})`);
  const kept = (pipeline: readonly string[]): string[] => pipeline.filter((name) => !without.includes(name));
  const build = (fused: boolean) => {
    const step = runPasses(forward, kept(fused ? withFusedExpertWeights(TRAINING_PIPELINE) : TRAINING_PIPELINE), { optimizer: optimizerOptions(train, model) }, after);
    const evaluation = runPasses(forward, kept(fused ? withFusedExpertWeights(EVALUATION_PIPELINE) : EVALUATION_PIPELINE), {}, after);
    const stepPlan = planGraph(step, caps, { gradAccum: train.gradAccum, ...(global ? { auxCounts: 'given' as const } : {}) });
    return { forward, step, evaluation, stepPlan, evalPlan: planGraph(evaluation, caps), ...(countPlan ? { countPlan } : {}) };
  };
  let compiled: Omit<CompiledTraining, 'expertWeights'>;
  let expertWeights: ExpertWeightChoice | null = null;
  const mode = opts.expertWeights ?? 'auto';
  if (!model.spectral) {
    compiled = build(false);
  } else if (mode !== 'auto') {
    compiled = build(mode === 'fused');
    expertWeights = { mode, reason: 'as asked' };
  } else {
    // Materialised proxies are faster on lavapipe (passes/registry.ts), so they are the default;
    // the fused GEMM is chosen only for memory.
    const budget = opts.deviceMemory ?? DEFAULT_DEVICE_MEMORY;
    compiled = build(false);
    const materialised = planMemory(compiled.stepPlan).total;
    expertWeights = { mode: 'materialised', reason: `the plan (${GiB(materialised)}) fits ${GiB(budget)} of device memory; materialising is faster on lavapipe` };
    if (materialised > budget) {
      const alternative = build(true);
      const fused = planMemory(alternative.stepPlan).total;
      if (fused < materialised) {
        compiled = alternative;
        expertWeights = { mode: 'fused', reason: `materialised proxies need ${GiB(materialised)}, above ${GiB(budget)} of device memory; the fused proxy GEMM needs ${GiB(fused)}` };
      } else {
        expertWeights = { mode: 'materialised', reason: `the fused proxy GEMM would not be smaller (${GiB(fused)} against ${GiB(materialised)})` };
      }
    }
  }
  checkBufferLimits(model.name, compiled.stepPlan, caps);
  checkBufferLimits(model.name, compiled.evalPlan, caps);
  return { ...compiled, expertWeights };
}

/** A forward-only evaluation plan of another shape than training's (an eval block's batch and
 *  seq_len) and, when asked, with the router scores as outputs. Its params have the same names and
 *  shapes as the training program's (no param depends on batch or sequence length), so it runs
 *  on the training program's weights. */
export function compileEvaluation(model: ModelConfig, shape: { batch: number; seqLen: number; routerProbs?: boolean }, caps: DeviceCaps, opts: { verify?: boolean } = {}): { evaluation: Graph; evalPlan: ExecutionPlan } {
  const forward = lowerModel(model, { batch: shape.batch, seqLen: shape.seqLen }, { routerProbs: shape.routerProbs });
  const verify = opts.verify ?? process.env.SDMOEC_VERIFY === '1';
  const evaluation = runPasses(forward, EVALUATION_PIPELINE, {}, verify ? (_: string, g: Graph) => verifyGraph(g) : undefined);
  const evalPlan = planGraph(evaluation, caps);
  checkBufferLimits(model.name, evalPlan, caps);
  return { evaluation, evalPlan };
}

const MiB = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

/** Every buffer is bound as storage, so none may exceed the adapter's binding limit. */
function checkBufferLimits(model: string, plan: ExecutionPlan, caps: DeviceCaps): void {
  const limit = Math.min(caps.maxStorageBufferBindingSize, caps.maxBufferSize);
  const over = plan.buffers.filter((b) => !b.view && b.bytes > limit).sort((a, b) => b.bytes - a.bytes);
  if (over.length === 0) return;
  const list = over.slice(0, 5).map((b) => `  ${b.kind} buffer '${b.name}' needs ${MiB(b.bytes)}`).join('\n');
  throw new BufferLimitError(
    `model ${model}: ${over.length} device buffer${over.length === 1 ? '' : 's'} would exceed the adapter's storage binding limit of ${MiB(limit)}:\n${list}` +
      `${over.length > 5 ? `\n  … and ${over.length - 5} more` : ''}\n  hint: reduce vocab, dim, batch or seq_len, or use an adapter with a larger maxStorageBufferBindingSize`,
  );
}
