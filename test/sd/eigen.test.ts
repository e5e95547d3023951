// The flat-array symmetric eigensolvers of runtime/sd/eigen.ts: the full one against ml-matrix (the
// algorithm it was ported from) and LAPACK-free invariants, the top-k route against the full one on
// known spectra, including repeated, clustered, zero and negative eigenvalues, and its certificate
// (null, i.e. the caller's fallback, whenever its result would not be the top-k eigenpairs).
import { describe, expect, it } from 'vitest';
import { EigenvalueDecomposition, Matrix } from 'ml-matrix';
import { Rng } from '../../base/rng.ts';
import { symmetricEigen, symmetricEigenTop, TOP_EIGEN_RESIDUAL } from '../../runtime/sd/eigen.ts';
import { orthonormalizeAgainst } from '../../runtime/sd/linalg.ts';
import { dot } from '../../runtime/sd/vector.ts';

/** Q diag(λ) Qᵀ for a random orthonormal Q (seeded), row-major n×n. */
function withSpectrum(lambda: readonly number[], seed: number): Float64Array {
  const n = lambda.length;
  const rng = new Rng(seed);
  const q = orthonormalizeAgainst([], Array.from({ length: n }, () => Float64Array.from({ length: n }, () => rng.normal())));
  const a = new Float64Array(n * n);
  for (let j = 0; j < n; j++) for (let r = 0; r < n; r++) for (let c = 0; c < n; c++) a[r * n + c] += lambda[j] * q[j][r] * q[j][c];
  // Exactly symmetric (the sums above are, up to rounding order; make it bitwise).
  for (let r = 0; r < n; r++) for (let c = 0; c < r; c++) a[r * n + c] = a[c * n + r];
  return a;
}

function randomSymmetric(n: number, seed: number): Float64Array {
  const rng = new Rng(seed);
  const a = new Float64Array(n * n);
  for (let r = 0; r < n; r++) for (let c = r; c < n; c++) a[r * n + c] = a[c * n + r] = rng.normal();
  return a;
}

function row(m: ArrayLike<number>, j: number, n: number): number[] {
  return Array.from({ length: n }, (_, i) => m[j * n + i]);
}

/** max_j ||a x_j − λ_j x_j|| and max |XXᵀ − I| over the k rows of `vectors`. */
function quality(a: ArrayLike<number>, n: number, values: ArrayLike<number>, vectors: ArrayLike<number>): { residual: number; orthogonality: number } {
  let residual = 0;
  let orthogonality = 0;
  for (let j = 0; j < values.length; j++) {
    const x = row(vectors, j, n);
    let r2 = 0;
    for (let i = 0; i < n; i++) r2 += (dot(row(a, i, n), x) - values[j] * x[i]) ** 2;
    residual = Math.max(residual, Math.sqrt(r2));
    for (let i = 0; i < values.length; i++) orthogonality = Math.max(orthogonality, Math.abs(dot(row(vectors, i, n), x) - (i === j ? 1 : 0)));
  }
  return { residual, orthogonality };
}

/** Max entry of the difference of the projectors onto the first k rows of two vector sets. */
function projectorDiff(x: ArrayLike<number>, y: ArrayLike<number>, n: number, k: number): number {
  let worst = 0;
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < n; c++) {
      let p = 0;
      let q = 0;
      for (let j = 0; j < k; j++) {
        p += x[j * n + r] * x[j * n + c];
        q += y[j * n + r] * y[j * n + c];
      }
      worst = Math.max(worst, Math.abs(p - q));
    }
  }
  return worst;
}

describe('symmetricEigen (full)', () => {
  it.each([1, 2, 7, 33, 64])('matches ml-matrix bit for bit on a random symmetric n × n matrix, n = %i (same algorithm)', (n) => {
    const a = randomSymmetric(n, n);
    const { values, vectors } = symmetricEigen(a, n);
    const rows: number[][] = [];
    for (let i = 0; i < n; i++) rows.push(Array.from(row(a, i, n)));
    const evd = new EigenvalueDecomposition(new Matrix(rows), { assumeSymmetric: true });
    const ref = evd.realEigenvalues;
    for (let j = 0; j < n; j++) {
      expect(values[j]).toBe(ref[n - 1 - j]);
      expect(Array.from(row(vectors, j, n))).toEqual(evd.eigenvectorMatrix.getColumn(n - 1 - j));
    }
    for (let j = 1; j < n; j++) expect(values[j]).toBeLessThanOrEqual(values[j - 1]);
    const q = quality(a, n, values, vectors);
    expect(q.residual).toBeLessThan(1e-12 * Math.max(1, Math.abs(values[0]), Math.abs(values[n - 1])));
    expect(q.orthogonality).toBeLessThan(1e-12);
  });

  it('returns unit vectors in index order for a zero matrix and never mutates its input', () => {
    const a = new Float64Array(16);
    const { values, vectors } = symmetricEigen(a, 4);
    expect(Array.from(values)).toEqual([0, 0, 0, 0]);
    expect(quality(a, 4, values, vectors).orthogonality).toBe(0);
    const b = randomSymmetric(5, 3);
    const copy = Float64Array.from(b);
    symmetricEigen(b, 5);
    expect(b).toEqual(copy);
  });
});

