// The torch target distributed over local gloo ranks (train.py --nproc 2, torch.multiprocessing):
// expert parallelism 2 (experts sharded, tokens exchanged with all_to_all_single) and data
// parallelism 2 each reproduce the 1-rank run of the same package over 20 steps: loss curve to
// 1e-5, identical expert counts (the capacity drops are decided on the global batch), the SD
// re-basings (every 5 steps) and the final checkpoint. And a checkpoint written by the torch target
// evaluates with `sdmoec eval` to the bits per byte train.py measured on the same held-out batches.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadCheckpoint } from '../../runtime/checkpoint/checkpoint.ts';
import { readMetrics, type EvalMetrics, type SpectralMetrics, type TrainMetrics } from '../../runtime/metrics/jsonl.ts';
import { compileTorch, relativeDiff, relativeError, requireTorch, runTrainPy } from './support.ts';

const FIXTURE = fileURLToPath(new URL('./fixtures/tiny.moe', import.meta.url));
const CLI = fileURLToPath(new URL('../../bin/sdmoec.js', import.meta.url));
const TOL = 1e-5;

let work: string;
let pkg: string;
const runs: Record<string, string> = {};

beforeAll(() => {
  requireTorch();
  work = mkdtempSync(join(tmpdir(), 'sdmoec-torch-dist-'));
  pkg = join(work, 'pkg');
  // SD-MoE (re-based every 5 steps) with an expert capacity: the layout must not change which
  // tokens are dropped, nor the common matrix's summed projections.
  compileTorch(FIXTURE, ['train.model=tiny_sd'], pkg);
  for (const [name, flags] of [['one', []], ['ep2', ['--nproc', '2', '--expert-parallel', '2']], ['dp2', ['--nproc', '2', '--data-parallel', '2']]] as const) {
    runs[name] = join(work, name);
    runTrainPy(pkg, ['--out', runs[name], ...flags]);
  }
}, 600_000);
afterAll(() => rmSync(work, { recursive: true, force: true }));

const entries = <T>(run: string, type: string) => readMetrics(join(runs[run], 'metrics.jsonl')).filter((e) => e.type === type) as T[];

describe('torch target on 2 local ranks', () => {
  for (const layout of ['ep2', 'dp2']) {
    it(`${layout} reproduces the 1-rank run over 20 steps`, async () => {
      const [one, two] = [entries<TrainMetrics>('one', 'train'), entries<TrainMetrics>(layout, 'train')];
      expect(one.map((e) => e.step)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
      expect(two.map((e) => e.step)).toEqual(one.map((e) => e.step));
      for (const [i, a] of one.entries()) {
        expect(relativeDiff(two[i].loss, a.loss), `loss at step ${a.step}`).toBeLessThan(TOL);
        expect(relativeDiff(two[i].grad_norm, a.grad_norm), `grad norm at step ${a.step}`).toBeLessThan(TOL);
        expect(two[i].tokens_per_expert).toEqual(a.tokens_per_expert);
      }
      // the run learned something, so matching curves are not two flat lines
      expect(one[19].loss).toBeLessThan(one[0].loss - 0.2);
      const [s1, s2] = [entries<SpectralMetrics>('one', 'spectral'), entries<SpectralMetrics>(layout, 'spectral')];
      expect(s1.map((e) => e.step)).toEqual([5, 10, 15, 20]);
      expect(s2.map((e) => e.step)).toEqual([5, 10, 15, 20]);
      for (const [i, a] of s1.entries()) expect(relativeDiff(s2[i].energy_top_k, a.energy_top_k)).toBeLessThan(TOL);
      const [c1, c2] = await Promise.all([loadCheckpoint(runs.one), loadCheckpoint(runs[layout])]);
      expect(c2.step).toBe(20);
      for (const [name, t] of c1.params) expect(relativeError(c2.params.get(name)!.data, t.data), name).toBeLessThan(1e-4);
    });
  }

  it('a torch checkpoint evaluates with `sdmoec eval` to the bits per byte train.py measured', () => {
    const [ev] = entries<EvalMetrics>('one', 'eval');
    expect(ev.step).toBe(20);
    const out = execFileSync(process.execPath, [CLI, 'eval', runs.one, '--batches', '2', '--json'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    const r = JSON.parse(out) as { step: number; loss: number; bits_per_byte: number; tokens: number };
    expect(r.step).toBe(20);
    expect(r.tokens).toBe(2 * 4 * 32); // eval_batches × batch × seq_len
    expect(relativeDiff(ev.bits_per_byte!, r.bits_per_byte)).toBeLessThan(TOL);
    expect(relativeDiff(ev.loss!, r.loss)).toBeLessThan(TOL);
  });
});
