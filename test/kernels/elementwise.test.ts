// Elementwise kernels: golden WGSL per configuration, and numeric agreement with the CPU oracle on
// shapes that are not multiples of the workgroup size, with every broadcasting pattern.
import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { elementwiseCase, elementwiseProgram, broadcastShapes, type ElementwiseParams } from '../../compiler/kernels/elementwise.ts';
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
];

describe('elementwise kernels', () => {
  for (const params of CASES) {
    const label = elementwiseProgram(params).label;
    it(`${label} matches its golden WGSL`, () => {
      expectGoldenWgsl(GOLDEN_DIR, elementwiseProgram(params));
    });
    it(`${label} matches the CPU oracle`, async () => {
      const result = await checkKernel(await testExecutor(), elementwiseCase(params), 7);
      expect(result.ok, result.report).toBe(true);
    });
  }

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
      const result = await checkKernel(await testExecutor(), elementwiseCase(params), 9);
      expect(result.ok, result.report).toBe(true);
    });
  }
});
