// AdamW kernel: goldens and oracle agreement (uniform decay, per-segment decays in a packed arena,
// odd lengths), one pipeline serving successive steps with lr/step/clip changed on the device side,
// and agreement of several chained steps with the oracle. Variants: `resetEvery` (bias correction
// restarted with the moments, SD-MoE `moments reset`) and step mode (Δ written over the gradient,
// SD-MoE `project update`). Every case in the GPU layout (one vector per invocation) and the CPU
// adapters' (64 invocations × 16 vectors), plus a slab of several CPU workgroups with decay segments.
import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { adamwCase, adamwOracle, adamwProgram, type AdamWParams } from '../../compiler/kernels/adamw.ts';
import { checkKernel, compareOutputs, randomInputs } from '../../runtime/kernel-check.ts';
import type { HostArray } from '../../runtime/executor.ts';
import { testExecutor } from '../support/gpu.ts';
import { expectGoldenWgsl } from '../support/golden.ts';

const GOLDEN_DIR = fileURLToPath(new URL('./golden/adamw', import.meta.url));

const CASES: AdamWParams[] = [
  { length: 1000, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1 },
  { length: 5, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1 },
  {
    length: 1024,
    beta1: 0.9,
    beta2: 0.95,
    eps: 1e-8,
    weightDecay: [
      { start: 0, end: 512, weightDecay: 0.1 },
      { start: 512, end: 768, weightDecay: 0 },
      { start: 768, end: 1024, weightDecay: 0.02 },
    ],
  },
  {
    length: 777,
    beta1: 0.9,
    beta2: 0.999,
    eps: 1e-8,
    weightDecay: [
      { start: 0, end: 500, weightDecay: 0.1 },
      { start: 500, end: 533, weightDecay: 0 },
      { start: 533, end: 777, weightDecay: 0.05 },
    ],
  },
  { length: 1000, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, resetEvery: 16 },
  { length: 1000, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, output: 'step' },
  { length: 5, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, output: 'step', resetEvery: 8 },
  {
    length: 70_004,
    beta1: 0.9,
    beta2: 0.95,
    eps: 1e-8,
    weightDecay: [
      { start: 0, end: 40_000, weightDecay: 0.1 },
      { start: 40_000, end: 40_064, weightDecay: 0 },
      { start: 40_064, end: 70_004, weightDecay: 0.1 },
    ],
  },
];

describe('adamw kernel', () => {
  for (const caps of [undefined, { cpuAdapter: true }]) {
    for (const params of CASES) {
      const program = adamwProgram(params, caps);
      it(`${program.label} matches its golden WGSL`, () => expectGoldenWgsl(GOLDEN_DIR, program));
      it(`${program.label} matches the CPU oracle`, async () => {
        const result = await checkKernel(await testExecutor(), adamwCase(params, caps), 61);
        expect(result.ok, result.report).toBe(true);
      });
    }
  }

  it('serves successive steps from one pipeline with schedule values changed in buffers', async () => {
    const exec = await testExecutor();
    const p = CASES.find((c) => c.length === 777)!;
    const program = adamwProgram(p);
    const before = exec.pipelineCount;
    let gpu: Record<string, HostArray> = { ...randomInputs(program, 3), m: new Float32Array(p.length), v: new Float32Array(p.length) };
    let cpu: Record<string, HostArray> = gpu;
    for (let step = 1; step <= 4; step++) {
      const schedule = { grad: randomInputs(program, 100 + step).grad, lr: Float32Array.of(1e-3 * step), step: Uint32Array.of(step), clip: Float32Array.of(1 / step) };
      const gpuOut = await exec.run(program, { ...gpu, ...schedule });
      const cpuOut = adamwOracle(p)({ ...cpu, ...schedule });
      expect(compareOutputs(gpuOut, cpuOut, { atol: 1e-6, rtol: 1e-5 }).mismatches).toEqual([]);
      gpu = { ...gpu, ...gpuOut };
      cpu = { ...cpu, ...cpuOut };
    }
    expect(exec.pipelineCount - before).toBeLessThanOrEqual(1);
  });

  it('moments reset: the first update after a reset is a fresh Adam step (ratio 1, not (1−β1)/√(1−β2) ≈ 0.45)', async () => {
    // Moments zeroed after step 32 (N = 16), so step 33 is the first of a new period. A fresh Adam
    // step on zero moments moves every weight by −lr·g/(|g| + eps) besides the decay.
    const exec = await testExecutor();
    const base: AdamWParams = { length: 256, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1 };
    const program = adamwProgram({ ...base, resetEvery: 16 });
    const inputs: Record<string, HostArray> = { ...randomInputs(program, 9), m: new Float32Array(256), v: new Float32Array(256), lr: Float32Array.of(1e-3), step: Uint32Array.of(33), clip: Float32Array.of(1) };
    const ratios = (param: ArrayLike<number>) =>
      Array.from(param, (p, i) => (p - inputs.param[i] * (1 - 1e-3 * 0.1)) / (-1e-3 * Math.sign(inputs.grad[i])));
    const device = ratios((await exec.run(program, inputs)).param);
    const oracle = ratios(adamwOracle({ ...base, resetEvery: 16 })(inputs).param);
    for (const r of [...device, ...oracle]) expect(r).toBeCloseTo(1, 3);
    // Control: the global step's bias correction shrinks that first step to ≈ 0.45.
    const global = ratios((await exec.run(adamwProgram(base), inputs)).param);
    for (const r of global) expect(r).toBeCloseTo((0.1 / (1 - 0.9 ** 33)) * Math.sqrt((1 - 0.95 ** 33) / 0.05), 3);
    expect(global[0]).toBeLessThan(0.5);
  });

  it('step mode writes p_new − p over the gradient and leaves the param alone', () => {
    const p: AdamWParams = { length: 64, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1 };
    const inputs = randomInputs(adamwProgram(p), 4);
    const applied = adamwOracle(p)(inputs);
    const stepped = adamwOracle({ ...p, output: 'step' })(inputs);
    expect(stepped.param).toBeUndefined();
    for (let i = 0; i < 64; i++) expect(inputs.param[i] + stepped.grad[i]).toBeCloseTo(applied.param[i], 6);
    expect(Array.from(stepped.m)).toEqual(Array.from(applied.m));
  });

  it('rejects segments that do not tile the buffer', () => {
    expect(() => adamwProgram({ ...CASES[0], weightDecay: [{ start: 0, end: 10, weightDecay: 0 }] })).toThrow(/cover 10 of 1000/);
    expect(() => adamwProgram({ ...CASES[0], weightDecay: [{ start: 5, end: 1000, weightDecay: 0 }] })).toThrow(/contiguous/);
  });
});
