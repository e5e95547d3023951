// SwiGLU kernels: golden WGSL, GPU vs CPU oracle on odd shapes (separate and packed gate/up), and
// the backward oracle proven against central finite differences of the forward oracle.
import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import {
  swigluBackwardCase,
  swigluBackwardProgram,
  swigluBackwardReference,
  swigluCase,
  swigluProgram,
  swigluReference,
  type SwigluParams,
} from '../../compiler/kernels/swiglu.ts';
import { checkKernel } from '../../runtime/kernel-check.ts';
import { testExecutor } from '../support/gpu.ts';
import { expectGoldenWgsl } from '../support/golden.ts';
import { dot, numericGradient } from '../support/finite-diff.ts';

const GOLDEN_DIR = fileURLToPath(new URL('./golden/swiglu', import.meta.url));

const CASES: SwigluParams[] = [
  { tokens: 7, hidden: 129, packed: false },
  { tokens: 5, hidden: 300, packed: true },
  { tokens: 1, hidden: 1, packed: true },
  { tokens: 9, hidden: 68, packed: false },
];
// Both layouts run here, whatever the adapter: CPU (64 × 16 vectors per invocation) and GPU (256 × 1).
// Hidden 129 and 1 are f32 layouts, 300 and 68 vec4 ones; none fills its last workgroup.
const CAPS = [{ cpuAdapter: true }, { cpuAdapter: false }];

/** d(Σ out·weights)/d(input[i]) by central differences, float64. */


const randoms = (n: number, seed: number, scale = 2): Float64Array => Float64Array.from({ length: n }, (_, i) => scale * Math.sin(seed * 97.1 + i * 12.9898));

describe('swiglu kernels', () => {
  for (const params of CASES) {
    for (const caps of CAPS) {
      for (const [kind, program, kcase] of [
        ['forward', swigluProgram, swigluCase],
        ['backward', swigluBackwardProgram, swigluBackwardCase],
      ] as const) {
        const label = program(params, caps).label;
        it(`${label} matches its golden WGSL`, () => {
          expectGoldenWgsl(GOLDEN_DIR, program(params, caps));
        });
        it(`${label} (${kind}) matches the CPU oracle`, async () => {
          const result = await checkKernel(await testExecutor(), kcase(params, caps), 11);
          expect(result.ok, result.report).toBe(true);
        });
      }
    }
  }

  for (const packed of [false, true]) {
    it(`backward oracle equals finite differences of the forward oracle (packed=${packed})`, () => {
      const p: SwigluParams = { tokens: 3, hidden: 4, packed };
      const n = p.tokens * p.hidden;
      const dh = randoms(n, 1);
      const gu = randoms(2 * n, 2);
      const g = randoms(n, 3);
      const u = randoms(n, 4);
      const analytic = swigluBackwardReference(p, packed ? { dh, gu } : { dh, g, u });
      if (packed) {
        const numeric = numericGradient((x) => dot(swigluReference(p, { gu: x }).h, dh), gu);
        for (let i = 0; i < numeric.length; i++) expect(analytic.dgu[i]).toBeCloseTo(numeric[i], 6);
      } else {
        const dg = numericGradient((x) => dot(swigluReference(p, { g: x, u }).h, dh), g);
        const du = numericGradient((x) => dot(swigluReference(p, { g, u: x }).h, dh), u);
        for (let i = 0; i < n; i++) {
          expect(analytic.dg[i]).toBeCloseTo(dg[i], 6);
          expect(analytic.du[i]).toBeCloseTo(du[i], 6);
        }
      }
    });
  }

  it('rejects empty shapes', () => {
    expect(() => swigluProgram({ tokens: 0, hidden: 4, packed: false })).toThrow(/positive integers/);
  });
});
