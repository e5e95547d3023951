// Cross-entropy kernels, both layouts (workgroup per row for GPUs, invocation per row with vec4 or
// scalar rows for CPU adapters; caps built explicitly so both run here): golden WGSL, loss and
// dlogits against the CPU oracle on odd shapes (ignored targets included), stability on huge
// logits, an all-ignored batch, and the gradient reference against finite differences.
import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { crossEntropyCase, crossEntropyInPlace, crossEntropyProgram, crossEntropyReference, type CrossEntropyParams } from '../../compiler/kernels/cross-entropy.ts';
import { checkKernel, compareOutputs } from '../../runtime/kernel-check.ts';
import { testExecutor } from '../support/gpu.ts';
import { expectGoldenWgsl } from '../support/golden.ts';
import { numericGradient } from '../support/finite-diff.ts';
import type { RowKernelCaps } from '../../base/caps.ts';

const GOLDEN_DIR = fileURLToPath(new URL('./golden/cross_entropy', import.meta.url));

const CASES: CrossEntropyParams[] = [
  { tokens: 7, vocab: 1000, withGrad: true },
  { tokens: 5, vocab: 4099, withGrad: true },
  { tokens: 300, vocab: 3, withGrad: true },
  { tokens: 9, vocab: 257, withGrad: false },
  { tokens: 67, vocab: 36, withGrad: true },
  { tokens: 33, vocab: 68, withGrad: false },
];

const GPU_CAPS: RowKernelCaps = { cpuAdapter: false, subgroups: true, subgroupMinSize: 8 };
const CPU_CAPS: RowKernelCaps = { cpuAdapter: true, subgroups: true, subgroupMinSize: 8 };
const VARIANTS: [string, RowKernelCaps][] = [
  ['workgroup per row', GPU_CAPS],
  ['invocation per row', CPU_CAPS],
];

