// Embedding kernels: golden WGSL, each program against its CPU oracle on odd shapes (ids include
// out-of-range values), the sort + backward pair against a direct scatter-add on the GPU (repeated
// ids across several sort tiles, and mostly-empty vocabularies), run-to-run determinism, and the
// gradient reference against finite differences of the forward reference. Every variant runs on
// any adapter: the caps below pick the CPU (`rows`, serial sort) and GPU (`parallel`) variants.
import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import {
  embeddingNormInKernel,
  embeddingSortInKernel,
  embeddingBackwardCase,
  embeddingBackwardProgram,
  embeddingCase,
  embeddingGradReference,
  embeddingProgram,
  embeddingReference,
  embeddingSortCase,
  embeddingSortProgram,
  embeddingVariant,
  type EmbeddingParams,
} from '../../compiler/kernels/embedding.ts';
import type { RowKernelCaps } from '../../base/caps.ts';
import { rmsnormProgram } from '../../compiler/kernels/rmsnorm.ts';
import { checkKernel, compareOutputs, randomInputs } from '../../runtime/kernel-check.ts';
import { testExecutor } from '../support/gpu.ts';
import { expectGoldenWgsl } from '../support/golden.ts';
import { dot, numericGradient } from '../support/finite-diff.ts';

const GOLDEN_DIR = fileURLToPath(new URL('./golden/embedding', import.meta.url));

const CASES: EmbeddingParams[] = [
  { tokens: 300, vocab: 37, dim: 19 },
  { tokens: 5, vocab: 1000, dim: 3 },
  { tokens: 1, vocab: 1, dim: 1 },
  { tokens: 70, vocab: 33, dim: 12 },
];

const CAPS: readonly (readonly [string, RowKernelCaps])[] = [
  ['cpu adapter', { subgroups: true, subgroupMinSize: 8, cpuAdapter: true }],
  ['gpu', { subgroups: false, subgroupMinSize: 0, cpuAdapter: false }],
];

describe('embedding kernels', () => {
  it('CPU adapters get the rows variant, GPUs the parallel one', () => {
    expect(embeddingVariant(CAPS[0][1])).toBe('rows');
    expect(embeddingVariant(CAPS[1][1])).toBe('parallel');
  });

  for (const [capsName, caps] of CAPS) for (const params of CASES) {
    const programs = [
      [embeddingProgram(params, caps), embeddingCase(params, caps)],
      [embeddingSortProgram(params, caps), embeddingSortCase(params, caps)],
      [embeddingBackwardProgram(params, caps), embeddingBackwardCase(params, caps)],
    ] as const;
    for (const [program, kcase] of programs) {
      it(`${program.label} matches its golden WGSL`, () => {
        expectGoldenWgsl(GOLDEN_DIR, program);
      });
      it(`${program.label} matches the CPU oracle`, async () => {
        const result = await checkKernel(await testExecutor(), kcase, 5);
        expect(result.ok, result.report).toBe(true);
      });
    }

    it(`sort then backward equals a direct scatter-add (${params.tokens}x${params.vocab}x${params.dim}, ${capsName}), deterministically`, async () => {
      const exec = await testExecutor();
      const backward = embeddingBackwardProgram(params, caps);
      const inputs = randomInputs(embeddingProgram(params, caps), 9);
      const dOut = randomInputs(backward, 10).dOut;
      const runOnce = async () => {
        const sorted = await exec.run(embeddingSortProgram(params, caps), { ids: inputs.ids });
        return (await exec.run(backward, { dOut, sortedTokens: sorted.sortedTokens, rowStart: sorted.rowStart })).dTable;
      };
      const first = await runOnce();
      const expected = Float32Array.from(embeddingGradReference(params, { ids: inputs.ids, dOut }).dTable);
      const { mismatches } = compareOutputs({ dTable: first }, { dTable: expected }, { atol: 1e-5, rtol: 1e-5 });
      expect(mismatches).toEqual([]);
      expect(Array.from(await runOnce())).toEqual(Array.from(first));
    });
  }

  it('gradient reference equals finite differences of the forward reference', () => {
    const p: EmbeddingParams = { tokens: 6, vocab: 4, dim: 3 };
    const ids = Int32Array.from([2, 0, 2, -1, 3, 2]);
    const dOut = Float64Array.from({ length: p.tokens * p.dim }, (_, i) => Math.sin(i * 1.7));
    const table = Float64Array.from({ length: p.vocab * p.dim }, (_, i) => Math.cos(i * 0.3));
    const numeric = numericGradient((x) => dot(embeddingReference(p, { table: x, ids }).out, dOut), table);
    const analytic = embeddingGradReference(p, { ids, dOut }).dTable;
    for (let i = 0; i < numeric.length; i++) expect(analytic[i]).toBeCloseTo(numeric[i], 7);
    expect(analytic.slice(p.dim, 2 * p.dim).every((x) => x === 0)).toBe(true); // id 1 never occurs
  });
});

