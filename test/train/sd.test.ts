// SD-MoE training as a user runs it: the spectral matrices are initialised (Algorithm 1), trained
// through the projected gradients and re-based every 5 steps; the loss falls, every re-basing writes
// a `spectral` metrics line, train lines carry the largest grad norm / aux loss since the previous
// one, eval lines the expert diagnostics, and a run interrupted between re-basings resumes exactly.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { readMetrics, type SpectralMetrics, type TrainMetrics } from '../../runtime/metrics/jsonl.ts';
import { findSimilarity, type ExpertDiagnostics } from '../../runtime/sd/diagnostics.ts';
import { loadCheckpoint } from '../../runtime/checkpoint/checkpoint.ts';
import { runTraining, type RunSummary } from '../../runtime/train/trainer.ts';

const FIXTURE = fileURLToPath(new URL('./fixtures/tiny_sd.moe', import.meta.url));
const quiet = { log: () => {}, progressStream: Object.assign(new PassThrough(), { isTTY: false }) };

let work: string;
let full: RunSummary;
let resumed: string;
let synchronous: RunSummary;
const all = (dir: string) => readMetrics(join(dir, 'metrics.jsonl'));
const entries = (dir: string): TrainMetrics[] => all(dir).filter((e): e is TrainMetrics => e.type === 'train');
const spectralLines = (dir: string): SpectralMetrics[] => all(dir).filter((e): e is SpectralMetrics => e.type === 'spectral');

