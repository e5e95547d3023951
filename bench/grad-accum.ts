// Gradient accumulation benchmark (`npm run bench -- grad-accum`): the optimizer step of
// models/qwen_tiny.moe (the baseline model, the file's train settings otherwise) over the same 4·B
// sequences, three ways, interleaved step by step in one process so load from other processes
// hits all of them alike:
//   batch ×4      one micro-batch of 4·B sequences, grad_accum 1
//   accum global  grad_accum 4 of B, `aux_loss … scope = global` as the file declares it: the
//                 counting pass (a forward to the last router per micro-batch) runs first
//   accum micro   grad_accum 4 of B with scope = micro_batch: no counting pass
// A step is timed as the trainer waits for it: from writing the first micro-batch to loss and
// gradient norm being on the CPU. Also reported: device buffer bytes of each plan (what
// accumulation buys) and the first step's loss of each (batch ×4 and accum global see the same
// sequences and the same global-batch statistics, so they agree to float rounding).
import type { ModelConfig, TrainConfig } from '../compiler/config/types.ts';
import { BatchSampler } from '../runtime/data/index.ts';
import { openSession, resolveRunConfig, trainStep, type TrainingSession } from '../runtime/train/trainer.ts';
import { learningRate } from '../runtime/train/schedule.ts';
import { loadAverage, markdownTable, nowMs, sourceRevision, stats, type BenchModule, type BenchOptions, type BenchReport, type RunStats } from './common.ts';

const MODEL_FILE = 'models/qwen_tiny.moe';
const ACCUM = 4;

interface Arm {
  readonly name: string;
  readonly what: string;
  readonly model: ModelConfig;
  readonly train: TrainConfig;
}

interface ArmResult {
  readonly name: string;
  readonly what: string;
  readonly batch: number;
  readonly gradAccum: number;
  readonly dispatchesPerMicroBatch: number;
  readonly countingDispatches: number;
  readonly bufferMiB: number;
  readonly stepMs: RunStats;
  readonly tokensPerSecond: { best: number; median: number };
  readonly firstLoss: number;
  readonly lastLoss: number;
}

const fmt = (x: number, digits = 1): string => x.toFixed(digits);

