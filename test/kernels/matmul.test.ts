// Matmul kernels: golden WGSL for every variant (subgroup, portable, rows), numeric agreement with the float64 CPU oracle on
// shapes that are not multiples of any tile (and some that are, to take the vec4 paths), in every
// transpose mode, batched with strides and broadcasting, with alpha and accumulation.
import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { matmulCase, matmulNormInKernel, matmulRopeInKernel, matmulOracle, matmulProgram, matmulTolerance, matmulVariant, matmulVariantFor, subgroupBroadcastPlan, subgroupTuningFor, SUBGROUP_TUNING, SUBGROUP_TUNING_CPU, type MatmulCaps, type MatmulParams, type MatmulVariant } from '../../compiler/kernels/matmul.ts';
import { checkKernel, randomInputs } from '../../runtime/kernel-check.ts';
import { ropeProgram } from '../../compiler/kernels/rope.ts';
import { rmsnormProgram } from '../../compiler/kernels/rmsnorm.ts';
import { testExecutor } from '../support/gpu.ts';
import { expectGoldenWgsl } from '../support/golden.ts';

const GOLDEN_DIR = fileURLToPath(new URL('./golden/matmul', import.meta.url));

// Goldens are rendered for fixed capabilities so they do not depend on the machine running them.
const LAVAPIPE_CAPS: MatmulCaps = { subgroups: true, subgroupMinSize: 8 };
const NO_SUBGROUPS: MatmulCaps = { subgroups: false, subgroupMinSize: 4 };
const CPU_ADAPTER: MatmulCaps = { subgroups: true, subgroupMinSize: 8, cpuAdapter: true };

const CASES: MatmulParams[] = [
  { M: 1, N: 1, K: 1 },
  { M: 17, N: 33, K: 65 },
  { M: 129, N: 5, K: 257 },
  { M: 17, N: 33, K: 65, batch: 3, transB: true },
  { M: 17, N: 33, K: 65, batch: 3, transA: true },
  { M: 17, N: 33, K: 65, batch: 3, transA: true, transB: true },
  // Multiples of 4: the vec4 load paths, in each transpose mode.
  { M: 36, N: 68, K: 20 },
  { M: 36, N: 68, K: 20, transB: true },
  { M: 36, N: 68, K: 20, transA: true },
  // A weight broadcast over the batch (stride 0), and padded batch entries.
  { M: 21, N: 12, K: 16, batch: 3, bBatchStride: 0 },
  { M: 7, N: 9, K: 11, batch: 2, aBatchStride: 0, bBatchStride: 120, cBatchStride: 70 },
  { M: 19, N: 13, K: 21, alpha: 0.5, accumulate: true },
  { M: 24, N: 40, K: 32, batch: 2, transA: true, alpha: -2, accumulate: true },
  // N a multiple of 4 but batch entries of c not on a 4-element boundary: no vec4 store.
  { M: 5, N: 8, K: 9, batch: 2, cBatchStride: 42 },
  // Skinny products like a router's (N = 4, the rows variant's size class on CPU adapters).
  { M: 70, N: 4, K: 64 },
  { M: 37, N: 4, K: 130, transA: true, accumulate: true },
  { M: 33, N: 3, K: 18, batch: 2, transB: true, alpha: 0.25 },
  // C = D + op(A)·op(B) with the addend in its own binding (a matmul_add whose addend lives on).
  { M: 19, N: 13, K: 21, alpha: 0.5, addend: true },
  { M: 36, N: 68, K: 20, transB: true, addend: true },
  { M: 70, N: 4, K: 64, addend: true },
];

async function deviceCaps(): Promise<MatmulCaps> {
  return (await testExecutor()).ctx.caps;
}

