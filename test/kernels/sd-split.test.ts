// SD-MoE gradient split kernels: each of the three against its float64 oracle in every variant the
// shape allows (golden WGSL on odd shapes and the demo's), out also in the in-place modes of
// `project update`, and the chain A → B → out against the projector form of the split (digest §2.4): Gu(e) = (I−P_U) G(e) (I−P_V), Gc = Σ_e G(e) − Gu(e) (or the mean), with
// orthonormal bases, plus the invariants Uᵀ Gu(e) = 0 and Gu(e) V = 0.
import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import {
  sdProjectFused, sdProjectFusedCase, sdProjectFusedProgram,
  sdSplitACase, sdSplitAProgram, sdSplitApCase, sdSplitApProgram, sdSplitBCase, sdSplitBProgram, sdSplitOutCase, sdSplitOutPcCase,
  sdSplitOutPcProgram, sdSplitOutProgram, sdSplitPair, sdSplitVariant, sdSplitBatchFits, type SdSplitBatch,
  type SdSplitCaps, type SdSplitOutMode, type SdSplitParams, type SdSplitVariant,
} from '../../compiler/kernels/sd-split.ts';
import { Rng } from '../../base/rng.ts';
import { checkKernel, randomInputs } from '../../runtime/kernel-check.ts';
import { columnsToRowMajor, orthonormalizeAgainst } from '../../runtime/sd/linalg.ts';
import { testExecutor } from '../support/gpu.ts';
import { expectGoldenWgsl } from '../support/golden.ts';

const GOLDEN_DIR = fileURLToPath(new URL('./golden/sd_split', import.meta.url));
/** lavapipe's subgroups: the pair's broadcast loads over 8 lanes. */
const SG8 = { cpuAdapter: true, subgroups: true, subgroupMinSize: 8 } as const;

const SHAPES: SdSplitParams[] = [
  { experts: 1, rows: 1, cols: 1, rank: 1, aggregate: 'sum' },
  { experts: 3, rows: 17, cols: 33, rank: 3, aggregate: 'mean' },
  { experts: 3, rows: 17, cols: 12, rank: 4, aggregate: 'mean' },
  { experts: 4, rows: 64, cols: 128, rank: 8, aggregate: 'sum' },
  // more rows than one workgroup of the rows variant covers, and a partial last tile
  { experts: 2, rows: 70, cols: 20, rank: 8, aggregate: 'mean' },
  // qwen_tiny_sd's 8 experts
  { experts: 8, rows: 16, cols: 12, rank: 8, aggregate: 'mean' },
];

/** The in-place modes `project update` uses (W_c += the common part, W_u += the unique part). */
const UPDATE_MODES: SdSplitOutMode[] = [
  { common: 'add', unique: 'none' },
  { common: 'none', unique: 'add' },
];

/** Every variant a shape allows: scalar always, vec4 and rows (what a CPU adapter gets) when cols and rank are multiples of 4. */
const variantsOf = (p: SdSplitParams): SdSplitVariant[] => (sdSplitVariant(p, { cpuAdapter: true }) === 'rows' ? ['scalar', 'vec4', 'rows'] : ['scalar']);

