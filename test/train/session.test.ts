// The evaluation program reads the training program's weights (wherever the planner put them in
// its slabs): on the same batch, the eval forward and the training step's forward give the same
// loss, before and after an update.
import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { BatchSampler } from '../../runtime/data/index.ts';
import { openSessionFromFile } from '../../runtime/train/trainer.ts';

const FIXTURE = fileURLToPath(new URL('./fixtures/tiny.moe', import.meta.url));

describe('training session', () => {
  it('evaluation shares the live weights of the training step', async () => {
    const s = await openSessionFromFile(FIXTURE);
    const sampler = new BatchSampler(s.data.train, { seqLen: s.train.seqLen, batch: s.train.batch, seed: 1 });
    s.step.writeInput('optimizer.lr', Float32Array.of(1e-2));
    for (let step = 1; step <= 2; step++) {
      const batch = sampler.next();
      s.evaluation.writeInput('tokens', batch.inputs);
      s.evaluation.writeInput('targets', batch.targets);
      s.evaluation.run();
      const evalLoss = (await s.evaluation.readOutputs(['ce_loss'])).ce_loss[0];
      s.step.writeInput('tokens', batch.inputs);
      s.step.writeInput('targets', batch.targets);
      s.step.writeInput('optimizer.step', Int32Array.of(step));
      s.step.run();
      const trainLoss = (await s.step.readOutputs(['ce_loss'])).ce_loss[0];
      expect(Math.abs(evalLoss - trainLoss), `step ${step}: eval ${evalLoss} vs train ${trainLoss}`).toBeLessThan(1e-5);
    }
  });
});
