// MoE permutation kernels: goldens, random routings, and the skewed routings that break naive
// implementations (all tokens to one expert, empty experts, capacity overflow, invalid ids). The
// structural checks verify the permutation itself, independently of the oracle. The three stage
// kernels (count, scan, scatter) are checked one by one against their oracles and chained on the
// device against the whole-permutation oracle, up to DeepSeek-V3's 256 experts top-8; the serial
// single-invocation permutation (CPU adapters, small routings) is checked on the same routings.
import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import {
  moeGatherCase,
  moeGatherProgram,
  moePermuteCases,
  moeGatherVariant,
  moePermuteOracle,
  moePermuteSerialCase,
  moePermuteVariant,
  SERIAL_PERMUTE_MAX_ASSIGNMENTS,
  type MoePermuteParams,
} from '../../compiler/kernels/moe-permute.ts';
import { auxLossProgram, auxLossWorkgroup } from '../../compiler/kernels/aux-loss.ts';
import { randomInputs } from '../../runtime/kernel-check.ts';
import type { RowKernelCaps } from '../../base/caps.ts';
import type { HostArray } from '../../runtime/executor.ts';
import { checkKernel, compareOutputs } from '../../runtime/kernel-check.ts';
import { Rng } from '../../base/rng.ts';
import { testExecutor } from '../support/gpu.ts';
import { expectGoldenWgsl } from '../support/golden.ts';

const GOLDEN_DIR = fileURLToPath(new URL('./golden/moe_permute', import.meta.url));

const RANDOM: MoePermuteParams[] = [
  { tokens: 37, experts: 8, topK: 2 },
  { tokens: 1000, experts: 64, topK: 6 },
  { tokens: 5, experts: 3, topK: 1 },
  { tokens: 301, experts: 16, topK: 2, capacityFactor: 1.0 },
  { tokens: 300, experts: 256, topK: 8 },
  { tokens: 200, experts: 128, topK: 8, capacityFactor: 1.25 },
  { tokens: 100, experts: 64, topK: 12 },
];

/** The three stage kernels chained on the device, compared with the whole-permutation oracle, and
 *  the serial single-invocation kernel on the same routing, which must agree exactly. */
async function runOn(p: MoePermuteParams, topkIdx: Int32Array) {
  const exec = await testExecutor();
  const { count, scan, scatter } = moePermuteCases(p);
  const counted = await exec.run(count.program, { topk_idx: topkIdx });
  const scanned = await exec.run(scan.program, { block_counts: counted.block_counts });
  const scattered = await exec.run(scatter.program, { topk_idx: topkIdx, block_counts: scanned.block_counts, offsets: scanned.offsets });
  const actual: Record<string, HostArray> = { counts: scanned.counts, offsets: scanned.offsets, perm_row: scattered.perm_row, src_token: scattered.src_token, src_slot: scattered.src_slot };
  const { mismatches } = compareOutputs(actual, moePermuteOracle(p)({ topk_idx: topkIdx }), { atol: 0, rtol: 0 });
  expect(mismatches, `${scatter.program.label}: ${JSON.stringify(mismatches)}`).toEqual([]);
  const serial = moePermuteSerialCase(p).program;
  const serialOut = await exec.run(serial, { topk_idx: topkIdx });
  const serialCheck = compareOutputs(serialOut, moePermuteOracle(p)({ topk_idx: topkIdx }), { atol: 0, rtol: 0 });
  expect(serialCheck.mismatches, `${serial.label}: ${JSON.stringify(serialCheck.mismatches)}`).toEqual([]);
  return actual;
}

