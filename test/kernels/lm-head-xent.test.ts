// Chunked LM-head cross-entropy kernels (compiler/kernels/lm-head-xent.ts): golden WGSL and the CPU
// oracle for the per-chunk row kernel (loss only, and loss plus dlogits written over the logits in
// place) and the batch-wide scale kernel, on odd vocabularies with ignored targets; the in-place
// rewrite agrees with the unchunked cross-entropy's dlogits; the chunk-size rule. Every kernel in
// both layouts (GPU: workgroup per row and a tree; CPU adapter: invocation per row and a serial
// combine), with caps built explicitly so both run here.
import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import {
  LM_HEAD_CHUNK_BYTES,
  LM_HEAD_ROW_GRANULE,
  lmHeadChunkRows,
  lmHeadXentCase,
  lmHeadXentProgram,
  lmHeadXentScaleCase,
  lmHeadXentScaleProgram,
  type LmHeadXentParams,
} from '../../compiler/kernels/lm-head-xent.ts';
import { crossEntropyProgram } from '../../compiler/kernels/cross-entropy.ts';
import { checkKernel } from '../../runtime/kernel-check.ts';
import { testExecutor } from '../support/gpu.ts';
import { expectGoldenWgsl } from '../support/golden.ts';
import { Rng } from '../../base/rng.ts';
import type { RowKernelCaps } from '../../base/caps.ts';

const VARIANTS: [string, RowKernelCaps][] = [
  ['GPU layout', { cpuAdapter: false, subgroups: true, subgroupMinSize: 8 }],
  ['CPU layout', { cpuAdapter: true, subgroups: true, subgroupMinSize: 8 }],
];

const GOLDEN_DIR = fileURLToPath(new URL('./golden/lm_head_xent', import.meta.url));

const ROWS: LmHeadXentParams[] = [
  { rows: 7, vocab: 1000, withGrad: true },
  { rows: 64, vocab: 4099, withGrad: true },
  { rows: 300, vocab: 3, withGrad: true },
  { rows: 9, vocab: 257, withGrad: false },
  { rows: 45, vocab: 132, withGrad: true },
  { rows: 3, vocab: 64, withGrad: false },
];

describe('lm-head cross-entropy kernels', () => {
  for (const [variant, caps] of VARIANTS) {
    for (const p of ROWS) {
      it(`${lmHeadXentProgram(p, caps).label} (${variant}) matches golden and oracle`, async () => {
        expectGoldenWgsl(GOLDEN_DIR, lmHeadXentProgram(p, caps));
        const r = await checkKernel(await testExecutor(), lmHeadXentCase(p, caps), 5);
        expect(r.ok, r.report).toBe(true);
      });
    }

    for (const p of [{ rows: 1, vocab: 5 }, { rows: 4097, vocab: 1000 }]) {
      it(`${lmHeadXentScaleProgram(p, caps).label} (${variant}) matches golden and oracle`, async () => {
        expectGoldenWgsl(GOLDEN_DIR, lmHeadXentScaleProgram(p, caps));
        const r = await checkKernel(await testExecutor(), lmHeadXentScaleCase(p, caps), 6);
        expect(r.ok, r.report).toBe(true);
      });
    }
  }

  for (const [variant, caps] of VARIANTS) it(`${variant}: scale kernel then in-place rows give the unchunked cross-entropy dlogits, chunk by chunk`, async () => {
    const exec = await testExecutor();
    const rng = new Rng('lm-head-xent:vs-ce');
    const T = 10;
    const V = 37;
    const logits = Float32Array.from({ length: T * V }, () => rng.normal(0, 3));
    const targets = Int32Array.from({ length: T }, (_, t) => (t % 4 === 3 ? -1 : (t * 7) % V));
    const dMean = Float32Array.of(1.7);
    const whole = await exec.run(crossEntropyProgram({ tokens: T, vocab: V, withGrad: true }, caps), { logits, targets, gradScale: dMean });
    const { scale } = await exec.run(lmHeadXentScaleProgram({ rows: T, vocab: V }, caps), { targets, dMean });
    expect(scale[0]).toBeCloseTo(1.7 / 8, 6); // rows 3 and 7 are ignored
    for (const [r0, n] of [[0, 6], [6, 4]]) {
      const got = await exec.run(lmHeadXentProgram({ rows: n, vocab: V, withGrad: true }, caps), {
        logits: logits.slice(r0 * V, (r0 + n) * V),
        targets: targets.slice(r0, r0 + n),
        scale,
      });
      for (let i = 0; i < n; i++) expect(got.loss[i]).toBeCloseTo(whole.loss[r0 + i], 5);
      for (let i = 0; i < n * V; i++) expect(got.logits[i]).toBeCloseTo(whole.dlogits[r0 * V + i], 6);
    }
  });

  it('chunks by rows only above the chunk budget, in granules, and refuses when one granule cannot fit', () => {
    expect(lmHeadChunkRows(512, 1024, 2 ** 31)).toBe(512);
    const rows = lmHeadChunkRows(8192, 151_936, 2 ** 31)!;
    expect(rows % LM_HEAD_ROW_GRANULE).toBe(0);
    expect(rows * 151_936 * 4).toBeLessThanOrEqual(LM_HEAD_CHUNK_BYTES);
    expect((rows + LM_HEAD_ROW_GRANULE) * 151_936 * 4).toBeGreaterThan(LM_HEAD_CHUNK_BYTES);
    expect(lmHeadChunkRows(1000, 40, 64 * 40 * 4)).toBe(64);
    expect(lmHeadChunkRows(1000, 40, 64 * 40 * 4 - 1)).toBeNull();
  });
});
