// Gradient accumulation on the device against one large batch in the interpreter: N micro-batches
// of B sequences through the accumulating plan (acc += g, then g = (g + acc)/N, one clip and one
// optimizer step) give the loss, gradient norm, updated params and optimizer moments of one step
// over the N·B sequences. Covered: a plain MoE model, SD-MoE with `project update` (the optimizer's
// step mode and the projection after accumulation), and `aux_loss load_balance(scope = global)`,
// whose counting pass makes f_e the global batch's; `scope = micro_batch` differs from it with
// grad_accum > 1 and equals the mean of the per-micro-batch losses instead.
import { describe, expect, it } from 'vitest';
import { planGraph } from '../../compiler/codegen/plan.ts';
import { initParams, interpretGraph } from '../../compiler/ir/interpret.ts';
import type { Graph } from '../../compiler/ir/types.ts';
import type { ModelConfig, TrainConfig } from '../../compiler/config/types.ts';
import { lowerModel } from '../../compiler/lower/model.ts';
import { EVALUATION_PIPELINE, runPasses, TRAINING_PIPELINE } from '../../compiler/passes/registry.ts';
import { compileTraining, optimizerOptions } from '../../compiler/pipeline.ts';
import { compareOutputs } from '../../runtime/kernel-check.ts';
import { StepExecutor } from '../../runtime/step-executor.ts';
import { trainStep, type MicroBatch } from '../../runtime/train/trainer.ts';
import { Rng } from '../../base/rng.ts';
import { testExecutor } from '../support/gpu.ts';
import { orthonormalBases } from '../support/sd.ts';
import { tinyModel } from '../codegen/models.ts';

const SEQ = 8;
const MICRO = 2;
const TOL = { atol: 1e-4, rtol: 1e-3 };
const LR = 1e-2;
const STEP = 3;

function trainConfig(gradAccum: number, optimizer: Partial<TrainConfig['optimizer']> = {}): TrainConfig {
  return {
    batch: MICRO,
    seqLen: SEQ,
    gradAccum,
    clipGrad: 1,
    optimizer: { kind: 'adamw', lr: LR, betas: [0.9, 0.95], eps: 1e-8, weightDecay: 0.1, momentum: 0, ...optimizer },
  } as TrainConfig;
}

function batches(n: number, seed: number, vocab: number): MicroBatch[] {
  const rng = new Rng(seed);
  return Array.from({ length: n }, () => ({
    inputs: Int32Array.from({ length: MICRO * SEQ }, () => rng.nextInt(vocab)),
    targets: Int32Array.from({ length: MICRO * SEQ }, () => rng.nextInt(vocab)),
  }));
}

const concat = (parts: readonly Int32Array[]): Int32Array => {
  const out = new Int32Array(parts.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const p of parts) out.set(p, (at += p.length) - p.length);
  return out;
};

/** The step's params (init, or `fixed`) as f32, and the same values for the interpreter. */
function startingParams(g: Graph, seed: number, fixed: Record<string, Float32Array>): Record<string, Float32Array> {
  return Object.fromEntries(Object.entries(initParams(g, seed)).map(([k, v]) => [k, fixed[k] ?? Float32Array.from(v)]));
}

interface Outcome {
  readonly outputs: Record<string, Float32Array | Int32Array>;
  readonly params: Record<string, Float32Array>;
}

/** One accumulated step on the device, opened as the trainer opens it (compileTraining). */
async function accumulatedStep(model: ModelConfig, train: TrainConfig, micro: MicroBatch[], start: Record<string, Float32Array>, names: string[]): Promise<Outcome> {
  const exec = await testExecutor();
  const compiled = compileTraining(model, train, exec.ctx.caps);
  const step = new StepExecutor(exec, compiled.stepPlan);
  await step.init(1);
  const counting = compiled.countPlan ? new StepExecutor(exec, compiled.countPlan) : undefined;
  await counting?.init(1, step);
  for (const [k, v] of Object.entries(start)) step.writeParam(k, v);
  step.writeInput('optimizer.lr', Float32Array.of(LR));
  step.writeInput('optimizer.step', Int32Array.of(STEP));
  const outputs = await trainStep({ step, counting }, micro, names);
  const params: Record<string, Float32Array> = {};
  for (const k of Object.keys(compiled.stepPlan.params)) params[k] = await step.readParam(k);
  step.destroy();
  counting?.destroy();
  return { outputs, params };
}