describe('sd_split kernels', () => {
  // A and out in every variant the shape allows (out also in the in-place modes); A has no kernel of
  // its own for rows (it is the vec4 one), B none for vec4 (the scalar one).
  const cases = SHAPES.flatMap((p) =>
    variantsOf(p).flatMap((v) => [
      ...(v === 'rows' ? [] : [sdSplitACase(p, v)]),
      ...(v === 'vec4' ? [] : [sdSplitBCase(p, v)]),
      sdSplitOutCase(p, v),
      ...UPDATE_MODES.map((m) => sdSplitOutCase({ ...p, aggregate: 'sum' }, v, m)),
    ]),
  );
  for (const kc of cases) {
    it(`${kc.program.label} matches golden and oracle`, async () => {
      expectGoldenWgsl(GOLDEN_DIR, kc.program);
      const r = await checkKernel(await testExecutor(), kc, 3);
      expect(r.ok, r.report).toBe(true);
    });
  }

  it('rejects a zero rank, vec4 on shapes that are not multiples of 4, and an out mode that keeps nothing', () => {
    expect(() => sdSplitAProgram({ experts: 2, rows: 4, cols: 4, rank: 0, aggregate: 'sum' })).toThrow(/rank/);
    expect(() => sdSplitOutProgram({ experts: 2, rows: 4, cols: 6, rank: 4, aggregate: 'sum' }, 'vec4')).toThrow(/multiples of 4/);
    expect(sdSplitVariant({ experts: 2, rows: 4, cols: 8, rank: 3, aggregate: 'sum' })).toBe('scalar');
    expect(() => sdSplitBProgram({ experts: 2, rows: 4, cols: 6, rank: 4, aggregate: 'sum' }, 'rows')).toThrow(/multiples of 4/);
  });

  it('gives CPU adapters the rows variant when its uniform operands fit 64 KiB, GPUs vec4', () => {
    const demo: SdSplitParams = { experts: 4, rows: 64, cols: 128, rank: 8, aggregate: 'sum' };
    expect(sdSplitVariant(demo, { cpuAdapter: true })).toBe('rows');
    expect(sdSplitVariant(demo, { cpuAdapter: false })).toBe('vec4');
    expect(sdSplitVariant({ ...demo, rank: 6 }, { cpuAdapter: true })).toBe('scalar');
    // A = E·r·N floats = 4·8·1024·4 bytes = 128 KiB: over one uniform binding
    const wide = { ...demo, cols: 1024 };
    expect(sdSplitVariant(wide, { cpuAdapter: true })).toBe('vec4');
    expect(() => sdSplitOutProgram(wide, 'rows')).toThrow(/65536 bytes/);
    const b = sdSplitBProgram(demo, 'rows');
    expect(b.bindings.filter((x) => x.access === 'uniform').map((x) => x.name)).toEqual(['u', 'v', 'a']);
  });
});

describe('sd_split pair (the gradient split in two dispatches, CPU adapters)', () => {
  // Every SHAPES entry the pair takes (partial row tiles, 70 rows over two row groups, 8 experts), plus the demo's down shape.
  const shapes = [...SHAPES, { experts: 4, rows: 128, cols: 64, rank: 8, aggregate: 'mean' } as SdSplitParams].filter((p) => sdSplitPair(p, { cpuAdapter: true }));
  it('covers the odd shapes and the demo', () => expect(shapes.length).toBe(5));
  // Per-lane loads (no subgroups), broadcasts over 8 lanes (lavapipe's subgroup) and over 4 (two loads per operand, and
  // a subgroup wider than planned: lanes 4–7 exist on this device and must not disturb the result).
  const capsList = [{ cpuAdapter: true }, SG8, { ...SG8, subgroupMinSize: 4 }];
  for (const kc of shapes.flatMap((p) => capsList.flatMap((caps) => [sdSplitApCase(p, caps), sdSplitOutPcCase(p, caps)]))) {
    it(`${kc.program.label} matches golden and oracle`, async () => {
      expectGoldenWgsl(GOLDEN_DIR, kc.program);
      const r = await checkKernel(await testExecutor(), kc, 3);
      expect(r.ok, r.report).toBe(true);
    });
  }

  it('is what CPU adapters get when the rows variant applies and C and B fit; GPUs keep the three kernels', () => {
    const demo: SdSplitParams = { experts: 4, rows: 64, cols: 128, rank: 8, aggregate: 'sum' };
    expect(sdSplitPair(demo, { cpuAdapter: true })).toBe(true);
    expect(sdSplitPair(demo, { cpuAdapter: false })).toBe(false);
    expect(sdSplitPair({ ...demo, rank: 6 }, { cpuAdapter: true })).toBe(false);
    // B per invocation: 16 experts × 4 rows × 2 vec4 = 128 vec4, over the private-array limit (the rows variant still applies)
    const many = { ...demo, experts: 16, cols: 32 };
    expect(sdSplitVariant(many, { cpuAdapter: true })).toBe('rows');
    expect(sdSplitPair(many, { cpuAdapter: true })).toBe(false);
    expect(() => sdSplitOutPcProgram(many)).toThrow(/pair/);
    const ap = sdSplitApProgram(demo);
    // A: 4·128/4 = 128 column quads over 8-lane workgroups = 16; P: 1 row group (8 lanes × 8 rows) × 4 experts
    expect(ap.dispatch).toEqual([20, 1, 1]);
    expect([ap.workgroupSize[0], ap.params.tileRows, sdSplitOutPcProgram(demo).params.tileRows]).toEqual([8, 8, 4]);
    expect(sdSplitOutPcProgram(demo).bindings.filter((x) => x.access === 'uniform').map((x) => x.name)).toEqual(['u', 'v', 'a', 'p', 'cpart']);
    // Broadcast loads with subgroups (labels _sg<lanes>); U's rows in A's job only when whole rows fill the lanes and the row count
    expect([sdSplitApProgram(demo, SG8).label, sdSplitOutPcProgram(demo, SG8).label]).toEqual(['sd_split_ap_e4_64x128_r8_sg8', 'sd_split_out_pc_e4_64x128_r8_sum_sg8']);
    expect(sdSplitApProgram(demo, SG8).features).toEqual(['subgroups']);
    expect(sdSplitApProgram(demo).features).toEqual([]);
    expect([sdSplitApProgram(demo, SG8).params.aBroadcast, sdSplitApProgram({ ...demo, rows: 70 }, SG8).params.aBroadcast]).toEqual([true, false]);
    expect(sdSplitApProgram(demo, { ...SG8, subgroups: false }).params.broadcast).toBe(false);
  });

  it('broadcast loads give the per-lane kernels\' bits (same arithmetic in the same order)', async () => {
    for (const p of shapes) {
      const rng = new Rng('sd-split-broadcast');
      const g = Float32Array.from({ length: p.experts * p.rows * p.cols }, () => rng.normal());
      const u = orthonormalColumns(p.rows, p.rank, rng);
      const v = orthonormalColumns(p.cols, p.rank, rng);
      const plain = await runPair(p, g, u, v);
      for (const caps of [SG8, { ...SG8, subgroupMinSize: 4 }]) {
        const sg = await runPair(p, g, u, v, caps);
        expect(Array.from(sg.gu)).toEqual(Array.from(plain.gu));
        expect(Array.from(sg.gc)).toEqual(Array.from(plain.gc));
      }
      expect(plain.gu.some((x) => x !== 0)).toBe(true);
    }
  });
});