async function run(opts: BenchOptions): Promise<BenchReport> {
  const loadBefore = loadAverage();
  const log = (line: string): void => void process.stdout.write(`  ${line}\n`);
  const { model: declared, train: base } = resolveRunConfig(MODEL_FILE, ['train.model=qwen_tiny', ...(opts.overrides ?? [])], log);
  const router = declared.moe.router;
  const microScope = { ...declared, moe: { ...declared.moe, router: { ...router, auxLoss: router.auxLoss && { ...router.auxLoss, scope: 'micro_batch' as const } } } };
  const arms: Arm[] = [
    { name: 'batch ×4', what: `batch ${ACCUM * base.batch}, grad_accum 1`, model: declared, train: { ...base, batch: ACCUM * base.batch, gradAccum: 1 } },
    { name: 'accum global', what: `batch ${base.batch}, grad_accum ${ACCUM}, scope ${router.auxLoss?.scope ?? 'none'}`, model: declared, train: { ...base, gradAccum: ACCUM } },
    { name: 'accum micro', what: `batch ${base.batch}, grad_accum ${ACCUM}, scope micro_batch`, model: microScope, train: { ...base, gradAccum: ACCUM } },
  ];
  const sessions: TrainingSession[] = [];
  for (const arm of arms) {
    log(`opening ${arm.name}: ${arm.what}`);
    sessions.push(await openSession(arm.model, arm.train, MODEL_FILE, log));
  }
  const warmup = 2;
  const timed = opts.quick ? 3 : 8;
  const samplers = arms.map((a) => new BatchSampler(sessions[0].data.train, { seqLen: a.train.seqLen, batch: a.train.batch, seed: a.train.seed }));
  const samples: number[][] = arms.map(() => []);
  const losses: number[][] = arms.map(() => []);
  for (let s = 1; s <= warmup + timed; s++) {
    // Rotate the order each step so no arm always runs right after the same neighbour.
    for (let k = 0; k < arms.length; k++) {
      const i = (k + s) % arms.length;
      const session = sessions[i];
      const train = arms[i].train;
      session.step.writeInput('optimizer.lr', Float32Array.of(learningRate(s, train.steps, train.optimizer.lr, train.schedule)));
      if (session.step.plan.inputs['optimizer.step']) session.step.writeInput('optimizer.step', Int32Array.of(s));
      const batches = Array.from({ length: train.gradAccum }, () => samplers[i].next());
      const start = nowMs();
      const out = await trainStep(session, batches, ['loss', 'grad_norm']);
      const ms = nowMs() - start;
      if (!Number.isFinite(out.loss[0])) throw new Error(`grad-accum: ${arms[i].name} loss is ${out.loss[0]} at step ${s}`);
      losses[i].push(out.loss[0]);
      if (s > warmup) samples[i].push(ms);
    }
    process.stdout.write(`  step ${s}: ${arms.map((a, i) => `${a.name} ${fmt(losses[i][losses[i].length - 1], 4)}`).join(', ')}\n`);
  }
  const results: ArmResult[] = arms.map((arm, i) => {
    const stepMs = stats(samples[i]);
    const tokens = arm.train.batch * arm.train.gradAccum * arm.train.seqLen;
    const compiled = sessions[i].compiled;
    return {
      name: arm.name,
      what: arm.what,
      batch: arm.train.batch,
      gradAccum: arm.train.gradAccum,
      dispatchesPerMicroBatch: compiled.stepPlan.accumulation?.updateStart ?? compiled.stepPlan.dispatches.length,
      countingDispatches: compiled.countPlan?.dispatches.length ?? 0,
      bufferMiB: (compiled.stepPlan.totalBytes + (compiled.countPlan?.totalBytes ?? 0)) / 2 ** 20,
      stepMs,
      tokensPerSecond: { best: tokens / (stepMs.best / 1000), median: tokens / (stepMs.median / 1000) },
      firstLoss: losses[i][0],
      lastLoss: losses[i][losses[i].length - 1],
    };
  });
  const json = {
    meta: {
      adapter: sessions[0].step.exec.ctx.adapterName,
      revision: sourceRevision(),
      model: `${MODEL_FILE} --set train.model=qwen_tiny${(opts.overrides ?? []).map((o) => ` --set ${o}`).join('')}`,
      seqLen: base.seqLen,
      tokensPerStep: ACCUM * base.batch * base.seqLen,
      warmupSteps: warmup,
      timedSteps: timed,
      quick: opts.quick,
      date: new Date().toISOString(),
      node: process.version,
      loadAverage: { before: loadBefore, after: loadAverage() },
    },
    arms: results,
  };
  for (const r of results) process.stdout.write(`  ${r.name}: ${fmt(r.stepMs.median)} ms median (best ${fmt(r.stepMs.best)}), ${fmt(r.tokensPerSecond.median, 0)} tokens/s, ${fmt(r.bufferMiB)} MiB\n`);
  for (const s of sessions) {
    s.step.destroy();
    s.evaluation.destroy();
    s.counting?.destroy();
  }
  return { json, markdown: markdown(json) };
}

function markdown(r: { meta: { adapter: string; revision: string; model: string; tokensPerStep: number; timedSteps: number; loadAverage: { before: { one: number }; after: { one: number } } }; arms: ArmResult[] }): string {
  const ref = r.arms[0].stepMs.median;
  return [
    `# grad-accum: ${r.meta.model}, ${r.meta.tokensPerStep} tokens per optimizer step`,
    '',
    `${r.meta.adapter}, revision ${r.meta.revision}, ${r.meta.timedSteps} timed steps per arm (interleaved), load ${fmt(r.meta.loadAverage.before.one, 2)} → ${fmt(r.meta.loadAverage.after.one, 2)}`,
    '',
    markdownTable(
      ['arm', 'setting', 'step ms (median / best)', '× batch ×4', 'tokens/s (median)', 'dispatches per micro-batch (+ counting)', 'device MiB', 'loss step 1 → last'],
      r.arms.map((a) => [
        a.name,
        a.what,
        `${fmt(a.stepMs.median)} / ${fmt(a.stepMs.best)}`,
        fmt(a.stepMs.median / ref, 2),
        fmt(a.tokensPerSecond.median, 0),
        `${a.dispatchesPerMicroBatch}${a.countingDispatches ? ` (+ ${a.countingDispatches})` : ''}`,
        fmt(a.bufferMiB),
        `${a.firstLoss.toFixed(4)} → ${a.lastLoss.toFixed(4)}`,
      ]),
    ),
  ].join('\n');
}

export const gradAccumBench: BenchModule = { name: 'grad-accum', run };
