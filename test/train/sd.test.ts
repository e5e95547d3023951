// SD-MoE training as a user runs it: the spectral matrices are initialised (Algorithm 1), trained
// through the projected gradients and re-based every 5 steps; the loss falls, re-basing is
// reported in the metrics, and a run interrupted between re-basings resumes exactly.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { readMetrics, type TrainMetrics } from '../../runtime/metrics/jsonl.ts';
import { runTraining, type RunSummary } from '../../runtime/train/trainer.ts';

const FIXTURE = fileURLToPath(new URL('./fixtures/tiny_sd.moe', import.meta.url));
const quiet = { log: () => {}, progressStream: Object.assign(new PassThrough(), { isTTY: false }) };

let work: string;
let full: RunSummary;
const entries = (dir: string): TrainMetrics[] => readMetrics(join(dir, 'metrics.jsonl')).filter((e): e is TrainMetrics => e.type === 'train');

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'sdmoec-sd-'));
  full = await runTraining({ file: FIXTURE, out: join(work, 'full'), ...quiet });
}, 600_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('sdmoec run with spectral decoupling', () => {
  it('reports the experts\' principal-subspace overlap (stand-in metric) at evaluation', () => {
    const evals = readMetrics(join(full.runDir, 'metrics.jsonl')).filter((e) => e.type === 'eval');
    expect(evals.length).toBeGreaterThan(0);
    for (const e of evals) {
      expect(e.expert_overlap).toBeGreaterThanOrEqual(0);
      expect(e.expert_overlap).toBeLessThanOrEqual(1 + 1e-9);
    }
  });

  it('trains: the loss falls and validation bits per byte are reported', () => {
    const losses = entries(full.runDir).map((e) => e.loss);
    expect(losses).toHaveLength(20);
    expect(losses.slice(-3).reduce((a, b) => a + b) / 3).toBeLessThan(losses.slice(0, 3).reduce((a, b) => a + b) / 3 - 0.2);
    expect(full.lastEval?.bitsPerByte).toBeGreaterThan(0);
  });

  it('re-bases every 5 steps and reports the common subspace energy', () => {
    const rebased = entries(full.runDir).filter((e) => e.spectral !== undefined);
    expect(rebased.map((e) => e.step)).toEqual([5, 10, 15, 20]);
    for (const e of rebased) {
      const s = e.spectral as { energy_top_k: number; residual_norm: number };
      expect(s.energy_top_k).toBeGreaterThan(0.5);
      expect(s.energy_top_k).toBeLessThanOrEqual(1 + 1e-6);
      expect(s.residual_norm).toBeGreaterThanOrEqual(0);
    }
  });

  it('resumes exactly across a re-basing', async () => {
    const dir = join(work, 'resumed');
    await runTraining({ file: FIXTURE, out: dir, stopAfter: 7, ...quiet });
    await runTraining({ file: FIXTURE, out: dir, resume: dir, ...quiet });
    expect(entries(dir).map((e) => e.loss)).toEqual(entries(full.runDir).map((e) => e.loss));
  });
});
