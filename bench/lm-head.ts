// The chunked LM head (lm_head_xent) against the materialised one (matmul + fused cross_entropy)
// on the same model, both compiled and opened in this one process and timed as interleaved pairs
// of training steps (the order alternates per pair), so the load of the shared machine hits both
// alike. A step is timed from issuing it to loss and grad norm on the CPU. Models: the demo as it
// is (its logits are 2 MiB, one chunk: what `auto` would cost if it always chunked), and the demo
// with a 32,768-token vocabulary, its chunked side planned for a 16 MiB binding limit (128-row
// chunks, 4 of them; the whole side keeps the adapter's limit), which shows what splitting costs.
// Random token ids, fixed seed.
import { loadConfig, targetModel, trainOf } from '../compiler/config/index.ts';
import { compileTraining } from '../compiler/pipeline.ts';
import { planMemory } from '../compiler/codegen/plan.ts';
import { acquireDevice } from '../runtime/device.ts';
import { KernelExecutor } from '../runtime/executor.ts';
import { StepExecutor } from '../runtime/step-executor.ts';
import { Rng } from '../base/rng.ts';
import { loadAverage, markdownTable, nowMs, sourceRevision, stats, type BenchModule, type BenchOptions, type BenchReport } from './common.ts';

const CASES = [
  { name: 'demo (V 1024, one chunk)', sets: [] as string[], limit: undefined as number | undefined, pairs: 40, quickPairs: 12 },
  { name: 'demo, V 32768, 16 MiB limit (4 chunks)', sets: ['model.vocab=32768'], limit: 16 * 2 ** 20, pairs: 16, quickPairs: 6 },
];

const fmt = (x: number, d = 2): string => x.toFixed(d);

async function run(opts: BenchOptions): Promise<BenchReport> {
  const load = loadAverage();
  const ctx = await acquireDevice();
  const exec = KernelExecutor.shared(ctx);
  const rows: string[][] = [];
  const json: unknown[] = [];
  for (const c of CASES) {
    const { config } = loadConfig('models/demo.moe', { overrides: c.sets });
    const model = targetModel(config);
    const train = trainOf(config)!;
    const caps = c.limit ? { ...ctx.caps, maxStorageBufferBindingSize: c.limit } : ctx.caps;
    const sides = await Promise.all(
      (['whole', 'chunked'] as const).map(async (lmHead) => {
        // the whole side keeps the adapter's limit (its 64 MiB logits would not fit 16 MiB)
        const compiled = compileTraining(model, train, lmHead === 'whole' ? ctx.caps : caps, { lmHead });
        const step = new StepExecutor(exec, compiled.stepPlan);
        await step.init(1);
        step.writeInput('optimizer.lr', Float32Array.of(1e-4));
        return { lmHead, step, memory: planMemory(compiled.stepPlan), dispatches: compiled.stepPlan.dispatches.length };
      }),
    );
    const rng = new Rng('bench:lm-head');
    const T = train.batch * train.seqLen;
    const times: number[][] = [[], []];
    const ratios: number[] = [];
    const pairs = opts.quick ? c.quickPairs : c.pairs;
    const stepNo = new Int32Array(1);
    for (let p = -2; p < pairs; p++) {
      const tokens = Int32Array.from({ length: T }, () => rng.nextInt(model.vocab));
      const targets = Int32Array.from({ length: T }, () => rng.nextInt(model.vocab));
      const order = p % 2 === 0 ? [0, 1] : [1, 0];
      const ms = [0, 0];
      for (const i of order) {
        const { step } = sides[i];
        stepNo[0] = p + 3;
        const t0 = nowMs();
        step.writeInput('tokens', tokens);
        step.writeInput('targets', targets);
        step.writeInput('optimizer.step', stepNo);
        step.run();
        const out = await step.readOutputs(['loss']);
        ms[i] = nowMs() - t0;
        if (!Number.isFinite(out.loss[0])) throw new Error(`lm-head bench: loss ${out.loss[0]}`);
      }
      if (p < 0) continue; // warm-up pairs
      times[0].push(ms[0]);
      times[1].push(ms[1]);
      ratios.push(ms[1] / ms[0]);
    }
    const [w, k] = times.map(stats);
    const r = stats(ratios);
    process.stdout.write(`lm-head: ${c.name}: whole ${fmt(w.median, 1)} ms median (best ${fmt(w.best, 1)}), chunked ${fmt(k.median, 1)} (best ${fmt(k.best, 1)}); chunked ÷ whole ${fmt(r.median)} median of ${r.runs} pairs, best/best ${fmt(k.best / w.best)}\n`);
    rows.push([c.name, `${fmt(w.median, 1)} / ${fmt(w.best, 1)}`, `${fmt(k.median, 1)} / ${fmt(k.best, 1)}`, fmt(r.median), fmt(k.best / w.best), `${sides[0].dispatches} / ${sides[1].dispatches}`, `${fmt(sides[0].memory.activations / 2 ** 20, 1)} / ${fmt(sides[1].memory.activations / 2 ** 20, 1)}`]);
    json.push({ case: c.name, whole: w, chunked: k, ratio: r, dispatches: sides.map((s) => s.dispatches), activationBytes: sides.map((s) => s.memory.activations) });
    for (const s of sides) s.step.destroy();
  }
  const header = ['model', 'whole ms (median / best)', 'chunked ms (median / best)', 'chunked ÷ whole, median of pairs', 'best ÷ best', 'dispatches whole / chunked', 'activation MiB whole / chunked'];
  const markdown = `# lm-head: chunked LM head vs materialised logits (interleaved pairs)\n\nadapter ${ctx.adapterName}, revision ${sourceRevision()}, load ${fmt(load.one)} / ${fmt(load.five)} / ${fmt(load.fifteen)}\n\n${markdownTable(header, rows)}\n`;
  return { json: { load, revision: sourceRevision(), cases: json }, markdown };
}

export const lmHeadBench: BenchModule = { name: 'lm-head', run };
