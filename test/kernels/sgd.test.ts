// SGD kernel (PyTorch torch.optim.SGD semantics: L2 weight decay added to the clipped gradient,
// momentum buffer μ·buf + d, dampening 0, no nesterov): goldens and oracle agreement (uniform decay,
// per-segment decays in a packed slab, odd lengths, μ = 0, step mode), several chained steps on
// one pipeline, and the oracle against PyTorch's algorithm written out as torch/optim/sgd.py does
// it (the buffer starts as a copy of the first d, not at zero).
import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { sgdCase, sgdOracle, sgdProgram, type SgdParams } from '../../compiler/kernels/sgd.ts';
import { checkKernel, compareOutputs, randomInputs } from '../../runtime/kernel-check.ts';
import type { HostArray } from '../../runtime/executor.ts';
import { testExecutor } from '../support/gpu.ts';
import { expectGoldenWgsl } from '../support/golden.ts';

const GOLDEN_DIR = fileURLToPath(new URL('./golden/sgd', import.meta.url));

const CASES: SgdParams[] = [
  { length: 1000, momentum: 0.9, weightDecay: 0.01 },
  { length: 5, momentum: 0.9, weightDecay: 0 },
  { length: 1000, momentum: 0, weightDecay: 0.1 },
  {
    length: 1024,
    momentum: 0.8,
    weightDecay: [
      { start: 0, end: 512, weightDecay: 0.1 },
      { start: 512, end: 768, weightDecay: 0 },
      { start: 768, end: 1024, weightDecay: 0.02 },
    ],
  },
  { length: 777, momentum: 0.9, weightDecay: 0.01, output: 'step' },
  // several of the CPU layout's workgroups (64 × 16 vec4s each)
  { length: 70_004, momentum: 0.9, weightDecay: 0.01 },
];

describe('sgd kernel', () => {
  for (const caps of [undefined, { cpuAdapter: true }]) {
    for (const params of CASES) {
      const program = sgdProgram(params, caps);
      it(`${program.label} matches its golden WGSL`, () => expectGoldenWgsl(GOLDEN_DIR, program));
      it(`${program.label} matches the CPU oracle`, async () => {
        const result = await checkKernel(await testExecutor(), sgdCase(params, caps), 62);
        expect(result.ok, result.report).toBe(true);
      });
    }
  }

  it('chained steps on one pipeline follow PyTorch SGD (buffer = first d, then μ·buf + d)', async () => {
    const exec = await testExecutor();
    const p: SgdParams = { length: 777, momentum: 0.9, weightDecay: 0.05 };
    const program = sgdProgram(p);
    const start = randomInputs(program, 3);
    let gpu: Record<string, HostArray> = { ...start, momentum_buf: new Float32Array(p.length) };
    // torch/optim/sgd.py, _single_tensor_sgd, as plain arrays (float64)
    const torchParam = Float64Array.from(start.param);
    let torchBuf: Float64Array | null = null;
    const before = exec.pipelineCount;
    for (let step = 1; step <= 4; step++) {
      const schedule = { grad: randomInputs(program, 100 + step).grad, lr: Float32Array.of(0.05 * step), clip: Float32Array.of(1 / step) };
      gpu = { ...gpu, ...(await exec.run(program, { ...gpu, ...schedule })) };
      const dp = Float64Array.from(schedule.grad as Float32Array, (g: number, i: number) => g * schedule.clip[0] + (p.weightDecay as number) * torchParam[i] /* d_p = d_p.add(param, alpha=weight_decay) */);
      if (torchBuf === null) torchBuf = Float64Array.from(dp); // buf = torch.clone(d_p).detach()
      else for (let i = 0; i < p.length; i++) torchBuf[i] = p.momentum * torchBuf[i] + dp[i]; // buf.mul_(momentum).add_(d_p, alpha=1 - dampening)
      for (let i = 0; i < p.length; i++) torchParam[i] -= schedule.lr[0] * torchBuf[i]; // param.add_(d_p, alpha=-lr)
      expect(compareOutputs({ param: gpu.param, momentum_buf: gpu.momentum_buf }, { param: Float32Array.from(torchParam), momentum_buf: Float32Array.from(torchBuf) }, { atol: 1e-5, rtol: 1e-4 }).mismatches).toEqual([]);
    }
    expect(exec.pipelineCount - before).toBeLessThanOrEqual(1);
  });

  it('step mode writes p_new − p over the gradient and leaves the param alone', () => {
    const p: SgdParams = { length: 64, momentum: 0.9, weightDecay: 0.1 };
    const inputs = randomInputs(sgdProgram(p), 4);
    const applied = sgdOracle(p)(inputs);
    const stepped = sgdOracle({ ...p, output: 'step' })(inputs);
    expect(stepped.param).toBeUndefined();
    for (let i = 0; i < 64; i++) expect(inputs.param[i] + stepped.grad[i]).toBeCloseTo(applied.param[i], 6);
    expect(Array.from(stepped.momentum_buf)).toEqual(Array.from(applied.momentum_buf));
  });

  it('rejects momentum outside [0, 1) and segments that do not tile the buffer', () => {
    expect(() => sgdProgram({ ...CASES[0], momentum: 1 })).toThrow(/momentum/);
    expect(() => sgdProgram({ ...CASES[0], weightDecay: [{ start: 0, end: 10, weightDecay: 0 }] })).toThrow(/cover 10 of 1000/);
  });
});