describe('moe permute kernels', () => {
  it('CPU adapters permute small routings serially, GPUs and large routings in three stages', () => {
    const cpu = { subgroups: true, subgroupMinSize: 8, cpuAdapter: true };
    const gpu = { subgroups: false, subgroupMinSize: 0, cpuAdapter: false };
    expect(moePermuteVariant({ tokens: 512, experts: 4, topK: 2 }, cpu)).toBe('serial');
    expect(moePermuteVariant({ tokens: 512, experts: 4, topK: 2 }, gpu)).toBe('blocks');
    expect(moePermuteVariant({ tokens: SERIAL_PERMUTE_MAX_ASSIGNMENTS / 8 + 1, experts: 64, topK: 8 }, cpu)).toBe('blocks');
  });

  for (const params of RANDOM) {
    const serial = moePermuteSerialCase(params);
    it(`${serial.program.label} matches its golden WGSL`, () => expectGoldenWgsl(GOLDEN_DIR, serial.program));
    it(`${serial.program.label} matches the permutation oracle`, async () => {
      const result = await checkKernel(await testExecutor(), serial, 3);
      expect(result.ok, result.report).toBe(true);
    });
    for (const [stage, kc] of Object.entries(moePermuteCases(params))) {
      it(`${kc.program.label} matches its golden WGSL`, () => expectGoldenWgsl(GOLDEN_DIR, kc.program));
      it(`${kc.program.label} matches its CPU oracle`, async () => {
        const result = await checkKernel(await testExecutor(), kc, 3);
        expect(result.ok, `${stage}: ${result.report}`).toBe(true);
      });
    }
    it(`chained ${params.tokens}x${params.topK} over ${params.experts} experts matches the permutation oracle`, async () => {
      const rng = new Rng(params.experts);
      await runOn(params, Int32Array.from({ length: params.tokens * params.topK }, () => rng.nextInt(params.experts)));
    });
  }

  it('routes every token to one expert (dropless) as an identity-ordered block', async () => {
    // Shapes repeat the random cases so the (slow, on lavapipe) pipeline compilations are shared.
    const p = RANDOM[0];
    const n = p.tokens * p.topK;
    const out = await runOn(p, new Int32Array(n).fill(5));
    expect(Array.from(out.counts)).toEqual([0, 0, 0, 0, 0, n, 0, 0]);
    expect(Array.from(out.perm_row)).toEqual(Array.from({ length: n }, (_, a) => a));
  });

  it('leaves empty experts with zero-length ranges and keeps the permutation a bijection', async () => {
    const p = RANDOM[0];
    const n = p.tokens * p.topK;
    // Only experts 3 and 6 are ever chosen.
    const idx = Int32Array.from({ length: n }, (_, a) => (a % 2 === 0 ? 6 : 3));
    const out = await runOn(p, idx);
    const offsets = Array.from(out.offsets);
    expect(offsets[p.experts]).toBe(n);
    expect(offsets[5] - offsets[4]).toBe(0);
    const rows = new Set(Array.from(out.perm_row));
    expect(rows.size).toBe(n);
    for (let a = 0; a < n; a++) {
      const row = out.perm_row[a];
      expect(out.src_token[row] * 2 + out.src_slot[row]).toBe(a);
      expect(row >= offsets[idx[a]] && row < offsets[idx[a] + 1]).toBe(true);
    }
  });

  it('drops assignments beyond capacity in (t, j) order and pads the tail rows with -1', async () => {
    const p = RANDOM[3];
    const n = p.tokens * p.topK;
    // Expert 0 receives three quarters of the assignments; capacity is ceil(602 / 16) = 38 rows.
    const idx = Int32Array.from({ length: n }, (_, a) => (a % 4 === 3 ? 1 + (a % 15) : 0));
    const out = await runOn(p, idx);
    expect(out.counts[0]).toBe(38);
    expect(out.perm_row[0]).toBe(0);
    const kept = Array.from(out.perm_row).filter((r) => r >= 0).length;
    expect(kept).toBe(out.offsets[p.experts]);
    expect(kept).toBeLessThan(n);
    expect(Array.from(out.src_token.slice(kept)).every((t) => t === -1)).toBe(true);
  });

  it('treats expert ids outside [0, E) as dropped', async () => {
    const p = RANDOM[0];
    const n = p.tokens * p.topK;
    const out = await runOn(p, Int32Array.from({ length: n }, (_, a) => (a % 3 === 0 ? -1 : a % 3 === 1 ? 8 : 2)));
    expect(out.offsets[p.experts]).toBe(Math.floor(n / 3));
  });

  // The gather's variants: `rows` for CPU adapters, `parallel` for GPUs (any adapter runs both).
  const gatherCaps: readonly RowKernelCaps[] = [
    { subgroups: true, subgroupMinSize: 8, cpuAdapter: true },
    { subgroups: false, subgroupMinSize: 0, cpuAdapter: false },
  ];
  it('the gather gives CPU adapters the rows variant, GPUs the parallel one', () => {
    expect(gatherCaps.map(moeGatherVariant)).toEqual(['rows', 'parallel']);
  });
  for (const caps of gatherCaps) for (const params of [{ tokens: 37, topK: 2, dim: 33 }, { tokens: 64, topK: 8, dim: 128 }]) {
    const program = moeGatherProgram(params, caps);
    it(`${program.label} matches its golden WGSL`, () => expectGoldenWgsl(GOLDEN_DIR, program));
    it(`${program.label} matches the CPU oracle`, async () => {
      const result = await checkKernel(await testExecutor(), moeGatherCase(params, caps), 4);
      expect(result.ok, result.report).toBe(true);
    });
  }
});

