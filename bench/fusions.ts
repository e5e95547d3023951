// What a fusion pass buys in the whole training step (issue 8): the same model compiled twice in
// this one process, with the default pipeline and without the named fusions
// (CompileOptions.withoutPasses), timed as interleaved pairs of steps on the same batches (order
// alternating inside a pair) so that drift in the machine's speed hits both alike, each step timed
// from issuing it to loss and grad norm on the CPU (as the trainer waits for it). Both programs
// start from the same params (initialised by name from the seed) and must compute the same losses:
// the largest relative difference over the run is reported, and above 1e-5 the bench fails.
// Measured: fuse-gather-grad-add with fuse-swiglu-gemm (this round's fusions), on the demo and
// qwen_tiny (SwiGLU experts). Reports dispatches, ms best / median of each side, the median of the
// per-pair ratios (with ÷ without) and the CPU-time ratio.
import { openSessionFromFile } from '../runtime/train/trainer.ts';
import { BatchSampler } from '../runtime/data/index.ts';
import { loadAverage, markdownTable, sourceRevision, stats, timedStep, type BenchModule, type BenchOptions, type BenchReport, type RunStats } from './common.ts';

// SDMOEC_BENCH_FUSIONS (comma-separated pass names) picks the fusions to leave out; stop 24's norm
// fusions: SDMOEC_BENCH_FUSIONS=fuse-combine-norm,fuse-embedding-norm npm run bench -- fusions
const FUSIONS = process.env.SDMOEC_BENCH_FUSIONS ? process.env.SDMOEC_BENCH_FUSIONS.split(',').map((f) => f.trim()) : ['fuse-gather-grad-add', 'fuse-swiglu-gemm'];
const CASES: readonly { file: string; model: string; pairs: number; quickPairs: number }[] = [
  { file: 'models/demo.moe', model: 'demo', pairs: 48, quickPairs: 12 },
  { file: 'models/qwen_tiny.moe', model: 'qwen_tiny', pairs: 16, quickPairs: 4 },
];
const WARMUP = 3;

interface Row {
  model: string;
  without: readonly string[];
  dispatches: { without: number; with: number };
  withoutMs: RunStats;
  withMs: RunStats;
  ratio: number;
  cpuRatio: number;
  lossAgreement: number;
  load: { before: number; after: number };
}

async function measure(c: (typeof CASES)[number], opts: BenchOptions): Promise<Row> {
  const before = loadAverage().one;
  const overrides = [...(opts.overrides ?? []), `train.model=${c.model}`];
  const without = await openSessionFromFile(c.file, overrides, () => {}, { withoutPasses: FUSIONS });
  const fused = await openSessionFromFile(c.file, overrides, () => {});
  for (const s of [without, fused]) s.step.writeInput('optimizer.lr', Float32Array.of(s.train.optimizer.lr));
  const sampler = new BatchSampler(fused.data.train, { seqLen: fused.train.seqLen, batch: fused.train.batch, seed: fused.train.seed });
  const pairs = opts.quick ? c.quickPairs : c.pairs;
  const ms: [number[], number[]] = [[], []];
  const cpu: [number[], number[]] = [[], []];
  const ratios: number[] = [];
  const cpuRatios: number[] = [];
  let lossAgreement = 0;
  for (let i = 0; i < WARMUP + pairs; i++) {
    const batch = sampler.next();
    const r: { wallMs: number; cpuMs: number; loss: number }[] = [];
    for (const k of i % 2 === 0 ? [0, 1] : [1, 0]) r[k] = await timedStep([without, fused][k], batch.inputs, batch.targets, i + 1);
    lossAgreement = Math.max(lossAgreement, Math.abs(r[1].loss - r[0].loss) / Math.abs(r[0].loss));
    if (i < WARMUP) continue;
    for (const k of [0, 1]) {
      ms[k].push(r[k].wallMs);
      cpu[k].push(r[k].cpuMs);
    }
    ratios.push(r[1].wallMs / r[0].wallMs);
    cpuRatios.push(r[1].cpuMs / r[0].cpuMs);
  }
  if (lossAgreement > 1e-5) throw new Error(`fusions: ${c.model} with and without ${FUSIONS.join(', ')} disagree on the loss by ${lossAgreement.toExponential(2)} (relative)`);
  const row: Row = {
    model: c.model,
    without: FUSIONS,
    dispatches: { without: without.step.dispatchCount, with: fused.step.dispatchCount },
    withoutMs: stats(ms[0]),
    withMs: stats(ms[1]),
    ratio: stats(ratios).median,
    cpuRatio: stats(cpuRatios).median,
    lossAgreement,
    load: { before, after: loadAverage().one },
  };
  process.stdout.write(
    `fusions: ${c.model}: ${row.dispatches.without} → ${row.dispatches.with} dispatches; without ${row.withoutMs.best.toFixed(1)} / ${row.withoutMs.median.toFixed(1)} ms, with ${row.withMs.best.toFixed(1)} / ${row.withMs.median.toFixed(1)} ms; with ÷ without ${row.ratio.toFixed(3)} (CPU time ${row.cpuRatio.toFixed(3)}), ${pairs} pairs; losses agree to ${lossAgreement.toExponential(1)}; load ${before.toFixed(2)}\n`,
  );
  return row;
}

async function run(opts: BenchOptions): Promise<BenchReport> {
  const rows: Row[] = [];
  for (const c of CASES) rows.push(await measure(c, opts));
  const json = { meta: { revision: sourceRevision(), date: new Date().toISOString(), fusions: FUSIONS, warmup: WARMUP, quick: !!opts.quick }, rows };
  const markdown = [
    '# Fusions in the whole step: with and without, interleaved pairs in one process',
    '',
    `Revision ${json.meta.revision}; ${json.meta.date}. Each model compiled twice (default pipeline; without ${FUSIONS.map((f) => `\`${f}\``).join(' and ')}), ${WARMUP} warm-up pairs, then pairs of steps on the same batch, order alternating.`,
    '',
    markdownTable(
      ['model', 'dispatches without → with', 'without ms best / median', 'with ms best / median', 'with ÷ without (median of pairs)', 'CPU-time ratio', 'losses agree to', 'load 1 min'],
      rows.map((r) => [r.model, `${r.dispatches.without} → ${r.dispatches.with}`, `${r.withoutMs.best.toFixed(1)} / ${r.withoutMs.median.toFixed(1)}`, `${r.withMs.best.toFixed(1)} / ${r.withMs.median.toFixed(1)}`, `**${r.ratio.toFixed(3)}**`, r.cpuRatio.toFixed(3), r.lossAgreement.toExponential(1), `${r.load.before.toFixed(2)} → ${r.load.after.toFixed(2)}`]),
    ),
  ].join('\n');
  return { json, markdown };
}

export const fusionsBench: BenchModule = { name: 'fusions', run };