// The full run logs every 3 steps, so the re-basings at 5, 10 and 20 fall between log lines; the
// resumed run logs every step (log_every is not part of the config hash), which gives the per-step
// grad norms the full run's max_grad_norm must equal.
beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'sdmoec-sd-'));
  full = await runTraining({ file: FIXTURE, out: join(work, 'full'), overrides: ['train.log=every 3 steps'], ...quiet });
  resumed = join(work, 'resumed');
  await runTraining({ file: FIXTURE, out: resumed, stopAfter: 7, ...quiet });
  await runTraining({ file: FIXTURE, out: resumed, resume: resumed, ...quiet });
  synchronous = await runTraining({ file: FIXTURE, out: join(work, 'synchronous'), overlapRebase: false, ...quiet });
}, 900_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('sdmoec run with spectral decoupling', () => {
  it('trains: the loss falls and validation bits per byte are reported', () => {
    const losses = entries(resumed).map((e) => e.loss);
    expect(losses).toHaveLength(20);
    expect(losses.slice(-3).reduce((a, b) => a + b) / 3).toBeLessThan(losses.slice(0, 3).reduce((a, b) => a + b) / 3 - 0.2);
    expect(full.lastEval?.bitsPerByte).toBeGreaterThan(0);
  });

  it('writes a spectral line at every re-basing, log step or not, per SD matrix', () => {
    expect(entries(full.runDir).map((e) => e.step)).toEqual([1, 3, 6, 9, 12, 15, 18, 20]);
    const lines = spectralLines(full.runDir);
    expect(lines.map((e) => e.step)).toEqual([5, 10, 15, 20]);
    for (const line of lines) {
      expect(line.matrices.map((m) => m.matrix).sort()).toEqual(['down', 'gate', 'up']);
      for (const m of line.matrices) {
        expect(m.energy_top_k).toBeGreaterThan(0.5);
        expect(m.energy_top_k).toBeLessThanOrEqual(1 + 1e-6);
        expect(m.residual_norm).toBeGreaterThan(0); // residual 'keep': W_c drifts off rank 4
        for (const o of [m.basis_overlap.left, m.basis_overlap.right]) expect(o).toBeGreaterThan(0);
        expect(m.reprojected_norm).toEqual({ mean: 0, max: 0 }); // the fixture does not reproject
        expect(m.singular_values).toHaveLength(4);
        for (let j = 1; j < 4; j++) expect(m.singular_values[j]).toBeLessThanOrEqual(m.singular_values[j - 1]);
      }
      const mean = line.matrices.reduce((t, m) => t + m.energy_top_k, 0) / line.matrices.length;
      expect(line.energy_top_k).toBeCloseTo(mean, 12);
    }
  });

  it('logs the largest grad norm and aux loss since the previous train line', () => {
    const perStep = new Map(entries(resumed).map((e) => [e.step, e]));
    let previous = 0;
    for (const e of entries(full.runDir)) {
      const window = Array.from({ length: e.step - previous }, (_, i) => perStep.get(previous + 1 + i)!);
      expect(e.max_grad_norm).toBe(Math.max(...window.map((w) => w.grad_norm)));
      expect(e.max_aux).toEqual({ '0.load_balance': Math.max(...window.map((w) => w.aux!['0.load_balance'])) });
      expect(e.max_grad_norm).toBeGreaterThanOrEqual(e.grad_norm);
      previous = e.step;
    }
  });

  it('adds the expert diagnostics to the eval line, consistent with the re-basing of the same step', () => {
    const evals = all(full.runDir).filter((e) => e.type === 'eval');
    expect(evals.map((e) => e.step)).toEqual([20]);
    const ev = evals[0];
    const diagnostics = ev.diagnostics as ExpertDiagnostics[];
    expect(diagnostics.map((d) => d.matrix)).toEqual(['gate', 'up', 'down']);
    const atRebase = spectralLines(full.runDir).find((l) => l.step === 20)!;
    for (const d of diagnostics) {
      expect(d.rankK).toBe(4);
      expect(d.similarity.map((s) => s.on)).toEqual(['proxies', 'proxies', 'proxies', 'proxies', 'unique', 'unique', 'unique', 'unique']);
      for (const s of d.similarity) expect(s.matrix).toHaveLength(4);
      expect(d.alignment !== undefined).toBe(d.matrix !== 'down');
      // Residual 'keep' leaves W_c as the re-basing saw it: two SVD routes must agree on it.
      const r = atRebase.matrices.find((m) => m.matrix === d.matrix)!;
      expect(d.sd!.commonEnergyOutsideK).toBeCloseTo(1 - r.energy_top_k, 5);
      d.sd!.commonSingularValues.slice(0, 4).forEach((s, j) => expect(s).toBeCloseTo(r.singular_values[j], 4));
      expect(d.sd!.commonNumericalRank).toBeGreaterThanOrEqual(4);
    }
    expect(ev.expert_overlap_on).toBe('unique');
    const uniqueInput = diagnostics.map((d) => findSimilarity(d, 'unique', 'input', '1pct')!.mean);
    expect(ev.expert_overlap).toBeCloseTo(uniqueInput.reduce((a, b) => a + b) / 3, 12);
    for (const key of ['similarity_proxies_1pct', 'similarity_unique_k', 'leakage_input', 'leakage_output', 'wc_numerical_rank', 'router_alignment_first_share']) {
      expect(typeof ev[key], key).toBe('number');
    }
  });

  it('overlaps re-basings with the next step without changing a value', async () => {
    // Re-basings at 5 and 15 ride along with steps 6 and 16; 10 (a checkpoint) and 20 (the last
    // step, evaluated) happen in between. The synchronous run re-bases after every one of them.
    expect(full.rebases).toMatchObject({ overlapped: 2, synchronous: 2 });
    expect(synchronous.rebases).toMatchObject({ overlapped: 0, synchronous: 4, svdsOnThread: 0 });
    // Four re-basings of every SD matrix; the carried ones' SVDs may run on the re-basing thread (how
    // many depends on the machine's load: test/train/rebase-worker.test.ts checks the thread itself).
    const perRebase = spectralLines(full.runDir)[0].matrices.length;
    expect(perRebase).toBeGreaterThan(0);
    expect(full.rebases.svds).toBe(4 * perRebase);
    expect(synchronous.rebases.svds).toBe(4 * perRebase);
    expect(full.rebases.svdsOnThread).toBeLessThanOrEqual(2 * perRebase);
    const lineSeconds = spectralLines(full.runDir).reduce((t, l) => t + (l.seconds ?? 0), 0);
    expect(full.rebases.seconds).toBeCloseTo(lineSeconds, 9);
    expect(full.rebases.seconds).toBeGreaterThan(0);
    expect(spectralLines(full.runDir).map((l) => l.overlapped)).toEqual([true, false, true, false]);
    expect(spectralLines(synchronous.runDir).map((l) => l.overlapped)).toEqual([false, false, false, false]);
    for (const l of spectralLines(full.runDir)) expect(l.seconds).toBeGreaterThan(0);
    const sync = new Map(entries(synchronous.runDir).map((e) => [e.step, e.loss]));
    expect(sync.size).toBe(20);
    for (const e of entries(resumed)) expect(e.loss, `step ${e.step}`).toBe(sync.get(e.step));
    expect(spectralLines(full.runDir).map((l) => l.matrices)).toEqual(spectralLines(synchronous.runDir).map((l) => l.matrices));
    const [a, b] = await Promise.all([full, synchronous].map((r) => loadCheckpoint(r.runDir)));
    expect(a.step).toBe(20);
    const params = new Map(b.params);
    expect(params.size).toBeGreaterThan(0);
    for (const [name, t] of a.params) expect(Array.from(t.data), name).toEqual(Array.from(params.get(name)!.data));
  });

  it('resumes exactly across a re-basing', () => {
    const logged = new Map(entries(resumed).map((e) => [e.step, e.loss]));
    for (const e of entries(full.runDir)) expect(logged.get(e.step)).toBe(e.loss);
  });
});
