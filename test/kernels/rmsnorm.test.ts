// RMSNorm kernels: golden WGSL, each program in every row layout (lane with scalar and with vec4 rows, subgroup, tree; lane and
// tree for the weight gradient) against its CPU oracle on odd shapes (rows and dims not multiples of
// the workgroup sizes), the variant choice from explicit adapter caps, the forward's rstd feeding
// the weight gradient on the GPU, and both backward references against finite differences of the
// forward reference. Caps are built by hand so every layout runs on the test adapter.
import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import {
  rmsnormBackwardCase,
  rmsnormBackwardDwCase,
  rmsnormBackwardDwProgram,
  rmsnormGradLayout,
  rmsnormBackwardProgram,
  rmsnormBackwardReference,
  rmsnormCase,
  rmsnormProgram,
  rmsnormReference,
  rmsnormWeightGradCase,
  rmsnormWeightGradProgram,
  rmsnormWeightGradReference,
  normVariant,
  normColumnVariant,
  LANE_MAX_DIM,
  type NormVariant,
  type RmsnormParams,
} from '../../compiler/kernels/rmsnorm.ts';
import type { RowKernelCaps } from '../../base/caps.ts';
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
  { rows: 37, dim: 68, eps: 1e-5 },
];

// lavapipe: a CPU adapter with 8-wide subgroups; the test device must have subgroups.
const CPU: RowKernelCaps = { subgroups: true, subgroupMinSize: 8, cpuAdapter: true };
// A CPU adapter without subgroups, and a GPU.
const CPU_NO_SUBGROUPS: RowKernelCaps = { subgroups: false, subgroupMinSize: 4, cpuAdapter: true };
const GPU: RowKernelCaps = { subgroups: true, subgroupMinSize: 32, cpuAdapter: false };
// Plans 4 lanes per row; the adapter's wider subgroups then take several of the planned rows each.
const NARROW: RowKernelCaps = { subgroups: true, subgroupMinSize: 4, cpuAdapter: true };

const ROW_VARIANTS: readonly [NormVariant, RowKernelCaps][] = [
  ['lane', CPU],
  ['subgroup', CPU],
  ['tree', GPU],
];

