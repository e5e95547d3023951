// Grouped expert GEMMs: goldens and oracle agreement for both weight layouts, the SD-MoE shared
// weight operand, the fused row gather, odd shapes and random per-expert counts (which include
// empty experts and totals past the worst-case extent); skewed counts; and finite-difference
// checks that the dX (layout-flipped GEMM) and dW oracles are the forward oracle's gradients.
import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import {
  GROUPED_MAX_EXPERTS,
  groupedMatmulBackwardParams,
  groupedMatmulCase,
  groupedMatmulDwCase,
  groupedMatmulDwOracle,
  groupedMatmulDwProgram,
  groupedMatmulOracle,
  groupedMatmulProgram,
  type GroupedMatmulDwParams,
  type GroupedMatmulParams,
} from '../../compiler/kernels/grouped-matmul.ts';
import { checkKernel, compareOutputs, randomInputs } from '../../runtime/kernel-check.ts';
import type { HostArray } from '../../runtime/executor.ts';
import { InternalError } from '../../base/errors.ts';
import { testExecutor } from '../support/gpu.ts';
import { expectGoldenWgsl } from '../support/golden.ts';

const GOLDEN_DIR = fileURLToPath(new URL('./golden/grouped_matmul', import.meta.url));

const FORWARD: GroupedMatmulParams[] = [
  { rows: 74, experts: 5, inner: 33, out: 70, weightLayout: 'io', sharedWeight: false },
  { rows: 74, experts: 5, inner: 33, out: 70, weightLayout: 'oi', sharedWeight: true },
  { rows: 128, experts: 8, inner: 64, out: 96, weightLayout: 'io', sharedWeight: true, gatherTokens: 64 },
  { rows: 37, experts: 1, inner: 17, out: 5, weightLayout: 'io', sharedWeight: false },
  // DeepSeek-V3's expert count: 256 experts over 600 rows (many empty experts, tiles at many offsets).
  { rows: 600, experts: 256, inner: 12, out: 20, weightLayout: 'io', sharedWeight: false, gatherTokens: 75 },
  // out a multiple of 4 but not of the 32-column tile, odd rows and inner: the CPU adapters' vec4 store.
  { rows: 75, experts: 3, inner: 33, out: 36, weightLayout: 'oi', sharedWeight: false },
];
// dX is the forward kernel with the layout flipped; the SD-MoE (shared weight) case is the one used.
// With SwiGLU epilogues (fuse-swiglu-gemm): the up GEMM writing h beside u, the down GEMM's dX turned
// into (dg, du); vec4 (out % 4 == 0) and scalar stores, both layouts, SD-MoE shared weights.
const BACKWARD_DX = [
  groupedMatmulBackwardParams(FORWARD[1]),
  groupedMatmulBackwardParams({ rows: 75, experts: 3, inner: 36, out: 20, weightLayout: 'io', sharedWeight: false }, 'swiglu_grad'),
  groupedMatmulBackwardParams({ rows: 74, experts: 5, inner: 33, out: 70, weightLayout: 'io', sharedWeight: true }, 'swiglu_grad'),
];
FORWARD.push(
  { rows: 75, experts: 3, inner: 20, out: 36, weightLayout: 'io', sharedWeight: false, epilogue: 'swiglu' },
  { rows: 74, experts: 5, inner: 33, out: 70, weightLayout: 'oi', sharedWeight: true, epilogue: 'swiglu' },
);
const DW: GroupedMatmulDwParams[] = [
  { rows: 74, experts: 5, inDim: 33, outDim: 70, weightLayout: 'io' },
  { rows: 74, experts: 5, inDim: 33, outDim: 70, weightLayout: 'oi' },
  { rows: 128, experts: 8, inDim: 64, outDim: 96, weightLayout: 'io', gatherTokens: 64 },
  { rows: 600, experts: 256, inDim: 12, outDim: 20, weightLayout: 'io', gatherTokens: 75 },
  { rows: 75, experts: 3, inDim: 33, outDim: 36, weightLayout: 'io' },
];

