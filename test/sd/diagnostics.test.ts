// SD-MoE diagnostics (runtime/sd/diagnostics.ts) on planted cases whose answer is known in closed
// form, so no constant passes: shared / orthogonal / half-shared expert subspaces (1, 0, 0.5 on each
// side and rank), leakage of a W_u planted with a known share in U_k's span, the numerical rank of a
// rank-3 W_c, energy of a chosen spectrum, and a router column planted on an expert's leading
// direction. The planted bases come from ml-matrix's QR, independent of runtime/sd/linalg.ts.
import { describe, expect, it } from 'vitest';
import { Matrix, QrDecomposition } from 'ml-matrix';
import { Rng } from '../../base/rng.ts';
import { diagnoseExperts, findSimilarity, summarizeDiagnostics, type ExpertMatrixInput } from '../../runtime/sd/diagnostics.ts';
import { spectralInit } from '../../runtime/sd/init.ts';
import { proxy } from './helpers.ts';

/** n orthonormal columns of length n (a random orthogonal matrix), as arrays. */
function orthonormal(rng: Rng, n: number): Float64Array[] {
  const q = new QrDecomposition(new Matrix(Array.from({ length: n }, () => Array.from({ length: n }, () => rng.normal())))).orthogonalMatrix;
  return Array.from({ length: n }, (_, j) => Float64Array.from(q.getColumn(j)));
}

/** Σ_j σ_j a_j b_jᵀ, row-major [rows, cols]. */
function planted(a: Float64Array[], sigma: number[], b: Float64Array[]): Float64Array {
  const rows = a[0].length;
  const cols = b[0].length;
  const out = new Float64Array(rows * cols);
  sigma.forEach((s, j) => {
    for (let i = 0; i < rows; i++) for (let k = 0; k < cols; k++) out[i * cols + k] += s * a[j][i] * b[j][k];
  });
  return out;
}

function stack(mats: Float64Array[]): Float32Array {
  const out = new Float32Array(mats.length * mats[0].length);
  mats.forEach((m, e) => out.set(m, e * m.length));
  return out;
}

const rows = 40;
const cols = 64;
const big = [10, 9, 8, 7];
const tail = [0.5, 0.4, 0.3];

/**
 * Experts whose top-4 input directions are qIn[sets[e]] and output directions qOut[sets[e]] (σ = 10…7),
 * plus a small tail on directions 30…32 shared by all (σ ≤ 0.5), so the top-4 subspaces are exactly planted.
 */
function plantedExperts(seed: number, sets: number[][]): ExpertMatrixInput {
  const rng = new Rng(seed);
  const qIn = orthonormal(rng.fork('in'), rows);
  const qOut = orthonormal(rng.fork('out'), cols);
  const mats = sets.map((set) => {
    const m = planted(set.map((i) => qIn[i]), big, set.map((i) => qOut[i]));
    const t = planted([30, 31, 32].map((i) => qIn[i]), tail, [30, 31, 32].map((i) => qOut[i]));
    return m.map((x, i) => x + t[i]);
  });
  return { layer: 0, matrix: 'up', rows, cols, experts: sets.length, weights: stack(mats) };
}

// fraction 0.1 of min(40, 64) = 4 = rankK: both rank kinds see exactly the planted subspace.
const opts = { fraction: 0.1, rankK: 4 };

