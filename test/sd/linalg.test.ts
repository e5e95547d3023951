// The SVD route of runtime/sd (Gram eigenpairs; block subspace iteration with full-solver fallback)
// against its own full solver and ml-matrix, plus the rank-deficient corners the trainer can hit.
import { describe, expect, it } from 'vitest';
import { Matrix } from 'ml-matrix';
import { Rng } from '../../base/rng.ts';
import { orthonormalizeAgainst, topSvd } from '../../runtime/sd/linalg.ts';
import { maxAbs, maxAbsDiff, referenceSvd } from './helpers.ts';

function columnsMatrix(columns: Float64Array[]): Matrix {
  return new Matrix(columns.map((c) => Array.from(c))).transpose();
}

function projectorOf(columns: Float64Array[]): Matrix {
  const b = columnsMatrix(columns);
  return b.mmul(b.transpose());
}

function orthonormalityError(columns: Float64Array[]): number {
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
  it.each([[96, 160], [160, 96]])('subspace iteration on a %i×%i spike matches the full solver and ml-matrix', (rows, cols) => {
    const a = spikePlusNoise(new Rng(rows), rows, cols, 4, 0.002);
    const fast = topSvd(a, rows, cols, 4);
    const full = topSvd(a, rows, cols, 4, { full: true });
    expect(fast.method).toBe('subspace');
    expect(full.method).toBe('full');
    const ref = referenceSvd(a, rows, cols).s;
    for (let j = 0; j < 4; j++) expect(Math.abs(fast.singularValues[j] - ref[j])).toBeLessThan(1e-9 * ref[0]);
    expect(fast.totalEnergy).toBeCloseTo(ref.reduce((t, s) => t + s * s, 0), 9);
    expect(maxAbsDiff(projectorOf(fast.u), projectorOf(full.u))).toBeLessThan(1e-8);
    expect(maxAbsDiff(projectorOf(fast.v), projectorOf(full.v))).toBeLessThan(1e-8);
    // Same deterministic signs on both routes.
    for (let j = 0; j < 4; j++) expect(maxAbs(fast.u[j].map((x, i) => x - full.u[j][i]))).toBeLessThan(1e-8);
  });

  it('without a spectral gap the result still matches the full solver', () => {
    const rows = 96;
    const cols = 160;
    const a = new Rng(5).fillNormal(new Float32Array(rows * cols));
    const result = topSvd(a, rows, cols, 4);
    const full = topSvd(a, rows, cols, 4, { full: true });
    for (let j = 0; j < 4; j++) expect(Math.abs(result.singularValues[j] - full.singularValues[j])).toBeLessThan(1e-9 * full.singularValues[0]);
    expect(maxAbsDiff(projectorOf(result.u), projectorOf(full.u))).toBeLessThan(1e-6);
  });

  it('gives orthonormal bases for a matrix of lower rank than requested', () => {
    const rows = 12;
    const cols = 20;
    const a = spikePlusNoise(new Rng(6), rows, cols, 1, 0);
    const { u, v, singularValues } = topSvd(a, rows, cols, 3);
    expect(singularValues[1]).toBeLessThan(1e-6 * singularValues[0]);
    expect(orthonormalityError(u)).toBeLessThan(1e-10);
    expect(orthonormalityError(v)).toBeLessThan(1e-10);
  });
});

describe('orthonormalizeAgainst', () => {
  it('completes dependent or zero columns to an orthonormal set orthogonal to the basis', () => {
    const n = 5;
    const e0 = Float64Array.from([1, 0, 0, 0, 0]);
    const columns = [Float64Array.from([1, 1, 0, 0, 0]), Float64Array.from([2, 2, 0, 0, 0]), new Float64Array(n)];
    const out = orthonormalizeAgainst([e0], columns);
    expect(out).toHaveLength(3);
    expect(orthonormalityError([e0, ...out])).toBeLessThan(1e-12);
  });
});