describe('sd_project_fused (project update in one dispatch, CPU adapters)', () => {
  // Odd row counts (partial row tiles and clamped lanes), column quads fewer and more than the lanes,
  // the demo's two shapes and qwen_tiny_sd's 8 experts.
  const shapes: SdSplitParams[] = [
    { experts: 3, rows: 17, cols: 12, rank: 4, aggregate: 'sum' },
    { experts: 2, rows: 70, cols: 20, rank: 8, aggregate: 'sum' },
    { experts: 4, rows: 64, cols: 128, rank: 8, aggregate: 'sum' },
    { experts: 4, rows: 128, cols: 64, rank: 8, aggregate: 'sum' },
    { experts: 8, rows: 16, cols: 12, rank: 8, aggregate: 'sum' },
    { experts: 1, rows: 5, cols: 4, rank: 4, aggregate: 'sum' },
  ];
  // per-lane loads, and broadcast loads over 8 lanes (lavapipe's subgroup) and over 4 (see the pair)
  for (const kc of shapes.flatMap((p) => [sdProjectFusedCase(p), sdProjectFusedCase(p, SG8), sdProjectFusedCase(p, { ...SG8, subgroupMinSize: 4 })])) {
    it(`${kc.program.label} matches golden and oracle`, async () => {
      expectGoldenWgsl(GOLDEN_DIR, kc.program);
      const r = await checkKernel(await testExecutor(), kc, 3);
      expect(r.ok, r.report).toBe(true);
    });
  }

  it('broadcast loads give the per-lane kernel\'s bits (same arithmetic in the same order)', async () => {
    const exec = await testExecutor();
    for (const p of shapes) {
      const inputs = randomInputs(sdProjectFusedProgram(p), 7);
      const plain = await exec.run(sdProjectFusedProgram(p), inputs);
      for (const caps of [SG8, { ...SG8, subgroupMinSize: 4 }]) {
        const sg = await exec.run(sdProjectFusedProgram(p, caps), inputs);
        expect(Array.from(sg.wu)).toEqual(Array.from(plain.wu));
        expect(Array.from(sg.wc)).toEqual(Array.from(plain.wc));
      }
      expect(Array.from(plain.wu).some((x, i) => x !== inputs.wu[i])).toBe(true); // the update moved W_u
    }
  });

  it('is what CPU adapters get when the shape allows it; GPUs and other shapes keep the six-dispatch form', () => {
    const demo: SdSplitParams = { experts: 4, rows: 64, cols: 128, rank: 8, aggregate: 'sum' };
    expect(sdProjectFused(demo, { cpuAdapter: true })).toBe(true);
    expect(sdProjectFused(demo, { cpuAdapter: false })).toBe(false);
    expect(sdProjectFused({ ...demo, rank: 6 }, { cpuAdapter: true })).toBe(false);
    expect(sdProjectFused({ ...demo, cols: 6 }, { cpuAdapter: true })).toBe(false);
    // A = r·N floats = 8·1024·4 bytes = 32 KiB: over the 16 KiB of workgroup memory
    expect(sdProjectFused({ ...demo, cols: 1024 }, { cpuAdapter: true })).toBe(false);
    expect(() => sdProjectFusedProgram({ ...demo, cols: 1024 })).toThrow(/rank·cols/);
    const prog = sdProjectFusedProgram(demo);
    expect(prog.dispatch).toEqual([5, 1, 1]);
    expect(prog.bindings.filter((x) => x.access === 'uniform').map((x) => x.name)).toEqual(['u', 'v']);
  });
});

