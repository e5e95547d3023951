// FFN activation kernels (GeGLU and the non-gated gelu, relu, silu): golden WGSL, GPU vs CPU oracle
// on lengths that are not multiples of the workgroup, the backward oracles against central finite
// differences of the forward oracles, and the GELU convention: the tanh approximation, checked
// against known values and against the exact erf GELU it approximates.
import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import {
  ACTIVATION_REFERENCE,
  activationBackwardCase,
  activationBackwardProgram,
  activationBackwardReference,
  activationCase,
  activationProgram,
  activationReference,
  type ActivationParams,
} from '../../compiler/kernels/activation.ts';
import type { ActivationFn } from '../../compiler/ir/types.ts';
import { checkKernel, compareOutputs } from '../../runtime/kernel-check.ts';
import { testExecutor } from '../support/gpu.ts';
import { expectGoldenWgsl } from '../support/golden.ts';
import { dot, numericGradient } from '../support/finite-diff.ts';

const GOLDEN_DIR = fileURLToPath(new URL('./golden/activation', import.meta.url));

const CASES: ActivationParams[] = [
  { length: 7 * 129, fn: 'gelu', gated: true },
  { length: 1, fn: 'gelu', gated: true },
  { length: 4 * 333, fn: 'gelu', gated: true },
  ...(['gelu', 'relu', 'silu'] as const).map((fn) => ({ length: 5 * 300, fn, gated: false })),
];
// Both layouts run here, whatever the adapter: CPU (64 × 16 vectors per invocation) and GPU (256 × 1).
// 903 and 1 are f32 layouts, 1332 and 1500 vec4 ones; none fills its last workgroup.
const CAPS = [{ cpuAdapter: true }, { cpuAdapter: false }];

const randoms = (n: number, seed: number, scale = 3): Float64Array => Float64Array.from({ length: n }, (_, i) => scale * Math.sin(seed * 97.1 + i * 12.9898));

describe('activation kernels', () => {
  for (const params of CASES) {
    for (const caps of CAPS) {
      for (const [kind, program, kcase] of [
        ['forward', activationProgram, activationCase],
        ['backward', activationBackwardProgram, activationBackwardCase],
      ] as const) {
        const label = program(params, caps).label;
        it(`${label} matches its golden WGSL`, () => {
          expectGoldenWgsl(GOLDEN_DIR, program(params, caps));
        });
        it(`${label} (${kind}) matches the CPU oracle`, async () => {
          const result = await checkKernel(await testExecutor(), kcase(params, caps), 13);
          expect(result.ok, result.report).toBe(true);
        });
      }
    }
  }

  it('large pre-activations stay finite on the device (no inf / inf in the tails)', async () => {
    const exec = await testExecutor();
    const x = Float32Array.of(-1e4, -200, -30, -5, 0, 5, 30, 200, 1e4, -1e4, 1e4, -200);
    for (const fn of ['gelu', 'silu'] as const) {
      const p: ActivationParams = { length: x.length, fn, gated: false };
      const got = { ...(await exec.run(activationProgram(p), { x })), ...(await exec.run(activationBackwardProgram(p), { dh: new Float32Array(x.length).fill(1), x })) };
      const want = { h: Float32Array.from(activationReference(p, { x }).h), dx: Float32Array.from(activationBackwardReference(p, { dh: new Float64Array(x.length).fill(1), x }).dx) };
      expect(compareOutputs(got, want, { atol: 1e-5, rtol: 1e-5 }).mismatches, fn).toEqual([]);
    }
  });

  for (const fn of ['gelu', 'relu', 'silu'] as ActivationFn[]) {
    for (const gated of fn === 'gelu' ? [false, true] : [false]) {
      it(`${gated ? 'gated ' : ''}${fn}: backward oracle equals finite differences of the forward oracle`, () => {
        const p: ActivationParams = { length: 24, fn, gated };
        const dh = randoms(24, 1);
        const pre = randoms(24, 2).map((v) => (Math.abs(v) < 1e-3 ? v + 0.01 : v)); // off relu's kink
        const u = randoms(24, 3);
        if (!gated) {
          const numeric = numericGradient((v) => dot(activationReference(p, { x: v }).h, dh), pre);
          const { dx } = activationBackwardReference(p, { dh, x: pre });
          for (let i = 0; i < 24; i++) expect(dx[i]).toBeCloseTo(numeric[i], 6);
          expect(dx.some((v) => Math.abs(v) > 0.1)).toBe(true);
        } else {
          const dg = numericGradient((v) => dot(activationReference(p, { g: v, u }).h, dh), pre);
          const du = numericGradient((v) => dot(activationReference(p, { g: pre, u: v }).h, dh), u);
          const analytic = activationBackwardReference(p, { dh, g: pre, u });
          for (let i = 0; i < 24; i++) {
            expect(analytic.dg[i]).toBeCloseTo(dg[i], 6);
            expect(analytic.du[i]).toBeCloseTo(du[i], 6);
          }
        }
      });
    }
  }

  it('gelu is the tanh approximation (PyTorch approximate="tanh"), within 5e-4 of the exact erf GELU', () => {
    const { f } = ACTIVATION_REFERENCE.gelu;
    // torch.nn.functional.gelu(torch.tensor([-3., -1., 0.5, 1., 2.]), approximate='tanh'), float64
    const torchTanh = [-0.0036373920817729943, -0.15880800939172324, 0.34571400982514394, 0.8411919906082768, 1.954597694087775];
    [-3, -1, 0.5, 1, 2].forEach((x, i) => expect(f(x)).toBeCloseTo(torchTanh[i], 12));
    // torch.nn.functional.gelu(…) (the exact x·Φ(x)), float64; the two differ by at most 4.7e-4 on the reals
    const exact = [-0.00404969409489031, -0.15865525393145702, 0.34573123063700656, 0.841344746068543, 1.9544997361036416];
    [-3, -1, 0.5, 1, 2].forEach((x, i) => {
      expect(Math.abs(f(x) - exact[i])).toBeLessThan(5e-4);
      expect(f(x)).not.toBeCloseTo(exact[i], 9); // it really is the approximation
    });
  });

  it('rejects empty lengths', () => {
    expect(() => activationProgram({ length: 0, fn: 'relu', gated: false })).toThrow(/positive integer/);
  });
});
