// Gradient accumulation kernels (`grad_accum N`): acc += g after micro-batches 1 … N−1, and
// g = (g + acc)·scale, acc = 0 after the last. Golden WGSL and CPU oracle, vec4 and scalar
// lengths, in the GPU layout and the CPU adapters' (64 × 16 vectors, past one workgroup's span at 70 004);
// and a chain of N micro-batches on the device equals the mean of the N gradients.
import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { gradAccumCase, gradAccumProgram, type GradAccumParams } from '../../compiler/kernels/grad-accum.ts';
import { checkKernel } from '../../runtime/kernel-check.ts';
import { testExecutor } from '../support/gpu.ts';
import { expectGoldenWgsl } from '../support/golden.ts';
import { Rng } from '../../base/rng.ts';

const GOLDEN_DIR = fileURLToPath(new URL('./golden/grad-accum', import.meta.url));

const CASES: GradAccumParams[] = [
  { length: 1, mode: 'add' },
  { length: 777, mode: 'add' },
  { length: 4096, mode: 'add' },
  { length: 777, mode: 'finish', scale: 1 / 3 },
  { length: 4096, mode: 'finish', scale: 0.25 },
  { length: 70_004, mode: 'add' },
  { length: 70_003, mode: 'finish', scale: 0.5 },
];

describe('grad_accum kernels', () => {
  for (const caps of [undefined, { cpuAdapter: true }]) {
    for (const p of CASES) {
      it(`${gradAccumProgram(p, caps).label} matches golden and oracle`, async () => {
        expectGoldenWgsl(GOLDEN_DIR, gradAccumProgram(p, caps));
        const r = await checkKernel(await testExecutor(), gradAccumCase(p, caps), 5);
        expect(r.ok, r.report).toBe(true);
      });
    }
  }

  it('three micro-batches leave their mean in the gradient and a zero accumulator', async () => {
    const exec = await testExecutor();
    const n = 1000;
    const rng = new Rng(9);
    const grads = [0, 1, 2].map(() => Float32Array.from({ length: n }, () => rng.nextFloat() * 2 - 1));
    const add = gradAccumProgram({ length: n, mode: 'add' });
    const finish = gradAccumProgram({ length: n, mode: 'finish', scale: 1 / 3 });
    let acc: Float32Array = new Float32Array(n);
    let out: Record<string, ArrayLike<number>> = {};
    for (let m = 0; m < 3; m++) {
      out = await exec.run(m < 2 ? add : finish, { grad: grads[m], acc });
      acc = out.acc as Float32Array;
    }
    const mean = out.grad as Float32Array;
    for (let i = 0; i < n; i++) expect(mean[i]).toBeCloseTo((grads[0][i] + grads[1][i] + grads[2][i]) / 3, 6);
    expect(acc.every((x) => x === 0)).toBe(true);
  });

  it('rejects an empty length and a non-positive scale', () => {
    expect(() => gradAccumProgram({ length: 0, mode: 'add' })).toThrow(/positive/);
    expect(() => gradAccumProgram({ length: 4, mode: 'finish', scale: 0 })).toThrow(/scale/);
  });
});
