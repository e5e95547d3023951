// SD-MoE proxy weights W_c + W_u(e): golden WGSL and CPU oracle, scalar (K·N odd) and vec4, in the GPU
// layout (256 × 1 vectors) and the CPU adapters' (64 × 16), including a tensor that ends inside a workgroup's span.
import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { sdProxyCase, sdProxyProgram } from '../../compiler/kernels/sd-proxy.ts';
import { checkKernel } from '../../runtime/kernel-check.ts';
import { testExecutor } from '../support/gpu.ts';
import { expectGoldenWgsl } from '../support/golden.ts';

const GOLDEN_DIR = fileURLToPath(new URL('./golden/sd_proxy', import.meta.url));

describe('sd_proxy', () => {
  for (const caps of [undefined, { cpuAdapter: true }]) {
    for (const p of [{ experts: 1, matrix: 1 }, { experts: 3, matrix: 17 * 33 }, { experts: 4, matrix: 64 * 128 }, { experts: 3, matrix: 4 * 700 }]) {
      it(`${sdProxyProgram(p, caps).label} matches golden and oracle`, async () => {
        expectGoldenWgsl(GOLDEN_DIR, sdProxyProgram(p, caps));
        const r = await checkKernel(await testExecutor(), sdProxyCase(p, caps), 5);
        expect(r.ok, r.report).toBe(true);
      });
    }
  }
});
