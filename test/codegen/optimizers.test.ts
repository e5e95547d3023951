// The optimizers besides AdamW through the whole compiler, on the device against the interpreter:
// `sgd(lr, momentum, weight_decay)` (torch.optim.SGD semantics, compiler/kernels/sgd.ts) in the
// slab path and, at a small binding limit, the per-param path; SGD with SD-MoE `project update`
// (the step mode feeding sd_project_update); and `adam(lr, betas, eps)`, which is AdamW with
// weight decay 0 (torch.optim.Adam without weight decay is that same update).
import { describe, expect, it } from 'vitest';
import { interpretGraph } from '../../compiler/ir/interpret.ts';
import { topoOrder } from '../../compiler/ir/graph.ts';
import { planGraph } from '../../compiler/codegen/plan.ts';
import { sgdOracle } from '../../compiler/kernels/sgd.ts';
import { ir } from '../../compiler/ir/build.ts';
import { graph } from '../../compiler/ir/graph.ts';
import type { ModelConfig, TrainConfig } from '../../compiler/config/types.ts';
import { lowerModel } from '../../compiler/lower/model.ts';
import { runPasses, TRAINING_PIPELINE } from '../../compiler/passes/registry.ts';
import { optimizerOptions } from '../../compiler/pipeline.ts';
import { checkGraphOnDevice } from '../../runtime/graph-check.ts';
import { Rng } from '../../base/rng.ts';
import { testExecutor } from '../support/gpu.ts';
import { orthonormalBases } from '../support/sd.ts';
import { tinyModel } from './models.ts';

const SHAPE = { batch: 2, seqLen: 8 };
const TOLERANCE = { atol: 1e-4, rtol: 1e-3 };

const train = (optimizer: Partial<TrainConfig['optimizer']>): TrainConfig =>
  ({ batch: 2, seqLen: 8, gradAccum: 1, clipGrad: 1, optimizer: { kind: 'adamw', lr: 0.05, betas: [0.9, 0.95], eps: 1e-8, weightDecay: 0.1, momentum: 0, ...optimizer } }) as TrainConfig;

const stepGraph = (model: ModelConfig, t: TrainConfig) => runPasses(lowerModel(model, SHAPE), TRAINING_PIPELINE, { optimizer: optimizerOptions(t, model) });