// fuse-aux-loss-dispatch: the serial permutation also computes the load-balance loss of its routing,
// replaying the aux_loss kernel's lanes (CPU adapters: 8 lanes).
describe('serial moe permute with the load-balance loss', () => {
  const caps: RowKernelCaps = { subgroups: true, subgroupMinSize: 8, cpuAdapter: true };
  const lanes = auxLossWorkgroup(caps);
  for (const p of [
    { tokens: 512, experts: 4, topK: 2 },
    { tokens: 97, experts: 3, topK: 2, capacityFactor: 0.75 },
    { tokens: 130, experts: 12, topK: 3 },
    // the vec4 path: an odd token count (the second part's tail) and two expert quads
    { tokens: 97, experts: 4, topK: 3 },
    { tokens: 101, experts: 8, topK: 2 },
  ] as MoePermuteParams[]) {
    const kernel = moePermuteSerialCase(p, { coef: 0.03, lanes });
    it(`${kernel.program.label} matches its golden WGSL and the oracles (permutation exact, loss and gradient)`, async () => {
      expect(kernel.program.label).toContain('_aux_');
      expectGoldenWgsl(GOLDEN_DIR, kernel.program);
      const result = await checkKernel(await testExecutor(), kernel, 7);
      expect(result.ok, result.report).toBe(true);
    });
    it(`${kernel.program.label} gives the bits of the permutation and the aux_loss kernel it replaces`, async () => {
      const exec = await testExecutor();
      const inputs = randomInputs(kernel.program, 21);
      const got = await exec.run(kernel.program, inputs);
      const permuted = await exec.run(moePermuteSerialCase(p).program, { topk_idx: inputs.topk_idx });
      const aux = auxLossProgram({ tokens: p.tokens, experts: p.experts, topK: p.topK, balanceCoef: 0.03, zLossCoef: 0, accumulate: false, total: true, grad: true }, caps);
      const want = await exec.run(aux, { probs: inputs.probs, topk_idx: inputs.topk_idx, d_loss: inputs.d_loss });
      for (const name of Object.keys(permuted)) expect(Array.from(got[name]), name).toEqual(Array.from(permuted[name]));
      expect(got.loss_total[0]).toBe(want.loss_total[0]);
      expect(got.loss_total[0]).toBeGreaterThan(0);
      expect(Array.from(got.d_x)).toEqual(Array.from(want.d_x));
    });
  }
});
