// The SVD routes of runtime/sd (Gram eigenpairs: the tridiagonal top-k route, block subspace iteration,
// both with full-solver fallback) against the full solver and ml-matrix, plus the rank-deficient,
// zero and repeated-value corners the trainer can hit.
import { describe, expect, it } from 'vitest';
import { Matrix } from 'ml-matrix';
import { Rng } from '../../base/rng.ts';
import { MAT_ARRAY_MAX, matCopy, matZeros, toVec, zeros } from '../../runtime/sd/vector.ts';
import { columnsToRowMajor, orthonormalizeAgainst, topSvd } from '../../runtime/sd/linalg.ts';
import { maxAbs, maxAbsDiff, referenceSvd } from './helpers.ts';

function columnsMatrix(columns: readonly ArrayLike<number>[]): Matrix {
  return new Matrix(columns.map((c) => Array.from(c))).transpose();
}

function projectorOf(columns: readonly ArrayLike<number>[]): Matrix {
  const b = columnsMatrix(columns);
  return b.mmul(b.transpose());
}

function orthonormalityError(columns: readonly ArrayLike<number>[]): number {
  const b = columnsMatrix(columns);
  return maxAbsDiff(b.transpose().mmul(b), Matrix.eye(columns.length));
}

/** A rank-r spike (σ ≈ 1) plus Gaussian noise of the given scale, [rows, cols]. */
function spikePlusNoise(rng: Rng, rows: number, cols: number, r: number, noise: number): Float64Array {
  const out = new Float64Array(rows * cols);
  for (let j = 0; j < r; j++) {
    const u = Array.from({ length: rows }, () => rng.normal() / Math.sqrt(rows));
    const v = Array.from({ length: cols }, () => rng.normal() / Math.sqrt(cols));
    for (let i = 0; i < rows; i++) for (let k = 0; k < cols; k++) out[i * cols + k] += (1 + j) * u[i] * v[k];
  }
  for (let i = 0; i < out.length; i++) out[i] += noise * rng.normal();
  return out;
}

