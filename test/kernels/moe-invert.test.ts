// Permutation inversion for the MoE combine backward: golden WGSL and exact agreement with the
// oracle on random bijections (the case supplies them; a per-binding fill would not be one).
import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { moeInvertCase, moeInvertProgram } from '../../compiler/kernels/moe-invert.ts';
import { checkKernel } from '../../runtime/kernel-check.ts';
import { testExecutor } from '../support/gpu.ts';
import { expectGoldenWgsl } from '../support/golden.ts';

const GOLDEN_DIR = fileURLToPath(new URL('./golden/moe_invert', import.meta.url));

describe('moe invert', () => {
  for (const p of [{ tokens: 1, topK: 1 }, { tokens: 37, topK: 2 }, { tokens: 300, topK: 3 }]) {
    it(`${moeInvertProgram(p).label} matches golden and oracle`, async () => {
      expectGoldenWgsl(GOLDEN_DIR, moeInvertProgram(p));
      const r = await checkKernel(await testExecutor(), moeInvertCase(p), 5);
      expect(r.ok, r.report).toBe(true);
    });
  }
});
