// Aux-loss kernel: goldens and oracle agreement (balance only, with z-loss, with global-batch
// accumulation, with the global batch's counts given), the balanced-routing fixed point (loss = coef), and finite-difference checks of
// the oracle's gradients (d_probs broadcast over tokens, d_logits_z). Both workgroup widths (CPU
// adapters 8 lanes, GPUs 256) run on any adapter, chosen by the caps below.
import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { auxLossCase, auxLossOracle, auxLossProgram, auxLossWorkgroup, type AuxLossParams } from '../../compiler/kernels/aux-loss.ts';
import type { RowKernelCaps } from '../../base/caps.ts';
import { checkKernel, randomInputs } from '../../runtime/kernel-check.ts';
import { testExecutor } from '../support/gpu.ts';
import { expectGoldenWgsl } from '../support/golden.ts';

const GOLDEN_DIR = fileURLToPath(new URL('./golden/aux_loss', import.meta.url));

const CASES: AuxLossParams[] = [
  { tokens: 37, experts: 8, topK: 2, balanceCoef: 0.01, zLossCoef: 0, accumulate: false },
  { tokens: 300, experts: 64, topK: 6, balanceCoef: 0.001, zLossCoef: 0.001, accumulate: false },
  { tokens: 50, experts: 6, topK: 2, balanceCoef: 0.01, zLossCoef: 0.01, accumulate: true },
  // scope = global with grad_accum > 1: f_e from the whole step's counts, not this micro-batch's
  { tokens: 40, experts: 8, topK: 2, balanceCoef: 0.01, zLossCoef: 0, accumulate: false, givenCounts: true },
  // DeepSeek-V3 (256 experts top-8: one lane per expert) and past the workgroup (lanes own columns).
  { tokens: 90, experts: 256, topK: 8, balanceCoef: 0.001, zLossCoef: 0.001, accumulate: false },
  { tokens: 20, experts: 2048, topK: 16, balanceCoef: 0.01, zLossCoef: 0, accumulate: false },
];

const CPU: RowKernelCaps = { subgroups: true, subgroupMinSize: 8, cpuAdapter: true };
const GPU: RowKernelCaps = { subgroups: false, subgroupMinSize: 0, cpuAdapter: false };

