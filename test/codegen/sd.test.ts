// SD-MoE on the device: the spectral gradient split (sd_split_grad: the three sd_split kernels, scalar and vec4) and
// the summed proxy weight in the grouped GEMMs, checked against the interpreter on a whole training
// step of a tiny SD model, with random orthonormal bases (zero bases would make the split trivial).
import { describe, expect, it } from 'vitest';
import { lowerModel } from '../../compiler/lower/model.ts';
import { runPasses, TRAINING_PIPELINE } from '../../compiler/passes/registry.ts';
import { checkGraphOnDevice } from '../../runtime/graph-check.ts';
import { Rng } from '../../base/rng.ts';
import { testExecutor } from '../support/gpu.ts';
import { orthonormalBases } from '../support/sd.ts';
import { tinyModel } from './models.ts';
import { planGraph } from '../../compiler/codegen/plan.ts';

describe('SD-MoE step on the device', () => {
  const variants = {
    'materialised proxies (default)': TRAINING_PIPELINE,
    'proxies summed in the grouped GEMM loads (fuse-expert-weight)': ['autodiff', 'simplify', 'cse', 'fuse-expert-weight', ...TRAINING_PIPELINE.slice(3)],
  };
  // Rank 2 runs the scalar split kernels; rank 8 the vec4 ones.
  const cases = [...Object.entries(variants).map(([v, p]) => [v, p, 2] as const), ['materialised proxies (default)', TRAINING_PIPELINE, 8] as const];
  for (const [variant, passes, rank] of cases) it(`matches the interpreter with ${variant}, rank ${rank}: projected expert gradients, AdamW on W_c and W_u`, async () => {
    const m = tinyModel({ spectral: true });
    const g = runPasses(lowerModel({ ...m, spectral: { ...m.spectral!, rank } }, { batch: 2, seqLen: 8 }), passes);
    const exec = await testExecutor();
    if (rank === 8 && exec.ctx.caps.cpuAdapter) {
      // CPU adapters run this shape's splits as batches (compiler/codegen/batches.ts): the step below checks them
      const labels = planGraph(g, exec.ctx.caps).dispatches.map((d) => d.program.label);
      expect(labels.filter((l) => /^sd_split_(ap|out_pc)_.*_b\d/.test(l)).length).toBeGreaterThanOrEqual(2);
    }
    const fixedParams = orthonormalBases(g, new Rng(11));
    expect(Object.keys(fixedParams)).toHaveLength(2 * 3 * 2); // U_k and V_k × gate/up/down × 2 layers
    const r = await checkGraphOnDevice(exec, g, {
      seed: 8,
      intBound: 40,
      tolerance: { atol: 1e-4, rtol: 1e-3 },
      fixedInputs: { 'optimizer.lr': Float32Array.of(1e-2), 'optimizer.step': Int32Array.of(2) },
      fixedParams,
    });
    expect(r.ok, r.report).toBe(true);
  });
});