function orthonormalColumns(n: number, r: number, rng: Rng): Float32Array {
  const cols = Array.from({ length: r }, () => Float64Array.from({ length: n }, () => rng.normal()));
  return columnsToRowMajor(orthonormalizeAgainst([], cols), n);
}

/** (I − Q Qᵀ) applied to the rows side (left) or columns side (right) of a K×N matrix, float64. */
function projectOut(m: Float64Array, rows: number, cols: number, q: Float32Array, r: number, side: 'left' | 'right'): Float64Array {
  const out = Float64Array.from(m);
  if (side === 'left') {
    for (let j = 0; j < r; j++) {
      for (let n = 0; n < cols; n++) {
        let s = 0;
        for (let k = 0; k < rows; k++) s += q[k * r + j] * m[k * cols + n];
        for (let k = 0; k < rows; k++) out[k * cols + n] -= q[k * r + j] * s;
      }
    }
  } else {
    for (let k = 0; k < rows; k++) {
      for (let j = 0; j < r; j++) {
        let s = 0;
        for (let n = 0; n < cols; n++) s += m[k * cols + n] * q[n * r + j];
        for (let n = 0; n < cols; n++) out[k * cols + n] -= s * q[n * r + j];
      }
    }
  }
  return out;
}

async function runThree(p: SdSplitParams, variant: SdSplitVariant, g: Float32Array, u: Float32Array, v: Float32Array) {
  const exec = await testExecutor();
  const { a } = await exec.run(sdSplitAProgram(p, variant), { g, u });
  const { b } = await exec.run(sdSplitBProgram(p, variant), { g, u, v, a });
  return exec.run(sdSplitOutProgram(p, variant), { g, u, v, a, b });
}

async function runPair(p: SdSplitParams, g: Float32Array, u: Float32Array, v: Float32Array, caps?: SdSplitCaps) {
  const exec = await testExecutor();
  const { a, p: pm, cpart } = await exec.run(sdSplitApProgram(p, caps), { g, u, v });
  return exec.run(sdSplitOutPcProgram(p, caps), { g, u, v, a, p: pm, cpart });
}

