// SD-MoE proxy weights W_c + W_u(e): golden WGSL and CPU oracle, flat scalar (K·N odd) and vec4, and the
// CPU adapters' grid variant (a partial last workgroup, a single vec4, the demo's shape).
import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { sdProxyCase, sdProxyProgram, sdProxyVariant } from '../../compiler/kernels/sd-proxy.ts';
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
  for (const p of [{ experts: 3, matrix: 17 * 12 }, { experts: 2, matrix: 4 }, { experts: 4, matrix: 64 * 128 }]) {
    it(`${sdProxyProgram(p, 'grid').label} matches golden and oracle`, async () => {
      expectGoldenWgsl(GOLDEN_DIR, sdProxyProgram(p, 'grid'));
      const r = await checkKernel(await testExecutor(), sdProxyCase(p, 'grid'), 5);
      expect(r.ok, r.report).toBe(true);
    });
  }

  it('gives CPU adapters the grid variant when K·N is a multiple of 4 and W_c fits a uniform binding', () => {
    expect(sdProxyVariant({ experts: 4, matrix: 8192 }, { cpuAdapter: true })).toBe('grid');
    expect(sdProxyVariant({ experts: 4, matrix: 8192 }, { cpuAdapter: false })).toBe('flat');
    expect(sdProxyVariant({ experts: 4, matrix: 561 }, { cpuAdapter: true })).toBe('flat');
    expect(sdProxyVariant({ experts: 4, matrix: 32768 }, { cpuAdapter: true })).toBe('flat'); // 128 KiB of W_c
    expect(() => sdProxyProgram({ experts: 2, matrix: 6 }, 'grid')).toThrow(/multiple of 4/);
  });
});