describe('rmsnorm kernels', () => {
  for (const params of CASES) {
    const programs = [
      ...ROW_VARIANTS.flatMap(([variant, caps]) => [
        [rmsnormProgram(params, caps, variant), rmsnormCase(params, caps, variant)] as const,
        [rmsnormBackwardProgram(params, caps, variant), rmsnormBackwardCase(params, caps, variant)] as const,
        [rmsnormBackwardProgram({ ...params, addend: true }, caps, variant), rmsnormBackwardCase({ ...params, addend: true }, caps, variant)] as const,
      ]),
      ...(['lane', 'tree'] as const).map((variant) => [rmsnormWeightGradProgram(params, CPU, variant), rmsnormWeightGradCase(params, CPU, variant)] as const),
      ...[false, true].map((addend) => [rmsnormBackwardDwProgram({ ...params, addend }, CPU_NO_SUBGROUPS), rmsnormBackwardDwCase({ ...params, addend }, CPU_NO_SUBGROUPS)] as const),
      // and with subgroups: vec4 rows hand out w (and dw's rstd) by subgroupBroadcast (`_sg`)
      ...[false, true].map((addend) => [rmsnormBackwardDwProgram({ ...params, addend }, CPU), rmsnormBackwardDwCase({ ...params, addend }, CPU)] as const),
      // Rows of a multiple of 4 take the vec4 lane kernels by default (`_lane4`): the scalar ones too.
      ...(params.dim % 4 === 0
        ? [
            [rmsnormProgram(params, CPU, 'lane', false), rmsnormCase(params, CPU, 'lane', false)] as const,
            ...[false, true].flatMap((addend) => [
              [rmsnormBackwardProgram({ ...params, addend }, CPU, 'lane', false), rmsnormBackwardCase({ ...params, addend }, CPU, 'lane', false)] as const,
              [rmsnormBackwardDwProgram({ ...params, addend }, CPU_NO_SUBGROUPS, false), rmsnormBackwardDwCase({ ...params, addend }, CPU_NO_SUBGROUPS, false)] as const,
            ]),
          ]
        : []),
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

  it('a subgroup plan narrower than the adapter\'s subgroups still covers every row', async () => {
    const p: RmsnormParams = { rows: 45, dim: 33, eps: 1e-5 };
    for (const kcase of [rmsnormCase(p, NARROW, 'subgroup'), rmsnormBackwardCase(p, NARROW, 'subgroup')]) {
      expect(kcase.program.workgroupSize[0]).toBe(32);
      const result = await checkKernel(await testExecutor(), kcase, 5);
      expect(result.ok, result.report).toBe(true);
    }
  });

  it('a subgroup plan for wider subgroups than the adapter\'s stays within 256 invocations and covers every row', async () => {
    const wide: RowKernelCaps = { subgroups: true, subgroupMinSize: 64, cpuAdapter: true };
    const kcase = rmsnormCase({ rows: 45, dim: 33, eps: 1e-5 }, wide, 'subgroup');
    expect(kcase.program.workgroupSize[0]).toBe(256);
    expect(kcase.program.params.rowsPerGroup).toBe(4);
    const result = await checkKernel(await testExecutor(), kcase, 6);
    expect(result.ok, result.report).toBe(true);
  });

  it('chooses the layout from the adapter caps and the row length', () => {
    expect(normVariant(CPU, 64)).toBe('lane');
    expect(normVariant(CPU, 4096)).toBe('subgroup');
    expect(normVariant(CPU, LANE_MAX_DIM)).toBe('lane');
    expect(normVariant(CPU, LANE_MAX_DIM + 1)).toBe('subgroup');
    expect(normVariant(CPU_NO_SUBGROUPS, 4096)).toBe('lane');
    expect(normVariant(GPU, 64)).toBe('tree');
    expect(normColumnVariant(CPU)).toBe('lane');
    expect(normColumnVariant(GPU)).toBe('tree');
    expect(rmsnormProgram({ rows: 512, dim: 64, eps: 1e-5 }, CPU).label).toBe('rmsnorm_fwd_512x64_lane4_sg');
    expect(rmsnormProgram({ rows: 512, dim: 64, eps: 1e-5 }, CPU_NO_SUBGROUPS).label).toBe('rmsnorm_fwd_512x64_lane4');
    expect(rmsnormProgram({ rows: 512, dim: 64, eps: 1e-5 }, CPU, 'lane', false).label).toBe('rmsnorm_fwd_512x64_lane');
    expect(rmsnormProgram({ rows: 512, dim: 66, eps: 1e-5 }, CPU).label).toBe('rmsnorm_fwd_512x66_lane');
    expect(rmsnormProgram({ rows: 512, dim: 64, eps: 1e-5 }, GPU).label).toBe('rmsnorm_fwd_512x64');
    expect(() => rmsnormProgram({ rows: 2, dim: 3, eps: 1e-5 }, CPU_NO_SUBGROUPS, 'subgroup')).toThrow(/subgroups/);
  });

  it('the lane layout keeps several workgroups for few rows, at most 64 rows each', () => {
    expect(rmsnormProgram({ rows: 16, dim: 4, eps: 0 }, CPU_NO_SUBGROUPS).dispatch[0]).toBe(2);
    expect(rmsnormProgram({ rows: 512, dim: 64, eps: 0 }, CPU).workgroupSize[0]).toBe(64);
  });

  for (const [variant, caps] of ROW_VARIANTS) {
    it(`the forward rstd feeds the weight gradient kernel (${variant})`, async () => {
      const exec = await testExecutor();
      const p = CASES[1];
      const inputs = randomInputs(rmsnormBackwardProgram(p, caps, variant), 4);
      const { rstd } = await exec.run(rmsnormProgram(p, caps, variant), { x: inputs.x, w: inputs.w });
      const { dw } = await exec.run(rmsnormWeightGradProgram(p, caps), { dy: inputs.dy, x: inputs.x, rstd });
      const expected = rmsnormWeightGradReference(p, { dy: inputs.dy, x: inputs.x, rstd: rmsnormReference(p, inputs).rstd }).dw;
      expect(compareOutputs({ dw }, { dw: Float32Array.from(expected) }, { atol: 1e-4, rtol: 1e-4 }).mismatches).toEqual([]);
    });
  }

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

  it('the broadcast lane kernels give the per-lane kernels\' bits (same arithmetic in the same order)', async () => {
    const exec = await testExecutor();
    for (const p of CASES.filter((c) => c.dim % 4 === 0)) {
      const fwd = [rmsnormProgram(p, CPU, 'lane'), rmsnormProgram(p, CPU_NO_SUBGROUPS, 'lane')];
      expect(fwd.map((x) => x.params.broadcast)).toEqual([true, false]);
      const inputs = randomInputs(fwd[1], 3);
      const [a, b] = [await exec.run(fwd[0], inputs), await exec.run(fwd[1], inputs)];
      expect(Array.from(a.y)).toEqual(Array.from(b.y));
      expect(Array.from(a.rstd)).toEqual(Array.from(b.rstd));
      const bwd = [rmsnormBackwardDwProgram({ ...p, addend: true }, CPU), rmsnormBackwardDwProgram({ ...p, addend: true }, CPU_NO_SUBGROUPS)];
      expect(bwd.map((x) => x.params.broadcast)).toEqual([true, false]);
      const gin = randomInputs(bwd[1], 5);
      const [c, d] = [await exec.run(bwd[0], gin), await exec.run(bwd[1], gin)];
      expect(Array.from(c.dx)).toEqual(Array.from(d.dx));
      expect(Array.from(c.dw)).toEqual(Array.from(d.dw));
      expect(Array.from(c.dx).some((x) => x !== 0)).toBe(true);
    }
  });

  it('dx and dw share one dispatch where both take the lane layout (CPU adapters, short rows)', async () => {
    expect(rmsnormGradLayout(CPU, 64)).toBe('fused-lane');
    expect(rmsnormGradLayout(CPU_NO_SUBGROUPS, 4096)).toBe('fused-lane');
    expect(rmsnormGradLayout(CPU, LANE_MAX_DIM + 1)).toBe('separate');
    expect(rmsnormGradLayout(GPU, 64)).toBe('separate');
    // The demo's shape: dw's one column workgroup first, then 8 row workgroups of 64.
    const demo = rmsnormBackwardDwProgram({ rows: 512, dim: 64, eps: 1e-6 }, CPU);
    expect([demo.workgroupSize[0], demo.dispatch[0], demo.params.colGroups]).toEqual([64, 9, 1]);
    // Bitwise the two separate lane programs' results (same loops, same order).
    const p: RmsnormParams = { rows: 130, dim: 65, eps: 1e-6 };
    const exec = await testExecutor();
    const fused = rmsnormBackwardDwProgram({ ...p, addend: true }, CPU);
    const inputs = randomInputs(fused, 9);
    const both = await exec.run(fused, inputs);
    const dx = await exec.run(rmsnormBackwardProgram({ ...p, addend: true }, CPU, 'lane'), inputs);
    expect(Array.from(both.dx)).toEqual(Array.from(dx.dx));
    const dw = await exec.run(rmsnormWeightGradProgram(p, CPU, 'lane'), inputs);
    expect(Array.from(both.dw)).toEqual(Array.from(dw.dw));
    // A row of vec4s with scalar dx lanes: dw through the vec4 aliases of dy and x, bound to the same data.
    const q: RmsnormParams = { rows: 75, dim: 64, eps: 1e-6 };
    const fused4 = rmsnormBackwardDwProgram(q, CPU, false);
    expect(fused4.bindings.map((b) => `${b.name}${b.vec4 ? '4' : ''}`)).toEqual(['dy', 'x', 'w', 'rstd', 'dx', 'dy44', 'x44', 'dw4']);
    const in4 = randomInputs(fused4, 10);
    const out4 = await exec.run(fused4, { ...in4, dy4: in4.dy, x4: in4.x });
    expect(Array.from(out4.dx)).toEqual(Array.from((await exec.run(rmsnormBackwardProgram(q, CPU, 'lane', false), in4)).dx));
    expect(Array.from(out4.dw)).toEqual(Array.from((await exec.run(rmsnormWeightGradProgram(q, CPU, 'lane'), in4)).dw));
    // vec4 dx lanes (the default at dim % 4 == 0): every row binding vec4, no aliases; bitwise the vec4 lane programs.
    const row4 = rmsnormBackwardDwProgram({ ...q, addend: true }, CPU);
    expect(row4.bindings.map((b) => `${b.name}${b.vec4 ? '4' : ''}`)).toEqual(['dy4', 'x4', 'w4', 'addend4', 'rstd', 'dx4', 'dw4']);
    const inRow4 = randomInputs(row4, 11);
    const outRow4 = await exec.run(row4, inRow4);
    expect(Array.from(outRow4.dx)).toEqual(Array.from((await exec.run(rmsnormBackwardProgram({ ...q, addend: true }, CPU, 'lane'), inRow4)).dx));
    expect(Array.from(outRow4.dw)).toEqual(Array.from((await exec.run(rmsnormWeightGradProgram(q, CPU, 'lane'), inRow4)).dw));
    // and bitwise the scalar lanes' numbers: the vec4 loops sum component by component in the same order
    const scalarDx = (await exec.run(rmsnormBackwardProgram({ ...q, addend: true }, CPU, 'lane', false), inRow4)).dx;
    expect(Array.from(outRow4.dx)).toEqual(Array.from(scalarDx));
    const fwd = (laneVec4: boolean) => exec.run(rmsnormProgram(q, CPU, 'lane', laneVec4), inRow4);
    const [y4, y1] = [await fwd(true), await fwd(false)];
    expect([Array.from(y4.y), Array.from(y4.rstd)]).toEqual([Array.from(y1.y), Array.from(y1.rstd)]);
  });

  it('the addend variant is dx plus the addend, in every row layout', async () => {
    const p: RmsnormParams = { rows: 37, dim: 68, eps: 1e-5 };
    const exec = await testExecutor();
    for (const [variant, caps] of ROW_VARIANTS) {
      const program = rmsnormBackwardProgram({ ...p, addend: true }, caps, variant);
      expect(program.bindings.map((b) => b.name)).toEqual(['dy', 'x', 'w', 'addend', 'dx']);
      const inputs = randomInputs(program, 7);
      const plain = await exec.run(rmsnormBackwardProgram(p, caps, variant), { dy: inputs.dy, x: inputs.x, w: inputs.w });
      const summed = await exec.run(program, inputs);
      const expected = Float32Array.from(plain.dx, (v, i) => v + inputs.addend[i]);
      expect(compareOutputs({ dx: summed.dx }, { dx: expected }, { atol: 1e-6, rtol: 1e-6 }).mismatches).toEqual([]);
      expect(inputs.addend.some((v) => v !== 0)).toBe(true);
    }
  });

  it('rejects a negative eps', () => {
    expect(() => rmsnormProgram({ rows: 2, dim: 3, eps: -1 }, CPU)).toThrow(/eps/);
  });
});
