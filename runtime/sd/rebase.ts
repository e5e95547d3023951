// SD-MoE re-basing of one (layer, matrix) target (digest §2.5, options in docs/language.md#spectral).
// SVD of W_c; U_k, V_k ← its top-r left/right singular vectors (signs: largest-|component| of each
// u_j positive). The residual R = W_c − [W_c]_r is handled by `residual`:
//   keep    → W_c unchanged; only the bases are refreshed. No proxy changes.
//   fold    → W_c ← [W_c]_r, every W_u(e) ← W_u(e) + R. Every proxy W_c + W_u(e) is unchanged
//             (up to float32 rounding of the stored result).
//   discard → W_c ← [W_c]_r. Every proxy loses R.
// reproject (applied after the residual step, with the NEW bases): W_u(e) ← (I − P_U) W_u(e) (I − P_V).
// This deliberately drops the part of W_u(e) that lies in the new common subspace, so it changes each
// proxy's function by exactly that removed part (reported per expert in `reprojectedNorms`). With
// 'fold' the folded R already lies in the double complement of the new bases, so 'fold' + reproject
// keeps each proxy up to the removed part of its previous W_u(e) only.
// Arrays the chosen options leave unchanged are returned as the same objects (no copy), and
// `changed` says which ones the caller has to write back. With residual 'keep' and no reproject
// W_u is not needed at all: the caller may pass null and skip reading it back from the device
// (the largest of the four arrays, E× W_c).
// Cost (issue 7): the SVD is linalg.ts topSvd's top-r route, warm-started from the bases being
// replaced where it iterates; 'keep' takes ||R|| from the spectrum unless R is tiny (no rows×cols
// temporaries), fold/discard form R once.
import { checkShape, type SpectralState } from './init.ts';
import {
  addOuterProducts, columnsToRowMajor, projectDoubleComplementInPlace, topSvd,
} from './linalg.ts';
import { matZeros, type Mat, type Vec } from './vector.ts';

export type ResidualMode = 'keep' | 'fold' | 'discard';

/** Smallest R² / ||W_c||² at which 'keep' takes the residual norm from the spectrum (see rebase). */
const RESIDUAL_FORMULA_MIN = 1e-6;

export interface RebaseOptions extends Omit<SpectralState, 'unique'> {
  /** W_u, or null when residual is 'keep' and reproject is off (then it is neither read nor returned). */
  unique: Float32Array | null;
  rows: number;
  cols: number;
  experts: number;
  rank: number;
  residual: ResidualMode;
  reproject: boolean;
}

/** Re-basing needs W_u only to fold the residual into it or to reproject it. */
export const rebaseNeedsUnique = (o: { residual: ResidualMode; reproject: boolean }): boolean => o.residual === 'fold' || o.reproject;

export interface RebaseResult extends Omit<SpectralState, 'unique'> {
  /** The new W_u (the input object when unchanged; null when it was not passed). */
  unique: Float32Array | null;
  /** ||W_c − [W_c]_r||_F of the W_c that came in. */
  residualNorm: number;
  /** Σ_{j≤r} σ_j² / Σ_j σ_j² of the incoming W_c (1 when W_c is exactly rank ≤ r; 0 when W_c = 0). */
  energyTopK: number;
  /** The top-r (at least) singular values of the incoming W_c, descending. */
  singularValues: number[];
  /** ||U_oldᵀ U_new||_F² / r and the same for V: 1 = the common subspace did not move. */
  basisOverlap: { left: number; right: number };
  /** Per expert, ||W_u(e) before reprojection − after||_F (all zeros without reproject). */
  reprojectedNorms: Float64Array;
  /** Which of the returned arrays differ from the inputs (the bases always do). */
  changed: { common: boolean; unique: boolean };
}

function overlap(oldBasis: Float32Array, fresh: Vec[], n: number, r: number): number {
  // Σ_{p,q} (old_pᵀ fresh_q)², reading the old row-major n×r basis in place (no column copies).
  let s = 0;
  for (let p = 0; p < r; p++) {
    for (const q of fresh) {
      let d = 0;
      for (let i = 0; i < n; i++) d += oldBasis[i * r + p] * q[i];
      s += d * d;
    }
  }
  return s / r;
}

