// Paced waits (runtime/pacer.ts) against dawn.node's spinning waits, on the demo's training step:
// one StepExecutor, its pacer swapped per step between an enabled and a disabled CompletionPacer,
// so pacing on and off alternate step by step in one process (pairs see the same machine state).
// Reports step time best / median each way and the median of the per-pair ratios (on ÷ off), and
// the enabled pacer's last waits (slept ms, ms still blocked after the sleep, total ms).
// A step is timed as the trainer waits for it: from writing its inputs to loss and grad norm read.
import { BatchSampler } from '../runtime/data/index.ts';
import { CompletionPacer } from '../runtime/pacer.ts';
import { openSessionFromFile } from '../runtime/train/trainer.ts';
import { loadAverage, markdownTable, nowMs, sourceRevision, stats, type BenchModule, type BenchOptions, type BenchReport } from './common.ts';

const MODEL_FILE = 'models/demo.moe';
const fmt = (x: number, d = 1): string => x.toFixed(d);

async function run(opts: BenchOptions): Promise<BenchReport> {
  const load = loadAverage();
  const session = await openSessionFromFile(MODEL_FILE, opts.overrides ?? [], (line) => process.stdout.write(`  ${line}\n`));
  const { train, step } = session;
  const sampler = new BatchSampler(session.data.train, { seqLen: train.seqLen, batch: train.batch, seed: train.seed });
  step.writeInput('optimizer.lr', Float32Array.of(train.optimizer.lr));
  const on = new CompletionPacer(true);
  const off = new CompletionPacer(false);
  let s = 0;
  const one = async (pacer: CompletionPacer): Promise<number> => {
    // The pacer is a per-executor field; swapping it is how this bench turns pacing on and off.
    (step as unknown as { pacer: CompletionPacer }).pacer = pacer;
    const batch = sampler.next();
    s++;
    const t0 = nowMs();
    step.writeInput('tokens', batch.inputs);
    step.writeInput('targets', batch.targets);
    step.writeInput('optimizer.step', Int32Array.of(s));
    step.run();
    const out = await step.readOutputs(['loss', 'grad_norm']);
    if (!Number.isFinite(out.loss[0])) throw new Error(`pacing bench: loss ${out.loss[0]} at step ${s}`);
    return nowMs() - t0;
  };
  const warmup = 4;
  const pairs = opts.quick ? 12 : 40;
  for (let i = 0; i < warmup; i++) {
    await one(on);
    await one(off);
  }
  const paced: number[] = [];
  const spun: number[] = [];
  const ratios: number[] = [];
  for (let i = 0; i < pairs; i++) {
    const a = await one(on);
    const b = await one(off);
    paced.push(a);
    spun.push(b);
    ratios.push(a / b);
  }
  const p = stats(paced);
  const u = stats(spun);
  const r = stats(ratios);
  process.stdout.write(`pacing: ${MODEL_FILE}, ${pairs} pairs, load ${fmt(load.one, 2)}: paced ${fmt(p.best)} / ${fmt(p.median)} ms, spinning ${fmt(u.best)} / ${fmt(u.median)} ms (best / median), median pair ratio ${fmt(r.median, 3)}\n`);
  const lastWaits = on.history.slice(-10).map((h) => ({ sleptMs: h.sleptMs, blockedMs: h.blockedMs, totalMs: h.totalMs }));
  const json = { meta: { model: MODEL_FILE, revision: sourceRevision(), date: new Date().toISOString(), load: { before: load, after: loadAverage() }, pairs, warmup }, pacedMs: p, spinningMs: u, pairRatio: r, lastWaits };
  const markdown = [
    `# Paced waits vs spinning waits: ${MODEL_FILE}`,
    '',
    `Pacing on and off alternate step by step in one process (${pairs} pairs after ${warmup} warm-up pairs); revision ${json.meta.revision}, load ${fmt(load.one, 2)} → ${fmt(loadAverage().one, 2)}.`,
    '',
    markdownTable(
      ['waits', 'best ms', 'median ms'],
      [
        ['paced (runtime/pacer.ts)', fmt(p.best), fmt(p.median)],
        ['spinning (dawn.node setImmediate poll)', fmt(u.best), fmt(u.median)],
        ['**paced ÷ spinning, per pair**', fmt(r.best, 3), `**${fmt(r.median, 3)}**`],
      ],
    ),
    '',
    `Last waits of the paced executor (slept / still blocked after the sleep / total ms): ${lastWaits.map((w) => `${fmt(w.sleptMs)}/${fmt(w.blockedMs)}/${fmt(w.totalMs)}`).join(', ')}.`,
  ].join('\n');
  return { json, markdown };
}

export const pacingBench: BenchModule = { name: 'pacing', run };