// `rows` twice: with subgroups (b handed out by subgroupBroadcast, `_sg`) and without (a CPU adapter without them).
const CPU_NO_SUBGROUPS: MatmulCaps = { ...CPU_ADAPTER, subgroups: false };
for (const [variant, goldenCaps] of [['subgroup', LAVAPIPE_CAPS], ['portable', NO_SUBGROUPS], ['rows', CPU_ADAPTER], ['rows', CPU_NO_SUBGROUPS]] as const) {
  describe(`matmul (${variant} variant${goldenCaps === CPU_NO_SUBGROUPS ? ', no subgroups' : ''})`, () => {
    for (const params of CASES) {
      const label = matmulProgram(params, goldenCaps, variant).label;
      it(`${label} matches its golden WGSL`, () => {
        const program = matmulProgram(params, goldenCaps, variant);
        expect(program.template).toBe(`matmul-${variant}`);
        expectGoldenWgsl(GOLDEN_DIR, program);
      });
      it(`${label} matches the float64 CPU oracle`, async () => {
        const caps = await deviceCaps();
        if (variant === 'subgroup' && matmulVariant(caps) !== 'subgroup') {
          // This device cannot run the subgroup variant; it must then never be chosen for it.
          expect(matmulProgram(params, caps).template).not.toBe('matmul-subgroup');
          return;
        }
        // both rows programs run on this device (it has subgroups): check the one the golden is of
        const result = await checkKernel(await testExecutor(), matmulCase(params, variant === 'rows' ? goldenCaps : caps, variant as MatmulVariant), 11);
        expect(result.ok, result.report).toBe(true);
      });
    }
  });
}

describe('matmul rows variant with subgroups', () => {
  it('gives the per-lane kernel\'s bits (b handed out by broadcast: same values, same arithmetic)', async () => {
    const exec = await testExecutor();
    for (const params of CASES.filter((p) => matmulVariantFor(CPU_ADAPTER, p) === 'rows')) {
      const [sg, plain] = [matmulProgram(params, CPU_ADAPTER, 'rows'), matmulProgram(params, CPU_NO_SUBGROUPS, 'rows')];
      expect([sg.label.endsWith('_sg'), plain.label.endsWith('_sg')]).toEqual([true, false]);
      const inputs = randomInputs(plain, 4);
      const [a, b] = [await exec.run(sg, inputs), await exec.run(plain, inputs)];
      expect(Array.from(a.c)).toEqual(Array.from(b.c));
      expect(Array.from(a.c).some((x) => x !== 0)).toBe(true);
    }
  });
});

