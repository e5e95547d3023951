// SD-MoE proxy weights W_c + W_u(e): golden WGSL and CPU oracle, scalar (K·N odd) and vec4.
import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { sdProxyCase, sdProxyProgram } from '../../compiler/kernels/sd-proxy.ts';
import { checkKernel } from '../../runtime/kernel-check.ts';
import { testExecutor } from '../support/gpu.ts';
import { expectGoldenWgsl } from '../support/golden.ts';

const GOLDEN_DIR = fileURLToPath(new URL('./golden/sd_proxy', import.meta.url));

describe('sd_proxy', () => {
  for (const p of [{ experts: 1, matrix: 1 }, { experts: 3, matrix: 17 * 33 }, { experts: 4, matrix: 64 * 128 }]) {
    it(`${sdProxyProgram(p).label} matches golden and oracle`, async () => {
      expectGoldenWgsl(GOLDEN_DIR, sdProxyProgram(p));
      const r = await checkKernel(await testExecutor(), sdProxyCase(p), 5);
      expect(r.ok, r.report).toBe(true);
    });
  }
});
