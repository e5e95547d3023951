// SD-MoE proxy weights W_c + W_u(e): golden WGSL and CPU oracle, scalar (K·N odd) and vec4, in the GPU
// layout (256 × 1 vectors) and the CPU adapters' (64 × 16), including a tensor that ends inside a workgroup's span;
// batches (several matrices in one dispatch at their slots' offsets, out of order and with gaps) and their
// refusals.
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
    // three members: W_c and W_u slots interleaved in one "slab" as the planner lays them out, out of order,
    // output slots with a gap (elements there stay zero)
    for (const [p, members] of [
      [{ experts: 4, matrix: 64 }, [{ wc: 2048, wu: 0, out: 512 }, { wc: 64, wu: 1024, out: 0 }, { wc: 2112, wu: 1280, out: 1024 + 64 }]],
      [{ experts: 2, matrix: 5 }, [{ wc: 3, wu: 20, out: 11 }, { wc: 0, wu: 8, out: 0 }]],
    ] as const) {
      it(`${sdProxyProgram(p, caps, members).label} (a batch) matches golden and oracle`, async () => {
        expectGoldenWgsl(GOLDEN_DIR, sdProxyProgram(p, caps, members));
        const r = await checkKernel(await testExecutor(), sdProxyCase(p, caps, members), 5);
        expect(r.ok, r.report).toBe(true);
      });
    }
  }
  it('refuses overlapping members and offsets that split a vector', () => {
    expect(() => sdProxyProgram({ experts: 2, matrix: 8 }, undefined, [{ wc: 0, wu: 0, out: 0 }, { wc: 0, wu: 0, out: 8 }])).toThrow(/overlap/);
    expect(() => sdProxyProgram({ experts: 2, matrix: 8 }, undefined, [{ wc: 2, wu: 0, out: 0 }])).toThrow(/whole vec4s/);
  });
});
