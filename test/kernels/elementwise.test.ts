// Elementwise kernels: golden WGSL per configuration, and numeric agreement with the CPU oracle on
// shapes that are not multiples of the workgroup size, with every broadcasting pattern, for both
// device layouts (CPU adapter: several vec4s per invocation; GPU: one vec4) built from explicit
// caps so both run here.
import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { elementwiseCase, elementwiseProgram, broadcastShapes, type ElementwiseCaps, type ElementwiseParams } from '../../compiler/kernels/elementwise.ts';
import { checkKernel } from '../../runtime/kernel-check.ts';
import { testExecutor } from '../support/gpu.ts';
import { expectGoldenWgsl } from '../support/golden.ts';

const GOLDEN_DIR = fileURLToPath(new URL('./golden/elementwise', import.meta.url));

const CASES: ElementwiseParams[] = [
  { op: 'silu', aShape: [3, 1000] },
  { op: 'exp', aShape: [257] },
  { op: 'log', aShape: [5, 7] },
  { op: 'rsqrt', aShape: [33] },
  { op: 'sigmoid', aShape: [2, 3, 5] },
  { op: 'add', aShape: [7, 129], bShape: [7, 129] },
  { op: 'mul', aShape: [7, 129], bShape: [129] },
  { op: 'sub', aShape: [7, 1], bShape: [1, 129] },
  { op: 'div', aShape: [2, 3, 17], bShape: [3, 1] },
  { op: 'max', aShape: [1], bShape: [4, 5] },
  // vec4 layout: counts that are multiples of 4 but not of a workgroup's span (253 vec4s; 3, under
  // one span; 600; 257; 1028), and a unary op whose WGSL needs a vector form (relu).
  { op: 'add', aShape: [11, 92], bShape: [11, 92] },
  { op: 'relu', aShape: [3, 4] },
  { op: 'copy', aShape: [600, 4] },
  { op: 'div', aShape: [257, 4], bShape: [257, 4] },
  { op: 'tanh', aShape: [4, 1028] },
];

const LAYOUTS: [string, ElementwiseCaps][] = [
  ['CPU adapter', { cpuAdapter: true }],
  ['GPU', { cpuAdapter: false }],
];

describe('elementwise kernels', () => {
  for (const params of CASES) {
    for (const [layout, caps] of LAYOUTS) {
      const label = `${elementwiseProgram(params, caps).label} (${layout})`;
      it(`${label} matches its golden WGSL`, () => {
        expectGoldenWgsl(GOLDEN_DIR, elementwiseProgram(params, caps));
      });
      it(`${label} matches the CPU oracle`, async () => {
        const result = await checkKernel(await testExecutor(), elementwiseCase(params, caps), 7);
        expect(result.ok, result.report).toBe(true);
      });
    }
  }

  it('takes the vec4 layout only for contiguous counts that are multiples of 4, and fattens invocations only on CPU adapters', () => {
    const cpu = elementwiseProgram({ op: 'add', aShape: [512, 64], bShape: [512, 64] }, { cpuAdapter: true });
    const gpu = elementwiseProgram({ op: 'add', aShape: [512, 64], bShape: [512, 64] }, { cpuAdapter: false });
    expect(cpu.bindings.every((b) => b.vec4 === true)).toBe(true);
    expect(cpu.workgroupSize[0] * (cpu.params.perLane as number) * 4 * cpu.dispatch[0]).toBeGreaterThanOrEqual(512 * 64);
    expect(cpu.params.perLane as number).toBeGreaterThan(1);
    expect(gpu.params.perLane).toBe(1);
    expect(elementwiseProgram({ op: 'add', aShape: [7, 129], bShape: [7, 129] }, { cpuAdapter: true }).params.vec4).toBe(false);
    expect(elementwiseProgram({ op: 'mul', aShape: [8, 4], bShape: [4] }, { cpuAdapter: true }).params.vec4).toBe(false);
  });

  it('broadcasts like NumPy and rejects incompatible shapes', () => {
    expect(broadcastShapes([7, 1], [1, 129])).toEqual([7, 129]);
    expect(broadcastShapes([3], [2, 1, 3])).toEqual([2, 1, 3]);
    expect(() => broadcastShapes([3], [4])).toThrow(/do not broadcast/);
  });
});

describe('elementwise broadcasting edge cases', () => {
  for (const params of [
    { op: 'sub', aShape: [], bShape: [16, 1] },
    { op: 'mul', aShape: [1, 5, 1], bShape: [3, 1, 1] },
    { op: 'add', aShape: [1], bShape: [1] },
  ] as ElementwiseParams[]) {
    it(`${elementwiseProgram(params).label} (size-1 and rank-0 operands) matches the CPU oracle`, async () => {
      const result = await checkKernel(await testExecutor(), elementwiseCase(params, { cpuAdapter: true }), 9);
      expect(result.ok, result.report).toBe(true);
    });
  }
});