describe('cross-entropy kernels', () => {
  for (const [variant, caps] of VARIANTS) {
    for (const params of CASES) {
      const label = crossEntropyProgram(params, caps).label;
      it(`${label} (${variant}) matches its golden WGSL`, () => {
        expectGoldenWgsl(GOLDEN_DIR, crossEntropyProgram(params, caps));
      });
      it(`${label} (${variant}) matches the CPU oracle`, async () => {
        const result = await checkKernel(await testExecutor(), crossEntropyCase(params, caps), 4);
        expect(result.ok, result.report).toBe(true);
      });
    }
  }

  it('picks the layout from the adapter: workgroup per row on GPUs, invocation per row (vec4 when V % 4 = 0) on CPU adapters', () => {
    const p: CrossEntropyParams = { tokens: 512, vocab: 1024, withGrad: true };
    expect(crossEntropyProgram(p, GPU_CAPS).template).toBe('cross_entropy');
    const cpu = crossEntropyProgram(p, CPU_CAPS);
    expect(cpu.template).toBe('xent_rows');
    expect(cpu.bindings.filter((b) => b.vec4).map((b) => b.name)).toEqual(['logits', 'dlogits']);
    expect(crossEntropyProgram({ ...p, vocab: 1023 }, CPU_CAPS).bindings.some((b) => b.vec4)).toBe(false);
  });

  for (const [variant, caps] of VARIANTS) it(`${variant}: stays finite and exact on huge logits, and zeroes an all-ignored batch`, async () => {
    const exec = await testExecutor();
    const p: CrossEntropyParams = { tokens: 3, vocab: 5, withGrad: true };
    const logits = Float32Array.from([1e4, -1e4, 0, 3e4, 2e4, -3e4, -3e4, -3e4, -3e4, -3e4, 1, 2, 3, 4, 5]);
    const gradScale = Float32Array.from([1]);
    const targets = Int32Array.from([0, 2, 4]);
    const got = await exec.run(crossEntropyProgram(p, caps), { logits, targets, gradScale });
    const expected = crossEntropyReference(p, { logits, targets, gradScale });
    const f32 = (r: Record<string, Float64Array>) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, Float32Array.from(v)]));
    expect(compareOutputs(got, f32(expected), { atol: 1e-4, rtol: 1e-5 }).mismatches).toEqual([]);
    expect(got.loss[0]).toBeCloseTo(3e4 - 1e4, 0); // max logit 3e4 dominates the log-sum-exp
    expect(got.loss[1]).toBeCloseTo(Math.log(5), 5); // five equal logits

    const ignored = await exec.run(crossEntropyProgram(p, caps), { logits, targets: Int32Array.from([-1, -1, -1]), gradScale });
    expect(Array.from(ignored.loss)).toEqual([0, 0, 0]);
    expect(Array.from(ignored.dlogits).every((x) => x === 0)).toBe(true);
  });

  it('gradient reference equals finite differences of gradScale · mean loss', () => {
    const p: CrossEntropyParams = { tokens: 4, vocab: 5, withGrad: true };
    const logits = Float64Array.from({ length: 20 }, (_, i) => 2 * Math.sin(i * 1.9));
    const targets = Int32Array.from([3, -1, 0, 4]);
    const gradScale = [0.75];
    const meanLoss = (x: Float64Array) => (crossEntropyReference(p, { logits: x, targets, gradScale }).loss.reduce((a, b) => a + b, 0) * gradScale[0]) / 3;
    const numeric = numericGradient(meanLoss, logits);
    const analytic = crossEntropyReference(p, { logits, targets, gradScale }).dlogits;
    for (let i = 0; i < logits.length; i++) expect(analytic[i]).toBeCloseTo(numeric[i], 7);
  });

  // The planner hands the dying logits' buffer to dlogits on CPU adapters (cross_entropy_fused): the rows kernel writes the
  // gradient over the logits it walked.
  for (const params of [{ tokens: 7, vocab: 1000, withGrad: true, inPlace: true }, { tokens: 67, vocab: 36, withGrad: true, inPlace: true }]) {
    const label = crossEntropyProgram(params, CPU_CAPS).label;
    it(`${label} (in place) matches its golden WGSL and the oracle (dlogits in the logits binding)`, async () => {
      const program = crossEntropyProgram(params, CPU_CAPS);
      expect(program.bindings.map((b) => `${b.name}:${b.access}`)).toEqual(['logits:readwrite', 'targets:read', 'gradScale:read', 'loss:write']);
      expectGoldenWgsl(GOLDEN_DIR, program);
      const result = await checkKernel(await testExecutor(), crossEntropyCase(params, CPU_CAPS), 5);
      expect(result.ok, result.report).toBe(true);
    });
    it(`${label} gives the out-of-place kernel's bits`, async () => {
      const exec = await testExecutor();
      const logits = Float32Array.from({ length: params.tokens * params.vocab }, (_, i) => Math.sin(i * 0.37) * 6);
      const targets = Int32Array.from({ length: params.tokens }, (_, t) => (t % 5 === 4 ? -1 : (t * 13) % params.vocab));
      const gradScale = Float32Array.of(1.5);
      const apart = await exec.run(crossEntropyProgram({ ...params, inPlace: false }, CPU_CAPS), { logits, targets, gradScale });
      const inPlace = await exec.run(crossEntropyProgram(params, CPU_CAPS), { logits, targets, gradScale });
      expect(Array.from(inPlace.logits)).toEqual(Array.from(apart.dlogits));
      expect(Array.from(inPlace.loss)).toEqual(Array.from(apart.loss));
      expect(Array.from(apart.dlogits).some((x) => x < 0) && Array.from(apart.dlogits).some((x) => x > 0)).toBe(true);
    });
  }

  it('writes in place only on CPU adapters (a workgroup-per-row kernel would race on the target logit)', () => {
    expect(crossEntropyInPlace(CPU_CAPS)).toBe(true);
    expect(crossEntropyInPlace(GPU_CAPS)).toBe(false);
    expect(() => crossEntropyProgram({ tokens: 7, vocab: 1000, withGrad: true, inPlace: true }, GPU_CAPS)).toThrow(/only the CPU rows layout/);
  });
});