describe('matmul variant choice and schedule', () => {
  it('follows the adapter: subgroups of 4, 8 or 16 lanes take the subgroup variant, others the portable one', () => {
    expect(matmulVariant({ subgroups: true, subgroupMinSize: 8 })).toBe('subgroup');
    expect(matmulVariant({ subgroups: true, subgroupMinSize: 32 })).toBe('portable');
    expect(matmulVariant({ subgroups: false, subgroupMinSize: 8 })).toBe('portable');
    expect(() => matmulProgram({ M: 2, N: 2, K: 2 }, NO_SUBGROUPS, 'subgroup')).toThrow(/needs subgroups/);
  });

  it('gives CPU adapters the rows variant for skinny N only, and never gives it to other adapters', () => {
    expect(matmulVariantFor(CPU_ADAPTER, { N: 4 })).toBe('rows');
    expect(matmulVariantFor(CPU_ADAPTER, { N: 1 })).toBe('rows');
    expect(matmulVariantFor(CPU_ADAPTER, { N: 8 })).toBe('rows');
    expect(matmulVariantFor(CPU_ADAPTER, { N: 9 })).toBe('subgroup');
    expect(matmulVariantFor({ ...CPU_ADAPTER, subgroups: false }, { N: 64 })).toBe('portable');
    expect(matmulVariantFor(LAVAPIPE_CAPS, { N: 4 })).toBe('subgroup');
    expect(matmulVariantFor({ ...LAVAPIPE_CAPS, cpuAdapter: false }, { N: 4 })).toBe('subgroup');
    expect(matmulVariantFor(NO_SUBGROUPS, { N: 4 })).toBe('portable');
    expect(matmulProgram({ M: 512, N: 4, K: 64 }, CPU_ADAPTER).template).toBe('matmul-rows');
  });

  it('gives CPU adapters 32 rows per lane, other adapters 16', () => {
    expect(subgroupTuningFor(CPU_ADAPTER)).toBe(SUBGROUP_TUNING_CPU);
    expect(subgroupTuningFor(LAVAPIPE_CAPS)).toBe(SUBGROUP_TUNING);
    expect(subgroupTuningFor({ ...CPU_ADAPTER, subgroupMinSize: 64 })).toBe(SUBGROUP_TUNING); // 32 rows do not split over 64 lanes
    for (const p of [{ M: 512, N: 1024, K: 64 }, { M: 64, N: 64, K: 512, transA: true }] as MatmulParams[]) {
      expect(matmulProgram(p, CPU_ADAPTER).label).toMatch(/_sg_r32$/);
      expect(matmulProgram(p, LAVAPIPE_CAPS).label).toMatch(/_sg$/);
    }
    expect(matmulProgram({ M: 512, N: 1024, K: 64 }, CPU_ADAPTER).dispatch).toEqual([16, 32, 1]);
    expect(matmulProgram({ M: 512, N: 1024, K: 64 }, LAVAPIPE_CAPS).dispatch).toEqual([32, 32, 1]);
  });

  it('matches its golden WGSL and the float64 oracle with 32 and 16 rows per lane (edges, transposes, batches, accumulation)', async () => {
    expectGoldenWgsl(GOLDEN_DIR, matmulProgram({ M: 512, N: 1024, K: 64 }, CPU_ADAPTER));
    const caps = await deviceCaps();
    if (matmulVariant(caps) !== 'subgroup' || SUBGROUP_TUNING_CPU.rows % caps.subgroupMinSize !== 0) return;
    const cases: MatmulParams[] = [
      { M: 70, N: 40, K: 33 },
      { M: 45, N: 68, K: 20, transA: true },
      { M: 64, N: 36, K: 70, transB: true },
      { M: 33, N: 33, K: 17, batch: 2, transA: true, transB: true, alpha: -2, accumulate: true },
    ];
    // Both tunings on this device: the CASES above run the one its caps choose.
    for (const tuning of [SUBGROUP_TUNING_CPU, SUBGROUP_TUNING]) {
      for (const p of cases) {
        const program = matmulProgram(p, caps, 'subgroup', tuning);
        expect(program.label.endsWith('_r32')).toBe(tuning.rows === 32);
        const result = await checkKernel(await testExecutor(), { program, oracle: matmulOracle(p), tolerance: matmulTolerance(p) }, 13);
        expect(result.ok, `${program.label}: ${result.report}`).toBe(true);
      }
    }
  });

  it('stores c as vec4 in the subgroup variant only when every row and batch entry of c is 4-aligned, K is short and c is not accumulated', () => {
    const cOf = (p: MatmulParams) => matmulProgram(p, LAVAPIPE_CAPS, 'subgroup').bindings.find((b) => b.name === 'c')!;
    expect(cOf({ M: 36, N: 68, K: 20 }).vec4).toBe(true);
    expect(cOf({ M: 36, N: 68, K: 20, accumulate: true }).vec4).toBeUndefined();
    expect(cOf({ M: 5, N: 8, K: 9, batch: 2, cBatchStride: 42 }).vec4).toBeUndefined();
    expect(cOf({ M: 17, N: 33, K: 65 }).vec4).toBeUndefined();
    expect(cOf({ M: 64, N: 1024, K: 512, transA: true }).vec4).toBeUndefined();
  });

  it('broadcast schedule covers every (row, k) of the A block exactly once', () => {
    for (const transA of [false, true]) {
      for (const lanes of [4, 8, 16]) {
        const seen = new Set<string>();
        for (const group of subgroupBroadcastPlan(lanes, 16, transA)) {
          for (const v of group.vectors) expect(v.lane).toBeLessThan(lanes);
          for (const t of group.terms) seen.add(`${t.acc}:${t.bk}`);
        }
        expect(seen.size).toBe(16 * 4);
      }
    }
  });

  it('a 4-lane schedule is correct too (a 4-invocation workgroup is one partial subgroup here)', async () => {
    const caps = await deviceCaps();
    const narrow: MatmulCaps = { subgroups: caps.subgroups, subgroupMinSize: 4 };
    const params: MatmulParams = { M: 33, N: 18, K: 23, batch: 2, transA: true };
    if (matmulVariant(caps) !== 'subgroup') {
      expect(matmulProgram(params, caps).template).toBe('matmul-portable');
      return;
    }
    const result = await checkKernel(await testExecutor(), matmulCase(params, narrow, 'subgroup'), 5);
    expect(result.ok, result.report).toBe(true);
  });

  it('rejects impossible parameters with a message naming them', () => {
    expect(() => matmulProgram({ M: 0, N: 2, K: 2 }, NO_SUBGROUPS)).toThrow(/M must be a positive integer/);
    expect(() => matmulProgram({ M: 4, N: 4, K: 4, batch: 2, cBatchStride: 3 }, NO_SUBGROUPS)).toThrow(/cBatchStride/);
  });
});