describe('diagnoseExperts: principal-subspace similarity (stand-in ‖Q_aᵀQ_b‖²/r)', () => {
  it('experts sharing exactly one planted subspace (rotated differently inside it) have similarity 1', () => {
    // Same span, different singular vectors: each expert's big singular values fall on a rotated set.
    const rng = new Rng(11);
    const qIn = orthonormal(rng.fork('in'), rows);
    const qOut = orthonormal(rng.fork('out'), cols);
    const mats = [0, 1, 2].map((e) => {
      const rot = orthonormal(rng.fork(`rot/${e}`), 4);
      const a = rot.map((r) => { const v = new Float64Array(rows); r.forEach((c, i) => { for (let t = 0; t < rows; t++) v[t] += c * qIn[i][t]; }); return v; });
      const b = rot.map((r) => { const v = new Float64Array(cols); r.forEach((c, i) => { for (let t = 0; t < cols; t++) v[t] += c * qOut[i][t]; }); return v; });
      const m = planted(a, big, b);
      const t = planted([10 + e, 20 + e].map((i) => qIn[i]), [0.3, 0.2], [10 + e, 20 + e].map((i) => qOut[i]));
      return m.map((x, i) => x + t[i]);
    });
    const d = diagnoseExperts({ layer: 0, matrix: 'up', rows, cols, experts: 3, weights: stack(mats) }, opts);
    expect(d.similarity).toHaveLength(4);
    for (const s of d.similarity) {
      expect(s.on).toBe('experts');
      expect(s.rank).toBe(4);
      expect(s.mean).toBeCloseTo(1, 6);
      for (const row of s.matrix) for (const x of row) expect(x).toBeCloseTo(1, 6);
    }
  });

  it('mutually orthogonal expert subspaces have similarity 0 on both sides and ranks', () => {
    const d = diagnoseExperts(plantedExperts(12, [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]), opts);
    for (const s of d.similarity) {
      expect(s.mean).toBeLessThan(1e-10);
      s.matrix.forEach((row, a) => row.forEach((x, b) => expect(x).toBeCloseTo(a === b ? 1 : 0, 8)));
    }
  });

  it('a planted half-shared subspace gives 0.5; the chance level is r/dim', () => {
    const d = diagnoseExperts(plantedExperts(13, [[0, 1, 2, 3], [0, 1, 4, 5], [0, 1, 6, 7]]), opts);
    for (const side of ['input', 'output'] as const) {
      for (const kind of ['1pct', 'k'] as const) {
        const s = findSimilarity(d, 'experts', side, kind)!;
        expect(s.mean).toBeCloseTo(0.5, 8);
        expect(s.matrix[0][2]).toBeCloseTo(0.5, 8);
        expect(s.chance).toBeCloseTo(4 / (side === 'input' ? rows : cols), 12);
      }
    }
    // At r = 2 only the shared pair {0, 1} is dominant (σ 10, 9): similarity 1.
    expect(findSimilarity(diagnoseExperts(plantedExperts(13, [[0, 1, 2, 3], [0, 1, 4, 5]]), { fraction: 0.05, rankK: 4 }), 'experts', 'input', '1pct')!.mean).toBeCloseTo(1, 8);
  });

  it('without a size cap: 96×128 noisy experts still show the planted overlap', () => {
    const r = 96;
    const c = 128;
    const rng = new Rng(14);
    const qIn = orthonormal(rng.fork('in'), r);
    const qOut = orthonormal(rng.fork('out'), c);
    const sets = [[0, 1, 2, 3], [0, 1, 4, 5]];
    const mats = sets.map((set, e) => {
      const m = planted(set.map((i) => qIn[i]), big, set.map((i) => qOut[i]));
      const noise = rng.fork(`noise/${e}`);
      return m.map((x) => x + noise.normal(0, 1e-3));
    });
    const d = diagnoseExperts({ layer: 1, matrix: 'down', rows: r, cols: c, experts: 2, weights: stack(mats) }, { rankK: 4 });
    expect(d.rank1pct).toBe(1);
    expect(findSimilarity(d, 'experts', 'input', 'k')!.mean).toBeCloseTo(0.5, 4);
    expect(findSimilarity(d, 'experts', 'output', 'k')!.mean).toBeCloseTo(0.5, 4);
    expect(findSimilarity(d, 'experts', 'input', '1pct')!.mean).toBeCloseTo(1, 4); // both lead with σ = 10 on qIn[0]
    // The iterative solver (a clear gap after σ = 7 here) gives the same answer.
    const iterative = diagnoseExperts({ layer: 1, matrix: 'down', rows: r, cols: c, experts: 2, weights: stack(mats) }, { rankK: 4, solver: 'iterative' });
    d.similarity.forEach((s, i) => expect(iterative.similarity[i].mean).toBeCloseTo(s.mean, 8));
  });
});