/** A batch of `count` members laid out as the planner does: U's and V's back to back with a gap, results interleaved in one or two buffers. */
function batchOf(p: SdSplitParams, count: number, sharedOut: boolean): SdSplitBatch {
  const [uSize, vSize, gcSize, guSize] = [p.rows * p.rank, p.cols * p.rank, p.rows * p.cols, p.experts * p.rows * p.cols].map((n) => Math.ceil(n / 4) * 4 + 4);
  const ids = Array.from({ length: count }, (_, j) => count - 1 - j); // members' slots in reverse order
  return {
    count,
    uAt: ids.map((j) => j * uSize),
    vAt: ids.map((j) => j * vSize),
    gcAt: ids.map((j) => j * (sharedOut ? gcSize + guSize : gcSize)),
    guAt: ids.map((j) => (sharedOut ? j * (gcSize + guSize) + gcSize : j * guSize)),
    sharedOut,
  };
}

describe('sd_split pair batches (several matrices of one shape per dispatch)', () => {
  const demo: SdSplitParams = { experts: 4, rows: 64, cols: 128, rank: 8, aggregate: 'sum' };
  const cases: [SdSplitParams, number, boolean][] = [
    [demo, 2, true],
    [{ ...demo, rows: 128, cols: 64, aggregate: 'mean' }, 2, false],
    [{ ...SHAPES[4], cols: 32 }, 3, true], // partial row tiles, two row groups
  ];
  for (const [p, count, sharedOut] of cases) {
    for (const caps of [{ cpuAdapter: true }, SG8]) {
      const batch = batchOf(p, count, sharedOut);
      for (const kc of [sdSplitApCase(p, caps, batch), sdSplitOutPcCase(p, caps, batch)]) {
        it(`${kc.program.label}${sharedOut ? ' (Gc and Gu in one buffer)' : ''} matches golden and oracle`, async () => {
          expectGoldenWgsl(GOLDEN_DIR, kc.program);
          const r = await checkKernel(await testExecutor(), kc, 3);
          expect(r.ok, r.report).toBe(true);
        });
      }
      it(`${count} × ${p.experts}×${p.rows}×${p.cols}${caps === SG8 ? ' sg8' : ''}: the batch gives each member's single-pair bits`, async () => {
        const exec = await testExecutor();
        const rng = new Rng('sd-split-batch');
        const gs = Array.from({ length: count }, () => Float32Array.from({ length: p.experts * p.rows * p.cols }, () => rng.normal()));
        const us = gs.map(() => orthonormalColumns(p.rows, p.rank, rng));
        const vs = gs.map(() => orthonormalColumns(p.cols, p.rank, rng));
        const place = (parts: Float32Array[], at: readonly number[], length: number) => {
          const out = new Float32Array(length);
          parts.forEach((x, j) => out.set(x, at[j]));
          return out;
        };
        const ap = sdSplitApProgram(p, caps, batch);
        const len = (prog: typeof ap, name: string) => prog.bindings.find((b) => b.name === name)!.length;
        const g = place(gs, gs.map((_, j) => j * gs[0].length), count * gs[0].length);
        const u = place(us, batch.uAt, len(ap, 'u'));
        const v = place(vs, batch.vAt, len(ap, 'v'));
        const { a, p: pm, cpart } = await exec.run(ap, { g, u, v });
        const got = await exec.run(sdSplitOutPcProgram(p, caps, batch), { g, u, v, a, p: pm, cpart });
        for (let j = 0; j < count; j++) {
          const one = await runPair(p, gs[j], us[j], vs[j], caps);
          expect(Array.from(got.gu.subarray(batch.guAt[j], batch.guAt[j] + one.gu.length))).toEqual(Array.from(one.gu));
          const gc = sharedOut ? got.gu : got.gc;
          expect(Array.from(gc.subarray(batch.gcAt[j], batch.gcAt[j] + one.gc.length))).toEqual(Array.from(one.gc));
        }
      });
    }
  }

  it('fits a batch only within the uniform limits and, with broadcasts, when no subgroup spans two matrices', () => {
    const basis = (n: number) => ({ u: n * 64 * 8 * 4, v: n * 128 * 8 * 4 });
    // A: 4·8·128 floats = 16 KiB per matrix, 64 KiB for four
    expect(sdSplitBatchFits(demo, 4, basis(4), SG8)).toBe(true);
    expect(sdSplitBatchFits(demo, 5, basis(5), SG8)).toBe(false);
    // E·cols/4 = 1·8/4 = 2 column quads per matrix: an 8-lane subgroup would span four matrices
    const thin: SdSplitParams = { experts: 1, rows: 8, cols: 8, rank: 4, aggregate: 'sum' };
    expect(sdSplitBatchFits(thin, 2, { u: 256, v: 256 }, { cpuAdapter: true })).toBe(true);
    expect(sdSplitBatchFits(thin, 2, { u: 256, v: 256 }, SG8)).toBe(false);
    expect(() => sdSplitApProgram(thin, SG8, batchOf(thin, 2, false))).toThrow(/do not fit/);
    expect(() => sdSplitOutPcProgram(demo, SG8, { ...batchOf(demo, 2, true), guAt: [0, 0] })).toThrow(/overlap/);
  });
});