describe('symmetricEigenTop', () => {
  const spectra: [string, number[], number][] = [
    ['a gap after k (Gram-like, positive)', Array.from({ length: 64 }, (_, i) => (i < 8 ? 10 - i : 0.5 / (1 + i))), 8],
    ['no gap (a flat decaying tail)', Array.from({ length: 64 }, (_, i) => 1 / (1 + 0.1 * i)), 8],
    ['exactly repeated top values', Array.from({ length: 40 }, (_, i) => (i < 4 ? 5 : i < 6 ? 2 : 1e-3 * i)), 6],
    ['a tight cluster straddling nothing', Array.from({ length: 48 }, (_, i) => (i < 5 ? 3 + 1e-9 * i : 0.1)), 5],
    ['rank-deficient (k past the rank: zero eigenvalues)', Array.from({ length: 32 }, (_, i) => (i < 3 ? 4 - i : 0)), 8],
    ['negative eigenvalues (top = largest, not largest |λ|)', Array.from({ length: 30 }, (_, i) => 2 - 0.5 * i), 4],
    ['n = 1', [3], 1],
    ['k = n', Array.from({ length: 12 }, (_, i) => 12 - i), 12],
  ];

  it.each(spectra)('finds the top k on %s', (_, lambda, k) => {
    const n = lambda.length;
    const a = withSpectrum(lambda, n + k);
    const top = symmetricEigenTop(a, n, k);
    expect(top).not.toBeNull();
    const sorted = [...lambda].sort((x, y) => y - x);
    const scale = Math.max(...lambda.map(Math.abs));
    for (let j = 0; j < k; j++) expect(Math.abs(top!.values[j] - sorted[j])).toBeLessThan(1e-12 * scale);
    const q = quality(a, n, top!.values, top!.vectors);
    expect(q.residual).toBeLessThan(TOP_EIGEN_RESIDUAL * scale * n);
    expect(q.orthogonality).toBeLessThan(1e-10);
    // Where the cut at k falls in a gap, the subspace is the full solver's (inside a repeated value
    // or a cluster only the span of the whole cluster is defined).
    if (k === n || sorted[k - 1] - sorted[k] > 1e-3 * scale) {
      const full = symmetricEigen(a, n);
      expect(projectorDiff(top!.vectors, full.vectors, n, k)).toBeLessThan(1e-9);
    }
  });

  it('agrees with the full solver on random symmetric matrices of several sizes', () => {
    for (const n of [2, 3, 17, 64, 100]) {
      const a = randomSymmetric(n, 100 + n);
      const k = Math.min(8, n);
      const top = symmetricEigenTop(a, n, k)!;
      const full = symmetricEigen(a, n);
      for (let j = 0; j < k; j++) expect(Math.abs(top.values[j] - full.values[j])).toBeLessThan(1e-12 * Math.abs(full.values[0]) * n);
      const q = quality(a, n, top.values, top.vectors);
      expect(q.orthogonality).toBeLessThan(1e-10);
      expect(q.residual).toBeLessThan(1e-11 * Math.abs(full.values[0]) * n);
    }
  });

  it('gives the zero matrix unit vectors (any orthonormal set is exact) and k = 0 nothing', () => {
    const top = symmetricEigenTop(new Float64Array(64), 8, 3)!;
    expect(Array.from(top.values)).toEqual([0, 0, 0]);
    expect(quality(new Float64Array(64), 8, top.values, top.vectors).orthogonality).toBe(0);
    const none = symmetricEigenTop(randomSymmetric(5, 1), 5, 0)!;
    expect(none.values.length).toBe(0);
    expect(none.vectors.length).toBe(0);
  });

  it('is deterministic', () => {
    const a = randomSymmetric(40, 9);
    expect(symmetricEigenTop(a, 40, 6)).toEqual(symmetricEigenTop(a, 40, 6));
  });

  it('returns null (the fallback) when its certificate fails: non-symmetric or NaN input', () => {
    const a = randomSymmetric(20, 4);
    a[3] += 1; // a[0][3] ≠ a[3][0]: the reduction sees only one triangle, so a x ≠ λ x
    expect(symmetricEigenTop(a, 20, 4)).toBeNull();
    const b = randomSymmetric(20, 5);
    b[0] = Number.NaN;
    expect(symmetricEigenTop(b, 20, 4)).toBeNull();
  });

  it('refuses sizes that do not match', () => {
    expect(() => symmetricEigenTop(new Float64Array(10), 3, 1)).toThrow(/3×3/);
    expect(() => symmetricEigenTop(new Float64Array(9), 3, 4)).toThrow(/k = 4/);
  });
});
