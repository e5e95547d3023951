// Global gradient norm: goldens and oracle agreement for both stages in both layouts (lane for CPU
// adapters, tree for GPUs; odd lengths, sub-ranges of a packed arena, several buffers sharing one
// partials buffer), and an end-to-end chain on the device against a direct float64 norm, clipped
// and unclipped. Caps are built by hand so both layouts run on the test adapter.
import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import {
  gradNormFinalizeCase,
  gradNormFinalizeProgram,
  gradNormPartialSlots,
  gradNormPartialsCase,
  gradNormPartialsProgram,
  gradNormVariant,
  type GradNormFinalizeParams,
  type GradNormPartialsParams,
} from '../../compiler/kernels/grad-norm.ts';
import type { RowKernelCaps } from '../../base/caps.ts';
import { checkKernel, randomInputs } from '../../runtime/kernel-check.ts';
import type { HostArray } from '../../runtime/executor.ts';
import { testExecutor } from '../support/gpu.ts';
import { expectGoldenWgsl } from '../support/golden.ts';

const GOLDEN_DIR = fileURLToPath(new URL('./golden/grad_norm', import.meta.url));

const CPU: RowKernelCaps = { subgroups: true, subgroupMinSize: 8, cpuAdapter: true };
const GPU: RowKernelCaps = { subgroups: false, subgroupMinSize: 32, cpuAdapter: false };

for (const [variant, caps] of [['tree', GPU], ['lane', CPU]] as const) {
  // Two gradient buffers (10000 and 17 elements) sharing one partials buffer, and sub-ranges of a
  // 40000-element slab (the lane layout's chunks are 16384 elements).
  const SLOTS_A = gradNormPartialSlots(10000, caps);
  const PARTIALS = SLOTS_A + gradNormPartialSlots(17, caps);
  const SLAB_PARTIALS = 1 + gradNormPartialSlots(33333, caps);
  const STAGE1: GradNormPartialsParams[] = [
    { bufferLength: 10000, elementOffset: 0, length: 10000, partialOffset: 0, partialsLength: PARTIALS },
    { bufferLength: 17, elementOffset: 0, length: 17, partialOffset: SLOTS_A, partialsLength: PARTIALS },
    { bufferLength: 40000, elementOffset: 1234, length: 33333, partialOffset: 1, partialsLength: SLAB_PARTIALS },
    { bufferLength: 40000, elementOffset: 2048, length: 33332, partialOffset: 0, partialsLength: SLAB_PARTIALS },
  ];
  // 301 partials: the lane layout's finalize reads scalars, not vec4s.
  const STAGE2: GradNormFinalizeParams[] = [{ partialsLength: PARTIALS, maxNorm: 1 }, { partialsLength: 300 }, { partialsLength: 301, maxNorm: 0.5 }];

  describe(`grad norm kernels (${variant} layout)`, () => {
    it('is the layout the caps select', () => expect(gradNormVariant(caps)).toBe(variant));
    for (const params of STAGE1) {
      const program = gradNormPartialsProgram(params, caps);
      it(`${program.label} matches its golden WGSL`, () => expectGoldenWgsl(GOLDEN_DIR, program));
      it(`${program.label} matches the CPU oracle`, async () => {
        const result = await checkKernel(await testExecutor(), gradNormPartialsCase(params, caps), 51);
        expect(result.ok, result.report).toBe(true);
      });
    }
    for (const params of STAGE2) {
      const program = gradNormFinalizeProgram(params, caps);
      it(`${program.label} matches its golden WGSL`, () => expectGoldenWgsl(GOLDEN_DIR, program));
      it(`${program.label} matches the CPU oracle`, async () => {
        const result = await checkKernel(await testExecutor(), gradNormFinalizeCase(params, caps), 52);
        expect(result.ok, result.report).toBe(true);
      });
    }

    it('chains both stages over two buffers to the global norm and clip scale', async () => {
      const exec = await testExecutor();
      const gradA = randomInputs(gradNormPartialsProgram(STAGE1[0], caps), 1).grad;
      const gradB = Float32Array.from({ length: 17 }, (_, i) => 10 * (i - 8));
      let partials: HostArray = new Float32Array(PARTIALS);
      partials = (await exec.run(gradNormPartialsProgram(STAGE1[0], caps), { grad: gradA, partials })).partials;
      partials = (await exec.run(gradNormPartialsProgram(STAGE1[1], caps), { grad: gradB, partials })).partials;
      const clip = (await exec.run(gradNormFinalizeProgram(STAGE2[0], caps), { partials })).clip;
      let sum = 0;
      for (const g of [...gradA, ...gradB]) sum += g * g;
      const norm = Math.sqrt(sum);
      expect(Math.abs(clip[1] - norm) / norm).toBeLessThan(1e-5);
      expect(Math.abs(clip[0] - 1 / (norm + 1e-6))).toBeLessThan(1e-6);
    });

    it('keeps the slots of a long range bounded, and sums a range past 256 lane chunks right', async () => {
      const slots = gradNormPartialSlots(1e8, caps);
      expect(slots).toBeLessThanOrEqual(variant === 'lane' ? 256 * 64 : Math.ceil(1e8 / 4096));
      expect(slots).toBeGreaterThan(0);
      const length = 256 * 16384 + 1003;
      const p: GradNormPartialsParams = { bufferLength: length + 5, elementOffset: 2, length, partialOffset: 0, partialsLength: gradNormPartialSlots(length, caps) };
      const result = await checkKernel(await testExecutor(), gradNormPartialsCase(p, caps), 53);
      expect(result.ok, result.report).toBe(true);
    });

    it('rejects ranges and slots outside their buffers', () => {
      expect(() => gradNormPartialsProgram({ ...STAGE1[2], length: 40000 }, caps)).toThrow(/outside/);
      expect(() => gradNormPartialsProgram({ ...STAGE1[2], partialOffset: SLAB_PARTIALS }, caps)).toThrow(/exceed/);
    });
  });
}