// fuse-embedding-norm: the lookup RMS-normalises each row it copies (CPU adapters' rows variant).
describe('embedding with the next rmsnorm', () => {
  const caps: RowKernelCaps = { subgroups: true, subgroupMinSize: 8, cpuAdapter: true };
  const params: EmbeddingParams = { tokens: 40, vocab: 50, dim: 64, norm: { eps: 1e-6 } };

  it('matches its golden WGSL and the oracle (the lookup, then the rmsnorm reference; out-of-range ids give a zero row)', async () => {
    const program = embeddingProgram(params, caps);
    expect(program.label).toBe('embedding_fwd_40x50x64_norm_rows');
    expectGoldenWgsl(GOLDEN_DIR, program);
    const result = await checkKernel(await testExecutor(), embeddingCase(params, caps), 3);
    expect(result.ok, result.report).toBe(true);
  });

  it('gives the bits of the lookup kernel followed by the rmsnorm kernel it replaces', async () => {
    const exec = await testExecutor();
    const fused = embeddingProgram(params, caps);
    const inputs = randomInputs(fused, 5);
    const looked = await exec.run(embeddingProgram({ tokens: 40, vocab: 50, dim: 64 }, caps), inputs);
    const normed = await exec.run(rmsnormProgram({ rows: 40, dim: 64, eps: 1e-6 }, caps), { x: looked.out, w: inputs.norm_w });
    const got = await exec.run(fused, inputs);
    expect(Array.from(got.out)).toEqual(Array.from(looked.out));
    expect(Array.from(got.norm_y)).toEqual(Array.from(normed.y));
    expect(Array.from(got.rstd)).toEqual(Array.from(normed.rstd));
    expect(Array.from(got.norm_y).some((v) => v !== 0)).toBe(true);
  });

  it('normalises in the kernel only where the rows variant and the lane rmsnorm meet, and refuses elsewhere', () => {
    expect(embeddingNormInKernel({ dim: 64 }, caps)).toBe(true);
    expect(embeddingNormInKernel({ dim: 62 }, caps)).toBe(false);
    expect(embeddingNormInKernel({ dim: 128 }, caps)).toBe(false);
    expect(embeddingNormInKernel({ dim: 64 }, { ...caps, cpuAdapter: false })).toBe(false);
    expect(() => embeddingProgram({ ...params, dim: 62 }, caps)).toThrow(/cannot normalise/);
  });
});

// fuse-embedding-sort: the rows lookup's first workgroup sorts the ids for the backward.
describe('embedding with the ids\' sort', () => {
  const caps: RowKernelCaps = { subgroups: true, subgroupMinSize: 8, cpuAdapter: true };
  for (const params of [
    { tokens: 40, vocab: 50, dim: 64, sort: true },
    { tokens: 40, vocab: 50, dim: 64, norm: { eps: 1e-6 }, sort: true },
  ] as EmbeddingParams[]) {
    const label = embeddingProgram(params, caps).label;
    it(`${label} matches its golden WGSL and the oracle (the lookup, then the sort reference; ids out of range included)`, async () => {
      const program = embeddingProgram(params, caps);
      expect(program.label).toMatch(/_sort_rows$/);
      expectGoldenWgsl(GOLDEN_DIR, program);
      const result = await checkKernel(await testExecutor(), embeddingCase(params, caps), 4);
      expect(result.ok, result.report).toBe(true);
    });
    it(`${label} gives the bits of the lookup and the sort kernel it replaces`, async () => {
      const exec = await testExecutor();
      const fused = embeddingProgram(params, caps);
      const inputs = randomInputs(fused, 9);
      const looked = await exec.run(embeddingProgram({ ...params, sort: false }, caps), inputs);
      const sorted = await exec.run(embeddingSortProgram({ tokens: params.tokens, vocab: params.vocab }, caps), { ids: inputs.ids });
      const got = await exec.run(fused, inputs);
      for (const name of Object.keys(looked)) expect(Array.from(got[name]), name).toEqual(Array.from(looked[name]));
      expect(Array.from(got.sortedTokens)).toEqual(Array.from(sorted.sortedTokens));
      expect(Array.from(got.rowStart)).toEqual(Array.from(sorted.rowStart));
      expect(new Set(Array.from(got.sortedTokens)).size).toBe(params.tokens); // a permutation
    });
  }

  it('sorts in the lookup only on CPU adapters (the rows lookup, the serial sort), and refuses elsewhere', () => {
    expect(embeddingSortInKernel(caps)).toBe(true);
    expect(embeddingSortInKernel({ ...caps, cpuAdapter: false })).toBe(false);
    expect(() => embeddingProgram({ tokens: 40, vocab: 50, dim: 64, sort: true }, { ...caps, cpuAdapter: false })).toThrow(/cannot sort/);
  });
});

