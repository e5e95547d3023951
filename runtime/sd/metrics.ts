// Expert-overlap metrics of SD-MoE's §2 analysis. The paper's own formulas (eqs. 1–5) were NOT
// recovered (digest §1.2), so both functions are the digest's implementer STAND-INS, not the paper's:
//   principal similarity: sim(a, b) = ||Q_aᵀ Q_b||_F² / r', the mean squared cosine of the principal
//     angles between experts' dominant subspaces, in [0, 1]; r' = ceil(fraction · min(K, N)).
//   energy: E_r = Σ_{j≤r} σ_j² / Σ_j σ_j².
// Choice for the similarity (the paper does not say which side): Q_e defaults to the top-r' singular
// vectors on the INPUT side, i.e. the K side of the stored [K, N] = [in, out] matrix (the left
// singular vectors as stored; the right ones of the paper's W x convention). The input side is where
// Appendix B places the shared subspace of the gradients. `side = 'output'` uses the N side.
// Only comparable to the paper qualitatively (SD: < 0.1; anisotropy: > 30% energy in the top 1%).
// The trainer's diagnostics (both sides, r = 1 % and r = k, proxies vs W_u, leakage, alignment) live
// in runtime/sd/diagnostics.ts (docs/diagnostics.md); these two single metrics remain for callers
// that need only one number.
import { topSvd, type Dense } from './linalg.ts';
import { dot } from './vector.ts';

export type SubspaceSide = 'input' | 'output';

export interface PrincipalSimilarity {
  /** Mean over all unordered expert pairs (NaN with fewer than two experts). */
  mean: number;
  /** One entry per pair a < b. */
  pairs: { a: number; b: number; similarity: number }[];
  /** r' = ceil(fraction · min(K, N)). */
  rank: number;
  side: SubspaceSide;
}

/**
 * Stand-in principal subspace similarity between experts stored as [E, K, N] (unique matrices or
 * proxies W_c + W_u(e); the caller chooses which to pass).
 */
export function principalSimilarity(
  uniqueOrProxies: Dense, rows: number, cols: number, experts: number, fraction = 0.01, side: SubspaceSide = 'input',
): PrincipalSimilarity {
  const size = rows * cols;
  if (uniqueOrProxies.length !== experts * size) throw new Error(`principalSimilarity: expected ${experts}×${rows}×${cols} values`);
  if (!(fraction > 0 && fraction <= 1)) throw new Error(`principalSimilarity: fraction must be in (0, 1], got ${fraction}`);
  const rank = Math.min(Math.ceil(fraction * Math.min(rows, cols)), Math.min(rows, cols));
  const bases = [];
  for (let e = 0; e < experts; e++) {
    const svd = topSvd(uniqueOrProxies.subarray(e * size, (e + 1) * size), rows, cols, rank);
    bases.push(side === 'input' ? svd.u : svd.v);
  }
  const pairs: PrincipalSimilarity['pairs'] = [];
  for (let a = 0; a < experts; a++) {
    for (let b = a + 1; b < experts; b++) {
      let s = 0;
      for (const p of bases[a]) for (const q of bases[b]) s += dot(p, q) ** 2;
      pairs.push({ a, b, similarity: s / rank });
    }
  }
  const mean = pairs.length > 0 ? pairs.reduce((t, p) => t + p.similarity, 0) / pairs.length : Number.NaN;
  return { mean, pairs, rank, side };
}

/** Stand-in spectral energy of the top r singular values: Σ_{j≤r} σ_j² / Σ_j σ_j² (0 for a zero matrix). */
export function energyTop(matrix: Dense, rows: number, cols: number, r: number): number {
  if (matrix.length !== rows * cols) throw new Error(`energyTop: expected ${rows}×${cols} values`);
  const { singularValues, totalEnergy } = topSvd(matrix, rows, cols, Math.min(r, rows, cols));
  let top = 0;
  for (let j = 0; j < Math.min(r, singularValues.length); j++) top += singularValues[j] ** 2;
  return totalEnergy > 0 ? Math.min(1, top / totalEnergy) : 0;
}
