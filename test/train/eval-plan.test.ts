// An eval block's own evaluation plan (another batch × seq_len than training, with the router
// scores as outputs for router_entropy) on the device, against the IR interpreter run on the same
// live weights: per-token cross-entropy, router scores and per-expert counts agree, and the
// evaluation's loss, router entropy and expert load are those of the interpreted outputs.
import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { interpretGraph } from '../../compiler/ir/interpret.ts';
import { compileEvaluation } from '../../compiler/pipeline.ts';
import { validationBatches } from '../../runtime/data/index.ts';
import { openSession, resolveRunConfig } from '../../runtime/train/trainer.ts';
import { runEvaluation } from '../../runtime/train/evaluate.ts';

const FIXTURE = fileURLToPath(new URL('./fixtures/tiny.moe', import.meta.url));

describe('eval block plan', () => {
  it('matches the interpreter on the live weights, and the metrics are computed from those outputs', async () => {
    const { model, train } = resolveRunConfig(FIXTURE);
    const spec = { model: model.name, data: train.data, split: 'validation' as const, batches: 2, batch: 2, seqLen: 8, metrics: ['loss' as const, 'expert_load' as const, 'router_entropy' as const] };
    const s = await openSession(model, train, FIXTURE, () => {}, spec);
    const plan = s.evalSetup.executor.plan;
    expect(plan).not.toBe(s.compiled.evalPlan);
    const E = model.moe.experts;

    // Move the weights off their init so the comparison is of trained-looking values.
    s.step.writeInput('optimizer.lr', Float32Array.of(1e-2));
    s.step.writeInput('optimizer.step', Int32Array.of(1));
    const first = validationBatches(s.data.train, { seqLen: train.seqLen, batch: train.batch, maxBatches: 1 }).next().value!;
    s.step.writeInput('tokens', first.inputs);
    s.step.writeInput('targets', first.targets);
    s.step.run();
    await s.step.readOutputs(['loss']);

    const { evaluation: graph } = compileEvaluation(model, { batch: 2, seqLen: 8, routerProbs: true }, s.step.exec.ctx.caps);
    const params: Record<string, Float64Array> = {};
    for (const name of Object.keys(plan.params)) params[name] = Float64Array.from(await s.step.readParam(name));

    let nats = 0;
    let tokens = 0;
    let entropy = 0;
    const counts = new Array<number>(E).fill(0);
    for (const batch of validationBatches(s.evalSetup.tokens, { seqLen: 8, batch: 2, maxBatches: 2 })) {
      const host = interpretGraph(graph, { inputs: { tokens: batch.inputs, targets: batch.targets }, params });
      s.evaluation.writeInput('tokens', batch.inputs);
      s.evaluation.writeInput('targets', batch.targets);
      s.evaluation.run();
      const dev = await s.evaluation.readOutputs(['ce_tokens', 'moe.0.router_probs', 'moe.0.counts']);
      for (let i = 0; i < host.ce_tokens.length; i++) expect(Math.abs(dev.ce_tokens[i] - host.ce_tokens[i])).toBeLessThan(1e-4);
      for (let i = 0; i < host['moe.0.router_probs'].length; i++) expect(Math.abs(dev['moe.0.router_probs'][i] - host['moe.0.router_probs'][i])).toBeLessThan(1e-5);
      expect(Array.from(dev['moe.0.counts'])).toEqual(Array.from(host['moe.0.counts']));
      const p = host['moe.0.router_probs'];
      for (let t = 0; t < batch.targets.length; t++) {
        nats += host.ce_tokens[t];
        tokens++;
        for (let e = 0; e < E; e++) entropy -= p[t * E + e] * Math.log(p[t * E + e]);
      }
      for (let e = 0; e < E; e++) counts[e] += host['moe.0.counts'][e];
    }
    const r = await runEvaluation(s.evalSetup, s.data.tokenizer);
    expect([r.batches, r.tokens]).toEqual([2, 32]);
    expect(r.loss).toBeCloseTo(nats / tokens, 4);
    expect(r.routerEntropy![0]).toBeCloseTo(entropy / tokens, 4);
    const total = counts.reduce((a, b) => a + b);
    expect(total).toBe(32 * model.moe.topK);
    expect(r.expertLoad![0]).toEqual(counts.map((c) => expect.closeTo(c / total, 9)));
  });
});