/** The interpreter's step over all micro-batches as one batch: outputs and params after it. */
function largeBatchStep(model: ModelConfig, train: TrainConfig, micro: MicroBatch[], start: Record<string, Float32Array>, names: string[]): Outcome {
  const g = runPasses(lowerModel(model, { batch: MICRO * micro.length, seqLen: SEQ }), TRAINING_PIPELINE, { optimizer: optimizerOptions(train, model) });
  const params = Object.fromEntries(Object.entries(start).map(([k, v]) => [k, Float64Array.from(v)]));
  const inputs = { tokens: concat(micro.map((b) => b.inputs)), targets: concat(micro.map((b) => b.targets)), 'optimizer.lr': Float64Array.of(LR), 'optimizer.step': Int32Array.of(STEP) };
  const ref = interpretGraph(g, { inputs, params });
  const outputs: Record<string, Float32Array | Int32Array> = {};
  for (const k of names) outputs[k] = ref[k] instanceof Int32Array ? (ref[k] as Int32Array) : Float32Array.from(ref[k]);
  // Params and moments after the step: update.<p> / state.<p>.* where written, else unchanged.
  const after: Record<string, Float32Array> = {};
  for (const k of Object.keys(start)) after[k] = Float32Array.from(ref[`update.${k}`] ?? ref[`state.${k}`] ?? start[k]);
  return { outputs, params: after };
}

async function expectLargeBatch(model: ModelConfig, n: number, seed: number, fixed: (g: Graph) => Record<string, Float32Array> = () => ({})): Promise<Outcome> {
  const train = trainConfig(n);
  const micro = batches(n, seed, model.vocab);
  const g = runPasses(lowerModel(model, { batch: MICRO, seqLen: SEQ }), TRAINING_PIPELINE, { optimizer: optimizerOptions(train, model) });
  const start = startingParams(g, seed, fixed(g));
  const names = Object.keys(g.outputs).filter((k) => !k.startsWith('update.') && !k.startsWith('state.') && k !== 'ce_tokens');
  const device = await accumulatedStep(model, train, micro, start, names);
  const reference = largeBatchStep(model, train, micro, start, names);
  const outputs = compareOutputs(device.outputs, reference.outputs, TOL);
  expect(outputs.mismatches, JSON.stringify(outputs.mismatches.slice(0, 3))).toEqual([]);
  const params = compareOutputs(device.params, reference.params, TOL);
  expect(params.mismatches, JSON.stringify(params.mismatches.slice(0, 3))).toEqual([]);
  // The step moved the params (a plan that skipped the update would match a stale reference nowhere).
  const moved = Object.keys(start).filter((k) => start[k].some((x, i) => Math.abs(x - device.params[k][i]) > 1e-6));
  expect(moved.length).toBeGreaterThan(Object.keys(start).length / 3);
  return device;
}

const withScope = (m: ModelConfig, scope: 'micro_batch' | 'global'): ModelConfig => ({ ...m, moe: { ...m.moe, router: { ...m.moe.router, auxLoss: { coef: 0.05, scope } } } });

