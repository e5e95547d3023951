// End to end through the compiler: lower a tiny model, run the pass pipeline, plan it, run every
// kernel on the device and compare every output (losses, gradient norm, updated params and Adam
// moments) with the CPU reference interpreter on the same params and tokens.
import { describe, expect, it } from 'vitest';
import { lowerModel } from '../../compiler/lower/model.ts';
import { cse } from '../../compiler/passes/cse.ts';
import { DEFAULT_OPTIMIZER } from '../../compiler/passes/optimizer.ts';
import { runPasses, TRAINING_PIPELINE } from '../../compiler/passes/registry.ts';
import { simplify } from '../../compiler/passes/simplify.ts';
import { topoOrder } from '../../compiler/ir/graph.ts';
import type { NodeOf } from '../../compiler/ir/types.ts';
import { checkGraphOnDevice } from '../../runtime/graph-check.ts';
import { testExecutor } from '../support/gpu.ts';
import { Rng } from '../../base/rng.ts';
import { columnsToRowMajor, orthonormalizeAgainst } from '../../runtime/sd/linalg.ts';
import { tinyModel } from './models.ts';

const SHAPE = { batch: 2, seqLen: 8 };
const TOLERANCE = { atol: 1e-4, rtol: 1e-3 };
const OPTIMIZER_INPUTS = { 'optimizer.lr': Float32Array.of(1e-2), 'optimizer.step': Int32Array.of(3) };