describe('diagnoseExperts: energy (stand-in Σ_{j≤r}σ_j² / Σσ_j²)', () => {
  it('equals the planted spectrum\'s ratio, per expert and on average', () => {
    const d = diagnoseExperts(plantedExperts(15, [[0, 1, 2, 3], [4, 5, 6, 7]]), { fraction: 0.05, rankK: 4 }); // r = 2
    const total = [...big, ...tail].reduce((t, s) => t + s * s, 0);
    const expected = (10 ** 2 + 9 ** 2) / total;
    expect(d.energy).toHaveLength(1);
    expect(d.energy[0].rank).toBe(2);
    for (const x of d.energy[0].perExpert) expect(x).toBeCloseTo(expected, 6);
    expect(d.energy[0].mean).toBeCloseTo(expected, 6);
  });
});

/** An SD state: W_c of chosen spectrum on qIn[0..], qOut[0..]; W_u(e) in the double complement plus an optional planted leak. */
function plantedSd(seed: number, commonSigma: number[], k: number, leak: number) {
  const rng = new Rng(seed);
  const qIn = orthonormal(rng.fork('in'), rows);
  const qOut = orthonormal(rng.fork('out'), cols);
  const common = Float32Array.from(planted(qIn.slice(0, commonSigma.length), commonSigma, qOut.slice(0, commonSigma.length)));
  const uniques = [0, 1, 2].map((e) => {
    // X: σ = 2, 1.5, 1 on directions inside the double complement of the first k (expert-specific).
    const dirs = [k + 3 * e, k + 3 * e + 1, k + 3 * e + 2];
    const x = planted(dirs.map((i) => qIn[i]), [2, 1.5, 1], dirs.map((i) => qOut[i]));
    // L = c · u_1 ⊗ w with w ⟂ V_k: U_kᵀ W_u = c wᵀ, W_u V_k = 0; ‖L‖² = c² = leak/(1−leak)·‖X‖².
    const xx = 4 + 2.25 + 1;
    const c = Math.sqrt((leak / (1 - leak)) * xx);
    const l = planted([qIn[0]], [c], [qOut[cols - 1]]);
    return x.map((v, i) => v + l[i]);
  });
  const unique = stack(uniques);
  const uk = new Float32Array(rows * k);
  const vk = new Float32Array(cols * k);
  for (let j = 0; j < k; j++) {
    for (let i = 0; i < rows; i++) uk[i * k + j] = qIn[j][i];
    for (let i = 0; i < cols; i++) vk[i * k + j] = qOut[j][i];
  }
  const weights = stack([0, 1, 2].map((e) => Float64Array.from(proxy(common, unique, e))));
  return { input: { layer: 2, matrix: 'gate', rows, cols, experts: 3, weights, sd: { common, unique, uk, vk, rank: k } } as ExpertMatrixInput, qIn };
}

