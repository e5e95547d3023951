// `sdmoec run --resume DIR` continues a run exactly as it was configured: the overrides it was
// started with are kept without repeating them (the loss curve equals the uninterrupted run's),
// config.json is not rewritten, a FILE with different settings is refused with the changes listed
// unless forced, and harmless changes (logging interval) are applied and printed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { PassThrough } from 'node:stream';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readMetrics, type TrainMetrics } from '../../runtime/metrics/jsonl.ts';
import { runTraining } from '../../runtime/train/trainer.ts';
import { diffRunConfig } from '../../runtime/train/run-config.ts';
import { resolveRunConfig } from '../../runtime/train/trainer.ts';

const FIXTURE = fileURLToPath(new URL('./fixtures/tiny.moe', import.meta.url));
// Not the file's settings: a resume that dropped them would train 30 steps on another schedule.
const OVERRIDES = ['train.steps=12', 'train.checkpoint=4', 'train.eval=off', 'train.log=1', 'train.optimizer.lr=5e-3'];
const quiet = { log: () => {}, progressStream: Object.assign(new PassThrough(), { isTTY: false }) };

let work: string;
const losses = (runDir: string): number[] =>
  readMetrics(join(runDir, 'metrics.jsonl'))
    .filter((e): e is TrainMetrics => e.type === 'train')
    .map((e) => e.loss);

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'sdmoec-resume-'));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('run --resume DIR', () => {
  it('continues with the recorded overrides, no FILE needed, and equals the uninterrupted run', async () => {
    const full = await runTraining({ file: FIXTURE, overrides: OVERRIDES, out: join(work, 'full'), ...quiet });
    expect(full.steps).toBe(12);
    const dir = join(work, 'resumed');
    await runTraining({ file: FIXTURE, overrides: OVERRIDES, out: dir, stopAfter: 6, ...quiet });
    const config = readFileSync(join(dir, 'config.json'), 'utf8');
    const lines: string[] = [];
    const resumed = await runTraining({ resume: dir, ...quiet, log: (l) => lines.push(l) });
    expect(resumed.steps).toBe(6);
    expect(losses(dir)).toEqual(losses(full.runDir));
    expect(readFileSync(join(dir, 'config.json'), 'utf8')).toBe(config);
    expect(JSON.parse(config).overrides).toEqual(OVERRIDES);
  }, 300_000);

  it('refuses a FILE whose settings would change the run, listing each change', async () => {
    const dir = join(work, 'refused');
    await runTraining({ file: FIXTURE, overrides: OVERRIDES, out: dir, stopAfter: 4, ...quiet });
    const err = await runTraining({ file: FIXTURE, overrides: ['train.steps=12', 'train.checkpoint=4', 'train.eval=off', 'train.log=1'], resume: dir, ...quiet }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    const message = (err as Error).message;
    expect(message).toMatch(/would change the run/);
    expect(message).toMatch(/train\.optimizer\.lr: 0\.005 → 0\.003 {2}\(changes the run\)/);
    expect(message).toMatch(/sdmoec run --resume .*refused/);
  }, 300_000);

  it('applies harmless changes and prints them', async () => {
    const dir = join(work, 'harmless');
    await runTraining({ file: FIXTURE, overrides: OVERRIDES, out: dir, stopAfter: 4, ...quiet });
    const lines: string[] = [];
    const resumed = await runTraining({ file: FIXTURE, overrides: [...OVERRIDES, 'train.log=2'], resume: dir, ...quiet, log: (l) => lines.push(l) });
    expect(resumed.steps).toBe(8);
    expect(lines.join('\n')).toMatch(/config changes applied:\n {2}train\.logEvery: 1 → 2$/m);
    const record = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    expect(record.changes).toEqual([{ atStep: 4, changes: [{ path: 'train.logEvery', from: 1, to: 2, harmless: true }] }]);
  }, 300_000);

  it('classifies more steps as harmless only under a constant schedule', () => {
    const base = resolveRunConfig(FIXTURE, OVERRIDES);
    const cosineMore = resolveRunConfig(FIXTURE, [...OVERRIDES, 'train.steps=20']);
    expect(diffRunConfig(base, cosineMore)).toEqual([{ path: 'train.steps', from: 12, to: 20, harmless: false }]);
    const constant = resolveRunConfig(FIXTURE, [...OVERRIDES, 'train.schedule=constant(warmup = 2)']);
    const constantMore = resolveRunConfig(FIXTURE, [...OVERRIDES, 'train.schedule=constant(warmup = 2)', 'train.steps=20']);
    expect(diffRunConfig(constant, constantMore)).toEqual([{ path: 'train.steps', from: 12, to: 20, harmless: true }]);
  });
});
