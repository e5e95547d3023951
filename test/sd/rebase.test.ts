// Re-basing (runtime/sd/rebase.ts): each residual mode's contract, reprojection, diagnostics, checked
// against ml-matrix's SVD on a state that "training" has moved off its rank-r, double-complement form.
import { describe, expect, it } from 'vitest';
import { Matrix } from 'ml-matrix';
import { Rng } from '../../base/rng.ts';
import { spectralInit, type SpectralState } from '../../runtime/sd/init.ts';
import { rebase, type ResidualMode } from '../../runtime/sd/rebase.ts';
import { warmRebase } from '../../runtime/train/spectral.ts';
import type { SpectralConfig } from '../../compiler/config/types.ts';
import {
  frobenius, maxAbs, maxAbsDiff, projector, proxy, referenceProjector, referenceSvd, referenceTruncation, toMatrix,
} from './helpers.ts';

const rows = 24;
const cols = 40;
const experts = 3;
const rank = 4;
const size = rows * cols;

/** An init followed by full-rank perturbations of W_c and every W_u, as a few optimizer steps would do. */
function trainedState(seed: number): SpectralState {
  const rng = new Rng(seed);
  const state = spectralInit({ rows, cols, experts, rank, std: 0.02, rng, mode: 'orthogonal_complement' });
  const noise = rng.fork('test-noise');
  const common = state.common.map((x) => x + noise.normal(0, 0.004));
  const unique = state.unique.map((x) => x + noise.normal(0, 0.004));
  return { ...state, common, unique };
}

function proxies(state: SpectralState): Matrix[] {
  return Array.from({ length: experts }, (_, e) => toMatrix(proxy(state.common, state.unique, e), rows, cols));
}

function rebaseWith(state: SpectralState, residual: ResidualMode, reproject: boolean) {
  return rebase({ ...state, rows, cols, experts, rank, residual, reproject });
}

