// RMSNorm kernels: golden WGSL, each program against its CPU oracle on odd shapes (rows and dims
// not multiples of the workgroup sizes), the forward's rstd feeding the weight gradient on the GPU,
// and both backward references against finite differences of the forward reference.
import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import {
  rmsnormBackwardCase,
  rmsnormBackwardProgram,
  rmsnormBackwardReference,
  rmsnormCase,
  rmsnormProgram,
  rmsnormReference,
  rmsnormWeightGradCase,
  rmsnormWeightGradProgram,
  rmsnormWeightGradReference,
  type RmsnormParams,
} from '../../compiler/kernels/rmsnorm.ts';
import { checkKernel, compareOutputs, randomInputs } from '../../runtime/kernel-check.ts';
import { testExecutor } from '../support/gpu.ts';
import { expectGoldenWgsl } from '../support/golden.ts';
import { dot, numericGradient } from '../support/finite-diff.ts';

const GOLDEN_DIR = fileURLToPath(new URL('./golden/rmsnorm', import.meta.url));

const CASES: RmsnormParams[] = [
  { rows: 7, dim: 129, eps: 1e-5 },
  { rows: 130, dim: 65, eps: 1e-6 },
  { rows: 3, dim: 1000, eps: 1e-5 },
  { rows: 1, dim: 1, eps: 0.5 },
];



describe('rmsnorm kernels', () => {
  for (const params of CASES) {
    const programs = [
      [rmsnormProgram(params), rmsnormCase(params)],
      [rmsnormBackwardProgram(params), rmsnormBackwardCase(params)],
      [rmsnormWeightGradProgram(params), rmsnormWeightGradCase(params)],
    ] as const;
    for (const [program, kcase] of programs) {
      it(`${program.label} matches its golden WGSL`, () => {
        expectGoldenWgsl(GOLDEN_DIR, program);
      });
      it(`${program.label} matches the CPU oracle`, async () => {
        const result = await checkKernel(await testExecutor(), kcase, 3);
        expect(result.ok, result.report).toBe(true);
      });
    }
  }

  it('the forward rstd feeds the weight gradient kernel', async () => {
    const exec = await testExecutor();
    const p = CASES[1];
    const inputs = randomInputs(rmsnormBackwardProgram(p), 4);
    const { rstd } = await exec.run(rmsnormProgram(p), { x: inputs.x, w: inputs.w });
    const { dw } = await exec.run(rmsnormWeightGradProgram(p), { dy: inputs.dy, x: inputs.x, rstd });
    const expected = rmsnormWeightGradReference(p, { dy: inputs.dy, x: inputs.x, rstd: rmsnormReference(p, inputs).rstd }).dw;
    expect(compareOutputs({ dw }, { dw: Float32Array.from(expected) }, { atol: 1e-4, rtol: 1e-4 }).mismatches).toEqual([]);
  });

  it('backward references equal finite differences of the forward reference', () => {
    const p: RmsnormParams = { rows: 3, dim: 5, eps: 1e-3 };
    const x = Float64Array.from({ length: 15 }, (_, i) => Math.sin(i * 1.3) * 2);
    const w = Float64Array.from({ length: 5 }, (_, i) => 0.5 + Math.cos(i));
    const dy = Float64Array.from({ length: 15 }, (_, i) => Math.cos(i * 0.7));
    const numericDx = numericGradient((v) => dot(rmsnormReference(p, { x: v, w }).y, dy), x);
    const numericDw = numericGradient((v) => dot(rmsnormReference(p, { x, w: v }).y, dy), w);
    const dx = rmsnormBackwardReference(p, { dy, x, w }).dx;
    const dw = rmsnormWeightGradReference(p, { dy, x, rstd: rmsnormReference(p, { x, w }).rstd }).dw;
    for (let i = 0; i < x.length; i++) expect(dx[i]).toBeCloseTo(numericDx[i], 6);
    for (let j = 0; j < w.length; j++) expect(dw[j]).toBeCloseTo(numericDw[j], 6);
  });

  it('rejects a negative eps', () => {
    expect(() => rmsnormProgram({ rows: 2, dim: 3, eps: -1 })).toThrow(/eps/);
  });
});