describe('compiled graphs on the device vs the interpreter', () => {
  it('dense tiny model, forward', async () => {
    const g = cse(simplify(lowerModel(tinyModel({ dense: true }), SHAPE)));
    const r = await checkGraphOnDevice(await testExecutor(), g, { seed: 3, intBound: 40, tolerance: TOLERANCE });
    expect(r.ok, r.report).toBe(true);
  });

  it('MoE tiny model (gated shared expert, aux losses), forward', async () => {
    const g = cse(simplify(lowerModel(tinyModel(), SHAPE)));
    const r = await checkGraphOnDevice(await testExecutor(), g, { seed: 4, intBound: 40, tolerance: TOLERANCE });
    expect(r.ok, r.report).toBe(true);
  });

  it('MoE tiny model with a capacity factor (dropped assignments), whole training step', async () => {
    const model = tinyModel();
    const dropping = { ...model, moe: { ...model.moe, capacity: { kind: 'factor' as const, factor: 0.6 } } };
    const g = runPasses(lowerModel(dropping, SHAPE), TRAINING_PIPELINE);
    const r = await checkGraphOnDevice(await testExecutor(), g, { seed: 6, intBound: 40, tolerance: TOLERANCE, fixedInputs: OPTIMIZER_INPUTS });
    expect(r.ok, r.report).toBe(true);
  });

  it('MoE tiny model, training step with optimizer slabs split at a small binding limit', async () => {
    const g = runPasses(lowerModel(tinyModel(), SHAPE), TRAINING_PIPELINE);
    const r = await checkGraphOnDevice(await testExecutor(), g, { seed: 7, intBound: 40, tolerance: TOLERANCE, fixedInputs: OPTIMIZER_INPUTS, planLimits: { maxStorageBufferBindingSize: 8 << 10 } });
    expect(r.ok, r.report).toBe(true);
  });

  // The CPU adapters' fused kernels (router backward in the combine backward, the norm backward in front of
  // it, the aux loss in the serial permutation, the router's input gradient in the un-permute) fall back to
  // their unfused kernels on other adapters: the GPU layouts run here too, planned as for a GPU.
  it('MoE tiny model, whole training step planned with the GPU layouts (the fusions\' unfused lowerings)', async () => {
    const g = runPasses(lowerModel(tinyModel(), SHAPE), TRAINING_PIPELINE);
    expect(topoOrder(g).some((n) => n.op === 'moe_dispatch' && n.attrs.aux !== undefined)).toBe(true);
    expect(topoOrder(g).some((n) => n.op === 'moe_combine_grad' && n.attrs.router !== undefined)).toBe(true);
    expect(topoOrder(g).filter((n) => n.op === 'moe_combine_grad' && n.attrs.normGrad !== undefined).map((n) => (n as NodeOf<'moe_combine_grad'>).attrs.normGrad?.addend)).toEqual([false, true]);
    const r = await checkGraphOnDevice(await testExecutor(), g, { seed: 8, intBound: 40, tolerance: TOLERANCE, fixedInputs: OPTIMIZER_INPUTS, planLimits: { cpuAdapter: false } });
    expect(r.ok, r.report).toBe(true);
  });

  it('MoE tiny model, whole training step (backward, clipping, AdamW)', async () => {
    const g = runPasses(lowerModel(tinyModel(), SHAPE), TRAINING_PIPELINE);
    const r = await checkGraphOnDevice(await testExecutor(), g, { seed: 5, intBound: 40, tolerance: TOLERANCE, fixedInputs: OPTIMIZER_INPUTS });
    expect(r.ok, r.report).toBe(true);
    expect(r.dispatches).toBeGreaterThan(50);
  });

  // Every norm and activation the language accepts, each in the routed experts, the gated shared
  // expert and a dense first layer, through a whole training step.
  const VARIANTS = [
    { norm: 'layernorm', activation: 'geglu' },
    { norm: 'layernorm', activation: 'gelu' },
    { norm: 'rmsnorm', activation: 'relu' },
    { norm: 'layernorm', activation: 'silu', spectral: true },
  ] as const;
  for (const [i, v] of VARIANTS.entries()) {
    it(`${v.norm} + ${v.activation}${'spectral' in v ? ' + SD (up, down)' : ''}: whole training step`, async () => {
      const model = tinyModel({ norm: v.norm, activation: v.activation, denseLayers: 1, spectral: 'spectral' in v });
      const g = runPasses(lowerModel(model, SHAPE), TRAINING_PIPELINE);
      const ops = new Set(topoOrder(g).map((n) => n.op));
      for (const op of v.norm === 'layernorm' ? ['layernorm', 'layernorm_grad'] : ['rmsnorm', 'rmsnorm_grad']) expect(ops).toContain(op);
      for (const op of v.activation === 'geglu' ? ['geglu', 'geglu_grad'] : ['activation', 'activation_grad']) expect(ops).toContain(op);
      expect(ops).not.toContain('swiglu');
      const r = await checkGraphOnDevice(await testExecutor(), g, { seed: 20 + i, intBound: 40, tolerance: TOLERANCE, fixedInputs: OPTIMIZER_INPUTS });
      expect(r.ok, r.report).toBe(true);
    });
  }

  // `project update` (AdamW's step split after the update, sd_project_update); rank 4 and 12 or 16
  // columns give CPU adapters its one-dispatch kernel (sd_project_fused).
  it('SD with project update (rank 4): whole training step', async () => {
    const m = tinyModel({ spectral: true });
    const model = { ...m, spectral: { ...m.spectral!, rank: 4, project: 'update' as const } };
    const g = runPasses(lowerModel(model, SHAPE), TRAINING_PIPELINE, { optimizer: { ...DEFAULT_OPTIMIZER, spectral: { project: 'update', resetEvery: 0 } } });
    expect(topoOrder(g).filter((n) => n.op === 'sd_project_update')).toHaveLength(6); // gate, up, down × 2 layers
    // Orthonormal bases, as training has them (initialised as zeros they would make the projection the identity).
    const rng = new Rng(31);
    const bases: Record<string, Float32Array> = {};
    for (const n of topoOrder(g)) {
      if (n.op !== 'param' || n.attrs.role?.kind !== 'sd' || !n.attrs.role.part.startsWith('basis')) continue;
      const [rows, rank] = n.attrs.shape;
      const cols = Array.from({ length: rank }, () => Float64Array.from({ length: rows }, () => rng.normal()));
      bases[n.attrs.name] = columnsToRowMajor(orthonormalizeAgainst([], cols), rows);
    }
    expect(Object.keys(bases)).toHaveLength(12);
    const r = await checkGraphOnDevice(await testExecutor(), g, { seed: 30, intBound: 40, tolerance: TOLERANCE, fixedInputs: OPTIMIZER_INPUTS, fixedParams: bases });
    expect(r.ok, r.report).toBe(true);
  });
});
