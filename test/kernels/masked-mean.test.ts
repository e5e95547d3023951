// Masked mean (the scalar cross-entropy over non-ignored rows): golden WGSL and CPU oracle for both
// combines (256-lane tree for GPUs, 64 lanes with a serial combine for CPU adapters).
import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { maskedMeanCase, maskedMeanProgram } from '../../compiler/kernels/masked-mean.ts';
import { checkKernel } from '../../runtime/kernel-check.ts';
import { testExecutor } from '../support/gpu.ts';
import { expectGoldenWgsl } from '../support/golden.ts';
import type { RowKernelCaps } from '../../base/caps.ts';

const VARIANTS: [string, RowKernelCaps][] = [
  ['tree', { cpuAdapter: false, subgroups: true, subgroupMinSize: 8 }],
  ['serial combine', { cpuAdapter: true, subgroups: true, subgroupMinSize: 8 }],
];

const GOLDEN_DIR = fileURLToPath(new URL('./golden/masked_mean', import.meta.url));

describe('masked mean', () => {
  for (const [variant, caps] of VARIANTS) {
    for (const p of [{ rows: 1, vocab: 5 }, { rows: 257, vocab: 3 }, { rows: 4097, vocab: 1000 }]) {
      it(`${maskedMeanProgram(p, caps).label} (${variant}) matches golden and oracle`, async () => {
        expectGoldenWgsl(GOLDEN_DIR, maskedMeanProgram(p, caps));
        const r = await checkKernel(await testExecutor(), maskedMeanCase(p, caps), 11);
        expect(r.ok, r.report).toBe(true);
      });
    }
  }

  for (const [variant, caps] of VARIANTS) it(`${variant}: is 0 when every row is ignored`, async () => {
    const p = { rows: 9, vocab: 4 };
    const exec = await testExecutor();
    const out = await exec.run(maskedMeanProgram(p, caps), { values: new Float32Array(9).fill(3), targets: new Int32Array(9).fill(-1) });
    expect(out.mean[0]).toBe(0);
  });

  // fuse-loss-sum: the total loss ((mean + a0) + a1) + … from the addends, in order.
  for (const [variant, caps] of VARIANTS) it(`${variant}: with addends also writes the total, added in order`, async () => {
    const p = { rows: 257, vocab: 3, addends: 3 };
    const program = maskedMeanProgram(p, caps);
    expect(program.label).toContain('_sum3');
    expectGoldenWgsl(GOLDEN_DIR, program);
    const r = await checkKernel(await testExecutor(), maskedMeanCase(p, caps), 12);
    expect(r.ok, r.report).toBe(true);
    const exec = await testExecutor();
    const values = Float32Array.from({ length: 257 }, (_, i) => 1 + (i % 7) * 0.25);
    const targets = Int32Array.from({ length: 257 }, (_, i) => (i % 5 === 0 ? -1 : i % 3));
    const addends = { addend0: Float32Array.of(1e-3), addend1: Float32Array.of(0.1), addend2: Float32Array.of(1e8) };
    const out = await exec.run(program, { values, targets, ...addends });
    const plain = await exec.run(maskedMeanProgram({ rows: 257, vocab: 3 }, caps), { values, targets });
    expect(out.mean[0]).toBe(plain.mean[0]);
    expect(out.loss_sum[0]).toBe(Math.fround(Math.fround(Math.fround(plain.mean[0] + 1e-3) + Math.fround(0.1)) + 1e8));
  });
});
