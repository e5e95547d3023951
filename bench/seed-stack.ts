// What training several seeds of one experiment arm in one step could save (issue 7: "training
// several seeds of one arm in one batched step … would amortise the per-dispatch cost … worth
// measuring"). Not built; this measures its proxy: S steps at the arm's batch B against one step at
// batch S·B of the same model, in one process, as interleaved pairs (order alternating). One S·B
// step has the stacked step's dispatch list, submits and read-backs once, and its activations' sizes;
// it does not have S copies of the parameters: AdamW, the grad norm and the weight-gradient GEMMs'
// outputs stay 1× (S× when stacked), and the GEMMs see one larger M where stacked seeds would run a
// batch of S per-seed products. So the ratio is an upper bound on the saving, and AdamW's share of the
// step (2–3 % on the demo, `npm run bench -- train-step`) times S − 1 bounds how much it overstates.
// Reported per model (demo, demo_sd): both times best / median and the median of the per-pair ratios.
import { BatchSampler } from '../runtime/data/index.ts';
import { initializeSpectral, spectralMatrices } from '../runtime/train/spectral.ts';
import { openSessionFromFile, type TrainingSession } from '../runtime/train/trainer.ts';
import { loadAverage, markdownTable, sourceRevision, stats, timedStep, type BenchModule, type BenchOptions, type BenchReport, type RunStats } from './common.ts';

const MODEL_FILE = 'models/demo.moe';
const MODELS = ['demo', 'demo_sd'] as const;
/** Seeds per stacked step: the default grid of models/sd_experiment.moe runs 3 per arm. */
const SEEDS = 3;
const fmt = (x: number, d = 1): string => x.toFixed(d);

interface Row {
  model: string;
  batch: number;
  seeds: number;
  separateMs: RunStats;
  stackedMs: RunStats;
  /** Median over pairs of (one S·B step) ÷ (S steps at B). */
  ratio: number;
  pairs: number;
}

async function open(model: string, batch: number | null, log: (line: string) => void): Promise<{ session: TrainingSession; sampler: BatchSampler }> {
  const session = await openSessionFromFile(MODEL_FILE, [`train.model=${model}`, ...(batch ? [`train.batch=${batch}`] : [])], log);
  const { train, step, model: m } = session;
  step.writeInput('optimizer.lr', Float32Array.of(train.optimizer.lr));
  if (m.spectral) initializeSpectral(step, spectralMatrices(session.compiled.stepPlan), m.spectral, train.seed);
  return { session, sampler: new BatchSampler(session.data.train, { seqLen: train.seqLen, batch: train.batch, seed: train.seed }) };
}

async function measure(model: string, opts: BenchOptions): Promise<Row> {
  const log = (line: string) => process.stdout.write(`    ${line}\n`);
  const one = await open(model, null, log);
  const batch = one.session.train.batch;
  const stacked = await open(model, SEEDS * batch, log);
  let stepNo = 0;
  // One step timed as the trainer waits for it (bench/common.ts#timedStep; it fails on a non-finite loss).
  const step = async ({ session, sampler }: typeof one): Promise<number> => {
    const b = sampler.next();
    return (await timedStep(session, b.inputs, b.targets, ++stepNo)).wallMs;
  };
  const separate = async (): Promise<number> => {
    let ms = 0;
    for (let i = 0; i < SEEDS; i++) ms += await step(one);
    return ms;
  };
  const together = (): Promise<number> => step(stacked);
  for (let i = 0; i < 3; i++) {
    await separate();
    await together();
  }
  const pairs = opts.quick ? 6 : 24;
  const a: number[] = [];
  const b: number[] = [];
  for (let i = 0; i < pairs; i++) {
    if (i % 2 === 0) {
      a.push(await separate());
      b.push(await together());
    } else {
      b.push(await together());
      a.push(await separate());
    }
  }
  const row: Row = { model, batch, seeds: SEEDS, separateMs: stats(a), stackedMs: stats(b), ratio: stats(b.map((x, i) => x / a[i])).median, pairs };
  process.stdout.write(
    `seed-stack: ${model}: ${SEEDS} steps at batch ${batch} ${fmt(row.separateMs.best)} / ${fmt(row.separateMs.median)} ms, one step at batch ${SEEDS * batch} ` +
      `${fmt(row.stackedMs.best)} / ${fmt(row.stackedMs.median)} ms (best / median); ratio ${fmt(row.ratio, 3)} (median of ${pairs} pairs)\n`,
  );
  for (const s of [one, stacked]) s.session.step.destroy();
  return row;
}

async function run(opts: BenchOptions): Promise<BenchReport> {
  const before = loadAverage();
  const rows: Row[] = [];
  for (const model of MODELS) rows.push(await measure(model, opts));
  const after = loadAverage();
  const meta = { file: MODEL_FILE, revision: sourceRevision(), date: new Date().toISOString(), load: { before, after }, quick: opts.quick };
  const markdown = [
    `# Several seeds in one step: the upper bound of what stacking saves (${MODEL_FILE})`,
    '',
    `S = ${SEEDS} steps at the model's batch against one step at S × batch, interleaved pairs in one process (order alternating, 3 warm-up pairs); revision ${meta.revision}, load ${fmt(before.one, 2)} → ${fmt(after.one, 2)}.`,
    'One S·B step shares the stacked step\'s dispatches, submits and read-backs but keeps one copy of the parameters (AdamW, grad norm, weight gradients 1×): an upper bound on the saving.',
    '',
    markdownTable(
      ['model', `${SEEDS} steps at batch B, ms best / median`, `one step at ${SEEDS}·B, ms best / median`, 'ratio (median of pairs)'],
      rows.map((r) => [`${r.model} (B = ${r.batch})`, `${fmt(r.separateMs.best)} / ${fmt(r.separateMs.median)}`, `${fmt(r.stackedMs.best)} / ${fmt(r.stackedMs.median)}`, `**${fmt(r.ratio, 3)}** (${r.pairs} pairs)`]),
    ),
  ].join('\n');
  return { json: { meta, rows }, markdown };
}

export const seedStackBench: BenchModule = { name: 'seed-stack', run };