describe('gradient accumulation: N micro-batches equal one batch of N·B', () => {
  it('plans the micro-batch before the update, with one accumulator per gradient slab', async () => {
    const exec = await testExecutor();
    const g = runPasses(lowerModel(tinyModel(), { batch: MICRO, seqLen: SEQ }), TRAINING_PIPELINE);
    const plan = planGraph(g, exec.ctx.caps, { gradAccum: 4 });
    const acc = plan.accumulation!;
    expect(acc.microBatches).toBe(4);
    const ops = plan.dispatches.map((d) => d.op);
    expect(ops[acc.updateStart]).toBe('grad_norm');
    expect(ops.slice(acc.updateStart).every((op) => ['grad_norm', 'adamw', 'sd_project_update'].includes(op))).toBe(true);
    expect(ops.slice(0, acc.updateStart).some((op) => op === 'grad_norm' || op === 'adamw')).toBe(false);
    const slabs = plan.buffers.filter((b) => b.kind === 'slab' && b.name.endsWith('.grads')).length;
    expect(acc.add.length).toBeGreaterThanOrEqual(slabs);
    expect(acc.add.length).toBe(acc.finish.length);
    expect(planGraph(g, exec.ctx.caps).accumulation).toBeUndefined();
  });

  it('MoE model without balance loss (z-loss only), 3 micro-batches', async () => {
    const m = tinyModel();
    await expectLargeBatch({ ...m, moe: { ...m.moe, router: { ...m.moe.router, auxLoss: null } } }, 3, 21);
  });

  it('SD-MoE with project update (AdamW step mode, projection after accumulation), 2 micro-batches', async () => {
    const m = tinyModel({ spectral: true });
    const sd = { ...m, spectral: { ...m.spectral!, project: 'update' as const } };
    await expectLargeBatch(withScope(sd, 'global'), 2, 22, (g) => orthonormalBases(g, new Rng(11)));
  });

  it('aux_loss scope = global: f_e over the global batch (counting pass), 3 micro-batches', async () => {
    const out = await expectLargeBatch(withScope(tinyModel(), 'global'), 3, 23);
    expect(out.outputs['aux.0.load_balance'][0]).toBeGreaterThan(0);
  });

  it('aux_loss scope = micro_batch differs from global with grad_accum > 1: the mean of per-micro-batch losses', async () => {
    const n = 3;
    const seed = 23;
    const model = withScope(tinyModel(), 'micro_batch');
    const micro = batches(n, seed, model.vocab);
    const g = runPasses(lowerModel(model, { batch: MICRO, seqLen: SEQ }), TRAINING_PIPELINE);
    const start = startingParams(g, seed, {});
    const names = ['loss', 'aux.0.load_balance', 'aux.1.load_balance', 'grad_norm'];
    const asMicro = await accumulatedStep(model, trainConfig(n), micro, start, names);
    const asGlobal = await accumulatedStep(withScope(model, 'global'), trainConfig(n), micro, start, names);
    // micro_batch: each micro-batch's own f_e, so the step's loss is the mean of the interpreter's
    // forward losses of the micro-batches one by one.
    const forward = runPasses(lowerModel(model, { batch: MICRO, seqLen: SEQ }), EVALUATION_PIPELINE);
    const params = Object.fromEntries(Object.entries(start).map(([k, v]) => [k, Float64Array.from(v)]));
    for (const name of ['aux.0.load_balance', 'aux.1.load_balance']) {
      const mean = micro.map((b) => interpretGraph(forward, { inputs: { tokens: b.inputs, targets: b.targets }, params })[name][0]).reduce((a, b) => a + b, 0) / n;
      expect(asMicro.outputs[name][0]).toBeCloseTo(mean, 5);
      // … which is not the global batch's loss: f_e of a micro-batch is not the global f_e.
      expect(Math.abs(asMicro.outputs[name][0] - asGlobal.outputs[name][0])).toBeGreaterThan(1e-4);
    }
    const differs = Object.keys(start).some((k) => asMicro.params[k].some((x, i) => Math.abs(x - asGlobal.params[k][i]) > 1e-5));
    expect(differs).toBe(true);
  });
});