describe('sd_split chain', () => {
  const cases: [SdSplitParams, SdSplitVariant | 'pair' | 'pair-sg8'][] = [
    [SHAPES[1], 'scalar'],
    [SHAPES[2], 'vec4'],
    [{ ...SHAPES[3], aggregate: 'mean' }, 'scalar'],
    [{ ...SHAPES[3], aggregate: 'mean' }, 'vec4'],
    [SHAPES[2], 'rows'],
    [{ ...SHAPES[3], aggregate: 'mean' }, 'rows'],
    [SHAPES[4], 'rows'],
    [SHAPES[2], 'pair'],
    [{ ...SHAPES[3], aggregate: 'mean' }, 'pair'],
    [SHAPES[4], 'pair'],
    [{ ...SHAPES[3], aggregate: 'mean' }, 'pair-sg8'],
    [SHAPES[5], 'pair-sg8'],
  ];
  for (const [p, variant] of cases) {
    it(`A → B → out equals (I−P_U) G (I−P_V) and its complement, ${p.experts}×${p.rows}×${p.cols} rank ${p.rank} ${p.aggregate} ${variant}`, async () => {
      const { experts: E, rows: K, cols: N, rank: r } = p;
      const rng = new Rng('sd-split-chain');
      const g = Float32Array.from({ length: E * K * N }, () => rng.normal());
      const u = orthonormalColumns(K, r, rng);
      const v = orthonormalColumns(N, r, rng);
      const { gc, gu } = variant === 'pair' || variant === 'pair-sg8' ? await runPair(p, g, u, v, variant === 'pair-sg8' ? SG8 : undefined) : await runThree(p, variant, g, u, v);

      const expectedGc = new Float64Array(K * N);
      let worst = 0;
      let gNorm = 0;
      for (let e = 0; e < E; e++) {
        const ge = Float64Array.from(g.subarray(e * K * N, (e + 1) * K * N));
        const expected = projectOut(projectOut(ge, K, N, u, r, 'left'), K, N, v, r, 'right');
        for (let i = 0; i < K * N; i++) {
          worst = Math.max(worst, Math.abs(gu[e * K * N + i] - expected[i]));
          expectedGc[i] += (ge[i] - expected[i]) / (p.aggregate === 'mean' ? E : 1);
          gNorm = Math.max(gNorm, Math.abs(ge[i]));
        }
        // Invariants of the double complement: no component along U (left) or V (right).
        const gue = Float64Array.from(gu.subarray(e * K * N, (e + 1) * K * N));
        for (let j = 0; j < r; j++) {
          for (let n = 0; n < N; n++) {
            let s = 0;
            for (let k = 0; k < K; k++) s += u[k * r + j] * gue[k * N + n];
            expect(Math.abs(s)).toBeLessThan(1e-4);
          }
          for (let k = 0; k < K; k++) {
            let s = 0;
            for (let n = 0; n < N; n++) s += gue[k * N + n] * v[n * r + j];
            expect(Math.abs(s)).toBeLessThan(1e-4);
          }
        }
      }
      expect(gNorm).toBeGreaterThan(1); // the data is not trivially small
      expect(worst).toBeLessThan(1e-4);
      let worstC = 0;
      let gcNorm = 0;
      for (let i = 0; i < K * N; i++) {
        worstC = Math.max(worstC, Math.abs(gc[i] - expectedGc[i]));
        gcNorm = Math.max(gcNorm, Math.abs(expectedGc[i]));
      }
      expect(gcNorm).toBeGreaterThan(0.1);
      expect(worstC).toBeLessThan(1e-4);
    });
  }
});
