// The chunked LM head on the device against the reference interpreter. The op alone (h, W,
// targets → loss, dh, dW; W untied [D,V] and tied [V,D]) planned for a binding limit that splits
// its 160 rows of logits into chunks of 64, 64 and 32 rows (row views into h, targets, losses and
// dh; dW accumulated over the chunks), as the fused training op, as the unfused gradient op
// (which recomputes the logits) and as the forward-only evaluation op; the plan holds no buffer of the whole logits. Then a tiny model lowered with the
// chunked head, whole training step (clipping, AdamW) and evaluation, untied and tied.
import { describe, expect, it } from 'vitest';
import { ir } from '../../compiler/ir/build.ts';
import { graph } from '../../compiler/ir/graph.ts';
import { lowerModel } from '../../compiler/lower/model.ts';
import { planGraph } from '../../compiler/codegen/plan.ts';
import { EVALUATION_PIPELINE, runPasses, TRAINING_PIPELINE } from '../../compiler/passes/registry.ts';
import { checkGraphOnDevice } from '../../runtime/graph-check.ts';
import { testExecutor } from '../support/gpu.ts';
import { lmHeadXentProgram } from '../../compiler/kernels/lm-head-xent.ts';
import { tinyModel } from './models.ts';

const T = 160;
const D = 24;
const VOCAB = 40;
const LIMIT = { maxStorageBufferBindingSize: 64 * VOCAB * 4 };
const TOLERANCE = { atol: 1e-4, rtol: 1e-3 };
const OPTIMIZER_INPUTS = { 'optimizer.lr': Float32Array.of(1e-2), 'optimizer.step': Int32Array.of(3) };

function headGraph(transW: boolean) {
  const h = ir.param('h', [T, D], { kind: 'normal', std: 1 });
  const w = ir.param('w', transW ? [VOCAB, D] : [D, VOCAB], { kind: 'normal', std: 0.5 });
  const [rows, mean] = ir.lmHeadXent(h, w, ir.input('targets', 'i32', [T]), transW);
  return graph('lm_head', { loss: ir.mul(mean, ir.constant(1.5)), rows });
}

describe('chunked LM head on the device vs the interpreter', () => {
  for (const transW of [false, true]) {
    it(`loss, dh and dW in three chunks (${transW ? 'tied [V,D]' : '[D,V]'})`, async () => {
      const g = runPasses(headGraph(transW), ['autodiff', 'simplify', 'cse', 'fuse-lm-head-xent']);
      const exec = await testExecutor();
      const plan = planGraph(g, { ...exec.ctx.caps, ...LIMIT });
      const xent = plan.dispatches.filter((d) => d.program.label.startsWith('lm_head_xent_grad_')).map((d) => d.program.label);
      const chunk = (rows: number) => lmHeadXentProgram({ rows, vocab: VOCAB, withGrad: true }, exec.ctx.caps).label;
      expect(xent).toEqual([chunk(64), chunk(64), chunk(32)]);
      expect(Math.max(...plan.buffers.filter((b) => b.kind === 'activation' && !b.view).map((b) => b.bytes))).toBeLessThan(T * VOCAB * 4);
      // every ninth row ignored (target −1), in every chunk
      const targets = Int32Array.from({ length: T }, (_, t) => (t % 9 === 0 ? -1 : (t * 7) % VOCAB));
      const r = await checkGraphOnDevice(exec, g, { seed: 8, intBound: VOCAB, tolerance: TOLERANCE, planLimits: LIMIT, fixedInputs: { targets } });
      expect(r.ok, r.report).toBe(true);
    });

    it(`unfused gradient op (logits recomputed) in three chunks (${transW ? 'tied' : 'untied'})`, async () => {
      const g = runPasses(headGraph(transW), ['autodiff', 'simplify', 'cse']);
      const exec = await testExecutor();
      const plan = planGraph(g, { ...exec.ctx.caps, ...LIMIT });
      expect(plan.dispatches.filter((d) => d.op === 'lm_head_xent_grad' && d.program.label.startsWith('lm_head_xent_grad_'))).toHaveLength(3);
      const targets = Int32Array.from({ length: T }, (_, t) => (t % 7 === 0 ? -1 : (t * 3) % VOCAB));
      const r = await checkGraphOnDevice(exec, g, { seed: 10, intBound: VOCAB, tolerance: TOLERANCE, planLimits: LIMIT, fixedInputs: { targets } });
      expect(r.ok, r.report).toBe(true);
    });

    it(`evaluation op in three chunks (${transW ? 'tied' : 'untied'})`, async () => {
      const g = runPasses(headGraph(transW), EVALUATION_PIPELINE);
      const r = await checkGraphOnDevice(await testExecutor(), g, { seed: 9, intBound: VOCAB, tolerance: TOLERANCE, planLimits: LIMIT });
      expect(r.ok, r.report).toBe(true);
      expect(r.dispatches).toBe(3 * 2 + 2);
    });
  }

  for (const tied of [false, true]) {
    it(`tiny model with the chunked head: training step and evaluation, ${tied ? 'tied' : 'untied'} embeddings`, async () => {
      const model = { ...tinyModel(), tieEmbeddings: tied };
      const shape = { batch: 2, seqLen: 8 };
      const exec = await testExecutor();
      const step = runPasses(lowerModel(model, shape, { lmHead: 'chunked' }), TRAINING_PIPELINE);
      const r = await checkGraphOnDevice(exec, step, { seed: 5, intBound: VOCAB, tolerance: TOLERANCE, fixedInputs: OPTIMIZER_INPUTS });
      expect(r.ok, r.report).toBe(true);
      const evaluation = runPasses(lowerModel(model, shape, { lmHead: 'chunked' }), EVALUATION_PIPELINE);
      const e = await checkGraphOnDevice(exec, evaluation, { seed: 6, intBound: VOCAB, tolerance: TOLERANCE });
      expect(e.ok, e.report).toBe(true);
    });
  }
});