describe('optimizers on the device vs the interpreter', () => {
  it('the interpreter\'s sgd op and the kernel oracle agree (momentum, L2 decay, clip, step mode)', () => {
    const rng = new Rng(3);
    const n = 50;
    const rand = () => Float32Array.from({ length: n }, () => rng.nextFloat() * 2 - 1);
    const [p, g, b] = [rand(), rand(), rand()];
    for (const output of ['param', 'step'] as const) {
      const pv = ir.param('p', [n], { kind: 'zeros' }, 'w');
      const [p2, b2] = ir.sgd(pv, ir.input('g', 'f32', [n]), ir.param('b', [n], { kind: 'zeros' }, 'optimizer_state'), ir.input('lr', 'f32', []), ir.input('clip', 'f32', [2]), { momentum: 0.9, weightDecay: 0.02, output });
      const out = interpretGraph(graph('sgd', { p2, b2 }), { inputs: { g: Float64Array.from(g), lr: Float64Array.of(0.1), clip: Float64Array.of(0.5, 2) }, params: { p: Float64Array.from(p), b: Float64Array.from(b) } });
      const oracle = sgdOracle({ length: n, momentum: 0.9, weightDecay: 0.02, output })({ param: p, grad: g, momentum_buf: b, lr: [0.1], clip: [0.5] });
      const want = output === 'step' ? oracle.grad : oracle.param;
      for (let i = 0; i < n; i++) {
        expect(out.p2[i]).toBeCloseTo(want[i], 6);
        expect(out.b2[i]).toBeCloseTo(oracle.momentum_buf[i], 6);
      }
    }
  });

  it('sgd(momentum 0.9, weight_decay 0.01): whole training step, slab path', async () => {
    const g = stepGraph(tinyModel(), train({ kind: 'sgd', momentum: 0.9, weightDecay: 0.01 }));
    const ops = topoOrder(g).map((n) => n.op);
    expect(ops.filter((op) => op === 'sgd').length).toBeGreaterThan(10);
    expect(ops).not.toContain('adamw');
    const plan = planGraph(g, (await testExecutor()).ctx.caps);
    expect(plan.buffers.some((b) => b.name.endsWith('.momentum') && b.kind === 'slab')).toBe(true);
    expect(plan.inputs['optimizer.step']).toBeUndefined();
    const r = await checkGraphOnDevice(await testExecutor(), g, { seed: 31, intBound: 40, tolerance: TOLERANCE, fixedInputs: { 'optimizer.lr': Float32Array.of(0.05) } });
    expect(r.ok, r.report).toBe(true);
  });

  it('plain sgd (momentum 0) with per-param dispatches at a small binding limit', async () => {
    const g = stepGraph(tinyModel(), train({ kind: 'sgd', momentum: 0, weightDecay: 0 }));
    const limits = { maxStorageBufferBindingSize: 2 << 10 };
    const plan = planGraph(g, { ...(await testExecutor()).ctx.caps, ...limits });
    const perParam = plan.dispatches.filter((d) => d.op === 'sgd' && !plan.buffers[d.buffers[0]].view && plan.buffers[d.buffers[0]].kind === 'param');
    expect(perParam.length).toBeGreaterThan(0);
    const r = await checkGraphOnDevice(await testExecutor(), g, { seed: 32, intBound: 40, tolerance: TOLERANCE, fixedInputs: { 'optimizer.lr': Float32Array.of(0.1) }, planLimits: limits });
    expect(r.ok, r.report).toBe(true);
  });

  it('sgd with SD-MoE project update: the SGD step Δ = −lr·buf is projected onto W_c and W_u', async () => {
    const m = tinyModel({ spectral: true });
    const sd = { ...m, spectral: { ...m.spectral!, project: 'update' as const } };
    const g = stepGraph(sd, train({ kind: 'sgd', momentum: 0.9, weightDecay: 0.01 }));
    const ops = topoOrder(g).map((n) => n.op);
    expect(ops).toContain('sd_project_update');
    expect(topoOrder(g).some((n) => n.op === 'sgd' && n.attrs.output === 'step')).toBe(true);
    const r = await checkGraphOnDevice(await testExecutor(), g, { seed: 33, intBound: 40, tolerance: TOLERANCE, fixedInputs: { 'optimizer.lr': Float32Array.of(0.05) }, fixedParams: orthonormalBases(g, new Rng(12)) });
    expect(r.ok, r.report).toBe(true);
  });

  it('adam is AdamW with weight decay 0 everywhere, and trains', async () => {
    const g = stepGraph(tinyModel(), train({ kind: 'adam', weightDecay: 0 }));
    const adam = topoOrder(g).filter((n) => n.op === 'adamw');
    expect(adam.length).toBeGreaterThan(10);
    expect(adam.every((n) => n.op === 'adamw' && n.attrs.weightDecay === 0)).toBe(true);
    const withDecay = topoOrder(stepGraph(tinyModel(), train({ kind: 'adamw', weightDecay: 0.1 }))).filter((n) => n.op === 'adamw' && n.attrs.weightDecay > 0);
    expect(withDecay.length).toBeGreaterThan(0);
    const r = await checkGraphOnDevice(await testExecutor(), g, { seed: 34, intBound: 40, tolerance: TOLERANCE, fixedInputs: { 'optimizer.lr': Float32Array.of(1e-2), 'optimizer.step': Int32Array.of(2) } });
    expect(r.ok, r.report).toBe(true);
  });
});