export function rebase(options: RebaseOptions & { unique: Float32Array }): RebaseResult & { unique: Float32Array };
export function rebase(options: RebaseOptions): RebaseResult;
export function rebase(options: RebaseOptions): RebaseResult {
  const { common, unique, uk, vk, rows, cols, experts, rank, residual, reproject } = options;
  checkShape(rows, cols, experts, rank);
  const size = rows * cols;
  if (unique === null && rebaseNeedsUnique(options)) throw new Error(`rebase: residual '${residual}'${reproject ? ' with reproject' : ''} needs W_u`);
  if (common.length !== size || (unique !== null && unique.length !== experts * size) || uk.length !== rows * rank || vk.length !== cols * rank) {
    throw new Error(`rebase: array sizes do not match rows=${rows} cols=${cols} experts=${experts} rank=${rank}`);
  }
  if (residual !== 'keep' && residual !== 'fold' && residual !== 'discard') throw new Error(`rebase: unknown residual '${residual}'`);

  // The bases being replaced warm-start subspace iteration (large matrices only; see topSvd).
  const { singularValues, totalEnergy, u, v } = topSvd(common, rows, cols, rank, { warmStart: { u: uk, v: vk, rank } });
  let top2 = 0;
  for (let j = 0; j < rank; j++) top2 += singularValues[j] ** 2;
  // ||W_c − [W_c]_r||² = ||W_c||² − Σ_{j≤r} σ_j² (orthogonal invariance). Its rounding error is about
  // eps·||W_c||², so the formula serves only when the residual is not tiny against it (R² ≥
  // RESIDUAL_FORMULA_MIN·||W_c||²: relative error of R² about eps / 1e-6 ≈ 2e-10); otherwise, and whenever
  // fold/discard need the truncation anyway, R is formed and summed entry by entry. 'keep' (the
  // default) then needs no rows×cols temporary at all.
  const viaFormula = residual === 'keep' && totalEnergy - top2 >= RESIDUAL_FORMULA_MIN * totalEnergy;
  let truncated: Mat | null = null;
  let residualMatrix: Mat | null = null;
  let residual2 = totalEnergy - top2;
  if (!viaFormula) {
    truncated = addOuterProducts(matZeros(size), cols, u, singularValues, v);
    residualMatrix = matZeros(size);
    residual2 = 0;
    for (let i = 0; i < size; i++) {
      residualMatrix[i] = common[i] - truncated[i];
      residual2 += residualMatrix[i] ** 2;
    }
  }

  const newCommon = residual === 'keep' ? common : Float32Array.from(truncated!);
  let newUnique = unique;
  const reprojectedNorms = new Float64Array(experts);
  if (unique !== null && rebaseNeedsUnique(options)) {
    newUnique = new Float32Array(unique.length);
    const work = matZeros(size);
    for (let e = 0; e < experts; e++) {
      const slice = unique.subarray(e * size, (e + 1) * size);
      for (let i = 0; i < size; i++) work[i] = slice[i] + (residual === 'fold' ? residualMatrix![i] : 0);
      if (reproject) reprojectedNorms[e] = projectDoubleComplementInPlace(work, rows, cols, u, v);
      newUnique.set(work, e * size);
    }
  }
  return {
    common: newCommon,
    unique: newUnique,
    uk: columnsToRowMajor(u, rows),
    vk: columnsToRowMajor(v, cols),
    residualNorm: Math.sqrt(residual2),
    energyTopK: totalEnergy > 0 ? Math.min(1, top2 / totalEnergy) : 0,
    singularValues: singularValues.slice(0, rank),
    basisOverlap: { left: overlap(uk, u, rows, rank), right: overlap(vk, v, cols, rank) },
    reprojectedNorms,
    changed: { common: newCommon !== common, unique: newUnique !== unique },
  };
}
