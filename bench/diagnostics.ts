// Cost of the SD-MoE expert diagnostics (runtime/sd/diagnostics.ts) that every evaluation now runs
// on the host, with no size cap: diagnoseExperts per (layer, matrix) at the demo's sizes (dim 64,
// expert_hidden 128, 4 experts: gate/up 64×128, down 128×64) and at 256×512 / 512×256 with 8
// experts (the size issue 7 names for qwen_tiny), SD (rank 8, Algorithm 1 init plus drift, so W_u
// has a flat tail spectrum: the slow case for subspace iteration) and baseline. Wall and CPU ms,
// which includes no device work; compare with `eval_seconds` / `diagnostics_seconds` on a run's
// eval lines. CPU-only, so less sensitive to the shared machine's load than wall time, not immune.
import { Rng } from '../base/rng.ts';
import { diagnoseExperts, type ExpertMatrixInput } from '../runtime/sd/diagnostics.ts';
import { spectralInit } from '../runtime/sd/init.ts';
import { cpuMsSince, loadAverage, markdownTable, nowMs, sourceRevision, stats, type BenchModule, type BenchOptions, type BenchReport } from './common.ts';

interface Case {
  label: string;
  rows: number;
  cols: number;
  experts: number;
  sd: boolean;
  /** How many such matrices one evaluation of the named model diagnoses. */
  perModel: number;
}

const CASES: readonly Case[] = [
  { label: 'demo gate/up', rows: 64, cols: 128, experts: 4, sd: true, perModel: 4 },
  { label: 'demo down', rows: 128, cols: 64, experts: 4, sd: true, perModel: 2 },
  { label: 'demo gate/up (baseline)', rows: 64, cols: 128, experts: 4, sd: false, perModel: 4 },
  { label: '256×512, 8 experts', rows: 256, cols: 512, experts: 8, sd: true, perModel: 2 },
  { label: '512×256, 8 experts', rows: 512, cols: 256, experts: 8, sd: true, perModel: 1 },
  { label: '256×512, 8 experts (baseline)', rows: 256, cols: 512, experts: 8, sd: false, perModel: 2 },
];

function input(c: Case): ExpertMatrixInput {
  const rng = new Rng(`bench-diagnostics/${c.label}`);
  const size = c.rows * c.cols;
  const drift = rng.fork('drift');
  const router = rng.fork('router').fillNormal(new Float32Array(c.rows * c.experts));
  if (!c.sd) return { layer: 0, matrix: 'up', rows: c.rows, cols: c.cols, experts: c.experts, weights: rng.fork('w').fillNormal(new Float32Array(c.experts * size)), router };
  const s = spectralInit({ rows: c.rows, cols: c.cols, experts: c.experts, rank: 8, std: 0.02, rng, mode: 'orthogonal_complement' });
  const common = s.common.map((x) => x + drift.normal(0, 0.002));
  const unique = s.unique.map((x) => x + drift.normal(0, 0.002));
  const weights = new Float32Array(unique.length);
  for (let e = 0; e < c.experts; e++) for (let i = 0; i < size; i++) weights[e * size + i] = common[i] + unique[e * size + i];
  return { layer: 0, matrix: 'up', rows: c.rows, cols: c.cols, experts: c.experts, weights, sd: { common, unique, uk: s.uk, vk: s.vk, rank: 8 }, router };
}

async function run(opts: BenchOptions): Promise<BenchReport> {
  const runs = opts.quick ? 2 : 5;
  const results: (Case & { wallMs: ReturnType<typeof stats>; cpuMs: ReturnType<typeof stats> })[] = [];
  for (const c of CASES) {
    const x = input(c);
    diagnoseExperts(x); // warm-up (JIT)
    const wall: number[] = [];
    const cpu: number[] = [];
    for (let i = 0; i < runs; i++) {
      const c0 = process.cpuUsage();
      const t0 = nowMs();
      diagnoseExperts(x);
      wall.push(nowMs() - t0);
      cpu.push(cpuMsSince(c0));
    }
    const r = { ...c, wallMs: stats(wall), cpuMs: stats(cpu) };
    process.stdout.write(`  ${c.label}: ${r.wallMs.median.toFixed(1)} ms wall, ${r.cpuMs.median.toFixed(1)} CPU-ms (median of ${runs})\n`);
    results.push(r);
  }
  const load = loadAverage();
  const fmt = (x: number) => x.toFixed(1);
  const perEval = (prefix: string) => results.filter((r) => r.label.startsWith(prefix) && r.sd).reduce((t, r) => t + r.perModel * r.cpuMs.median, 0);
  const markdown = [
    `# Expert diagnostics cost (runtime/sd/diagnostics.ts)`,
    '',
    `Revision ${sourceRevision()}; load average ${load.one.toFixed(2)} / ${load.five.toFixed(2)} / ${load.fifteen.toFixed(2)} (shared machine: wall times are noisy, CPU-ms less so).`,
    `One diagnoseExperts call per (layer, matrix kind): SD = proxies and W_u at r = 1 % and r = k = 8, both sides, energy, leakage, W_c full spectrum, router alignment (J = 16).`,
    '',
    markdownTable(
      ['matrices', 'rows×cols', 'experts', 'kind', 'wall ms (median)', 'CPU ms (median)', 'CPU ms (best)'],
      results.map((r) => [r.label, `${r.rows}×${r.cols}`, String(r.experts), r.sd ? 'SD' : 'baseline', fmt(r.wallMs.median), fmt(r.cpuMs.median), fmt(r.cpuMs.best)]),
    ),
    '',
    `Per evaluation of demo_sd (2 layers × gate, up, down): about ${fmt(perEval('demo'))} CPU-ms.`,
    `Per layer of a model with 256×512 / 512×256 SD experts (gate, up, down; 8 experts): about ${fmt(perEval('256') + perEval('512'))} CPU-ms.`,
  ].join('\n');
  return { json: { revision: sourceRevision(), load, runs, results }, markdown };
}

export const diagnosticsBench: BenchModule = { name: 'diagnostics', run };
