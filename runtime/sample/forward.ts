// The forward-only logits program of a trained model, for `sdmoec sample` and the export checks.
// It is the compiler's own forward graph (lowerModel) at a chosen batch × seq_len with one change
// of outputs: the input of the cross-entropy node (the LM head's logits [T, vocab]) instead of the
// loss, so the function is exactly the one `sdmoec eval` scores. The evaluation pass pipeline and
// the planner then treat it like any other graph. Invariant: params keep their training names and
// roles, so a checkpoint's tensors load unchanged (SD models keep W_c, W_u, U_k, V_k; the
// expert_weight op forms W_c + W_u(i) on the device as in training).
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { UserError } from '../../base/errors.ts';
import type { EvalConfig, ModelConfig, TrainConfig } from '../../compiler/config/types.ts';
import { planGraph, type ExecutionPlan } from '../../compiler/codegen/plan.ts';
import { graph, topoOrder } from '../../compiler/ir/graph.ts';
import type { Graph } from '../../compiler/ir/types.ts';
import { numel } from '../../compiler/ir/types.ts';
import { LoweringError, lowerModel, type LoweringShape } from '../../compiler/lower/model.ts';
import { EVALUATION_PIPELINE, runPasses } from '../../compiler/passes/registry.ts';
import { loadCheckpoint, type LoadedCheckpoint, type ParamTensor } from '../checkpoint/checkpoint.ts';
import { acquireDevice, assertNoDeviceErrors } from '../device.ts';
import { KernelExecutor } from '../executor.ts';
import { StepExecutor } from '../step-executor.ts';
import { prepareData, type Tokenizer } from '../data/index.ts';

/** The forward graph of `model` at `shape` whose only output is `logits` [batch·seqLen, vocab]. */
export function logitsGraph(model: ModelConfig, shape: LoweringShape): Graph {
  const forward = lowerModel(model, shape);
  const ce = topoOrder(forward).find((n) => n.op === 'cross_entropy');
  if (!ce) throw new Error(`forward graph of ${model.name} has no cross_entropy node`);
  return graph(`${model.name}.logits`, { logits: ce.inputs[0] });
}

export function compileLogits(model: ModelConfig, shape: LoweringShape, caps: Parameters<typeof planGraph>[1]): ExecutionPlan {
  let g: Graph;
  try {
    g = logitsGraph(model, shape);
  } catch (e) {
    if (e instanceof LoweringError) throw new UserError(`model ${model.name}: ${e.message}`);
    throw e;
  }
  return planGraph(runPasses(g, EVALUATION_PIPELINE, {}), caps);
}

/** A checkpoint with the model and train settings of its run (config.json beside it). */
export interface TrainedModel {
  readonly ckpt: LoadedCheckpoint;
  readonly model: ModelConfig;
  readonly train: TrainConfig;
  /** The run held out a test split (its eval block's `split test`): its train split, and so its
   *  BPE merges, differ from a run without one. */
  readonly testSplit: boolean;
  readonly configPath: string;
}

export async function loadTrainedModel(checkpoint: string): Promise<TrainedModel> {
  const ckpt = await loadCheckpoint(checkpoint);
  const configPath = [join(ckpt.dir, '..', 'config.json'), join(dirname(ckpt.dir), 'config.json')].find(existsSync);
  if (!configPath) throw new UserError(`${ckpt.dir}: no config.json beside the checkpoint (was it written by sdmoec run?)`);
  const { model, train, eval: evalBlock } = JSON.parse(readFileSync(configPath, 'utf8')) as { model: ModelConfig; train: TrainConfig; eval?: EvalConfig | null };
  return { ckpt, model, train, testSplit: evalBlock?.split === 'test', configPath };
}

/** Runs the logits program on the device for one fixed shape. */
export class LogitsRunner {
  private constructor(
    readonly model: ModelConfig,
    readonly shape: LoweringShape,
    readonly step: StepExecutor,
  ) {}

  static async open(model: ModelConfig, shape: LoweringShape, params: ReadonlyMap<string, ParamTensor>, where: string): Promise<LogitsRunner> {
    const ctx = await acquireDevice();
    const plan = compileLogits(model, shape, ctx.caps);
    const step = new StepExecutor(KernelExecutor.shared(ctx), plan);
    await step.init(0);
    for (const [name, spec] of Object.entries(plan.params)) {
      const t = params.get(name);
      if (!t) throw new UserError(`${where}: checkpoint has no tensor '${name}' (was it written by a different model?)`);
      if (t.data.length !== numel(spec.type)) throw new UserError(`${where}: tensor '${name}' has shape [${t.shape.join(', ')}], the model expects [${spec.type.shape.join(', ')}]`);
      step.writeParam(name, t.data);
    }
    return new LogitsRunner(model, shape, step);
  }

  get tokensPerCall(): number {
    return this.shape.batch * this.shape.seqLen;
  }

  /** Logits [T, vocab] (row-major) of `tokens` (length batch·seqLen). */
  async logits(tokens: Int32Array): Promise<Float32Array> {
    this.step.writeInput('tokens', tokens);
    this.step.run();
    const { logits } = await this.step.readOutputs(['logits']);
    assertNoDeviceErrors(this.step.exec.ctx, 'forward');
    return logits as Float32Array;
  }

  destroy(): void {
    this.step.destroy();
  }
}

/** The run's tokenizer: the data layer's cache entry for the run's corpus and vocabulary (trained
 *  again from the corpus when the cache was cleared, deterministically the same). */
export function runTokenizer(model: ModelConfig, train: TrainConfig, log: (line: string) => void = () => {}, opts: { testSplit?: boolean } = {}): Tokenizer {
  const data = prepareData({
    source: train.data,
    // The run's own tokenizer kind and split, as the trainer prepared them (trainer.ts openSession).
    tokenizer: train.tokenizer,
    testSplit: opts.testSplit ?? false,
    vocabSize: model.vocab,
    seqLen: train.seqLen,
    batch: train.batch,
    onProgress: (e) => {
      if (e.done === undefined) log(`data: ${e.message}`);
    },
  });
  return data.tokenizer;
}
