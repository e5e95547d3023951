// Reduction kernels: golden WGSL per configuration, and numeric agreement with the float64 CPU
// oracle on odd sizes (1, 3, 1000, 4097), every axis position, both strategies, keepDims, each for
// a GPU (tree layouts) and a CPU adapter (the lane layout where it applies); caps are built by hand
// so both run on the test adapter.
import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { reduceCase, reduceGeometry, reduceLane, reduceProgram, reduceStrategy, type ReduceParams } from '../../compiler/kernels/reduce.ts';
import type { RowKernelCaps } from '../../base/caps.ts';
import { checkKernel } from '../../runtime/kernel-check.ts';
import { testExecutor } from '../support/gpu.ts';
import { expectGoldenWgsl } from '../support/golden.ts';

const GOLDEN_DIR = fileURLToPath(new URL('./golden/reduce', import.meta.url));

const CASES: ReduceParams[] = [
  // row strategy: rows longer than the workgroup, one long row, short rows packed per workgroup
  { op: 'sum', shape: [3, 4097], axis: 1 },
  { op: 'max', shape: [4097], axis: 0 },
  { op: 'mean', shape: [7, 1000], axis: -1 },
  { op: 'sumsq', shape: [2, 5, 33], axis: 2, keepDims: true },
  { op: 'sum', shape: [1000, 3], axis: 1 },
  { op: 'max', shape: [300, 1], axis: 1 },
  { op: 'sum', shape: [1500, 70], axis: 1 },
  // strided strategy: axis first or in the middle
  { op: 'sum', shape: [1000, 3], axis: 0 },
  { op: 'max', shape: [5, 129, 7], axis: 1 },
  { op: 'mean', shape: [4, 1, 9], axis: 1, keepDims: true },
  { op: 'sumsq', shape: [17, 33, 65], axis: 0 },
  // strided with the axis split over workgroup y: few outputs, last workgroup partly empty
  { op: 'sum', shape: [300, 37], axis: 0 },
  { op: 'max', shape: [4097, 3], axis: 0 },
  // the same shapes forced through the other strategy
  { op: 'sum', shape: [3, 4097], axis: 1, strategy: 'strided' },
  { op: 'max', shape: [7, 1000], axis: 1, strategy: 'strided' },
];

const GPU: RowKernelCaps = { subgroups: false, subgroupMinSize: 32, cpuAdapter: false };
const CPU: RowKernelCaps = { subgroups: true, subgroupMinSize: 8, cpuAdapter: true };

describe('reduction kernels', () => {
  const seen = new Set<string>();
  for (const caps of [GPU, CPU]) {
    for (const params of CASES) {
      const label = reduceProgram(params, caps).label;
      // A CPU adapter keeps the tree layout for a few long reductions: the same program as the GPU's.
      if (seen.has(label)) continue;
      seen.add(label);
      it(`${label} matches its golden WGSL`, () => {
        expectGoldenWgsl(GOLDEN_DIR, reduceProgram(params, caps));
      });
      it(`${label} matches the CPU oracle`, async () => {
        const result = await checkKernel(await testExecutor(), reduceCase(params, caps), 11);
        expect(result.ok, result.report).toBe(true);
      });
    }
  }

  it('takes the lane layout on CPU adapters for short axes, and for long strided axes with many outputs', () => {
    expect(reduceLane(CPU, 'row', 512, 64)).toBe(true);
    expect(reduceLane(CPU, 'row', 3, 4097)).toBe(false);
    expect(reduceLane(CPU, 'row', 64, 100000)).toBe(false);
    expect(reduceLane(CPU, 'strided', 64, 100000)).toBe(true);
    expect(reduceLane(CPU, 'strided', 3, 4097)).toBe(false);
    expect(reduceLane(GPU, 'row', 512, 64)).toBe(false);
    const row = reduceProgram({ op: 'sum', shape: [1500, 70], axis: 1 }, CPU);
    expect(row.workgroupSize).toEqual([1, 64, 1]);
    expect(row.params.tree).toBe(false);
    const strided = reduceProgram({ op: 'sum', shape: [300, 37], axis: 0 }, CPU);
    expect(strided.workgroupSize).toEqual([64, 1, 1]);
    expect(strided.params.tree).toBe(false);
  });

  it('picks the row strategy exactly when the reduced axis is innermost', () => {
    expect(reduceStrategy({ op: 'sum', shape: [8, 5], axis: 1 })).toBe('row');
    expect(reduceStrategy({ op: 'sum', shape: [8, 5, 1], axis: 1 })).toBe('row');
    expect(reduceStrategy({ op: 'sum', shape: [8, 5], axis: 0 })).toBe('strided');
  });

  it('removes the axis from the output shape, or keeps it as 1', () => {
    expect(reduceGeometry({ op: 'sum', shape: [2, 3, 4], axis: 1 }).outShape).toEqual([2, 4]);
    expect(reduceGeometry({ op: 'sum', shape: [2, 3, 4], axis: -1, keepDims: true }).outShape).toEqual([2, 3, 1]);
    expect(reduceGeometry({ op: 'sum', shape: [5], axis: 0 }).outShape).toEqual([]);
  });

  it('rejects an axis outside the shape and a forced row strategy on a strided axis', () => {
    expect(() => reduceProgram({ op: 'sum', shape: [2, 3], axis: 2 }, GPU)).toThrow(/out of range/);
    expect(() => reduceProgram({ op: 'sum', shape: [2, 3], axis: 0, strategy: 'row' }, GPU)).toThrow(/innermost/);
  });

  it('gives rows few lanes when there are many rows, and a whole workgroup when there are few', () => {
    const many = reduceProgram({ op: 'sum', shape: [1000, 3], axis: 1 }, GPU);
    expect(many.workgroupSize).toEqual([1, 256, 1]);
    expect(many.dispatch).toEqual([4, 1, 1]);
    const few = reduceProgram({ op: 'sum', shape: [3, 4097], axis: 1 }, GPU);
    expect(few.workgroupSize).toEqual([256, 1, 1]);
    expect(few.dispatch).toEqual([3, 1, 1]);
    const manyLong = reduceProgram({ op: 'sum', shape: [1500, 70], axis: 1 }, GPU);
    expect(manyLong.workgroupSize[0]).toBeGreaterThan(1);
    expect(manyLong.workgroupSize[0] * manyLong.workgroupSize[1]).toBe(256);
  });

  it('splits a long axis over workgroup y only when the outputs are too few to fill the device', () => {
    const few = reduceProgram({ op: 'sum', shape: [4097, 3], axis: 0 }, GPU);
    expect(few.workgroupSize[1]).toBeGreaterThan(1);
    expect(few.params.tree).toBe(true);
    const many = reduceProgram({ op: 'sum', shape: [17, 33, 65], axis: 0 }, GPU);
    expect(many.workgroupSize).toEqual([256, 1, 1]);
    expect(many.params.tree).toBe(false);
  });
});
