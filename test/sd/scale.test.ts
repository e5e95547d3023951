// One check at a realistic size (128×256, E=8, r=8): init and a fold re-basing keep their invariants
// beyond the tiny shapes of the other tests. Uses runtime/sd's own SVD for the spectrum (ml-matrix's
// would dominate the test's run time); init.test.ts cross-checks that SVD against ml-matrix.
import { describe, expect, it } from 'vitest';
import { Rng } from '../../base/rng.ts';
import { spectralInit } from '../../runtime/sd/init.ts';
import { topSvd } from '../../runtime/sd/linalg.ts';
import { rebase } from '../../runtime/sd/rebase.ts';

const rows = 128;
const cols = 256;
const experts = 8;
const rank = 8;
const size = rows * cols;

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

/** Bᵀ M for row-major B [rows, rank] and M [rows, cols], as a flat [rank, cols] array. */
function basisTimes(b: Float32Array, m: Float32Array): Float64Array {
  const out = new Float64Array(rank * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < rank; j++) for (let k = 0; k < cols; k++) out[j * cols + k] += b[i * rank + j] * m[i * cols + k];
  return out;
}

describe('SD at 128×256, 8 experts, rank 8', () => {
  const state = spectralInit({ rows, cols, experts, rank, std: 0.02, rng: new Rng(3), mode: 'orthogonal_complement' });

  it('init: proxies keep the spectrum and unique matrices avoid the common row space', () => {
    for (let e = 0; e < experts; e++) {
      const unique = state.unique.subarray(e * size, (e + 1) * size);
      expect(maxAbs(basisTimes(state.uk, unique))).toBeLessThan(1e-5 * maxAbs(unique));
    }
    const proxy = state.common.map((x, i) => x + state.unique[(experts - 1) * size + i]);
    const s = topSvd(proxy, rows, cols, 0, { full: true }).singularValues;
    state.spectrum.forEach((expected, j) => expect(Math.abs(s[j] - expected)).toBeLessThan(1e-4 * expected));
  });

  it("rebase 'fold' keeps every proxy after a perturbation of W_c", () => {
    const noise = new Rng(4);
    const common = state.common.map((x) => x + noise.normal(0, 0.002));
    const after = rebase({ ...state, common, rows, cols, experts, rank, residual: 'fold', reproject: false });
    let worst = 0;
    let scale = 0;
    for (let e = 0; e < experts; e++) {
      for (let i = 0; i < size; i++) {
        const before = common[i] + state.unique[e * size + i];
        worst = Math.max(worst, Math.abs(after.common[i] + after.unique[e * size + i] - before));
        scale = Math.max(scale, Math.abs(before));
      }
    }
    expect(worst).toBeLessThan(1e-5 * scale);
    expect(after.residualNorm).toBeGreaterThan(0);
  });
});
