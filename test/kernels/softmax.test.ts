// Softmax kernels (forward, log, backward): golden WGSL per configuration and numeric agreement
// with the float64 CPU oracle, on rows longer than the workgroup, rows of length 1, short rows
// packed per workgroup, and inputs around ±80 whose naive exp would overflow f32.
import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { softmaxCase, softmaxProgram, type SoftmaxParams } from '../../compiler/kernels/softmax.ts';
import type { InputFill } from '../../compiler/codegen/kernel.ts';
import { checkKernel, type KernelCase } from '../../runtime/kernel-check.ts';
import { testExecutor } from '../support/gpu.ts';
import { expectGoldenWgsl } from '../support/golden.ts';

const GOLDEN_DIR = fileURLToPath(new URL('./golden/softmax', import.meta.url));

const CASES: SoftmaxParams[] = [
  { shape: [3, 1000] },
  { shape: [2, 4097], log: true },
  { shape: [5, 1] },
  { shape: [7, 1], log: true },
  { shape: [300, 3] },
  { shape: [2, 3, 129], log: true },
  { shape: [33] },
  { shape: [1500, 70], log: true },
  { shape: [3, 1000], backward: true },
  { shape: [2, 4097], log: true, backward: true },
  { shape: [5, 1], backward: true },
  { shape: [300, 3], log: true, backward: true },
  { shape: [17, 65], backward: true },
];

/** The same kernel checked on inputs from a wider range than the default [-1, 1). */
function withFill(kc: KernelCase, binding: string, fill: InputFill): KernelCase {
  return { ...kc, program: { ...kc.program, bindings: kc.program.bindings.map((b) => (b.name === binding ? { ...b, fill } : b)) } };
}

describe('softmax kernels', () => {
  for (const params of CASES) {
    const label = softmaxProgram(params).label;
    it(`${label} matches its golden WGSL`, () => {
      expectGoldenWgsl(GOLDEN_DIR, softmaxProgram(params));
    });
    it(`${label} matches the CPU oracle`, async () => {
      const result = await checkKernel(await testExecutor(), softmaxCase(params), 5);
      expect(result.ok, result.report).toBe(true);
    });
  }

  for (const params of [{ shape: [4, 1000] }, { shape: [9, 37], log: true }] satisfies SoftmaxParams[]) {
    it(`${softmaxProgram(params).label} stays finite and correct on inputs in [-80, 80)`, async () => {
      const exec = await testExecutor();
      const wide = withFill(softmaxCase(params), 'x', { kind: 'float', lo: -80, hi: 80 });
      const result = await checkKernel(exec, wide, 9);
      expect(result.ok, result.report).toBe(true);
      // Also on rows whose values are all near +80, where exp without the max shift is inf.
      const high = withFill(softmaxCase(params), 'x', { kind: 'float', lo: 79, hi: 81 });
      const highResult = await checkKernel(exec, high, 3);
      expect(highResult.ok, highResult.report).toBe(true);
    });
  }

  it('packs short rows into full workgroups and gives the few long rows many lanes each', () => {
    const short = softmaxProgram({ shape: [300, 3] });
    expect(short.workgroupSize).toEqual([1, 256, 1]);
    expect(short.dispatch[0] * short.dispatch[1]).toBe(Math.ceil(300 / 256));
    const long = softmaxProgram({ shape: [2, 4097] });
    expect(long.workgroupSize).toEqual([256, 1, 1]);
    expect(long.dispatch).toEqual([2, 1, 1]);
  });

  it('rejects a scalar shape', () => {
    expect(() => softmaxProgram({ shape: [] })).toThrow(/at least one axis/);
  });
});
