// In-place accumulate y += x (SD-MoE project update adds D(Δ_u) to W_u): golden WGSL and CPU oracle,
// vec4 and scalar lengths.
import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { accumulateCase, accumulateProgram } from '../../compiler/kernels/accumulate.ts';
import { checkKernel } from '../../runtime/kernel-check.ts';
import { testExecutor } from '../support/gpu.ts';
import { expectGoldenWgsl } from '../support/golden.ts';

const GOLDEN_DIR = fileURLToPath(new URL('./golden/accumulate', import.meta.url));

describe('accumulate', () => {
  for (const p of [{ length: 1 }, { length: 777 }, { length: 4096 }]) {
    it(`${accumulateProgram(p).label} matches golden and oracle`, async () => {
      expectGoldenWgsl(GOLDEN_DIR, accumulateProgram(p));
      const r = await checkKernel(await testExecutor(), accumulateCase(p), 3);
      expect(r.ok, r.report).toBe(true);
    });
  }
  it('rejects an empty length', () => expect(() => accumulateProgram({ length: 0 })).toThrow(/positive/));
});
