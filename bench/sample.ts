// Sampling cost: why `sdmoec sample` recomputes the whole window per token instead of keeping a KV
// cache. A KV-cached decode step still runs every dispatch of the forward (embedding, norms, q/k/v,
// router, dispatch, grouped GEMMs, combine, LM head) for one token, plus attention over the cache;
// so the forward of a 1-token window is a lower bound on its cost. Measured as interleaved pairs
// (window = seq_len vs window = 1, same weights, same process) on the demo model: if the two are
// close, a KV cache cannot pay for itself at these sizes (the time is per-dispatch overhead).
import { loadavg } from 'node:os';
import { loadConfig } from '../compiler/config/index.ts';
import { LogitsRunner } from '../runtime/sample/forward.ts';
import { modelParams } from '../runtime/export/hf.ts';
import { Rng } from '../base/rng.ts';
import type { ParamTensor } from '../runtime/checkpoint/checkpoint.ts';
import { markdownTable, stats, type BenchModule } from './common.ts';

export const sampleBench: BenchModule = {
  name: 'sample',
  async run(opts) {
    const { config } = loadConfig('models/demo.moe', { overrides: [...(opts.overrides ?? [])] });
    const model = config.models.find((m) => m.name === config.train!.model)!;
    const window = config.train!.seqLen;
    const rng = new Rng(1);
    const params = new Map<string, ParamTensor>();
    for (const p of modelParams(model)) {
      const data = new Float32Array(p.shape.reduce((a, b) => a * b, 1));
      rng.fork(p.name).fillNormal(data, 0, 0.02);
      params.set(p.name, { shape: [...p.shape], data });
    }
    const full = await LogitsRunner.open(model, { batch: 1, seqLen: window }, params, 'bench');
    const one = await LogitsRunner.open(model, { batch: 1, seqLen: 1 }, params, 'bench');
    const fullTokens = new Int32Array(window).map((_, i) => (i * 7) % model.vocab);
    const oneToken = new Int32Array([3]);
    await full.logits(fullTokens); // shader compilation
    await one.logits(oneToken);
    const pairs = opts.quick ? 10 : 40;
    const a: number[] = [];
    const b: number[] = [];
    const load = loadavg()[0];
    for (let i = 0; i < pairs; i++) {
      let t = performance.now();
      await full.logits(fullTokens);
      a.push(performance.now() - t);
      t = performance.now();
      await one.logits(oneToken);
      b.push(performance.now() - t);
    }
    const sa = stats(a);
    const sb = stats(b);
    const dispatches = full.step.dispatchCount;
    const rows = [
      [`${window}-token window (what sample runs per token)`, String(dispatches), sa.best.toFixed(2), sa.median.toFixed(2), (1000 / sa.median).toFixed(0)],
      ['1-token window (lower bound of a KV-cached step)', String(one.step.dispatchCount), sb.best.toFixed(2), sb.median.toFixed(2), (1000 / sb.median).toFixed(0)],
    ];
    const markdown =
      `Sampling forward of ${model.name} (${pairs} interleaved pairs, load average ${load.toFixed(1)} at start):\n\n` +
      markdownTable(['forward', 'dispatches', 'best ms', 'median ms', 'tokens/s (median)'], rows) +
      `\n\nratio median full/1-token: ${(sa.median / sb.median).toFixed(2)}× (the most a KV cache could gain per token)\n`;
    process.stdout.write(markdown);
    full.destroy();
    one.destroy();
    return { json: { model: model.name, window, pairs, load, full: sa, one: sb, dispatches }, markdown };
  },
};