describe('diagnoseExperts: SD-only metrics', () => {
  it('leakage is 0 for W_u in the double complement and the planted share for a planted leak', () => {
    const clean = diagnoseExperts(plantedSd(21, [5, 4, 3], 3, 0).input).sd!;
    expect(clean.leakage.input.max).toBeLessThan(1e-12);
    expect(clean.leakage.output.max).toBeLessThan(1e-12);
    const leaky = diagnoseExperts(plantedSd(21, [5, 4, 3], 3, 0.2).input).sd!;
    for (const x of leaky.leakage.input.perExpert) expect(x).toBeCloseTo(0.2, 6);
    expect(leaky.leakage.input.mean).toBeCloseTo(0.2, 6);
    expect(leaky.leakage.output.max).toBeLessThan(1e-12); // the planted leak is orthogonal to V_k
  });

  it('numerical rank of a planted rank-3 W_c is 3; σ₁ ratio and energy outside k are the planted values', () => {
    const d = diagnoseExperts(plantedSd(22, [5, 4, 3], 3, 0).input).sd!;
    expect(d.commonNumericalRank).toBe(3);
    expect(d.commonSingularValues.slice(0, 3)).toEqual([expect.closeTo(5, 5), expect.closeTo(4, 5), expect.closeTo(3, 5)]);
    expect(d.sigmaRatio.mean).toBeCloseTo(5 / 2, 5);
    expect(d.commonEnergyOutsideK).toBeLessThan(1e-10);
    // A drifted W_c: two more directions, 0.3 above and 0.04 below the 1 % threshold (σ₁ = 5 → 0.05).
    const drift = diagnoseExperts(plantedSd(23, [5, 4, 3, 0.3, 0.04], 3, 0).input).sd!;
    expect(drift.commonNumericalRank).toBe(4);
    expect(drift.commonEnergyOutsideK).toBeCloseTo((0.09 + 0.0016) / (25 + 16 + 9 + 0.09 + 0.0016), 6);
  });

  it('on Algorithm 1\'s init: proxies share W_c\'s top directions (similarity 1), W_u alone does not, leakage is 0', () => {
    const k = 4;
    const s = spectralInit({ rows, cols, experts: 4, rank: k, std: 0.02, rng: new Rng(24), mode: 'orthogonal_complement' });
    const weights = new Float32Array(s.unique.length);
    for (let e = 0; e < 4; e++) weights.set(proxy(s.common, s.unique, e), e * rows * cols);
    const d = diagnoseExperts({ layer: 0, matrix: 'up', rows, cols, experts: 4, weights, sd: { ...s, rank: k } });
    expect(d.rankK).toBe(k);
    expect(findSimilarity(d, 'proxies', 'input', 'k')!.mean).toBeCloseTo(1, 6);
    expect(findSimilarity(d, 'proxies', 'output', '1pct')!.mean).toBeCloseTo(1, 6);
    expect(findSimilarity(d, 'unique', 'input', 'k')!.mean).toBeLessThan(0.6);
    expect(d.sd!.leakage.input.max).toBeLessThan(1e-9);
    expect(d.sd!.commonNumericalRank).toBe(k);
    const summary = summarizeDiagnostics([d]);
    expect(summary.expert_overlap_on).toBe('unique');
    expect(summary.expert_overlap).toBe(findSimilarity(d, 'unique', 'input', '1pct')!.mean);
    expect(summary.similarity_proxies_k).toBeCloseTo(1, 6);
    expect(summary.wc_numerical_rank).toBe(k);
  });
});

describe('diagnoseExperts: router alignment (Fig. 9b stand-in)', () => {
  it('is 1 at j = 1 for a router column on the expert\'s leading input direction, 1/2–1/2 for a planted mix', () => {
    const rng = new Rng(31);
    const qIn = orthonormal(rng.fork('in'), rows);
    const qOut = orthonormal(rng.fork('out'), cols);
    const sigma = Array.from({ length: 20 }, (_, j) => 20 - j);
    const mats = [0, 1].map((e) => planted(qIn.slice(e * 20, e * 20 + 20), sigma, qOut.slice(e * 20, e * 20 + 20)));
    const router = new Float32Array(rows * 2);
    for (let i = 0; i < rows; i++) {
      router[i * 2] = 3 * qIn[0][i]; // expert 0: exactly its leading direction (any scale)
      router[i * 2 + 1] = (qIn[20][i] + qIn[21][i]) / Math.SQRT2; // expert 1: half on j = 1, half on j = 2
    }
    const d = diagnoseExperts({ layer: 0, matrix: 'up', rows, cols, experts: 2, weights: stack(mats), router }, { alignmentDirections: 5 });
    const a = d.alignment!;
    expect(a.directions).toBe(5);
    expect(a.perExpert[0][0]).toBeCloseTo(1, 8);
    for (const x of a.perExpert[0].slice(1)) expect(x).toBeCloseTo(0, 8);
    expect(a.perExpert[1].slice(0, 3)).toEqual([expect.closeTo(0.5, 6), expect.closeTo(0.5, 6), expect.closeTo(0, 6)]); // float32 weights
    expect(a.first).toBeCloseTo(0.75, 6);
    expect(a.firstShare).toBeCloseTo(0.75, 6);
  });

  it('rejects arrays of the wrong size', () => {
    const input = plantedExperts(32, [[0, 1, 2, 3], [4, 5, 6, 7]]);
    expect(() => diagnoseExperts({ ...input, router: new Float32Array(3) })).toThrow(/router/);
    expect(() => diagnoseExperts({ ...input, experts: 3 })).toThrow(/weights/);
  });
});
