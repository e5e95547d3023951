// CompileOptions.withoutPasses (what bench/fusions.ts compares against): leaving out an optional
// fusion changes the program the planner gets, not what it computes, and only optional fusions can be
// left out.
import { describe, expect, it } from 'vitest';
import { compileTraining, OPTIONAL_FUSIONS } from '../../compiler/pipeline.ts';
import { topoOrder } from '../../compiler/ir/graph.ts';
import { InternalError } from '../../base/errors.ts';
import { tinyModel } from '../codegen/models.ts';
import type { DeviceCaps } from '../../base/caps.ts';
import { PLANNING_CAPS, TINY_TRAIN } from '../support/caps.ts';

const CAPS: DeviceCaps = { ...PLANNING_CAPS, cpuAdapter: true };
const TRAIN = TINY_TRAIN;

describe('compileTraining withoutPasses', () => {
  it('leaves the named fusions out of the step and evaluation programs', () => {
    const model = tinyModel();
    const full = compileTraining(model, TRAIN, CAPS);
    const without = compileTraining(model, TRAIN, CAPS, { withoutPasses: ['fuse-gather-grad-add', 'fuse-swiglu-gemm'] });
    const ops = (g: typeof full.step) => topoOrder(g).map((n) => n.op);
    // the tiny model's routed experts are SwiGLU: both fusions apply by default
    expect(ops(full.step)).toContain('grouped_matmul_swiglu');
    expect(ops(full.step)).toContain('grouped_matmul_grad_x_swiglu');
    // fuse-gather-grad-add's two-operand un-permute, then fuse-grad-x-add's sum in the up GEMM's epilogue
    const summed = (g: typeof full.step) => topoOrder(g).some((n) => n.op === 'grouped_matmul_grad_x' && n.attrs.addend === true);
    const twoOperands = (g: typeof full.step) => topoOrder(g).some((n) => n.op === 'moe_gather_grad' && n.inputs.length === (n.attrs.project ? 5 : 3));
    expect(summed(full.step)).toBe(true);
    expect(ops(full.evaluation)).toContain('grouped_matmul_swiglu');
    for (const g of [without.step, without.evaluation]) {
      expect(ops(g).filter((op) => op.endsWith('_swiglu'))).toEqual([]);
      expect(twoOperands(g) || summed(g)).toBe(false);
    }
    expect(without.stepPlan.dispatches.length).toBeGreaterThan(full.stepPlan.dispatches.length);
    expect(Object.keys(without.stepPlan.params).sort()).toEqual(Object.keys(full.stepPlan.params).sort());
  });

  it('refuses to leave out a pass that is not an optional fusion', () => {
    expect(OPTIONAL_FUSIONS).not.toContain('autodiff');
    expect(() => compileTraining(tinyModel(), TRAIN, CAPS, { withoutPasses: ['optimizer'] })).toThrow(InternalError);
  });
});
