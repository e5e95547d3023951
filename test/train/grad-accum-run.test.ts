// `sdmoec run` with grad_accum > 1 and with optimizer sgd, end to end through the trainer: steps,
// the schedule, SD re-basing and checkpoints count optimizer steps (a run stopped at a checkpoint
// and resumed has the loss curve of the uninterrupted run), a step draws grad_accum micro-batches
// (step 1's cross-entropy equals that of one batch of grad_accum·batch over the same sequences)
// and tokens/s counts them all; SGD's momentum buffers are checkpointed as optimizer state.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { PassThrough } from 'node:stream';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadCheckpoint } from '../../runtime/checkpoint/checkpoint.ts';
import { readMetrics, type TrainMetrics } from '../../runtime/metrics/jsonl.ts';
import { runTraining } from '../../runtime/train/trainer.ts';

const SD = fileURLToPath(new URL('./fixtures/tiny_sd.moe', import.meta.url));
const TINY = fileURLToPath(new URL('./fixtures/tiny.moe', import.meta.url));
const quiet = { log: () => {}, progressStream: Object.assign(new PassThrough(), { isTTY: false }) };
// tiny_sd re-bases every 5 steps: 8 optimizer steps hold one re-basing, a stop at 4 sits before it.
const ACCUM = ['train.steps=8', 'train.grad_accum=2', 'train.checkpoint=4', 'train.eval=off', 'train.log=1', 'model.moe.router.aux_loss.scope=global'];

let work: string;
const trainLines = (runDir: string): TrainMetrics[] => readMetrics(join(runDir, 'metrics.jsonl')).filter((e): e is TrainMetrics => e.type === 'train');

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'sdmoec-accum-'));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('run with grad_accum and sgd', () => {
  it('grad_accum 2 on SD-MoE with global balancing: optimizer steps, re-basing, resume equals the uninterrupted run', async () => {
    const full = await runTraining({ file: SD, overrides: ACCUM, out: join(work, 'full'), ...quiet });
    expect(full.steps).toBe(8);
    const lines = trainLines(full.runDir);
    expect(lines.map((l) => l.step)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    const spectral = readMetrics(join(full.runDir, 'metrics.jsonl')).filter((e) => e.type === 'spectral');
    expect(spectral.map((e) => e.step)).toEqual([5]);
    // Both micro-batches' tokens are counted per expert: 2 · 4 sequences · 32 tokens · top-2.
    expect(lines[0].tokens_per_expert![0].reduce((a, b) => a + b, 0)).toBe(2 * 4 * 32 * 2);
    const dir = join(work, 'resumed');
    await runTraining({ file: SD, overrides: ACCUM, out: dir, stopAfter: 4, ...quiet });
    const resumed = await runTraining({ resume: dir, ...quiet });
    expect(resumed.steps).toBe(4);
    expect(trainLines(dir).map((l) => l.loss)).toEqual(lines.map((l) => l.loss));
  }, 600_000);

  it("step 1 of grad_accum 2 × batch 4 sees batch 8's sequences: the same cross-entropy", async () => {
    const common = ['train.steps=1', 'train.schedule=constant(warmup = 0)', 'train.eval=off', 'train.checkpoint=off', 'train.log=1', 'model.moe.router.aux_loss.scope=global'];
    const accum = await runTraining({ file: TINY, overrides: [...common, 'train.grad_accum=2'], out: join(work, 'a2'), ...quiet });
    const large = await runTraining({ file: TINY, overrides: [...common, 'train.batch=8'], out: join(work, 'b8'), ...quiet });
    const [a] = trainLines(accum.runDir);
    const [b] = trainLines(large.runDir);
    expect(a.loss).toBeCloseTo(b.loss, 5);
    expect(a.total_loss as number).toBeCloseTo(b.total_loss as number, 5);
    expect(a.grad_norm).toBeCloseTo(b.grad_norm, 4);
    expect(a.tokens_per_expert).toEqual(b.tokens_per_expert);
  }, 600_000);

  it('optimizer sgd trains and checkpoints its momentum buffers', async () => {
    const run = await runTraining({ file: TINY, overrides: ['train.steps=6', 'train.eval=off', 'train.checkpoint=6', 'train.log=1', 'train.optimizer=sgd(lr = 0.2, momentum = 0.9)'], out: join(work, 'sgd'), ...quiet });
    const losses = trainLines(run.runDir).map((l) => l.loss);
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(losses[losses.length - 1]).toBeLessThan(losses[0]);
    const ckpt = await loadCheckpoint(run.lastCheckpoint!);
    const names = [...ckpt.optimizer.keys()];
    expect(names.length).toBeGreaterThan(5);
    expect(names.every((n) => n.endsWith('.momentum'))).toBe(true);
  }, 600_000);
});