// Goldens are device-independent: the subgroup variant is rendered for 8-lane subgroups (lavapipe),
// the portable one without caps. Numeric checks run the variant this device selects, plus the
// portable variant on a subset (its compile is slow on lavapipe).
const SG_CAPS = { subgroups: true, subgroupMinSize: 8 };
// CPU adapters (lavapipe) take the vec4 output store where the row length allows.
const CPU_CAPS = { ...SG_CAPS, cpuAdapter: true };
const deviceCaps = (await testExecutor()).ctx.caps;
// This device's subgroup variant with and without the CPU adapters' vec4 store, so both run here.
const DEVICE_VARIANTS = [deviceCaps, { ...deviceCaps, cpuAdapter: !deviceCaps.cpuAdapter }];
const PORTABLE_FORWARD = [FORWARD[1], FORWARD[2], FORWARD[6], BACKWARD_DX[1]];
const PORTABLE_DW = [DW[1]];

/** The items whose key is new (variants that render the same program are tested once). */
function uniqueBy<T>(items: readonly T[], key: (item: T) => string): T[] {
  const seen = new Set<string>();
  return items.filter((item) => !seen.has(key(item)) && !!seen.add(key(item)));
}

describe('grouped matmul kernels', () => {
  for (const params of [...FORWARD, ...BACKWARD_DX]) {
    for (const caps of uniqueBy([SG_CAPS, CPU_CAPS], (c) => groupedMatmulProgram(params, c).label)) {
      it(`${groupedMatmulProgram(params, caps).label} matches its golden WGSL`, () => expectGoldenWgsl(GOLDEN_DIR, groupedMatmulProgram(params, caps)));
    }
    for (const caps of uniqueBy(DEVICE_VARIANTS, (c) => groupedMatmulProgram(params, c).label)) {
      it(`${groupedMatmulProgram(params, caps).label} matches the CPU oracle`, async () => {
        const result = await checkKernel(await testExecutor(), groupedMatmulCase(params, caps), 21);
        expect(result.ok, result.report).toBe(true);
      });
    }
  }
  for (const params of PORTABLE_FORWARD) {
    const program = groupedMatmulProgram(params);
    it(`${program.label} matches its golden WGSL`, () => expectGoldenWgsl(GOLDEN_DIR, program));
    it(`${program.label} matches the CPU oracle`, async () => {
      const result = await checkKernel(await testExecutor(), groupedMatmulCase(params), 21);
      expect(result.ok, result.report).toBe(true);
    });
  }
  for (const params of DW) {
    for (const caps of uniqueBy([SG_CAPS, CPU_CAPS], (c) => groupedMatmulDwProgram(params, c).label)) {
      it(`${groupedMatmulDwProgram(params, caps).label} matches its golden WGSL`, () => expectGoldenWgsl(GOLDEN_DIR, groupedMatmulDwProgram(params, caps)));
    }
    for (const caps of uniqueBy(DEVICE_VARIANTS, (c) => groupedMatmulDwProgram(params, c).label)) {
      it(`${groupedMatmulDwProgram(params, caps).label} matches the CPU oracle`, async () => {
        const result = await checkKernel(await testExecutor(), groupedMatmulDwCase(params, caps), 22);
        expect(result.ok, result.report).toBe(true);
      });
    }
  }

  it('stores vec4 outputs on CPU adapters only, and only where a row is a whole number of vec4s', () => {
    const fwd = FORWARD[5];
    expect(groupedMatmulProgram(fwd, CPU_CAPS).params.cVec4).toBe(true);
    expect(groupedMatmulProgram(fwd, SG_CAPS).params.cVec4).toBe(false);
    expect(groupedMatmulProgram(FORWARD[0], CPU_CAPS).params.cVec4).toBe(false); // out 70
    expect(groupedMatmulProgram(fwd, CPU_CAPS).bindings.find((b) => b.name === 'c')?.vec4).toBe(true);
    expect(groupedMatmulDwProgram(DW[4], CPU_CAPS).params.dwVec4).toBe(true);
    expect(groupedMatmulDwProgram({ ...DW[4], weightLayout: 'oi' }, CPU_CAPS).params.dwVec4).toBe(false); // transposed store
    expect(groupedMatmulDwProgram(DW[4], SG_CAPS).params.dwVec4).toBe(false);
  });
  it('gives CPU adapters 32 rows per lane (row tiles of 32), GPUs 16', () => {
    const cpu = groupedMatmulProgram(FORWARD[5], CPU_CAPS);
    const gpu = groupedMatmulProgram(FORWARD[5], SG_CAPS);
    expect([cpu.params.tileRows, gpu.params.tileRows]).toEqual([32, 16]);
    expect(cpu.label).toMatch(/_r32$/);
    expect(gpu.label).not.toMatch(/_r32$/);
    // dW tiles inDim by the same row count.
    const dw = DW[4];
    expect(groupedMatmulDwProgram(dw, CPU_CAPS).dispatch[1]).toBe(Math.ceil(dw.inDim / 32));
    expect(groupedMatmulDwProgram(dw, SG_CAPS).dispatch[1]).toBe(Math.ceil(dw.inDim / 16));
  });
  for (const params of PORTABLE_DW) {
    const program = groupedMatmulDwProgram(params);
    it(`${program.label} matches its golden WGSL`, () => expectGoldenWgsl(GOLDEN_DIR, program));
    it(`${program.label} matches the CPU oracle`, async () => {
      const result = await checkKernel(await testExecutor(), groupedMatmulDwCase(params), 22);
      expect(result.ok, result.report).toBe(true);
    });
  }

  it('handles every row going to one expert and experts with no rows', async () => {
    const exec = await testExecutor();
    const fwd = FORWARD[1];
    const dw = DW[1];
    for (const counts of [Uint32Array.of(0, 0, 74, 0, 0), Uint32Array.of(74, 0, 0, 0, 0), Uint32Array.of(0, 0, 0, 0, 74), Uint32Array.of(0, 0, 0, 0, 0)]) {
      const inputs = { ...randomInputs(groupedMatmulProgram(fwd, deviceCaps), 5), counts };
      const got = await exec.run(groupedMatmulProgram(fwd, deviceCaps), inputs);
      expect(compareOutputs(got, groupedMatmulOracle(fwd)(inputs), groupedMatmulCase(fwd).tolerance).mismatches).toEqual([]);
      const dwInputs = { ...randomInputs(groupedMatmulDwProgram(dw, deviceCaps), 6), counts };
      const gotDw = await exec.run(groupedMatmulDwProgram(dw, deviceCaps), dwInputs);
      expect(compareOutputs(gotDw, groupedMatmulDwOracle(dw)(dwInputs), groupedMatmulDwCase(dw).tolerance).mismatches).toEqual([]);
    }
  });

  it('spreads more row tiles than one dispatch dimension holds over x and z', () => {
    for (const program of [groupedMatmulProgram({ ...FORWARD[0], rows: 4_000_000, experts: 256 }, SG_CAPS), groupedMatmulProgram({ ...FORWARD[0], rows: 4_000_000, experts: 256 })]) {
      const [x, , z] = program.dispatch;
      const tileRows = program.template === 'grouped_matmul_sg' ? 16 : 32;
      expect(x).toBeLessThanOrEqual(65535);
      expect(z).toBeGreaterThan(1);
      expect(x * z).toBeGreaterThanOrEqual(Math.ceil(4_000_000 / tileRows) + 256);
      expect(program.params.dispatchX).toBe(x);
    }
    expect(() => groupedMatmulDwProgram({ ...DW[0], experts: GROUPED_MAX_EXPERTS + 1 })).toThrow(InternalError);
  });

  it('dX and dW oracles match finite differences of the forward oracle (shared weight: dW_common = Σ_e dW[e])', () => {
    for (const layout of ['io', 'oi'] as const) {
      const p: GroupedMatmulParams = { rows: 7, experts: 3, inner: 4, out: 5, weightLayout: layout, sharedWeight: true };
      const inputs: Record<string, HostArray> = { ...randomInputs(groupedMatmulProgram(p), 9), counts: Uint32Array.of(3, 0, 4) };
      const dC = randomInputs(groupedMatmulProgram({ ...p, inner: p.out }), 10).a; // any [rows, out] array
      const loss = (over: Record<string, Float64Array>) => {
        const c = groupedMatmulOracle(p)({ ...inputs, ...over }).c;
        return c.reduce((s, v, i) => s + v * dC[i], 0);
      };
      const dA = groupedMatmulOracle(groupedMatmulBackwardParams(p))({ a: dC, counts: inputs.counts, w: inputs.w, w_common: inputs.w_common }).c;
      const dW = groupedMatmulDwOracle({ rows: p.rows, experts: p.experts, inDim: p.inner, outDim: p.out, weightLayout: layout })({ a: inputs.a, g: dC, counts: inputs.counts }).dw;
      const size = p.inner * p.out;
      const dWCommon = Array.from({ length: size }, (_, i) => dW[i] + dW[size + i] + dW[2 * size + i]);
      const h = 1e-3;
      for (const [name, analytic] of [['a', dA], ['w', dW], ['w_common', dWCommon]] as const) {
        const base = Float64Array.from(inputs[name]);
        for (let i = 0; i < base.length; i++) {
          const plus = Float64Array.from(base);
          const minus = Float64Array.from(base);
          plus[i] += h;
          minus[i] -= h;
          const numeric = (loss({ [name]: plus }) - loss({ [name]: minus })) / (2 * h);
          expect(Math.abs(analytic[i] - numeric), `${layout} d${name}[${i}]`).toBeLessThan(1e-3);
        }
      }
    }
  });
});

