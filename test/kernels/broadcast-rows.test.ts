// Row broadcast with a device-side scale: golden WGSL and CPU oracle on odd shapes.
import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { broadcastRowsCase, broadcastRowsProgram } from '../../compiler/kernels/broadcast-rows.ts';
import { checkKernel } from '../../runtime/kernel-check.ts';
import { testExecutor } from '../support/gpu.ts';
import { expectGoldenWgsl } from '../support/golden.ts';

const GOLDEN_DIR = fileURLToPath(new URL('./golden/broadcast_rows', import.meta.url));

describe('broadcast rows', () => {
  for (const p of [{ rows: 1, cols: 1 }, { rows: 129, cols: 7 }, { rows: 512, cols: 8 }]) {
    it(`${broadcastRowsProgram(p).label} matches golden and oracle`, async () => {
      expectGoldenWgsl(GOLDEN_DIR, broadcastRowsProgram(p));
      const r = await checkKernel(await testExecutor(), broadcastRowsCase(p), 2);
      expect(r.ok, r.report).toBe(true);
    });
  }
});
