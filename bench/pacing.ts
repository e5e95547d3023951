// Waiting for the device on a CPU adapter (runtime/pacer.ts), on the demo's training step: one
// StepExecutor whose pacer is swapped step by step between the runtime's default (sleep the learned
// estimate, then poll gently: dawn.node's setImmediate re-posts spaced by a blocked sleep), the same
// without the wait floor (every wait that blocked > 0.75 ms counted as "device still busy"), the
// sleep followed by dawn.node's spinning poll (the default before the gentle poll), the gentle poll
// without the sleep, and no pacing at all (spin from submit to done). The modes rotate in blocks of
// 4 steps in one process, so each round sees the same machine state. Reports step time and this process's CPU time per step, best / median, and
// the median of the per-round ratios to the spinning wait, plus the default pacer's last waits.
// A step is timed as the trainer waits for it: from writing its inputs to loss and grad norm read.
import { BatchSampler } from '../runtime/data/index.ts';
import { CompletionPacer, DEFAULT_PACER } from '../runtime/pacer.ts';
import { openSessionFromFile } from '../runtime/train/trainer.ts';
import { cpuMsSince, loadAverage, markdownTable, nowMs, sourceRevision, stats, type BenchModule, type BenchOptions, type BenchReport } from './common.ts';

const MODEL_FILE = 'models/demo.moe';
const fmt = (x: number, d = 1): string => x.toFixed(d);

const MODES = [
  { name: 'sleep, then gentle poll (runtime default)', pacer: () => new CompletionPacer(true) },
  { name: 'the default without its wait floor (the controller before it)', pacer: () => new CompletionPacer(true, undefined, { ...DEFAULT_PACER, floorWindow: 0 }) },
  { name: 'sleep, then spinning poll', pacer: () => new CompletionPacer(true, undefined, { ...DEFAULT_PACER, pollIntervalMs: 0 }) },
  { name: 'gentle poll only (no sleep)', pacer: () => new CompletionPacer(true, undefined, { ...DEFAULT_PACER, sleepFirst: false }) },
  { name: 'spinning (pacing off)', pacer: () => new CompletionPacer(false) },
] as const;

async function run(opts: BenchOptions): Promise<BenchReport> {
  const load = loadAverage();
  const session = await openSessionFromFile(MODEL_FILE, opts.overrides ?? [], (line) => process.stdout.write(`  ${line}\n`));
  const { train, step } = session;
  const sampler = new BatchSampler(session.data.train, { seqLen: train.seqLen, batch: train.batch, seed: train.seed });
  step.writeInput('optimizer.lr', Float32Array.of(train.optimizer.lr));
  const pacers = MODES.map((m) => m.pacer());
  let s = 0;
  const one = async (pacer: CompletionPacer): Promise<{ wallMs: number; cpuMs: number }> => {
    step.pacer = pacer;
    const batch = sampler.next();
    s++;
    const c0 = process.cpuUsage();
    const t0 = nowMs();
    step.writeInput('tokens', batch.inputs);
    step.writeInput('targets', batch.targets);
    step.writeInput('optimizer.step', Int32Array.of(s));
    step.run();
    const out = await step.readOutputs(['loss', 'grad_norm']);
    if (!Number.isFinite(out.loss[0])) throw new Error(`pacing bench: loss ${out.loss[0]} at step ${s}`);
    return { wallMs: nowMs() - t0, cpuMs: cpuMsSince(c0) };
  };
  const warmup = 4;
  const rounds = opts.quick ? 4 : 12;
  // Each mode runs a block of steps in a row, as the trainer waits with one pacer step after step (a
  // pacer rotated every step learns from every fifth one); a round's ratio compares the blocks' medians.
  const block = 4;
  for (let i = 0; i < warmup; i++) for (const p of pacers) await one(p);
  const samples = MODES.map(() => [] as { wallMs: number; cpuMs: number }[]);
  const blockMedians = MODES.map(() => [] as number[]);
  for (let i = 0; i < rounds; i++) {
    // Rotate the order so no mode always follows the same one.
    for (let j = 0; j < pacers.length; j++) {
      const k = (i + j) % pacers.length;
      const got: { wallMs: number; cpuMs: number }[] = [];
      for (let b = 0; b < block; b++) got.push(await one(pacers[k]));
      samples[k].push(...got);
      blockMedians[k].push(stats(got.map((x) => x.wallMs)).median);
    }
  }
  const spin = blockMedians[MODES.length - 1];
  const rows = MODES.map((m, k) => ({
    mode: m.name,
    wallMs: stats(samples[k].map((x) => x.wallMs)),
    cpuMs: stats(samples[k].map((x) => x.cpuMs)),
    overSpinning: stats(blockMedians[k].map((x, i) => x / spin[i])),
  }));
  const after = loadAverage();
  for (const r of rows) {
    process.stdout.write(`pacing: ${r.mode}: ${fmt(r.wallMs.best)} / ${fmt(r.wallMs.median)} ms, CPU ${fmt(r.cpuMs.median)} ms, ÷ spinning ${fmt(r.overSpinning.median, 3)} (median of rounds)\n`);
  }
  const lastWaits = pacers[0].history.slice(-10).map((h) => ({ sleptMs: h.sleptMs, blockedMs: h.blockedMs, totalMs: h.totalMs }));
  const json = { meta: { model: MODEL_FILE, revision: sourceRevision(), date: new Date().toISOString(), load: { before: load, after }, rounds, block, warmup, pollIntervalMs: DEFAULT_PACER.pollIntervalMs }, modes: rows, lastWaits };
  const markdown = [
    `# How the host waits for the device: ${MODEL_FILE}`,
    '',
    `The modes rotate in blocks of ${block} steps in one process (${rounds} rounds after ${warmup} warm-up rounds of one step each); revision ${json.meta.revision}, load ${fmt(load.one, 2)} → ${fmt(after.one, 2)}; gentle poll interval ${DEFAULT_PACER.pollIntervalMs} ms.`,
    '',
    markdownTable(
      ['wait', 'step ms best / median', 'CPU ms per step (median)', '÷ spinning (median over rounds of block medians)'],
      rows.map((r) => [r.mode, `${fmt(r.wallMs.best)} / ${fmt(r.wallMs.median)}`, fmt(r.cpuMs.median), fmt(r.overSpinning.median, 3)]),
    ),
    '',
    `Last waits of the default pacer (slept / still blocked after the sleep / total ms): ${lastWaits.map((w) => `${fmt(w.sleptMs)}/${fmt(w.blockedMs)}/${fmt(w.totalMs)}`).join(', ')}.`,
  ].join('\n');
  return { json, markdown };
}

export const pacingBench: BenchModule = { name: 'pacing', run };
