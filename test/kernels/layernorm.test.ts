// LayerNorm kernels: golden WGSL, each program in every layout (lane, subgroup, tree; lane and tree
// for the parameter gradient) against its CPU oracle on odd shapes (rows and dims not multiples of
// the workgroup sizes), the forward's statistics feeding both backward programs on the GPU in every
// layout, rows with a large mean (where a one-pass E[x²] − mean² variance would cancel), and the
// backward references against finite differences of the forward reference. Caps are built by hand
// so every layout runs on the test adapter.
import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import {
  layernormBackwardCase,
  layernormBackwardProgram,
  layernormBackwardReference,
  layernormCase,
  layernormParamGradCase,
  layernormParamGradProgram,
  layernormParamGradReference,
  layernormProgram,
  layernormReference,
  type LayernormParams,
} from '../../compiler/kernels/layernorm.ts';
import type { NormVariant } from '../../compiler/kernels/rmsnorm.ts';
import type { RowKernelCaps } from '../../base/caps.ts';
import { checkKernel, compareOutputs, randomInputs } from '../../runtime/kernel-check.ts';
import { testExecutor } from '../support/gpu.ts';
import { expectGoldenWgsl } from '../support/golden.ts';
import { dot, numericGradient } from '../support/finite-diff.ts';

const GOLDEN_DIR = fileURLToPath(new URL('./golden/layernorm', import.meta.url));

const CASES: LayernormParams[] = [
  { rows: 7, dim: 129, eps: 1e-5 },
  { rows: 130, dim: 65, eps: 1e-6 },
  { rows: 3, dim: 1000, eps: 1e-5 },
  { rows: 2, dim: 1, eps: 0.5 },
  { rows: 37, dim: 68, eps: 1e-5 },
];

// lavapipe (a CPU adapter with 8-wide subgroups; the test device must have subgroups) and a GPU.
const CPU: RowKernelCaps = { subgroups: true, subgroupMinSize: 8, cpuAdapter: true };
const GPU: RowKernelCaps = { subgroups: true, subgroupMinSize: 32, cpuAdapter: false };
const ROW_VARIANTS: readonly [NormVariant, RowKernelCaps][] = [
  ['lane', CPU],
  ['subgroup', CPU],
  ['tree', GPU],
];

describe('layernorm kernels', () => {
  for (const params of CASES) {
    const programs = [
      ...ROW_VARIANTS.flatMap(([variant, caps]) => [
        [layernormProgram(params, caps, variant), layernormCase(params, caps, variant)] as const,
        [layernormBackwardProgram(params, caps, variant), layernormBackwardCase(params, caps, variant)] as const,
      ]),
      ...(['lane', 'tree'] as const).map((variant) => [layernormParamGradProgram(params, CPU, variant), layernormParamGradCase(params, CPU, variant)] as const),
    ];
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

  for (const [variant, caps] of ROW_VARIANTS) {
    it(`the forward statistics feed both backward kernels; rows with a large mean stay accurate (${variant})`, async () => {
      const exec = await testExecutor();
      const p = variant === 'subgroup' ? CASES[4] : CASES[1];
      const inputs = randomInputs(layernormBackwardProgram(p, caps, variant), 4);
      // Offset every row by 100: the centred second pass keeps the variance of values in [-1, 1).
      const x = Float32Array.from(inputs.x as Float32Array, (v, i) => v + 100 + (i % 3));
      const w = inputs.w as Float32Array;
      const b = Float32Array.from({ length: p.dim }, (_, j) => Math.sin(j));
      const fwd = await exec.run(layernormProgram(p, caps, variant), { x, w, b });
      const ref = layernormReference(p, { x, w, b });
      expect(compareOutputs({ y: fwd.y, mean: fwd.mean, rstd: fwd.rstd }, { y: Float32Array.from(ref.y), mean: Float32Array.from(ref.mean), rstd: Float32Array.from(ref.rstd) }, { atol: 1e-4, rtol: 1e-4 }).mismatches).toEqual([]);
      const stats = { mean: fwd.mean, rstd: fwd.rstd };
      const { dx } = await exec.run(layernormBackwardProgram(p, caps, variant), { dy: inputs.dy, x, w, ...stats });
      const { dw, db } = await exec.run(layernormParamGradProgram(p, caps), { dy: inputs.dy, x, ...stats });
      const refStats = { mean: ref.mean, rstd: ref.rstd };
      const wantDx = layernormBackwardReference(p, { dy: inputs.dy, x, w, ...refStats }).dx;
      const wantParams = layernormParamGradReference(p, { dy: inputs.dy, x, ...refStats });
      const got = { dx, dw, db };
      const want = { dx: Float32Array.from(wantDx), dw: Float32Array.from(wantParams.dw), db: Float32Array.from(wantParams.db) };
      expect(compareOutputs(got, want, { atol: 1e-3, rtol: 1e-3 }).mismatches).toEqual([]);
    });
  }

  it('backward references equal finite differences of the forward reference', () => {
    const p: LayernormParams = { rows: 3, dim: 5, eps: 1e-3 };
    const x = Float64Array.from({ length: 15 }, (_, i) => Math.sin(i * 1.3) * 2 + 0.3 * i);
    const w = Float64Array.from({ length: 5 }, (_, i) => 0.5 + Math.cos(i));
    const b = Float64Array.from({ length: 5 }, (_, i) => Math.sin(i * 2.1));
    const dy = Float64Array.from({ length: 15 }, (_, i) => Math.cos(i * 0.7));
    const loss = (inputs: { x: Float64Array; w: Float64Array; b: Float64Array }) => dot(layernormReference(p, inputs).y, dy);
    const numericDx = numericGradient((v) => loss({ x: v, w, b }), x);
    const numericDw = numericGradient((v) => loss({ x, w: v, b }), w);
    const numericDb = numericGradient((v) => loss({ x, w, b: v }), b);
    const { mean, rstd } = layernormReference(p, { x, w, b });
    const dx = layernormBackwardReference(p, { dy, x, w, mean, rstd }).dx;
    const { dw, db } = layernormParamGradReference(p, { dy, x, mean, rstd });
    for (let i = 0; i < x.length; i++) expect(dx[i]).toBeCloseTo(numericDx[i], 6);
    for (let j = 0; j < w.length; j++) {
      expect(dw[j]).toBeCloseTo(numericDw[j], 6);
      expect(db[j]).toBeCloseTo(numericDb[j], 6);
    }
    // The reference is not trivially zero: the gradients are of order one.
    expect(Math.max(...Array.from(dx, Math.abs))).toBeGreaterThan(0.1);
  });

  it('rejects a negative eps and empty shapes', () => {
    expect(() => layernormProgram({ rows: 2, dim: 3, eps: -1 }, CPU)).toThrow(/eps/);
    expect(() => layernormProgram({ rows: 0, dim: 3, eps: 1e-5 }, CPU)).toThrow(/positive integers/);
  });
});
