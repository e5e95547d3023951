// The chunked LM-head cross-entropy ops (lm_head_xent, _grad, _fused) in the reference interpreter:
// gradients wrt h and W (plain [D,V] and tied [V,D]) against central finite differences, with
// ignored targets and a loss scale; the fused op equals forward + gradient; and a model lowered
// with the chunked head gives the same loss and every gradient as the materialised matmul +
// cross_entropy path, untied and tied.
import { describe, expect, it } from 'vitest';
import { ir } from '../../compiler/ir/build.ts';
import { graph } from '../../compiler/ir/graph.ts';
import { interpretGraph, initParams } from '../../compiler/ir/interpret.ts';
import { lowerModel } from '../../compiler/lower/model.ts';
import { autodiff } from '../../compiler/passes/autodiff.ts';
import { runPasses } from '../../compiler/passes/registry.ts';
import { topoOrder } from '../../compiler/ir/graph.ts';
import { Rng } from '../../base/rng.ts';
import { checkGradients, randomFeeds } from './fd.ts';
import { tinyModel } from '../codegen/models.ts';

const TARGETS = Int32Array.from([3, -1, 0, 6, 2, -1, 5]);

function headGraph(transW: boolean, scale: number) {
  const h = ir.param('h', [7, 5], { kind: 'normal', std: 1 });
  const w = ir.param('w', transW ? [9, 5] : [5, 9], { kind: 'normal', std: 1 });
  const targets = ir.input('targets', 'i32', [7]);
  const [, mean] = ir.lmHeadXent(h, w, targets, transW);
  return graph('lm_head', { loss: ir.mul(mean, ir.constant(scale)) });
}

describe('lm_head_xent in the interpreter', () => {
  for (const transW of [false, true]) {
    it(`gradients wrt h and W match finite differences (${transW ? 'tied [V,D]' : '[D,V]'})`, () => {
      const g = headGraph(transW, 1.7);
      const feeds = randomFeeds(g, new Rng(`lm-head:${transW}`), { inputs: { targets: TARGETS } });
      const report = checkGradients(g, feeds);
      expect(report.params.sort()).toEqual(['h', 'w']);
      expect(report.checked).toBe(7 * 5 + 45);
      expect(report.mismatches).toEqual([]);
    });

    it(`the fused op is the forward plus its gradient (${transW ? 'tied' : 'untied'})`, () => {
      const g = headGraph(transW, 1);
      const feeds = randomFeeds(g, new Rng(`lm-head-fused:${transW}`), { inputs: { targets: TARGETS } });
      const fused = runPasses(g, ['autodiff', 'fuse-lm-head-xent']);
      expect(topoOrder(fused).filter((n) => n.op === 'lm_head_xent_fused')).toHaveLength(1);
      expect(topoOrder(fused).some((n) => n.op === 'lm_head_xent' || n.op === 'lm_head_xent_grad')).toBe(false);
      const a = interpretGraph(fused, feeds);
      const b = interpretGraph(autodiff(g), feeds);
      for (const k of ['loss', 'grad.h', 'grad.w']) {
        expect(a[k].length).toBeGreaterThan(0);
        a[k].forEach((v, i) => expect(v).toBeCloseTo(b[k][i], 12));
      }
    });
  }

  it('per-row losses are not differentiable (only their mean is)', () => {
    const [rows] = ir.lmHeadXent(ir.param('h', [2, 3], { kind: 'zeros' }), ir.param('w', [3, 4], { kind: 'zeros' }), ir.input('t', 'i32', [2]), false);
    expect(() => autodiff(graph('rows', { loss: ir.reduce('sum', rows, 0) }))).toThrow(/differentiate the mean/);
  });

  for (const tied of [false, true]) {
    it(`a model lowered with the chunked head trains like the materialised one (${tied ? 'tied' : 'untied'} embeddings)`, () => {
      const model = { ...tinyModel(), tieEmbeddings: tied };
      const shape = { batch: 2, seqLen: 8 };
      const chunked = runPasses(lowerModel(model, shape, { lmHead: 'chunked' }), ['autodiff', 'simplify', 'cse', 'fuse-cross-entropy', 'fuse-lm-head-xent']);
      const whole = runPasses(lowerModel(model, shape, { lmHead: 'whole' }), ['autodiff', 'simplify', 'cse', 'fuse-cross-entropy', 'fuse-lm-head-xent']);
      expect(topoOrder(chunked).some((n) => n.op === 'lm_head_xent_fused')).toBe(true);
      expect(topoOrder(whole).some((n) => n.op.startsWith('lm_head_xent'))).toBe(false);
      const rng = new Rng(`lm-head-model:${tied}`);
      const params = initParams(chunked, 5);
      const inputs = { tokens: Int32Array.from({ length: 16 }, () => rng.nextInt(40)), targets: Int32Array.from({ length: 16 }, (_, i) => (i % 5 === 4 ? -1 : rng.nextInt(40))) };
      const a = interpretGraph(chunked, { inputs, params });
      const b = interpretGraph(whole, { inputs, params });
      const grads = Object.keys(b).filter((k) => k.startsWith('grad.'));
      expect(grads).toContain('grad.embed');
      if (!tied) expect(grads).toContain('grad.lm_head');
      expect(Object.keys(a).sort()).toEqual(Object.keys(b).sort());
      for (const k of ['loss', 'ce_loss', 'ce_tokens', ...grads]) a[k].forEach((v, i) => expect(v).toBeCloseTo(b[k][i], 10));
    });
  }
});