describe('topSvd', () => {
  it.each([
    ['subspace', 96, 160],
    ['subspace', 160, 96],
    ['tridiagonal', 96, 160],
    ['tridiagonal', 160, 96],
    ['tridiagonal', 64, 128],
    ['tridiagonal', 128, 64],
  ] as const)('the %s route on a %i×%i spike matches the full solver and ml-matrix', (solver, rows, cols) => {
    const a = spikePlusNoise(new Rng(rows), rows, cols, 4, 0.002);
    const fast = topSvd(a, rows, cols, 4, { solver });
    const full = topSvd(a, rows, cols, 4, { full: true });
    expect(fast.method).toBe(solver);
    expect(full.method).toBe('full');
    const ref = referenceSvd(a, rows, cols).s;
    for (let j = 0; j < 4; j++) expect(Math.abs(fast.singularValues[j] - ref[j])).toBeLessThan(1e-9 * ref[0]);
    expect(fast.totalEnergy).toBeCloseTo(ref.reduce((t, s) => t + s * s, 0), 9);
    expect(maxAbsDiff(projectorOf(fast.u), projectorOf(full.u))).toBeLessThan(1e-8);
    expect(maxAbsDiff(projectorOf(fast.v), projectorOf(full.v))).toBeLessThan(1e-8);
    // Same deterministic signs on both routes.
    for (let j = 0; j < 4; j++) expect(maxAbs(fast.u[j].map((x, i) => x - full.u[j][i]))).toBeLessThan(1e-8);
  });

  it("'auto' takes the tridiagonal route below 256 and subspace iteration from there", () => {
    expect(topSvd(spikePlusNoise(new Rng(1), 64, 128, 4, 0.01), 64, 128, 8).method).toBe('tridiagonal');
    expect(topSvd(spikePlusNoise(new Rng(2), 256, 300, 4, 0.0001), 256, 300, 4).method).toBe('subspace');
  });

  it.each(['auto', 'subspace', 'tridiagonal'] as const)('without a spectral gap the %s route still matches the full solver', (solver) => {
    const rows = 96;
    const cols = 160;
    const a = new Rng(5).fillNormal(new Float32Array(rows * cols));
    const result = topSvd(a, rows, cols, 4, { solver });
    // Subspace iteration does not converge here: it falls back (to the tridiagonal route).
    expect(result.method).toBe('tridiagonal');
    const full = topSvd(a, rows, cols, 4, { full: true });
    for (let j = 0; j < 4; j++) expect(Math.abs(result.singularValues[j] - full.singularValues[j])).toBeLessThan(1e-9 * full.singularValues[0]);
    expect(maxAbsDiff(projectorOf(result.u), projectorOf(full.u))).toBeLessThan(1e-6);
  });

  it.each([[96, 200], [200, 96]])('a warm start from the previous bases of a drifted %i×%i matrix converges sooner to the same top-r', (rows, cols) => {
    const rng = new Rng(rows + cols);
    const before = spikePlusNoise(rng, rows, cols, 4, 0.01);
    const after = before.map((x) => x + 0.002 * rng.normal());
    const previous = topSvd(before, rows, cols, 4, { solver: 'subspace' });
    const warmStart = { u: columnsToRowMajor(previous.u, rows), v: columnsToRowMajor(previous.v, cols), rank: 4 };
    const cold = topSvd(after, rows, cols, 4, { solver: 'subspace' });
    const warm = topSvd(after, rows, cols, 4, { solver: 'subspace', warmStart });
    const full = topSvd(after, rows, cols, 4, { full: true });
    expect([cold.method, warm.method]).toEqual(['subspace', 'subspace']);
    expect(warm.iterations!).toBeLessThan(cold.iterations!);
    for (let j = 0; j < 4; j++) expect(Math.abs(warm.singularValues[j] - full.singularValues[j])).toBeLessThan(1e-9 * full.singularValues[0]);
    expect(maxAbsDiff(projectorOf(warm.u), projectorOf(full.u))).toBeLessThan(1e-8);
    expect(maxAbsDiff(projectorOf(warm.v), projectorOf(full.v))).toBeLessThan(1e-8);
    // A warm start does not rescue a matrix without a gap: the same fallback as a cold start.
    const flat = new Rng(5).fillNormal(new Float32Array(rows * cols));
    const flatWarm = topSvd(flat, rows, cols, 4, { solver: 'subspace', warmStart });
    expect(flatWarm.method).toBe('tridiagonal');
    const flatFull = topSvd(flat, rows, cols, 4, { full: true });
    for (let j = 0; j < 4; j++) expect(Math.abs(flatWarm.singularValues[j] - flatFull.singularValues[j])).toBeLessThan(1e-9 * flatFull.singularValues[0]);
  });

  it.each([[12, 20], [20, 12], [64, 128], [128, 64]])('gives orthonormal bases for a %i×%i matrix of lower rank than requested', (rows, cols) => {
    const a = spikePlusNoise(new Rng(6), rows, cols, 1, 0);
    const { u, v, singularValues, method } = topSvd(a, rows, cols, 3);
    expect(method).toBe('tridiagonal');
    expect(singularValues[1]).toBeLessThan(1e-6 * singularValues[0]);
    expect(orthonormalityError(u)).toBeLessThan(1e-10);
    expect(orthonormalityError(v)).toBeLessThan(1e-10);
    // The rank-1 part is still exact: A v_1 = σ_1 u_1.
    const ref = referenceSvd(a, rows, cols).s;
    expect(Math.abs(singularValues[0] - ref[0])).toBeLessThan(1e-10 * ref[0]);
  });

  it.each([[64, 128], [128, 64], [5, 3]])('a zero %i×%i matrix gives σ = 0 and orthonormal bases', (rows, cols) => {
    const r = Math.min(3, rows, cols);
    const { u, v, singularValues, totalEnergy } = topSvd(new Float32Array(rows * cols), rows, cols, r);
    expect(Array.from(singularValues.slice(0, r))).toEqual(new Array(r).fill(0));
    expect(totalEnergy).toBe(0);
    expect(orthonormalityError(u)).toBeLessThan(1e-12);
    expect(orthonormalityError(v)).toBeLessThan(1e-12);
  });

  it('repeated singular values: the top-r subspace is the reference one whenever the cut falls in a gap', () => {
    // σ = 3, 3, 3, 1, 1, 0.5… (exactly repeated values) as Q1 diag(σ) Q2ᵀ with random orthonormal Q1, Q2.
    const rows = 40;
    const cols = 70;
    const rng = new Rng(11);
    const q1 = orthonormalizeAgainst([], Array.from({ length: rows }, () => Float64Array.from({ length: rows }, () => rng.normal())));
    const q2 = orthonormalizeAgainst([], Array.from({ length: rows }, () => Float64Array.from({ length: cols }, () => rng.normal())));
    const sigma = Array.from({ length: rows }, (_, j) => (j < 3 ? 3 : j < 5 ? 1 : 0.5));
    const a = new Float64Array(rows * cols);
    for (let j = 0; j < rows; j++) for (let i = 0; i < rows; i++) for (let k = 0; k < cols; k++) a[i * cols + k] += sigma[j] * q1[j][i] * q2[j][k];
    for (const r of [3, 5]) {
      const fast = topSvd(a, rows, cols, r, { solver: 'tridiagonal' });
      expect(fast.method).toBe('tridiagonal');
      for (let j = 0; j < r; j++) expect(Math.abs(fast.singularValues[j] - sigma[j])).toBeLessThan(1e-12 * 3);
      expect(maxAbsDiff(projectorOf(fast.u), projectorOf(q1.slice(0, r)))).toBeLessThan(1e-10);
      expect(maxAbsDiff(projectorOf(fast.v), projectorOf(q2.slice(0, r)))).toBeLessThan(1e-10);
      expect(orthonormalityError(fast.u)).toBeLessThan(1e-12);
    }
  });
});

