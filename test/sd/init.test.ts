// SD-MoE init invariants (digest §2.3): W_c is the rank-r truncation of the dense draw; every unique
// matrix lies in the double complement of (U_k, V_k); with Algorithm 1 every proxy keeps the draw's
// exact spectrum; results depend only on the seed. References come from ml-matrix's SVD.
import { describe, expect, it } from 'vitest';
import { Matrix } from 'ml-matrix';
import { Rng } from '../../base/rng.ts';
import { denseInitMatrix, spectralInit, type SpectralInitMode } from '../../runtime/sd/init.ts';
import {
  frobenius, maxAbs, maxAbsDiff, projector, proxy, referenceProjector, referenceSvd, referenceTruncation, toMatrix,
} from './helpers.ts';

const modes: SpectralInitMode[] = ['orthogonal_complement', 'truncated_svd'];
const shapes: [number, number][] = [[24, 40], [40, 24]];
const experts = 3;
const rank = 4;
const std = 0.02;

describe.each(modes)('spectralInit %s', (mode) => {
  describe.each(shapes)('%i×%i', (rows, cols) => {
    const seed = 11;
    const state = spectralInit({ rows, cols, experts, rank, std, rng: new Rng(seed), mode });
    const w = denseInitMatrix(new Rng(seed), rows, cols, std);
    const ref = referenceSvd(w, rows, cols);

    it('W_c is the rank-r truncation of the dense draw, and the spectrum is reported', () => {
      const truncation = referenceTruncation(w, rows, cols, rank);
      expect(maxAbsDiff(toMatrix(state.common, rows, cols), truncation)).toBeLessThan(1e-5 * maxAbs(truncation));
      ref.s.forEach((s, j) => expect(Math.abs(state.spectrum[j] - s)).toBeLessThan(1e-9 * ref.s[0]));
    });

    it('U_k, V_k are orthonormal and span the top-r singular subspaces of W', () => {
      for (const [basis, n, side] of [[state.uk, rows, 'rows'], [state.vk, cols, 'cols']] as const) {
        const b = toMatrix(basis, n, rank);
        expect(maxAbsDiff(b.transpose().mmul(b), Matrix.eye(rank))).toBeLessThan(1e-5);
        expect(maxAbsDiff(projector(basis, n, rank), referenceProjector(w, rows, cols, rank, side))).toBeLessThan(1e-5);
      }
    });

    it('every unique matrix lies in the double complement: U_kᵀ W_u = 0 and W_u V_k = 0', () => {
      const u = toMatrix(state.uk, rows, rank);
      const v = toMatrix(state.vk, cols, rank);
      for (let e = 0; e < experts; e++) {
        const wu = toMatrix(state.unique, rows, cols, e * rows * cols);
        const scale = frobenius(wu);
        expect(scale).toBeGreaterThan(0);
        expect(maxAbs(u.transpose().mmul(wu))).toBeLessThan(1e-5 * scale);
        expect(maxAbs(wu.mmul(v))).toBeLessThan(1e-5 * scale);
      }
    });

    it('experts differ from each other', () => {
      const size = rows * cols;
      for (let e = 1; e < experts; e++) {
        const diff = Matrix.sub(toMatrix(state.unique, rows, cols, e * size), toMatrix(state.unique, rows, cols, 0));
        expect(frobenius(diff)).toBeGreaterThan(0.1 * frobenius(toMatrix(state.unique, rows, cols, 0)));
      }
    });

    it('is deterministic for a seed and changes with the seed', () => {
      const again = spectralInit({ rows, cols, experts, rank, std, rng: new Rng(seed), mode });
      expect(again.common).toEqual(state.common);
      expect(again.unique).toEqual(state.unique);
      expect(again.uk).toEqual(state.uk);
      expect(again.vk).toEqual(state.vk);
      const other = spectralInit({ rows, cols, experts, rank, std, rng: new Rng(seed + 1), mode });
      expect(maxAbsDiff(toMatrix(other.common, rows, cols), toMatrix(state.common, rows, cols))).toBeGreaterThan(0);
    });

    if (mode === 'orthogonal_complement') {
      it("every proxy W_c + W_u(e) has exactly the dense draw's singular values", () => {
        for (let e = 0; e < experts; e++) {
          const s = referenceSvd(proxy(state.common, state.unique, e), rows, cols).s;
          ref.s.forEach((expected, j) => expect(Math.abs(s[j] - expected)).toBeLessThan(1e-4 * expected));
        }
      });
    } else {
      it('unique matrices have the scale of a standard init restricted to the complement', () => {
        // E||(I−P_U) Z (I−P_V)||² = (K−r)(N−r) std²; a 24×40 draw is within ±30% with overwhelming probability.
        const expected = Math.sqrt((rows - rank) * (cols - rank)) * std;
        for (let e = 0; e < experts; e++) {
          const norm = frobenius(toMatrix(state.unique, rows, cols, e * rows * cols));
          expect(norm / expected).toBeGreaterThan(0.7);
          expect(norm / expected).toBeLessThan(1.3);
        }
      });
    }
  });
});

describe('spectralInit argument checks', () => {
  it('refuses a rank outside [1, min(K, N)]', () => {
    const base = { rows: 8, cols: 6, experts: 2, std: 0.02, rng: new Rng(1), mode: 'orthogonal_complement' as const };
    expect(() => spectralInit({ ...base, rank: 0 })).toThrow(/rank/);
    expect(() => spectralInit({ ...base, rank: 7 })).toThrow(/rank/);
  });
});
