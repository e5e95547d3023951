// StepExecutor#run's `omit` (bench/sd-inplace.ts times what SD's dispatches cost in place by leaving
// them out): the omitted dispatches, and only they, do not run; it applies to whole steps only.
import { describe, expect, it } from 'vitest';
import type { TrainConfig } from '../../compiler/config/types.ts';
import { compileTraining } from '../../compiler/pipeline.ts';
import { StepExecutor } from '../../runtime/step-executor.ts';
import { Rng } from '../../base/rng.ts';
import { InternalError } from '../../base/errors.ts';
import { testExecutor } from '../support/gpu.ts';
import { tinyModel } from '../codegen/models.ts';

const train = { batch: 2, seqLen: 8, gradAccum: 1, clipGrad: 1, optimizer: { kind: 'adamw', lr: 1e-2, betas: [0.9, 0.95], eps: 1e-8, weightDecay: 0.1, momentum: 0 } } as TrainConfig;

describe('StepExecutor run with omitted dispatches', () => {
  it('leaves exactly the omitted dispatches out', async () => {
    const exec = await testExecutor();
    const model = tinyModel({ spectral: true });
    const compiled = compileTraining(model, train, exec.ctx.caps);
    const rng = new Rng('step-omit');
    const tokens = Int32Array.from({ length: 16 }, () => rng.nextInt(model.vocab));
    const targets = Int32Array.from({ length: 16 }, () => rng.nextInt(model.vocab));
    const once = async (opts: { omit?: ReadonlySet<number>; dispatches?: readonly [number, number] }) => {
      const step = new StepExecutor(exec, compiled.stepPlan);
      await step.init(3);
      step.writeInput('tokens', tokens);
      step.writeInput('targets', targets);
      step.writeInput('optimizer.lr', Float32Array.of(1e-2));
      step.writeInput('optimizer.step', Int32Array.of(1));
      step.run('step', opts);
      const out = await step.readOutputs(['loss', 'grad_norm']);
      step.destroy();
      return { loss: out.loss[0], norm: out.grad_norm[0] };
    };
    const count = compiled.stepPlan.dispatches.length;
    const norm = compiled.stepPlan.dispatches.flatMap((d, i) => (d.op === 'grad_norm' ? [i] : []));
    expect(norm.length).toBeGreaterThan(0);
    const whole = await once({});
    // Leaving out everything from the norm on runs what the prefix [0, first norm dispatch) runs: the same values.
    const tail = new Set(Array.from({ length: count - norm[0] }, (_, i) => norm[0] + i));
    const prefix = await once({ dispatches: [0, norm[0]] });
    const omitted = await once({ omit: tail });
    expect(omitted).toEqual(prefix);
    // Leaving out only the norm's dispatches: the forward pass ran as before, the norm did not
    // (its output buffer holds what an earlier activation left there).
    const withoutNorm = await once({ omit: new Set(norm) });
    expect(withoutNorm.loss).toBe(whole.loss);
    expect(withoutNorm.norm).not.toBe(whole.norm);
    expect(whole.norm).toBeGreaterThan(0);
    const step = new StepExecutor(exec, compiled.stepPlan);
    await step.init(3);
    expect(() => step.run('step', { omit: tail, dispatches: [0, 2] })).toThrow(InternalError);
    step.destroy();
  });
});
