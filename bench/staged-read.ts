// What reading a step's loss and grad norm back in the step's own command buffer buys (stop 24,
// StepExecutor#run's `read`): the same session runs steps that stage the read-back after the pass
// (one submit) and steps that submit it separately after the step (readOutputsAndParams: two
// submits), alternating in pairs (order alternating inside a pair) on the same batches. Reports ms
// best / median of each and the median of the per-pair ratios staged ÷ separate with its 95 % interval.
import { openSessionFromFile } from '../runtime/train/trainer.ts';
import { BatchSampler } from '../runtime/data/index.ts';
import { loadAverage, markdownTable, medianInterval, nowMs, sourceRevision, stats, type BenchModule, type BenchOptions, type BenchReport } from './common.ts';

const WARMUP = 3;

async function run(opts: BenchOptions): Promise<BenchReport> {
  const before = loadAverage().one;
  const session = await openSessionFromFile('models/demo.moe', opts.overrides ?? [], () => {});
  const { step } = session;
  step.writeInput('optimizer.lr', Float32Array.of(0));
  const sampler = new BatchSampler(session.data.train, { seqLen: session.train.seqLen, batch: session.train.batch, seed: session.train.seed });
  const names = ['loss', 'grad_norm'];
  let stepNo = 0;
  const timed = async (staged: boolean, inputs: Int32Array, targets: Int32Array): Promise<number> => {
    const start = nowMs();
    step.writeInput('tokens', inputs);
    step.writeInput('targets', targets);
    step.writeInput('optimizer.step', Int32Array.of(++stepNo));
    if (staged) {
      step.run('step', { read: { outputs: names } });
      await step.readStaged();
    } else {
      step.run('step');
      await step.readOutputsAndParams(names, []);
    }
    return nowMs() - start;
  };
  const pairs = opts.quick ? 16 : 60;
  const ms = { staged: [] as number[], separate: [] as number[] };
  for (let i = 0; i < WARMUP + pairs; i++) {
    const b = sampler.next();
    for (const staged of i % 2 ? [true, false] : [false, true]) {
      const t = await timed(staged, b.inputs, b.targets);
      if (i >= WARMUP) (staged ? ms.staged : ms.separate).push(t);
    }
  }
  const ratios = ms.staged.map((x, i) => x / ms.separate[i]);
  const ratio = stats(ratios).median;
  const interval = medianInterval(ratios);
  const after = loadAverage().one;
  const [s, p] = [stats(ms.staged), stats(ms.separate)];
  process.stdout.write(`staged-read: demo, ${pairs} pairs: staged ${s.best.toFixed(1)} / ${s.median.toFixed(1)} ms, separate ${p.best.toFixed(1)} / ${p.median.toFixed(1)} ms (best / median); staged ÷ separate ${ratio.toFixed(3)} [${interval[0].toFixed(3)}–${interval[1].toFixed(3)}]; load ${before.toFixed(2)} / ${after.toFixed(2)}\n`);
  const json = { meta: { revision: sourceRevision(), date: new Date().toISOString(), pairs, warmup: WARMUP, load: { before, after } }, staged: s, separate: p, ratio, interval };
  const markdown = [
    '# Staged read-back vs a separate read-back submit (demo step)',
    '',
    `Revision ${json.meta.revision}; ${json.meta.date}; load ${before.toFixed(2)} before / ${after.toFixed(2)} after. One session; ${WARMUP} warm-up pairs, then ${pairs} pairs on the same batches, order alternating.`,
    '',
    markdownTable(['read-back', 'best ms', 'median ms'], [['in the step\'s command buffer (one submit)', s.best.toFixed(2), s.median.toFixed(2)], ['separate submit after the step', p.best.toFixed(2), p.median.toFixed(2)]]),
    '',
    `**staged ÷ separate: ${ratio.toFixed(3)}** (median of per-pair ratios; 95 % interval of the median ${interval[0].toFixed(3)}–${interval[1].toFixed(3)}).`,
  ].join('\n');
  return { json, markdown };
}

export const stagedReadBench: BenchModule = { name: 'staged-read', run };
