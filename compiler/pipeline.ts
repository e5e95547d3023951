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
import type { ModelConfig, TrainConfig } from './config/types.ts';
import type { DeviceCaps } from '../base/caps.ts';
import { planGraph, type ExecutionPlan } from './codegen/plan.ts';
import { LoweringError, lowerModel } from './lower/model.ts';
import { verifyGraph } from './ir/text.ts';
import type { Graph } from './ir/types.ts';
import { graph } from './ir/graph.ts';
import { EVALUATION_PIPELINE, runPasses, TRAINING_PIPELINE } from './passes/registry.ts';
import { DEFAULT_OPTIMIZER, type OptimizerOptions } from './passes/optimizer.ts';

export interface CompiledTraining {
  readonly forward: Graph;
  readonly step: Graph;
  readonly evaluation: Graph;
  readonly stepPlan: ExecutionPlan;
  readonly evalPlan: ExecutionPlan;
  /** Global-batch load balancing with grad_accum > 1: the expert-counting forward pass. */
  readonly countPlan?: ExecutionPlan;
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

export function compileTraining(model: ModelConfig, train: TrainConfig, caps: DeviceCaps, opts: { verify?: boolean } = {}): CompiledTraining {
  const forward = lowerModel(model, { batch: train.batch, seqLen: train.seqLen });
  const verify = opts.verify ?? process.env.SDMOEC_VERIFY === '1';
  const after = verify ? (_: string, g: Graph) => verifyGraph(g) : undefined;
  const step = runPasses(forward, TRAINING_PIPELINE, { optimizer: optimizerOptions(train, model) }, after);
  const evaluation = runPasses(forward, EVALUATION_PIPELINE, {}, after);
  const global = needsGlobalCounts(model, train);
  const stepPlan = planGraph(step, caps, { gradAccum: train.gradAccum, ...(global ? { auxCounts: 'given' as const } : {}) });
  const countPlan = global ? planGraph(runPasses(countingGraph(forward), EVALUATION_PIPELINE, {}, after), caps, { auxCounts: 'accumulate' }) : undefined;
  const compiled = { forward, step, evaluation, stepPlan, evalPlan: planGraph(evaluation, caps), ...(countPlan ? { countPlan } : {}) };
  checkBufferLimits(model.name, compiled.stepPlan, caps);
  return compiled;
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
  throw new LoweringError(
    `model ${model}: ${over.length} device buffer${over.length === 1 ? '' : 's'} would exceed the adapter's storage binding limit of ${MiB(limit)}:\n${list}` +
      `${over.length > 5 ? `\n  … and ${over.length - 5} more` : ''}\n  hint: reduce vocab, dim, batch or seq_len, or use an adapter with a larger maxStorageBufferBindingSize`,
  );
}
