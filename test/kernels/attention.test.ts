// Attention kernels, both variants (tiled: forward / dq / dkv; row: forward / fused backward), each
// built from explicit caps so both run on lavapipe: golden WGSL, every program against the CPU
// oracles on odd shapes (several query blocks, grouped and ungrouped KV heads, one-token sequences,
// hd not a multiple of the subgroup lanes), forward and backward chained on the GPU against the
// backward reference with consistent out/lse, run-to-run determinism, and the backward reference
// against finite differences of the forward reference. The row backward with dq and dk rotated back
// (fuse-attention-grad-rope): its oracle and golden, where it applies, and the bits of the unfused
// pair (the backward, then the inverse rope kernel) at the demo's head size.
import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import type { RowKernelCaps } from '../../base/caps.ts';
import {
  attentionBackwardCases,
  attentionBackwardPrepProgram,
  attentionGradRopeInKernel,
  attentionBackwardReference,
  attentionBackwardRowProgram,
  attentionCase,
  attentionProgram,
  attentionReference,
  attentionRowLoads,
  attentionRowProgram,
  attentionRowsPerLane,
  attentionVariant,
  type AttentionParams,
} from '../../compiler/kernels/attention.ts';
import { ropeProgram } from '../../compiler/kernels/rope.ts';
import { checkKernel, compareOutputs, randomInputs } from '../../runtime/kernel-check.ts';
import type { HostArray } from '../../runtime/executor.ts';
import type { KernelProgram } from '../../compiler/kernels/types.ts';
import { testExecutor } from '../support/gpu.ts';
import { expectGoldenWgsl } from '../support/golden.ts';
import { dot, numericGradient } from '../support/finite-diff.ts';

const GOLDEN_DIR = fileURLToPath(new URL('./golden/attention', import.meta.url));

// Each shape is three pipelines and cold lavapipe compiles cost seconds each, so few shapes that
// together cover: batches > 1, kv groups of 3, several query blocks with a partial last one, the
// target S = 256 with hd = 64 (smallest tiles), and hd not a multiple of 4 (zero-padded vec4 rows).
const CASES: AttentionParams[] = [
  { tokens: 140, seqLen: 70, heads: 6, kvHeads: 2, headDim: 20 },
  { tokens: 256, seqLen: 256, heads: 2, kvHeads: 2, headDim: 64 },
  { tokens: 3, seqLen: 1, heads: 2, kvHeads: 1, headDim: 2 },
];

/** A GPU (tiled) and lavapipe as it reports itself (row, 8 lanes, for hd ≤ 32: the hd = 64 shape
 *  is tiled on every adapter); the row variant with 4 lanes (an adapter whose minimum subgroup is
 *  4) spreads rows differently and runs too, on one shape. */
const TILED: RowKernelCaps = { subgroups: false, subgroupMinSize: 0, cpuAdapter: false };
const ROW: RowKernelCaps = { subgroups: true, subgroupMinSize: 8, cpuAdapter: true };
const ROW4: RowKernelCaps = { subgroups: true, subgroupMinSize: 4, cpuAdapter: true };
/** Row shapes whose rows are bound and moved as vectors (attentionRowLoads): hd a multiple of 4 × lanes (vec4:
 *  hd 32 on 8 lanes, hd 16 on 4) or of 2 × lanes (vec2: hd 16 on 8 lanes, the demo's). */
const WIDE_ROWS: [AttentionParams, RowKernelCaps][] = [
  [{ tokens: 96, seqLen: 48, heads: 4, kvHeads: 2, headDim: 32 }, ROW],
  [{ tokens: 40, seqLen: 20, heads: 2, kvHeads: 2, headDim: 16 }, ROW4],
  [{ tokens: 40, seqLen: 20, heads: 3, kvHeads: 1, headDim: 16 }, ROW],
];
const VARIANTS: [AttentionParams, RowKernelCaps][] = [
  ...CASES.flatMap((p) => (attentionVariant(ROW, p.headDim) === 'row' ? [[p, TILED], [p, ROW]] : [[p, TILED]]) as [AttentionParams, RowKernelCaps][]),
  [CASES[0], ROW4],
  ...WIDE_ROWS,
];
/** Two programs of the same computation give the same bits on the same random inputs, and no output is
 *  all zeros (an output neither writes would pass the comparison). */
async function expectSameBits(one: KernelProgram, other: KernelProgram, seed: number, what = ''): Promise<void> {
  const exec = await testExecutor();
  const inputs = randomInputs(one, seed);
  const [a, b] = [await exec.run(one, inputs), await exec.run(other, inputs)];
  for (const name of Object.keys(a)) {
    expect(Array.from(b[name]), `${name}${what}`).toEqual(Array.from(a[name]));
    expect(Array.from(a[name]).some((x) => x !== 0), name).toBe(true);
  }
}

