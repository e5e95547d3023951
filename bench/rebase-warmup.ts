// What the trainer's re-basing warm-up (runtime/train/spectral.ts#warmRebase) buys, and how far a warm
// re-basing's time moves on this machine: fresh processes (a JIT starts cold only in a new process),
// alternating cold (no warm-up) and warm (the trainer's warm-up first), each re-basing the demo_sd's six
// matrices 20 times (bench/rebase-warmup-child.ts). Reports the first re-basing, events 2–6 and the
// median of events 7–20, per mode, best / median over the processes.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { loadAverage, markdownTable, sourceRevision, stats, type BenchModule, type BenchOptions, type BenchReport } from './common.ts';

const CHILD = fileURLToPath(new URL('./rebase-warmup-child.ts', import.meta.url));

async function run(opts: BenchOptions): Promise<BenchReport> {
  const processes = opts.quick ? 2 : 4;
  const load = loadAverage();
  const samples: Record<'cold' | 'warm', { warmupMs: number; eventMs: number[] }[]> = { cold: [], warm: [] };
  for (let i = 0; i < processes; i++) {
    for (const mode of i % 2 === 0 ? (['cold', 'warm'] as const) : (['warm', 'cold'] as const)) {
      const out = execFileSync(process.execPath, ['--import', 'tsx', CHILD, mode, '20'], { encoding: 'utf8' });
      samples[mode].push(JSON.parse(out.trim().split('\n').pop()!));
    }
  }
  const after = loadAverage();
  const median = (xs: number[]) => stats(xs).median;
  const rows = (['cold', 'warm'] as const).map((mode) => {
    const s = samples[mode];
    const first = stats(s.map((x) => x.eventMs[0]));
    const early = stats(s.map((x) => median(x.eventMs.slice(1, 6))));
    const later = stats(s.map((x) => median(x.eventMs.slice(6))));
    const warmup = stats(s.map((x) => x.warmupMs));
    return { mode, first, early, later, warmup, processes: s.length, perProcessLater: s.map((x) => median(x.eventMs.slice(6))) };
  });
  for (const r of rows) process.stdout.write(`rebase-warmup: ${r.mode}: first ${r.first.median.toFixed(1)} ms, events 2–6 ${r.early.median.toFixed(1)} ms, 7–20 ${r.later.median.toFixed(1)} ms (per process ${r.perProcessLater.map((x) => x.toFixed(1)).join(' / ')}), warm-up ${r.warmup.median.toFixed(0)} ms\n`);
  const json = { meta: { revision: sourceRevision(), date: new Date().toISOString(), processes, load: { before: load, after } }, rows, samples };
  const fmt = (x: { best: number; median: number }) => `${x.best.toFixed(1)} / ${x.median.toFixed(1)}`;
  const markdown = [
    '# Re-basing warm-up: a demo_sd re-basing (six matrices) in fresh processes',
    '',
    `Revision ${json.meta.revision}; ${processes} processes per mode, alternating; load ${load.one.toFixed(2)} → ${after.one.toFixed(2)}. ms, best / median over the processes.`,
    '',
    markdownTable(
      ['mode', 'first re-basing', 'events 2–6 (median)', 'events 7–20 (median)', 'per process, events 7–20', 'warm-up'],
      rows.map((r) => [r.mode, fmt(r.first), fmt(r.early), fmt(r.later), r.perProcessLater.map((x) => x.toFixed(1)).join(' / '), r.mode === 'warm' ? fmt(r.warmup) : '—']),
    ),
  ].join('\n');
  return { json, markdown };
}

export const rebaseWarmupBench: BenchModule = { name: 'rebase-warmup', run };
