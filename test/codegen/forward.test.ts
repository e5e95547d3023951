// End to end through the compiler: lower a tiny model, plan it, run every kernel on the device and
// compare every output with the CPU reference interpreter on the same params and tokens.
import { describe, expect, it } from 'vitest';
import { lowerModel } from '../../compiler/lower/model.ts';
import { cse } from '../../compiler/passes/cse.ts';
import { simplify } from '../../compiler/passes/simplify.ts';
import { checkGraphOnDevice } from '../../runtime/graph-check.ts';
import { testExecutor } from '../support/gpu.ts';
import { tinyModel } from './models.ts';

const SHAPE = { batch: 2, seqLen: 8 };

describe('forward graph on the device vs the interpreter', () => {
  it('dense tiny model', async () => {
    const g = cse(simplify(lowerModel(tinyModel({ dense: true }), SHAPE)));
    const r = await checkGraphOnDevice(await testExecutor(), g, { seed: 3, intBound: 40, tolerance: { atol: 1e-4, rtol: 1e-3 } });
    expect(r.ok, r.report).toBe(true);
  });
});