// fuse-matmul-rope: the product roped in the subgroup GEMM's epilogue (a shuffle to the partner lane).
describe('matmul with the forward rope in its epilogue', () => {
  const ROPED: MatmulParams[] = [
    // the demo's q/k/v batch: q and k roped, v not
    { M: 128, N: 64, K: 64, batch: 3, aBatchStride: 0, rope: { theta: 10000, headDim: 16, seqLen: 64, entries: 2 } },
    // qwen_tiny's head size, several sequences, K not a multiple of 4
    { M: 96, N: 128, K: 41, rope: { theta: 1e6, headDim: 32, seqLen: 48 } },
    // hd 8 (partner one lane away), rows not a multiple of the lane block
    { M: 40, N: 24, K: 20, rope: { theta: 100, headDim: 8, seqLen: 20 } },
  ];
  for (const params of ROPED) {
    const program = matmulProgram(params, CPU_ADAPTER);
    it(`${program.label} matches its golden WGSL and the CPU oracle (product, then the rope reference)`, async () => {
      expectGoldenWgsl(GOLDEN_DIR, program);
      const result = await checkKernel(await testExecutor(), matmulCase(params, CPU_ADAPTER), 5);
      expect(result.ok, result.report).toBe(true);
    });
  }

  it('gives the unfused pair\'s bits (the GEMM, then the rope kernel) at the demo\'s q projection', async () => {
    const exec = await testExecutor();
    const p: MatmulParams = { M: 512, N: 64, K: 64 };
    const plain = matmulProgram(p, CPU_ADAPTER);
    const fused = matmulProgram({ ...p, rope: { theta: 10000, headDim: 16, seqLen: 64 } }, CPU_ADAPTER);
    const inputs = randomInputs(plain, 3);
    const [a, b] = [await exec.run(plain, inputs), await exec.run(fused, inputs)];
    const rotated = (await exec.run(ropeProgram({ tokens: 512, seqLen: 64, heads: 4, headDim: 16, theta: 10000, inverse: false }, { cpuAdapter: true, subgroups: true, subgroupMinSize: 8 }), { x: a.c })).out;
    expect(Array.from(b.c)).toEqual(Array.from(rotated));
    expect(Array.from(b.c).some((x, i) => x !== a.c[i])).toBe(true);
  });

  it('ropes in the epilogue only where each lane\'s partner is in its tile, and refuses elsewhere', () => {
    const rope = (headDim: number) => ({ theta: 10000, headDim, seqLen: 8 });
    expect([8, 16, 32, 64, 12].map((hd) => matmulRopeInKernel({ N: 128, rope: rope(hd) }, CPU_ADAPTER))).toEqual([true, true, true, false, false]);
    expect(matmulRopeInKernel({ N: 64, rope: rope(16) }, NO_SUBGROUPS)).toBe(false);
    expect(matmulRopeInKernel({ N: 64, accumulate: true, rope: rope(16) }, CPU_ADAPTER)).toBe(false);
    expect(matmulRopeInKernel({ N: 4, rope: rope(4) }, CPU_ADAPTER)).toBe(false);
    expect(() => matmulProgram({ M: 8, N: 64, K: 8, rope: rope(64) }, CPU_ADAPTER)).toThrow(/cannot rope/);
    expect(() => matmulProgram({ M: 8, N: 64, K: 8, rope: rope(16) }, NO_SUBGROUPS)).toThrow(/cannot rope/);
  });
});

