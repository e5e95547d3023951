// RoPE kernels, every variant (element; row, and row4 where head_dim/2 % 4 == 0) built from explicit caps so all run on lavapipe:
// golden WGSL, forward and backward against the CPU oracle (odd head counts and dims, token counts
// not a multiple of the workgroup, positions up to 255, positions restarting per sequence), in place,
// the backward reference against finite differences of the forward reference, and
// backward ∘ forward = identity on the GPU.
import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import type { RowKernelCaps } from '../../base/caps.ts';
import { ropeCase, ropeProgram, ropeReference, ropeVariant, type RopeParams } from '../../compiler/kernels/rope.ts';
import { checkKernel, compareOutputs, randomInputs } from '../../runtime/kernel-check.ts';
import { testExecutor } from '../support/gpu.ts';
import { expectGoldenWgsl } from '../support/golden.ts';
import { dot, numericGradient } from '../support/finite-diff.ts';

const GOLDEN_DIR = fileURLToPath(new URL('./golden/rope', import.meta.url));

const SHAPES: Omit<RopeParams, 'inverse'>[] = [
  { tokens: 21, seqLen: 7, heads: 5, headDim: 6, theta: 500000 },
  { tokens: 512, seqLen: 256, heads: 3, headDim: 64, theta: 10000 },
  { tokens: 1, seqLen: 1, heads: 1, headDim: 2, theta: 10000 },
  { tokens: 70, seqLen: 35, heads: 3, headDim: 10, theta: 10000 },
];

/** A GPU (element variant) and lavapipe (row variant). */
const ELEMENT: RowKernelCaps = { subgroups: false, subgroupMinSize: 0, cpuAdapter: false };
const ROW: RowKernelCaps = { subgroups: true, subgroupMinSize: 8, cpuAdapter: true };

describe('rope kernels', () => {
  it('picks a row variant on CPU adapters (row4 when head_dim/2 is a multiple of 4), one thread per element elsewhere', () => {
    expect([ELEMENT, ROW, { ...ROW, subgroups: false }].map((c) => ropeVariant(c))).toEqual(['element', 'row', 'row']);
    expect([ELEMENT, ROW, { ...ROW, subgroups: false }].map((c) => ropeVariant(c, 16))).toEqual(['element', 'row4', 'row4']);
    expect([6, 8, 12, 64].map((d) => ropeVariant(ROW, d))).toEqual(['row', 'row4', 'row', 'row4']);
    expect(() => ropeProgram({ ...SHAPES[0], inverse: false }, ROW, 'row4')).toThrow(/multiple of 4/);
  });

  for (const caps of [ELEMENT, ROW]) {
    for (const shape of SHAPES) {
      for (const inverse of [false, true]) {
        const params = { ...shape, inverse };
        const label = ropeProgram(params, caps).label;
        it(`${label} matches its golden WGSL`, () => {
          expectGoldenWgsl(GOLDEN_DIR, ropeProgram(params, caps));
        });
        it(`${label} matches the CPU oracle`, async () => {
          const result = await checkKernel(await testExecutor(), ropeCase(params, caps), 2);
          expect(result.ok, result.report).toBe(true);
        });
      }
    }

    for (const pair of [{ ...SHAPES[0], pairHeads: 2 }, { ...SHAPES[3], heads: 1, pairHeads: 3 }, { ...SHAPES[3], headDim: 16, pairHeads: 2 }]) {
      for (const inverse of [false, true]) {
        const params: RopeParams = { ...pair, inverse };
        const label = ropeProgram(params, caps).label;
        it(`${label} (a pair) matches its golden WGSL`, () => {
          expectGoldenWgsl(GOLDEN_DIR, ropeProgram(params, caps));
        });
        it(`${label} (a pair) matches the CPU oracle and rotates each tensor exactly as alone`, async () => {
          const exec = await testExecutor();
          const result = await checkKernel(exec, ropeCase(params, caps), 4);
          expect(result.ok, result.report).toBe(true);
          const inputs = randomInputs(ropeProgram(params, caps), 5);
          const both = await exec.run(ropeProgram(params, caps), inputs);
          const { pairHeads, ...single } = params;
          const first = await exec.run(ropeProgram(single, caps), { x: inputs.x });
          const second = await exec.run(ropeProgram({ ...single, heads: pairHeads! }, caps), { x: inputs.x2 });
          expect(Array.from(both.out)).toEqual(Array.from(first.out));
          expect(Array.from(both.out2)).toEqual(Array.from(second.out));
        });
      }
    }

    for (const headDim of [6, 8]) it(`rotates in place like it rotates out of place (${ropeVariant(caps, headDim)})`, async () => {
      const exec = await testExecutor();
      const params: RopeParams = { ...SHAPES[0], headDim, inverse: false, inPlace: true };
      const result = await checkKernel(exec, ropeCase(params, caps), 3);
      expect(result.ok, result.report).toBe(true);
      expectGoldenWgsl(GOLDEN_DIR, ropeProgram(params, caps));
      const x = randomInputs(ropeProgram(params, caps), 3).x;
      const outOfPlace = (await exec.run(ropeProgram({ ...params, inPlace: false }, caps), { x })).out;
      expect(Array.from((await exec.run(ropeProgram(params, caps), { x })).x)).toEqual(Array.from(outOfPlace));
    });

    it(`backward after forward is the identity on the GPU (${ropeVariant(caps, SHAPES[1].headDim)})`, async () => {
      const exec = await testExecutor();
      const shape = SHAPES[1];
      const x = randomInputs(ropeProgram({ ...shape, inverse: false }, caps), 8).x;
      const rotated = (await exec.run(ropeProgram({ ...shape, inverse: false }, caps), { x })).out;
      const back = (await exec.run(ropeProgram({ ...shape, inverse: true }, caps), { x: rotated })).out;
      expect(compareOutputs({ x: back }, { x }, { atol: 1e-5, rtol: 1e-5 }).mismatches).toEqual([]);
    });
  }

  it('backward reference equals finite differences of the forward reference', () => {
    const p: RopeParams = { tokens: 6, seqLen: 3, heads: 2, headDim: 4, theta: 100, inverse: false };
    const x = Float64Array.from({ length: 48 }, (_, i) => Math.sin(i * 0.9));
    const dOut = Float64Array.from({ length: 48 }, (_, i) => Math.cos(i * 1.1));
    const numeric = numericGradient((v) => dot(ropeReference(p, { x: v }).out, dOut), x);
    const analytic = ropeReference({ ...p, inverse: true }, { x: dOut }).out;
    for (let i = 0; i < x.length; i++) expect(analytic[i]).toBeCloseTo(numeric[i], 7);
  });

  it('rotates a pair out of place only', () => {
    expect(() => ropeProgram({ ...SHAPES[0], inverse: false, inPlace: true, pairHeads: 2 }, ROW)).toThrow(/out of place/);
  });

  it('rejects an odd head dimension', () => {
    expect(() => ropeProgram({ tokens: 2, seqLen: 2, heads: 1, headDim: 5, theta: 10000, inverse: false }, ROW)).toThrow(/even/);
  });
});