// fuse-grad-x-add: a data-gradient GEMM adding the other one's result (in place: c + the product, or
// from a binding d), as the un-permute added the two: the same bits as the plain GEMM, then the add.
describe('grouped data gradient with a sum epilogue', () => {
  const base = groupedMatmulBackwardParams({ rows: 75, experts: 3, inner: 33, out: 36, weightLayout: 'io', sharedWeight: false });
  const odd = groupedMatmulBackwardParams({ rows: 74, experts: 5, inner: 70, out: 33, weightLayout: 'io', sharedWeight: true });
  for (const sum of ['accumulate', 'addend'] as const) {
    // the epilogue's put() is shared by every subgroup layout: the CPU adapters' one, and the portable kernel once
    for (const [name, caps] of [['cpu adapter', CPU_CAPS], ['portable', undefined]] as const) {
      for (const shape of name === 'portable' ? (sum === 'accumulate' ? [base] : []) : [base, odd]) {
        const params: GroupedMatmulParams = { ...shape, sum };
        const program = groupedMatmulProgram(params, caps);
        it(`${program.label} matches its golden WGSL and the oracle`, async () => {
          expect(program.label).toContain(sum === 'accumulate' ? '_acc_' : '_add_');
          expectGoldenWgsl(GOLDEN_DIR, program);
          const result = await checkKernel(await testExecutor(), groupedMatmulCase(params, caps), 23);
          expect(result.ok, result.report).toBe(true);
        });
        it(`${program.label} gives the bits of the plain GEMM plus the addend`, async () => {
          const exec = await testExecutor();
          const inputs = randomInputs(program, 24) as Record<string, HostArray>;
          const addend = (sum === 'accumulate' ? inputs.c : inputs.d) as Float32Array;
          const plain = await exec.run(groupedMatmulProgram(shape, caps), inputs);
          const got = await exec.run(program, sum === 'accumulate' ? { ...inputs, c: addend } : inputs);
          const rows = Array.from(inputs.counts as Uint32Array).reduce((a, b) => a + b, 0);
          const n = Math.min(rows, shape.rows) * shape.out;
          const want = Float32Array.from({ length: n }, (_, i) => addend[i] + (plain.c as Float32Array)[i]);
          expect(Array.from((got.c as Float32Array).subarray(0, n))).toEqual(Array.from(want));
          expect(n).toBeGreaterThan(0);
        });
      }
    }
  }
  it('refuses a sum with a SwiGLU epilogue', () => {
    expect(() => groupedMatmulProgram({ ...base, epilogue: 'swiglu_grad', sum: 'accumulate' }, CPU_CAPS)).toThrow(InternalError);
  });
});