describe('orthonormalizeAgainst', () => {
  it('completes dependent or zero columns to an orthonormal set orthogonal to the basis', () => {
    const n = 5;
    const e0 = [1, 0, 0, 0, 0];
    const columns = [Float64Array.from([1, 1, 0, 0, 0]), Float64Array.from([2, 2, 0, 0, 0]), new Float64Array(n)];
    const out = orthonormalizeAgainst([e0], columns);
    expect(out).toHaveLength(3);
    expect(orthonormalityError([e0, ...out])).toBeLessThan(1e-12);
  });
});

describe('vector storage (runtime/sd/vector.ts)', () => {
  it('keeps vectors and matrices up to MAT_ARRAY_MAX as arrays of zeros and larger matrices as Float64Arrays (V8 caps a JS array of doubles near 134 M)', () => {
    const v = zeros(5);
    expect(Array.isArray(v)).toBe(true);
    expect(v).toEqual([0, 0, 0, 0, 0]);
    expect(Object.is(v[0], 0)).toBe(true);
    expect(Array.isArray(matZeros(1024))).toBe(true);
    const big = matZeros(MAT_ARRAY_MAX + 1);
    expect(big).toBeInstanceOf(Float64Array);
    expect(big.length).toBe(MAT_ARRAY_MAX + 1);
    const copy = matCopy(Float32Array.of(1.5, -2, 3));
    expect(Array.isArray(copy)).toBe(true);
    expect(Array.from(copy)).toEqual([1.5, -2, 3]);
    expect(toVec(new Float64Array([0.25, -0]))).toEqual([0.25, -0]);
  });
});
