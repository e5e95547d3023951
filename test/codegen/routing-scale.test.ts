// Routing at real MoE scale, end to end: tiny-width models with DeepSeek-V3's routing (256 experts
// top-8, 8 groups of which 4 are eligible, sigmoid scores, routed scale, aux-loss-free bias),
// Qwen3-MoE's (128 top-8) and the paper's DeepSeek-shaped config (64 top-12) train a few steps on
// the device, every output of every step matching the CPU interpreter (each side carrying its own
// params, Adam moments and selection bias forward).
import { describe, expect, it } from 'vitest';
import type { ModelConfig, RouterConfig } from '../../compiler/config/types.ts';
import { interpretGraph, initParams } from '../../compiler/ir/interpret.ts';
import { lowerModel } from '../../compiler/lower/model.ts';
import { runPasses, TRAINING_PIPELINE } from '../../compiler/passes/registry.ts';
import { topoOrder } from '../../compiler/ir/graph.ts';
import { checkTrainingOnDevice } from '../../runtime/graph-check.ts';
import { testExecutor } from '../support/gpu.ts';
import { tinyModel } from './models.ts';

const SHAPE = { batch: 2, seqLen: 8 };
const TOLERANCE = { atol: 1e-4, rtol: 1e-3 };

function routed(experts: number, topK: number, router: Partial<RouterConfig>, layers = 1): ModelConfig {
  const base = tinyModel({ shared: false });
  return {
    ...base,
    name: `tiny_e${experts}_k${topK}`,
    layers,
    moe: { ...base.moe, experts, topK, expertHidden: 8, router: { ...base.moe.router, ...router } },
  };
}

const DEEPSEEK_V3 = routed(256, 8, { score: 'sigmoid', normalizeTopK: true, routedScale: 2.5, groups: 8, topGroups: 4, auxFreeBias: { rate: 0.01 }, auxLoss: null, zLoss: 0 }, 2);

describe('routing at real MoE scale, several training steps on the device vs the interpreter', () => {
  it('256 experts top-8, 8 groups top-4, aux-loss-free bias (DeepSeek-V3 routing)', async () => {
    const g = runPasses(lowerModel(DEEPSEEK_V3, SHAPE), TRAINING_PIPELINE);
    const biasUpdates = Object.keys(g.outputs).filter((k) => k.startsWith('update.') && k.endsWith('router_bias'));
    expect(biasUpdates).toHaveLength(2);
    const r = await checkTrainingOnDevice(await testExecutor(), g, { seed: 21, intBound: 40, tolerance: TOLERANCE, steps: 3, lr: 1e-2 });
    expect(r.ok, r.report).toBe(true);
  });

  it('128 experts top-8 (Qwen3-MoE routing)', async () => {
    const g = runPasses(lowerModel(routed(128, 8, { normalizeTopK: true }), SHAPE), TRAINING_PIPELINE);
    const r = await checkTrainingOnDevice(await testExecutor(), g, { seed: 22, intBound: 40, tolerance: TOLERANCE, steps: 3, lr: 1e-2 });
    expect(r.ok, r.report).toBe(true);
  });

  it('64 experts top-12 (the paper-scale DeepSeek-shaped config)', async () => {
    const g = runPasses(lowerModel(routed(64, 12, {}), SHAPE), TRAINING_PIPELINE);
    const r = await checkTrainingOnDevice(await testExecutor(), g, { seed: 23, intBound: 40, tolerance: TOLERANCE, steps: 3, lr: 1e-2 });
    expect(r.ok, r.report).toBe(true);
  });

  it('the bias moves towards balance, is not trained, and changes the choice but not the weights', () => {
    const g = runPasses(lowerModel(DEEPSEEK_V3, SHAPE), TRAINING_PIPELINE);
    const params = initParams(g, 5);
    const inputs = { tokens: Int32Array.from({ length: 16 }, (_, i) => (i * 7) % 40), targets: Int32Array.from({ length: 16 }, (_, i) => (i * 3) % 40), 'optimizer.lr': Float64Array.of(1e-2), 'optimizer.step': Int32Array.of(1) };
    const out = interpretGraph(g, { inputs, params });
    const bias = out['update.layers.0.moe.router_bias'];
    // 16 tokens × 8 = 128 assignments over 256 experts: mean load 0.5, so chosen experts go down
    // by the rate and the others up; nothing stays at zero.
    expect(Array.from(bias).every((b) => Math.abs(Math.abs(b) - 0.01) < 1e-12)).toBe(true);
    expect(Array.from(bias).filter((b) => b < 0).length).toBeGreaterThan(0);
    expect(Object.keys(g.outputs).some((k) => k.startsWith('grad.') && k.includes('router_bias'))).toBe(false);
    expect(Object.keys(g.outputs).some((k) => k.startsWith('state.') && k.includes('router_bias'))).toBe(false);
    // A large bias on one expert makes every token choose it, with an unchanged score as weight.
    const forward = lowerModel(DEEPSEEK_V3, SHAPE);
    const router = topoOrder(forward).find((n) => n.op === 'router')!;
    const probe = (b: Float64Array) => interpretGraph({ name: 'probe', outputs: { idx: { node: router, index: 0 }, w: { node: router, index: 1 } } }, { inputs, params: { ...params, 'layers.0.moe.router_bias': b } });
    const plain = probe(new Float64Array(256));
    const pushed = probe(Float64Array.from({ length: 256 }, (_, e) => (e === 37 ? 10 : 0)));
    for (let t = 0; t < 16; t++) expect(Array.from(pushed.idx.subarray(t * 8, t * 8 + 8))).toContain(37);
    expect(Array.from(plain.idx)).not.toEqual(Array.from(pushed.idx));
  });
});
