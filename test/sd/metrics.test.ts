// Stand-in overlap metrics (runtime/sd/metrics.ts): the similarity's extremes on constructed experts
// (identical → 1, orthogonal input subspaces → 0) and energy on matrices with chosen singular values.
import { describe, expect, it } from 'vitest';
import { Matrix, QrDecomposition } from 'ml-matrix';
import { Rng } from '../../base/rng.ts';
import { energyTop, principalSimilarity } from '../../runtime/sd/metrics.ts';

const rows = 24;
const cols = 40;
const size = rows * cols;

function gaussian(rng: Rng, n: number): Float32Array {
  return rng.fillNormal(new Float32Array(n));
}

describe('principalSimilarity (stand-in)', () => {
  it('identical experts have similarity 1 on both sides, for every pair', () => {
    const one = gaussian(new Rng(1), size);
    const all = new Float32Array(4 * size);
    for (let e = 0; e < 4; e++) all.set(one, e * size);
    for (const side of ['input', 'output'] as const) {
      const result = principalSimilarity(all, rows, cols, 4, 0.2, side);
      expect(result.pairs).toHaveLength(6);
      expect(result.rank).toBe(Math.ceil(0.2 * rows));
      for (const p of result.pairs) expect(p.similarity).toBeCloseTo(1, 6);
      expect(result.mean).toBeCloseTo(1, 6);
    }
  });

  it('experts whose inputs live in orthogonal subspaces have similarity 0 on the input side', () => {
    // Expert e only has nonzero rows 8e…8e+7: its input-side (K) singular vectors span those rows.
    const rng = new Rng(2);
    const all = new Float32Array(3 * size);
    for (let e = 0; e < 3; e++) all.set(gaussian(rng.fork(`expert/${e}`), 8 * cols), e * size + 8 * e * cols);
    for (const fraction of [0.01, 0.25]) {
      const result = principalSimilarity(all, rows, cols, 3, fraction);
      expect(result.side).toBe('input');
      expect(result.rank).toBe(Math.ceil(fraction * rows));
      for (const p of result.pairs) expect(p.similarity).toBeLessThan(1e-10);
    }
  });

  it('needs two experts for a mean', () => {
    const result = principalSimilarity(gaussian(new Rng(3), size), rows, cols, 1);
    expect(result.pairs).toHaveLength(0);
    expect(result.mean).toBeNaN();
  });
});

describe('energyTop (stand-in)', () => {
  it('equals Σ_{j≤r} σ_j² / Σ σ_j² for a matrix built with chosen singular values', () => {
    const rng = new Rng(4);
    const orthonormal = (n: number, k: number) =>
      new QrDecomposition(new Matrix(Array.from({ length: n }, () => Array.from({ length: k }, () => rng.normal())))).orthogonalMatrix
        .subMatrix(0, n - 1, 0, k - 1);
    const sigma = Array.from({ length: rows }, (_, j) => 1 / (j + 1));
    const m = orthonormal(rows, rows).mmul(Matrix.diag(sigma)).mmul(orthonormal(cols, rows).transpose());
    const flat = Float64Array.from(m.to1DArray());
    for (const r of [1, 3, rows]) {
      const expected = sigma.slice(0, r).reduce((t, s) => t + s * s, 0) / sigma.reduce((t, s) => t + s * s, 0);
      expect(energyTop(flat, rows, cols, r)).toBeCloseTo(expected, 8);
    }
    expect(energyTop(new Float32Array(size), rows, cols, 2)).toBe(0);
  });
});
