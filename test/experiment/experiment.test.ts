// `sdmoec experiment --quick` on a tiny grid (two arms, two seeds, six steps; one swept learning
// rate diverges on purpose): the outputs exist with the right cells, the paired differences in
// results.json/md are the per-seed differences of the cells' own numbers, divergence is a recorded
// result that does not stop the grid, and a re-run skips finished cells while a cell whose result
// was lost resumes from its checkpoint and reproduces its number.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../../compiler/config/index.ts';
import type { ExperimentConfig } from '../../compiler/config/types.ts';
import { runExperiment, type ExperimentOutcome } from '../../runtime/experiment/runner.ts';
import type { CellResult, GroupSummary } from '../../runtime/experiment/results.ts';

const FIXTURE = fileURLToPath(new URL('./fixtures/tiny_grid.moe', import.meta.url));
const EXPECTED_CELLS = ['base-seed1', 'base-seed2', 'sd-lr=100-seed1', 'sd-lr=100-seed2', 'sd-lr=3e-3-seed1', 'sd-lr=3e-3-seed2'];

let work: string;
let experiment: ExperimentConfig;
let first: ExperimentOutcome;
let output = '';

const stream = (): PassThrough & { isTTY: boolean } => {
  const s = Object.assign(new PassThrough(), { isTTY: false });
  s.on('data', (d: Buffer) => (output += d.toString()));
  return s;
};

interface ResultsJson {
  cells: number;
  groups: GroupSummary[];
  results: CellResult[];
}
const readResults = (): ResultsJson => JSON.parse(readFileSync(join(work, 'results.json'), 'utf8')) as ResultsJson;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'sdmoec-exp-'));
  experiment = loadConfig(FIXTURE).config.experiment!;
  first = await runExperiment({ file: FIXTURE, experiment, out: work, quick: true, stream: stream() });
}, 600_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('sdmoec experiment --quick', () => {
  it('writes results.json, results.md and a self-contained report.html with every cell', () => {
    expect(first.interrupted).toBe(false);
    const json = readResults();
    expect(json.cells).toBe(6);
    expect(json.results.map((r) => r.id).sort()).toEqual([...EXPECTED_CELLS].sort());
    const md = readFileSync(join(work, 'results.md'), 'utf8');
    for (const id of EXPECTED_CELLS) expect(md).toContain(`| ${id} |`);
    const html = readFileSync(join(work, 'report.html'), 'utf8');
    expect(html).toContain('<svg');
    expect(html).toContain('<polyline'); // loss curves were drawn
    expect(html).not.toMatch(/<script|src=|href=|@import/); // nothing fetched from anywhere
    // The one progress display names cells, arms, sweep values and seeds.
    expect(output).toMatch(/cell \d\/6 sd train\.optimizer\.lr=3e-3 seed 2 \| step 6\/6 loss \d/);
  });

  it('each finished cell has a held-out score, a loss curve and the settings it was trained with', () => {
    for (const r of readResults().results.filter((x) => x.status === 'ok')) {
      expect(r.heldOut!.bitsPerByte).toBeGreaterThan(0);
      expect(r.heldOut!.tokens).toBeGreaterThan(0);
      expect(r.lossCurve.map(([s]) => s)).toEqual([1, 2, 3, 4, 5, 6]);
      expect(r.overrides).toContain(`train.seed=${r.seed}`);
      expect(r.lr).toBe(r.arm === 'sd' ? Number(r.sweep['train.optimizer.lr']) : 3e-3);
    }
  });

  it('a diverging cell is recorded as diverged and the grid goes on', () => {
    const { results, groups } = readResults();
    const blown = results.filter((r) => r.sweep['train.optimizer.lr'] === '100');
    expect(blown).toHaveLength(2);
    for (const r of blown) {
      expect(r.status).toBe('diverged');
      expect(r.diverged!.step).toBeGreaterThanOrEqual(1);
      expect(r.diverged!.step).toBeLessThanOrEqual(6);
      expect(r.diverged!.reason).toMatch(/non-finite|explosion|above-uniform/);
    }
    // The cells after them in the grid ran and finished.
    const later = results.filter((r) => r.index > Math.max(...blown.map((b) => b.index)));
    expect(later.length).toBe(2);
    for (const r of later) expect(r.status).toBe('ok');
    const g = groups.find((x) => x.label === 'sd train.optimizer.lr=100')!;
    expect([g.diverged, g.cells]).toEqual([2, 2]);
    expect(readFileSync(join(work, 'results.md'), 'utf8')).toMatch(/\| sd train\.optimizer\.lr=100 \| — \| — \| 2\/2 \|/);
  });

  it('paired differences are the per-seed differences of the cells\' held-out bits/byte', () => {
    const { results, groups } = readResults();
    const bpb = (id: string): number => results.find((r) => r.id === id)!.heldOut!.bitsPerByte;
    const diffs = [1, 2].map((s) => bpb(`sd-lr=3e-3-seed${s}`) - bpb(`base-seed${s}`));
    const g = groups.find((x) => x.label === 'sd train.optimizer.lr=3e-3')!;
    expect(g.pairs.map((p) => [p.cell, p.baseline])).toEqual([
      ['sd-lr=3e-3-seed1', 'base-seed1'],
      ['sd-lr=3e-3-seed2', 'base-seed2'],
    ]);
    expect(g.pairs.map((p) => p.diff)).toEqual(diffs);
    const mean = (diffs[0] + diffs[1]) / 2;
    const std = Math.abs(diffs[0] - diffs[1]) / Math.SQRT2; // sample std of two values
    expect(g.pairedDiff!.mean).toBeCloseTo(mean, 12);
    expect(g.pairedDiff!.std).toBeCloseTo(std, 12);
    const seedMean = (bpb('base-seed1') + bpb('base-seed2')) / 2;
    expect(groups.find((x) => x.arm === 'base')!.bitsPerByte.mean).toBeCloseTo(seedMean, 12);
    const md = readFileSync(join(work, 'results.md'), 'utf8');
    expect(md).toContain(`${mean >= 0 ? '+' : ''}${mean.toFixed(4)} ± ${std.toFixed(4)} (n=2)`);
  });

  it('re-running skips finished cells; a cell whose result was lost resumes from its checkpoint', async () => {
    const before = readResults().results;
    const again = await runExperiment({ file: FIXTURE, experiment, out: work, quick: true, stream: stream() });
    expect(again.ran).toEqual([]);
    expect(again.results.map((r) => r.heldOut?.bitsPerByte)).toEqual(before.map((r) => r.heldOut?.bitsPerByte));

    const lost = 'sd-lr=3e-3-seed1';
    rmSync(join(work, 'cells', lost, 'result.json'));
    expect(existsSync(join(work, 'cells', lost, 'step-000006'))).toBe(true);
    const third = await runExperiment({ file: FIXTURE, experiment, out: work, quick: true, stream: stream() });
    expect(third.ran).toEqual([lost]);
    const was = before.find((r) => r.id === lost)!;
    const now = third.results.find((r) => r.id === lost)!;
    expect(now.status).toBe('ok');
    expect(now.heldOut!.bitsPerByte).toBeCloseTo(was.heldOut!.bitsPerByte, 6);
    expect(now.lossCurve).toEqual(was.lossCurve);
  }, 600_000);
});