// matmul_add whose addend lives on (the residual stream): the GEMM reads it from binding d instead of
// a copy into c followed by an accumulating GEMM.
describe('matmul with a separate addend', () => {
  it('gives the bits of copy-then-accumulate at the demo\'s attention output projection, in every variant', async () => {
    const exec = await testExecutor();
    const p: MatmulParams = { M: 512, N: 64, K: 64 };
    for (const [variant, caps] of [['subgroup', CPU_ADAPTER], ['portable', NO_SUBGROUPS], ['rows', CPU_ADAPTER]] as const) {
      const accumulate = matmulProgram({ ...p, accumulate: true }, caps, variant);
      const addend = matmulProgram({ ...p, addend: true }, caps, variant);
      expect(addend.bindings.map((b) => b.name)).toEqual(['a', 'b', 'd', 'c']);
      const inputs = randomInputs(accumulate, 4);
      const want = await exec.run(accumulate, inputs);
      const got = await exec.run(addend, { a: inputs.a, b: inputs.b, d: inputs.c });
      expect(Array.from(got.c)).toEqual(Array.from(want.c));
      expect(Array.from(got.c).some((x, i) => x !== inputs.c[i])).toBe(true);
    }
  });

  it('refuses accumulate and addend together', () => {
    expect(() => matmulProgram({ M: 8, N: 8, K: 8, accumulate: true, addend: true }, CPU_ADAPTER)).toThrow(/exclusive/);
  });
});

// fuse-norm-matmul: the rows variant RMS-normalises A's rows in its prologue (the pre-MoE norm into the router logits).
describe('matmul with an rmsnorm of A in its prologue', () => {
  const params: MatmulParams = { M: 70, N: 4, K: 64, norm: { eps: 1e-6 } };
  for (const caps of [CPU_ADAPTER, CPU_NO_SUBGROUPS]) {
    it(`${matmulProgram(params, caps).label} matches its golden WGSL and the oracle (the rmsnorm reference, then the product of its f32 y)`, async () => {
      const program = matmulProgram(params, caps);
      expect(program.template).toBe('matmul-rows');
      expect(program.label).toBe(`matmul_nn_b1_70x4x64_rw_norm${caps.subgroups ? '_sg' : ''}`);
      expectGoldenWgsl(GOLDEN_DIR, program);
      const result = await checkKernel(await testExecutor(), matmulCase(params, caps), 3);
      expect(result.ok, result.report).toBe(true);
    });

    it(`gives the bits of the rmsnorm kernel followed by the product it replaces (${caps.subgroups ? 'b and w by broadcast' : 'per lane'})`, async () => {
      const exec = await testExecutor();
      for (const p of [params, { ...params, M: 33, N: 8, K: 64 }]) {
        const fused = matmulProgram(p, caps);
        const inputs = randomInputs(fused, 7);
        const normed = await exec.run(rmsnormProgram({ rows: p.M, dim: p.K, eps: 1e-6 }, caps as never), { x: inputs.a, w: inputs.norm_w });
        const product = await exec.run(matmulProgram({ M: p.M, N: p.N, K: p.K }, caps), { a: normed.y, b: inputs.b });
        const got = await exec.run(fused, inputs);
        expect(Array.from(got.norm_y)).toEqual(Array.from(normed.y));
        expect(Array.from(got.rstd)).toEqual(Array.from(normed.rstd));
        expect(Array.from(got.c)).toEqual(Array.from(product.c));
        expect(Array.from(got.c).some((v) => v !== 0) && Array.from(got.rstd).every((v) => v > 0)).toBe(true);
      }
    });
  }

  it('normalises in the kernel only for a plain skinny product with vec4 rows in the lane rmsnorm layout, and refuses elsewhere', () => {
    expect(matmulNormInKernel(params, CPU_ADAPTER)).toBe(true);
    expect(matmulNormInKernel({ ...params, N: 64 }, CPU_ADAPTER)).toBe(false); // not the rows variant
    expect(matmulNormInKernel({ ...params, K: 62 }, CPU_ADAPTER)).toBe(false); // rows not vec4s
    expect(matmulNormInKernel({ ...params, K: 128 }, CPU_ADAPTER)).toBe(false); // not the lane rmsnorm's size class
    expect(matmulNormInKernel({ ...params, transA: true }, CPU_ADAPTER)).toBe(false);
    expect(matmulNormInKernel({ ...params, accumulate: true }, CPU_ADAPTER)).toBe(false);
    expect(matmulNormInKernel({ ...params, batch: 2 }, CPU_ADAPTER)).toBe(false);
    expect(matmulNormInKernel(params, LAVAPIPE_CAPS)).toBe(false); // not a CPU adapter: the subgroup GEMM after the rmsnorm kernel
    expect(() => matmulProgram({ ...params, K: 62 }, CPU_ADAPTER)).toThrow(/cannot normalise/);
  });
});