const f32 = (r: Record<string, Float64Array>): Record<string, Float32Array> =>
  Object.fromEntries(Object.entries(r).map(([k, v]) => [k, Float32Array.from(v)]));

describe('attention kernels', () => {
  it('picks the row variant on CPU adapters with subgroups for hd ≤ 32, tiled elsewhere', () => {
    const variants = [TILED, ROW, ROW4, { ...ROW, subgroups: false }, { ...ROW, cpuAdapter: false }].map((caps) => attentionVariant(caps, 16));
    expect(variants).toEqual(['tiled', 'row', 'row', 'tiled', 'tiled']);
    expect([attentionVariant(ROW, 32), attentionVariant(ROW, 33), attentionVariant(ROW, 64)]).toEqual(['row', 'tiled', 'tiled']);
  });

  for (const [params, caps] of VARIANTS) {
    const kcases = [attentionCase(params, caps), ...attentionBackwardCases(params, caps)];
    for (const kcase of kcases) {
      const { program } = kcase;
      const name = `${program.label}${caps === ROW4 ? ' (4 lanes)' : ''}`;
      if (caps !== ROW4 || WIDE_ROWS.some(([p, c]) => p === params && c === caps)) {
        it(`${name} matches its golden WGSL`, () => {
          expectGoldenWgsl(GOLDEN_DIR, program);
        });
      }
      it(`${name} matches the CPU oracle`, async () => {
        const result = await checkKernel(await testExecutor(), kcase, 6);
        expect(result.ok, result.report).toBe(true);
      });
    }
  }

  for (const caps of [TILED, ROW]) {
    for (const params of [CASES[0], CASES[2]]) {
      it(`forward → backward on the GPU equals the backward reference, deterministically (${attentionProgram(params, caps).label})`, async () => {
        const exec = await testExecutor();
        const backwardCases = attentionBackwardCases(params, caps);
        const inputs = randomInputs(backwardCases[backwardCases.length - 1].program, 12);
        const { q, k, v, dOut } = inputs;
        const forward = await exec.run(attentionProgram(params, caps), { q, k, v });
        const backward = async () => {
          // each dispatch's outputs are the next ones' inputs (the row variant's D, `dsum`)
          const values: Record<string, HostArray> = { dOut, q, k, v, out: forward.out, lse: forward.lse };
          for (const kcase of backwardCases) {
            const given = Object.fromEntries(kcase.program.bindings.filter((b) => b.access !== 'write' && b.name in values).map((b) => [b.name, values[b.name]]));
            Object.assign(values, await exec.run(kcase.program, given));
          }
          return { dq: values.dq, dk: values.dk, dv: values.dv } as Record<string, HostArray>;
        };
        const got = await backward();
        expect(backwardCases.map((c) => c.program.template)).toEqual(caps === ROW ? ['attention_bwd_prep', 'attention_bwd_row'] : ['attention_dq', 'attention_dkv']);
        const reference = attentionReference(params, { q, k, v });
        const expected = attentionBackwardReference(params, { dOut, q, k, v, out: reference.out, lse: reference.lse });
        expect(compareOutputs(got, f32(expected), { atol: 5e-5, rtol: 1e-4 }).mismatches).toEqual([]);
        const again = await backward();
        for (const name of ['dq', 'dk', 'dv']) expect(Array.from(again[name])).toEqual(Array.from(got[name]));
      });
    }
  }

  it('moves rows as vectors exactly when no lane would load a clamped duplicate', () => {
    const loads = [[32, 8], [16, 8], [16, 4], [24, 4], [20, 4], [2, 4], [8, 8]].map(([headDim, lanes]) => attentionRowLoads({ headDim }, lanes));
    expect(loads).toEqual(['vec4', 'vec2', 'vec4', 'vec2', 'scalar', 'scalar', 'scalar']);
    expect(() => attentionRowProgram({ tokens: 4, seqLen: 4, heads: 1, kvHeads: 1, headDim: 16 }, ROW, { loads: 'vec4' })).toThrow(/multiple of 32 \(8 lanes\)/);
  });

  for (const [params, caps] of WIDE_ROWS) {
    const wide = attentionRowLoads(params, caps.subgroupMinSize);
    it(`${wide} rows give the scalar kernels' bits (hd ${params.headDim}, ${caps.subgroupMinSize} lanes)`, async () => {
      const pairs = [
        [attentionRowProgram(params, caps, { loads: 'scalar' }), attentionRowProgram(params, caps, { loads: wide })],
        [attentionBackwardRowProgram(params, caps, { loads: 'scalar' }), attentionBackwardRowProgram(params, caps, { loads: wide })],
        [attentionBackwardPrepProgram(params, false), attentionBackwardPrepProgram(params, true)],
      ];
      for (const [scalar, vec] of pairs) {
        expect([scalar.label.includes('_v'), vec.label.endsWith(scalar.template === 'attention_bwd_prep' ? '_v4' : `_v${wide.slice(3)}`)]).toEqual([false, true]);
        await expectSameBits(scalar, vec, 21);
      }
    });
  }

  // Stop 27: an invocation owns R rows (attentionRowsPerLane). Each row's arithmetic is the one-row
  // kernel's, in the same order, so R = 2, 3, 4 give R = 1's bits: sequences that end inside a slot, a
  // block and a subgroup (s 20, 48), 4 and 8 lanes, vec2 and vec4 rows, grouped heads, dq and dk rotated back.
  // The oracle tests above run the scalar rows of s 70 at its default R = 2 (lavapipe compiles each variant for
  // seconds: R 4 at s 70 took 33 s cold).
  it('takes rows per lane from the sequence (⌊S / 32⌋ in 1 … 4 forward, 1 … 2 backward), one where subgroups do not tile a workgroup', () => {
    const seqs = [16, 48, 64, 100, 128, 4096];
    expect(seqs.map((seqLen) => attentionRowsPerLane({ seqLen }, 8, 'forward'))).toEqual([1, 1, 2, 3, 4, 4]);
    expect(seqs.map((seqLen) => attentionRowsPerLane({ seqLen }, 8, 'backward'))).toEqual([1, 1, 2, 2, 2, 2]);
    expect(attentionRowsPerLane({ seqLen: 128 }, 32, 'forward')).toBe(1);
    expect(() => attentionRowProgram({ tokens: 128, seqLen: 128, heads: 1, kvHeads: 1, headDim: 16 }, { ...ROW, subgroupMinSize: 32 }, { loads: 'scalar', rowsPerLane: 2 })).toThrow(/whole 32-lane subgroups/);
  });
  // [shape, caps, forward R, backward R]: qwen_tiny's R 4 forward at hd 32; an odd R where the small shape compiles fast
  for (const [params, caps, forwardRows, backwardRows] of [
    [WIDE_ROWS[0][0], ROW, 4, 2],
    [WIDE_ROWS[1][0], ROW4, 3, 3],
    [WIDE_ROWS[2][0], ROW, 2, 2],
  ] as [AttentionParams, RowKernelCaps, number, number][]) {
    it(`${forwardRows} / ${backwardRows} rows per lane give one row's bits forward / backward (s ${params.seqLen}, hd ${params.headDim}, ${caps.subgroupMinSize} lanes)`, async () => {
      const theta = attentionGradRopeInKernel(params, caps) ? 10000 : undefined;
      const pairs = [
        [attentionRowProgram(params, caps, { rowsPerLane: 1 }), attentionRowProgram(params, caps, { rowsPerLane: forwardRows }), forwardRows],
        [attentionBackwardRowProgram(params, caps, { ropeTheta: theta, rowsPerLane: 1 }), attentionBackwardRowProgram(params, caps, { ropeTheta: theta, rowsPerLane: backwardRows }), backwardRows],
      ] as const;
      for (const [one, many, r] of pairs) {
        expect([/_r\d/.test(one.label), many.label.includes(`_r${r}`), many.dispatch[0] * many.dispatch[1] < one.dispatch[0] * one.dispatch[1]]).toEqual([false, true, true]);
        await expectSameBits(one, many, 23, `, ${r} rows`);
      }
    });
  }

  // Stop 26: the causal loops stop at the subgroup's last query / start at its first key; the rows
  // they skip added exactly 0, so the block-bounded kernels' bits come out (sequences of 20 and 70:
  // blocks and subgroups that end inside a sequence).
  for (const [params, caps] of [...WIDE_ROWS, [{ tokens: 140, seqLen: 70, heads: 6, kvHeads: 2, headDim: 20 }, ROW] as [AttentionParams, RowKernelCaps]]) {
    it(`subgroup-bounded causal loops give the block-bounded kernels' bits (s ${params.seqLen}, hd ${params.headDim}, ${caps.subgroupMinSize} lanes)`, async () => {
      const pairs = [
        [attentionRowProgram(params, caps, { bounds: 'block' }), attentionRowProgram(params, caps)],
        [attentionBackwardRowProgram(params, caps, { bounds: 'block' }), attentionBackwardRowProgram(params, caps)],
      ];
      for (const [block, sub] of pairs) {
        expect(block.label).toMatch(/_blk$/);
        await expectSameBits(block, sub, 22);
      }
    });
  }

  it('backward reference equals finite differences of the forward reference', () => {
    const p: AttentionParams = { tokens: 6, seqLen: 3, heads: 4, kvHeads: 2, headDim: 3 };
    const wave = (n: number, f: number) => Float64Array.from({ length: n }, (_, i) => Math.sin(i * f + 0.3));
    const q = wave(72, 1.1);
    const k = wave(36, 0.7);
    const v = wave(36, 1.9);
    const dOut = wave(72, 2.3);
    const { out, lse } = attentionReference(p, { q, k, v });
    const analytic = attentionBackwardReference(p, { dOut, q, k, v, out, lse });
    const numeric = {
      dq: numericGradient((x) => dot(attentionReference(p, { q: x, k, v }).out, dOut), q),
      dk: numericGradient((x) => dot(attentionReference(p, { q, k: x, v }).out, dOut), k),
      dv: numericGradient((x) => dot(attentionReference(p, { q, k, v: x }).out, dOut), v),
    };
    for (const name of ['dq', 'dk', 'dv'] as const) {
      for (let i = 0; i < numeric[name].length; i++) expect(analytic[name][i]).toBeCloseTo(numeric[name][i], 6);
    }
  });

  // The row backward rotating dq and dk back: vec2 rows (the demo's hd 16, grouped kv heads), vec4 rows
  // (hd 32, several blocks), scalar rows (hd 8, one-token-per-head spread).
  const ROPED: AttentionParams[] = [
    { tokens: 40, seqLen: 20, heads: 3, kvHeads: 1, headDim: 16 },
    { tokens: 96, seqLen: 48, heads: 4, kvHeads: 2, headDim: 32 },
    { tokens: 24, seqLen: 12, heads: 2, kvHeads: 2, headDim: 8 },
  ];
  for (const params of ROPED) {
    const [, roped] = attentionBackwardCases(params, ROW, 10000);
    it(`${roped.program.label} (dq, dk rotated back) matches its golden WGSL and the CPU oracle`, async () => {
      expectGoldenWgsl(GOLDEN_DIR, roped.program);
      const result = await checkKernel(await testExecutor(), roped, 6);
      expect(result.ok, result.report).toBe(true);
    });
  }

  it('rotating dq and dk in the row backward gives the unfused pair\'s bits at the demo\'s head size (hd 16: the scale is a power of two)', async () => {
    const exec = await testExecutor();
    const params = ROPED[0];
    const plain = attentionBackwardRowProgram(params, ROW);
    const fused = attentionBackwardRowProgram(params, ROW, { ropeTheta: 10000 });
    const inputs = randomInputs(plain, 5);
    const [a, b] = [await exec.run(plain, inputs), await exec.run(fused, inputs)];
    const rope = { tokens: params.tokens, seqLen: params.seqLen, headDim: params.headDim, theta: 10000, inverse: true };
    const dq = (await exec.run(ropeProgram({ ...rope, heads: params.heads }, ROW), { x: a.dq })).out;
    const dk = (await exec.run(ropeProgram({ ...rope, heads: params.kvHeads }, ROW), { x: a.dk })).out;
    expect(Array.from(b.dq)).toEqual(Array.from(dq));
    expect(Array.from(b.dk)).toEqual(Array.from(dk));
    expect(Array.from(b.dv)).toEqual(Array.from(a.dv));
    // and the rotation did something
    expect(Array.from(b.dq).some((x, i) => x !== a.dq[i])).toBe(true);
  });

  it('rotates in the row kernel only where each rotated pair of quads lines up (hd/2 a multiple of 4), and says so', () => {
    expect([16, 32, 8, 20, 12].map((headDim) => attentionGradRopeInKernel({ headDim }, ROW))).toEqual([true, true, true, false, false]);
    expect(attentionGradRopeInKernel({ headDim: 16 }, TILED)).toBe(false);
    expect(() => attentionBackwardCases(CASES[0], ROW, 10000)).toThrow(/do not rotate/);
    expect(() => attentionBackwardCases({ ...ROPED[0] }, TILED, 10000)).toThrow(/do not rotate/);
  });

  it('rejects head counts that do not group', () => {
    expect(() => attentionProgram({ tokens: 4, seqLen: 4, heads: 3, kvHeads: 2, headDim: 8 }, ROW)).toThrow(/multiple of kvHeads/);
  });
});