describe('rebase', () => {
  const before = trainedState(5);

  it("'fold' keeps every proxy W_c + W_u(e) unchanged and leaves W_c at rank r", () => {
    const after = rebaseWith(before, 'fold', false);
    const old = proxies(before);
    proxies(after).forEach((p, e) => expect(maxAbsDiff(p, old[e])).toBeLessThan(1e-5 * maxAbs(old[e])));
    const s = referenceSvd(after.common, rows, cols).s;
    for (let j = rank; j < s.length; j++) expect(s[j]).toBeLessThan(1e-5 * s[0]);
    expect(after.changed).toEqual({ common: true, unique: true });
  });

  it("'keep' leaves W_c and W_u untouched and returns W_c's top singular vectors as orthonormal bases", () => {
    const after = rebaseWith(before, 'keep', false);
    expect(after.common).toBe(before.common);
    expect(after.unique).toBe(before.unique);
    expect(after.changed).toEqual({ common: false, unique: false });
    const wc = toMatrix(before.common, rows, cols);
    const u = toMatrix(after.uk, rows, rank);
    const v = toMatrix(after.vk, cols, rank);
    expect(maxAbsDiff(u.transpose().mmul(u), Matrix.eye(rank))).toBeLessThan(1e-5);
    expect(maxAbsDiff(v.transpose().mmul(v), Matrix.eye(rank))).toBeLessThan(1e-5);
    expect(maxAbsDiff(projector(after.uk, rows, rank), referenceProjector(before.common, rows, cols, rank, 'rows'))).toBeLessThan(1e-5);
    expect(maxAbsDiff(projector(after.vk, cols, rank), referenceProjector(before.common, rows, cols, rank, 'cols'))).toBeLessThan(1e-5);
    // Paired and consistently signed: W_c v_j = σ_j u_j, and each u_j's largest component is positive.
    const s = referenceSvd(before.common, rows, cols).s;
    const wv = wc.mmul(v);
    for (let j = 0; j < rank; j++) {
      for (let i = 0; i < rows; i++) expect(Math.abs(wv.get(i, j) - s[j] * u.get(i, j))).toBeLessThan(1e-5 * s[0]);
      const column = u.getColumn(j);
      const largest = column.reduce((best, x) => (Math.abs(x) > Math.abs(best) ? x : best), 0);
      expect(largest).toBeGreaterThan(0);
    }
  });

  it("'discard' truncates W_c to its rank-r part and leaves W_u untouched", () => {
    const after = rebaseWith(before, 'discard', false);
    const truncation = referenceTruncation(before.common, rows, cols, rank);
    expect(maxAbsDiff(toMatrix(after.common, rows, cols), truncation)).toBeLessThan(1e-5 * maxAbs(truncation));
    expect(after.unique).toBe(before.unique);
  });

  it('reports the residual norm and the top-r energy of the incoming W_c', () => {
    const after = rebaseWith(before, 'keep', false);
    const s = referenceSvd(before.common, rows, cols).s;
    const total = s.reduce((t, x) => t + x * x, 0);
    const top = s.slice(0, rank).reduce((t, x) => t + x * x, 0);
    expect(after.energyTopK).toBeCloseTo(top / total, 8);
    expect(after.residualNorm).toBeCloseTo(Math.sqrt(total - top), 8);
    expect(after.energyTopK).toBeLessThan(1);
  });

  it("'keep' takes the residual norm from the spectrum and agrees with the explicit R of 'discard'", () => {
    const keep = rebaseWith(before, 'keep', false);
    const discard = rebaseWith(before, 'discard', false);
    expect(Math.abs(keep.residualNorm - discard.residualNorm)).toBeLessThan(1e-10 * discard.residualNorm);
    // A tiny residual (right after init: W_c is rank r up to float32 rounding) is summed explicitly,
    // where ||W_c||² − Σσ² would be all rounding: still the truncation's own float32-level residual.
    const fresh = spectralInit({ rows, cols, experts, rank, std: 0.02, rng: new Rng(9), mode: 'orthogonal_complement' });
    const tiny = rebaseWith(fresh, 'keep', false);
    const explicit = frobenius(Matrix.sub(toMatrix(fresh.common, rows, cols), referenceTruncation(fresh.common, rows, cols, rank)));
    expect(tiny.residualNorm).toBeLessThan(1e-5 * frobenius(toMatrix(fresh.common, rows, cols)));
    expect(Math.abs(tiny.residualNorm - explicit)).toBeLessThan(1e-3 * explicit + 1e-12);
  });

  it.each(['keep', 'fold', 'discard'] as const)("reproject after '%s' puts every W_u in the new double complement", (residual) => {
    const after = rebaseWith(before, residual, true);
    const u = toMatrix(after.uk, rows, rank);
    const v = toMatrix(after.vk, cols, rank);
    for (let e = 0; e < experts; e++) {
      const wu = toMatrix(after.unique, rows, cols, e * size);
      expect(maxAbs(u.transpose().mmul(wu))).toBeLessThan(1e-5 * frobenius(wu));
      expect(maxAbs(wu.mmul(v))).toBeLessThan(1e-5 * frobenius(wu));
      expect(after.reprojectedNorms[e]).toBeGreaterThan(0);
    }
  });

  it('reproject changes each proxy by exactly the reported removed part', () => {
    const folded = rebaseWith(before, 'fold', true);
    const old = proxies(before);
    proxies(folded).forEach((p, e) => {
      expect(frobenius(Matrix.sub(p, old[e]))).toBeCloseTo(folded.reprojectedNorms[e], 5);
    });
  });

  it('right after init nothing moves: overlap 1, no residual, fold is a no-op', () => {
    const fresh = spectralInit({ rows, cols, experts, rank, std: 0.02, rng: new Rng(9), mode: 'orthogonal_complement' });
    const after = rebaseWith(fresh, 'fold', true);
    expect(after.basisOverlap.left).toBeCloseTo(1, 5);
    expect(after.basisOverlap.right).toBeCloseTo(1, 5);
    expect(after.residualNorm).toBeLessThan(1e-5 * frobenius(toMatrix(fresh.common, rows, cols)));
    expect(maxAbsDiff(toMatrix(after.unique, experts * rows, cols), toMatrix(fresh.unique, experts * rows, cols))).toBeLessThan(1e-6);
  });

  it('a perturbed common subspace reports an overlap below 1, and a second fold finds no residual', () => {
    const first = rebaseWith(before, 'fold', false);
    expect(first.basisOverlap.left).toBeLessThan(1);
    expect(first.residualNorm).toBeGreaterThan(0);
    const second = rebaseWith(first, 'fold', false);
    expect(second.residualNorm).toBeLessThan(1e-5 * first.residualNorm);
  });

  it('is deterministic', () => {
    const a = rebaseWith(before, 'fold', true);
    const b = rebaseWith(before, 'fold', true);
    expect(a.common).toEqual(b.common);
    expect(a.unique).toEqual(b.unique);
    expect(a.uk).toEqual(b.uk);
    expect(a.vk).toEqual(b.vk);
  });

  it('refuses arrays that do not match the shape', () => {
    expect(() => rebase({ ...before, rows, cols: cols + 1, experts, rank, residual: 'keep', reproject: false })).toThrow(/sizes/);
  });
});

describe('warmRebase (the trainer pays the re-basing JIT up front)', () => {
  it('re-bases synthetic matrices of every shape with the run\'s options and leaves later re-basings\' results alone', async () => {
    const state = trainedState(5);
    const run = () => rebase({ ...state, rows, cols, experts, rank, residual: 'fold', reproject: true });
    const before = run();
    const matrix = (r: number, c: number) => ({ name: `m${r}x${c}`, layer: 0, matrix: 'up' as const, params: { common: '', unique: '', uk: '', vk: '' }, moments: [], rows: r, cols: c, experts, rank, std: 0.02 });
    // fold + reproject need W_u: a warm-up that passed none would throw here
    await expect(warmRebase([matrix(rows, cols), matrix(cols, rows)], { residual: 'fold', reproject: true } as SpectralConfig, null, 2)).resolves.toBeUndefined();
    const after = run();
    for (const key of ['common', 'unique', 'uk', 'vk'] as const) expect(Array.from(after[key]!)).toEqual(Array.from(before[key]!));
  });
});
