// Why the host-side SD linear algebra (runtime/sd/vector.ts, linalg.ts, eigen.ts) works on number[]
// and not on Float64Array: once any ArrayBuffer in the process has been detached, V8 invalidates its
// "ArrayBufferDetaching" protector and every typed-array access in optimised code also checks for a
// detached buffer. Every sdmoec training process detaches (GPUBuffer#unmap after the first read-back;
// `node --trace-protector-invalidation` shows it). This bench measures, in fresh processes that have
// detached one ArrayBuffer (`structuredClone(buf, { transfer: [buf] })`, the same protector) or not
// (bench/host-detach-child.ts; four processes per phase, alternating):
//   - a dot-product-like loop over a Float64Array and over a number[] (the effect itself);
//   - a demo_sd re-basing (six matrices: four 64×128, two 128×64; 4 experts, rank 8, residual keep)
//     with the number[] implementation, which should not care.
// Fresh processes: a protector, once invalidated, stays so, and this harness's own imports invalidate it.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { loadAverage, markdownTable, sourceRevision, stats, type BenchModule, type BenchOptions, type BenchReport, type RunStats } from './common.ts';

const CHILD = fileURLToPath(new URL('./host-detach-child.ts', import.meta.url));
type Phase = 'attached' | 'detached';
type Kind = 'typed' | 'array' | 'rebase';

async function run(opts: BenchOptions): Promise<BenchReport> {
  const processes = opts.quick ? 2 : 4;
  const rounds = opts.quick ? 10 : 40;
  const load = loadAverage();
  const samples: Record<Phase, Record<Kind, number[]>[]> = { attached: [], detached: [] };
  for (let i = 0; i < processes; i++) {
    for (const phase of i % 2 === 0 ? (['attached', 'detached'] as const) : (['detached', 'attached'] as const)) {
      const out = execFileSync(process.execPath, ['--import', 'tsx', CHILD, phase, String(rounds)], { encoding: 'utf8' });
      samples[phase].push(JSON.parse(out.trim().split('\n').pop()!).samples);
    }
  }
  const after = loadAverage();
  // Per phase and kind: best and median over every sample of every process.
  const results = Object.fromEntries((['attached', 'detached'] as const).map((p) => [p, Object.fromEntries((['typed', 'array', 'rebase'] as const).map((k) => [k, stats(samples[p].flatMap((s) => s[k]))]))])) as Record<Phase, Record<Kind, RunStats>>;
  for (const p of ['attached', 'detached'] as const) {
    process.stdout.write(`host-detach: ${p}: Float64Array loop ${results[p].typed.median.toFixed(3)} ms, number[] loop ${results[p].array.median.toFixed(3)} ms, re-basing ${results[p].rebase.median.toFixed(2)} ms (medians)\n`);
  }
  const fmt = (x: RunStats, d = 3) => `${x.best.toFixed(d)} / ${x.median.toFixed(d)}`;
  const json = { meta: { revision: sourceRevision(), date: new Date().toISOString(), processes, rounds, load: { before: load, after } }, results, samples };
  const markdown = [
    '# Typed arrays after a detach: why the host SD linear algebra uses number[]',
    '',
    `Revision ${json.meta.revision}; ${processes} fresh processes per phase, alternating, ${rounds} rounds each (the three timings alternate inside a round); load ${load.one.toFixed(2)} → ${after.one.toFixed(2)}. ms, best / median over all samples.`,
    'A "detached" process detached one ArrayBuffer first, as every training process has by its first GPU read-back.',
    '',
    markdownTable(
      ['phase', 'Float64Array loop', 'number[] loop', 'demo_sd re-basing (6 SVDs, number[] code)'],
      (['attached', 'detached'] as const).map((p) => [p, fmt(results[p].typed), fmt(results[p].array), fmt(results[p].rebase, 2)]),
    ),
  ].join('\n');
  return { json, markdown };
}

export const hostDetachBench: BenchModule = { name: 'host-detach', run };