describe('aux loss kernel', () => {
  it('an addend needs the total loss', () => {
    expect(() => auxLossProgram({ ...CASES[0], addend: true }, CPU)).toThrow(/addend needs the total/);
  });

  it('CPU adapters get one SIMD chunk of lanes, GPUs a wide workgroup', () => {
    expect([auxLossWorkgroup(CPU), auxLossWorkgroup(GPU)]).toEqual([8, 256]);
  });

  for (const caps of [CPU, GPU]) for (const params of CASES) {
    const program = auxLossProgram(params, caps);
    it(`${program.label} matches its golden WGSL`, () => expectGoldenWgsl(GOLDEN_DIR, program));
    it(`${program.label} matches the CPU oracle`, async () => {
      const result = await checkKernel(await testExecutor(), auxLossCase(params, caps), 41);
      expect(result.ok, result.report).toBe(true);
    });
  }

  // The IR's aux_loss / aux_loss_grad / fused aux_loss nodes: the summed loss and d_x, both kinds.
  const FUSED: AuxLossParams[] = [
    { tokens: 37, experts: 8, topK: 2, balanceCoef: 0.01, zLossCoef: 0, accumulate: false, total: true },
    { tokens: 37, experts: 8, topK: 2, balanceCoef: 0.01, zLossCoef: 0, accumulate: false, grad: true },
    { tokens: 45, experts: 6, topK: 2, balanceCoef: 0.01, zLossCoef: 0, accumulate: false, givenCounts: true, total: true, grad: true },
    { tokens: 33, experts: 5, topK: 3, balanceCoef: 0, zLossCoef: 0.01, accumulate: false, total: true, grad: true },
    { tokens: 20, experts: 300, topK: 4, balanceCoef: 0.01, zLossCoef: 0, accumulate: false, total: true, grad: true },
    // fuse-aux-loss-sum: also the running total loss
    { tokens: 37, experts: 8, topK: 2, balanceCoef: 0.01, zLossCoef: 0, accumulate: false, total: true, grad: true, addend: true },
    { tokens: 33, experts: 5, topK: 3, balanceCoef: 0, zLossCoef: 0.01, accumulate: false, givenCounts: false, total: true, grad: true, addend: true },
  ];
  for (const caps of [CPU, GPU]) for (const params of FUSED) {
    const program = auxLossProgram(params, caps);
    it(`${program.label} matches its golden WGSL`, () => expectGoldenWgsl(GOLDEN_DIR, program));
    it(`${program.label} matches the CPU oracle`, async () => {
      const result = await checkKernel(await testExecutor(), auxLossCase(params, caps), 43);
      expect(result.ok, result.report).toBe(true);
    });
  }

  it('the summed loss and d_x are the plain outputs combined (same kernel, both widths)', async () => {
    const p: AuxLossParams = { tokens: 29, experts: 8, topK: 2, balanceCoef: 0.02, zLossCoef: 0, accumulate: false };
    for (const caps of [CPU, GPU]) {
      const fused = auxLossProgram({ ...p, total: true, grad: true }, caps);
      const inputs = randomInputs(fused, 5);
      const plain = await (await testExecutor()).run(auxLossProgram(p, caps), inputs);
      const out = await (await testExecutor()).run(fused, inputs);
      expect(out.loss_total[0]).toBe(Math.fround(plain.loss[0] + plain.loss[1]));
      const summed = await (await testExecutor()).run(auxLossProgram({ ...p, total: true, grad: true, addend: true }, caps), { ...inputs, loss_addend: Float32Array.of(2.5) });
      expect(summed.loss_sum[0]).toBe(Math.fround(2.5 + out.loss_total[0]));
      expect(Array.from(out.d_x)).toEqual(Array.from({ length: p.tokens * p.experts }, (_, i) => Math.fround(inputs.d_loss[0] * plain.d_probs[i % p.experts])));
    }
  });

  it('equals the coefficient for perfectly balanced routing and uniform probabilities', async () => {
    const p = { ...CASES[0], tokens: 36 };
    const inputs = {
      probs: new Float32Array(p.tokens * p.experts).fill(1 / p.experts),
      topk_idx: Int32Array.from({ length: p.tokens * p.topK }, (_, a) => a % p.experts),
    };
    for (const caps of [CPU, GPU]) {
      const out = await (await testExecutor()).run(auxLossProgram(p, caps), inputs);
      expect(out.loss[0]).toBeCloseTo(p.balanceCoef, 6);
      expect(Array.from(out.stats_counts)).toEqual(new Array(8).fill(9));
    }
  });

  it('oracle gradients match finite differences', () => {
    const p: AuxLossParams = { tokens: 3, experts: 4, topK: 2, balanceCoef: 0.5, zLossCoef: 0.3, accumulate: false };
    const inputs = randomInputs(auxLossProgram(p, GPU), 7);
    const oracle = auxLossOracle(p);
    const grads = oracle(inputs);
    const h = 1e-4;
    for (const [name, lossIndex] of [['probs', 0], ['logits', 1]] as const) {
      const base = Float64Array.from(inputs[name]);
      for (let i = 0; i < base.length; i++) {
        const plus = Float64Array.from(base);
        const minus = Float64Array.from(base);
        plus[i] += h;
        minus[i] -= h;
        const numeric = (oracle({ ...inputs, [name]: plus }).loss[lossIndex] - oracle({ ...inputs, [name]: minus }).loss[lossIndex]) / (2 * h);
        const analytic = name === 'probs' ? grads.d_probs[i % p.experts] : grads.d_logits_z[i];
        expect(Math.abs(analytic - numeric), `d_${name}[${i}]`).toBeLessThan(2e-3);
      }
    }
  });
});
