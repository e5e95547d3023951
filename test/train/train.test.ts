// The trainer as a user runs it: a fixed-seed 30-step run whose loss curve is kept as a golden
// file (compared with a tolerance, since other CPUs may round differently), exact resume (a run
// interrupted at step 15 and resumed reproduces the uninterrupted curve bit for bit), eval from a
// checkpoint, and a diverging run that stops with a clear message and keeps its last good
// checkpoint.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { PassThrough } from 'node:stream';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UserError } from '../../base/errors.ts';
import { readMetrics, type TrainMetrics } from '../../runtime/metrics/jsonl.ts';
import { runTraining, type RunSummary } from '../../runtime/train/trainer.ts';
import { findSimilarity, type ExpertDiagnostics } from '../../runtime/sd/diagnostics.ts';
import { BLESS } from '../support/golden.ts';

const FIXTURE = fileURLToPath(new URL('./fixtures/tiny.moe', import.meta.url));
const GOLDEN = fileURLToPath(new URL('./golden/tiny-loss-curve.json', import.meta.url));
const quiet = { log: () => {}, progressStream: Object.assign(new PassThrough(), { isTTY: false }) };

let work: string;
let full: RunSummary;

const trainLosses = (runDir: string): number[] =>
  readMetrics(join(runDir, 'metrics.jsonl'))
    .filter((e): e is TrainMetrics => e.type === 'train')
    .map((e) => e.loss);

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'sdmoec-train-'));
  full = await runTraining({ file: FIXTURE, out: join(work, 'full'), ...quiet });
}, 600_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('sdmoec run', () => {
  it('adds the expert diagnostics (stand-ins) to the eval line, measured on the experts themselves', () => {
    const evals = readMetrics(join(full.runDir, 'metrics.jsonl')).filter((e) => e.type === 'eval');
    expect(evals.map((e) => e.step)).toEqual([30]);
    const ev = evals[0];
    const diagnostics = ev.diagnostics as ExpertDiagnostics[];
    expect(diagnostics.map((d) => `${d.layer}.${d.matrix}`)).toEqual(['0.gate', '0.up', '0.down']);
    for (const d of diagnostics) {
      expect(d.sd).toBeUndefined();
      expect(d.rankK).toBe(8); // a baseline's default k
      expect(new Set(d.similarity.map((s) => s.on))).toEqual(new Set(['experts']));
      for (const s of d.similarity) {
        expect(s.matrix).toHaveLength(4);
        s.matrix.forEach((row, a) => expect(row[a]).toBeCloseTo(1, 6)); // an expert's subspace with itself
      }
      // dim = expert_hidden = 32 here, so only the matrix kind keeps the router off `down`.
      expect(d.alignment !== undefined).toBe(d.matrix !== 'down');
      if (d.alignment) for (const a of d.alignment.perExpert) expect(a.reduce((x, y) => x + y, 0)).toBeLessThanOrEqual(1 + 1e-6);
    }
    expect(ev.expert_overlap_on).toBe('experts');
    const inputs = diagnostics.map((d) => findSimilarity(d, 'experts', 'input', '1pct')!.mean);
    expect(ev.expert_overlap).toBeCloseTo(inputs.reduce((a, b) => a + b) / 3, 12);
    expect(ev.leakage_input).toBeUndefined(); // SD-only metrics are absent for a baseline
  });

  it('trains: the loss falls and the run reports validation bits per byte', () => {
    const losses = trainLosses(full.runDir);
    expect(losses).toHaveLength(30);
    const first = losses.slice(0, 3).reduce((a, b) => a + b) / 3;
    const last = losses.slice(-3).reduce((a, b) => a + b) / 3;
    expect(last).toBeLessThan(first - 0.3);
    expect(full.lastEval?.bitsPerByte).toBeGreaterThan(0);
    expect(full.lastEval?.bitsPerByte).toBeLessThan(8);
    expect(full.lastCheckpoint).toMatch(/step-000030$/);
  });

  it('logs what the issue asks per step: lr, grad norm, aux losses, tokens per expert, load imbalance', () => {
    const entries = readMetrics(join(full.runDir, 'metrics.jsonl')).filter((e): e is TrainMetrics => e.type === 'train');
    for (const e of entries) {
      expect(e.lr).toBeGreaterThan(0);
      expect(e.grad_norm).toBeGreaterThan(0);
      expect(Object.keys(e.aux ?? {}).sort()).toEqual(['0.load_balance', '0.z_loss']);
      expect(e.tokens_per_expert).toHaveLength(1);
      expect(e.tokens_per_expert![0].reduce((a, b) => a + b, 0)).toBe(4 * 32 * 2); // batch · seq · top-k
      expect(e.load_imbalance![0]).toBeGreaterThanOrEqual(1);
      // Logged every step, the largest values since the previous line are this step's own.
      expect(e.max_grad_norm).toBe(e.grad_norm);
      expect(e.max_aux).toEqual(e.aux);
    }
  });

  it('follows the blessed fixed-seed loss curve', () => {
    const losses = trainLosses(full.runDir);
    if (BLESS || !existsSync(GOLDEN)) {
      if (!BLESS) expect.fail(`${GOLDEN} is missing; run with UPDATE_GOLDENS=1 to bless it`);
      writeFileSync(GOLDEN, JSON.stringify({ note: 'tiny.moe, seed 7, 30 steps; compared with |Δ| <= 2e-3 + 2e-3·|loss|', losses }, null, 2) + '\n');
    }
    const golden = JSON.parse(readFileSync(GOLDEN, 'utf8')) as { losses: number[] };
    expect(losses).toHaveLength(golden.losses.length);
    losses.forEach((l, i) => expect(Math.abs(l - golden.losses[i]), `step ${i + 1}: ${l} vs blessed ${golden.losses[i]}`).toBeLessThanOrEqual(2e-3 + 2e-3 * Math.abs(golden.losses[i])));
  });

  it('resumes exactly: interrupted at step 15 and resumed, the curve equals the uninterrupted one', async () => {
    const dir = join(work, 'resumed');
    const part = await runTraining({ file: FIXTURE, out: dir, stopAfter: 15, ...quiet });
    expect(part.steps).toBe(15);
    expect(part.lastCheckpoint).toMatch(/step-000015$/);
    const resumed = await runTraining({ file: FIXTURE, out: dir, resume: dir, ...quiet });
    expect(resumed.steps).toBe(15);
    expect(trainLosses(dir)).toEqual(trainLosses(full.runDir));
    expect(resumed.lastEval).toEqual(full.lastEval);
  });

  it('refuses to overwrite a run directory that holds checkpoints', async () => {
    await expect(runTraining({ file: FIXTURE, out: full.runDir, ...quiet })).rejects.toThrow(/already holds checkpoints.*--resume/);
  });

  it('stops a diverging run with a clear message and keeps the last good checkpoint', async () => {
    const dir = join(work, 'diverge');
    const err = await runTraining({ file: FIXTURE, out: dir, overrides: ['train.optimizer.lr=1e30', 'train.clip_grad=off'], ...quiet }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as Error).message).toMatch(/training stopped at step \d+/);
    expect((err as Error).message).toMatch(/last good checkpoint/);
  });
});
