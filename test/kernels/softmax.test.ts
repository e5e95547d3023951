// Softmax kernels (forward, log, backward): golden WGSL per configuration and numeric agreement
// with the float64 CPU oracle, on rows longer than the workgroup, rows of length 1, short rows
// packed per workgroup, and inputs around ±80 whose naive exp would overflow f32. Both layouts:
// lanes per row (GPUs) and an invocation per row (CPU adapters), caps built explicitly.
import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { softmaxCase, softmaxProgram, type SoftmaxParams } from '../../compiler/kernels/softmax.ts';
import type { InputFill } from '../../compiler/codegen/kernel.ts';
import { checkKernel, type KernelCase } from '../../runtime/kernel-check.ts';
import { testExecutor } from '../support/gpu.ts';
import { expectGoldenWgsl } from '../support/golden.ts';
import type { RowKernelCaps } from '../../base/caps.ts';

const VARIANTS: [string, RowKernelCaps][] = [
  ['lanes per row', { cpuAdapter: false, subgroups: true, subgroupMinSize: 8 }],
  ['invocation per row', { cpuAdapter: true, subgroups: true, subgroupMinSize: 8 }],
];

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
  { shape: [37, 68], log: true, backward: true },
  { shape: [45, 36] },
];

/** The same kernel checked on inputs from a wider range than the default [-1, 1). */
function withFill(kc: KernelCase, binding: string, fill: InputFill): KernelCase {
  return { ...kc, program: { ...kc.program, bindings: kc.program.bindings.map((b) => (b.name === binding ? { ...b, fill } : b)) } };
}

describe('softmax kernels', () => {
  for (const [variant, caps] of VARIANTS) {
    for (const params of CASES) {
      const label = softmaxProgram(params, caps).label;
      it(`${label} (${variant}) matches its golden WGSL`, () => {
        expectGoldenWgsl(GOLDEN_DIR, softmaxProgram(params, caps));
      });
      it(`${label} (${variant}) matches the CPU oracle`, async () => {
        const result = await checkKernel(await testExecutor(), softmaxCase(params, caps), 5);
        expect(result.ok, result.report).toBe(true);
      });
    }
  }

  for (const [variant, caps] of VARIANTS) for (const params of [{ shape: [4, 1000] }, { shape: [9, 37], log: true }] satisfies SoftmaxParams[]) {
    it(`${softmaxProgram(params, caps).label} (${variant}) stays finite and correct on inputs in [-80, 80)`, async () => {
      const exec = await testExecutor();
      const wide = withFill(softmaxCase(params, caps), 'x', { kind: 'float', lo: -80, hi: 80 });
      const result = await checkKernel(exec, wide, 9);
      expect(result.ok, result.report).toBe(true);
      // Also on rows whose values are all near +80, where exp without the max shift is inf.
      const high = withFill(softmaxCase(params, caps), 'x', { kind: 'float', lo: 79, hi: 81 });
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

  it('gives a CPU adapter an invocation per row, in vec4s when the row length allows', () => {
    const cpu = VARIANTS[1][1];
    const p = softmaxProgram({ shape: [300, 1000] }, cpu);
    expect(p.template).toBe('softmax_rows');
    expect(p.workgroupSize).toEqual([32, 1, 1]);
    expect(p.dispatch[0] * p.dispatch[1]).toBe(Math.ceil(300 / 32));
    expect(p.bindings.every((b) => b.vec4)).toBe(true);
    expect(softmaxProgram({ shape: [300, 1001] }, cpu).bindings.some((b) => b.vec4)).toBe(false);
  });

  it('rejects a scalar shape', () => {
    expect(() => softmaxProgram({ shape: [] })).toThrow(/at least one axis/);
  });
});
