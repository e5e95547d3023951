// SD-MoE initialisation of one (layer, matrix) target: the common matrix W_c and E unique matrices
// W_u(e), stored row-major [K, N] = [in, out] (y = x·W), unique expert e at offset e·K·N.
// Invariants (both modes): W_c = U_k Σ_k V_kᵀ is the rank-r truncation of one dense draw
// W ~ N(0, std²) (digest §2.3, eq. 6); U_kᵀ W_u(e) = 0 and W_u(e) V_k = 0 (eq. 7).
// 'orthogonal_complement' (Algorithm 1): W_u(e) = Ũ Σ̃ Ṽᵀ with Ũ, Ṽ orthonormal, orthogonal to U_k,
// V_k, and Σ̃ = W's tail singular values, so every proxy W_c + W_u(e) has exactly W's spectrum.
// Only the first ℓ = min(K,N) − r columns of Ũ and Ṽ are drawn: the rest multiply the zero rows of
// the padded Σ̃, and a QR's first ℓ Q-columns depend only on the first ℓ input columns, so this is
// Algorithm 1 without sampling columns it never uses.
// 'truncated_svd': W_u(e) = (I − P_U) Z_e (I − P_V) with an independent Z_e ~ N(0, std²).
// Determinism: every random stream is rng.fork(label) with a label naming its purpose and expert
// ('dense', 'unique-left/e', 'unique-right/e', 'unique/e'), independent of draw order.
import type { Rng } from '../../base/rng.ts';
import {
  addOuterProducts, columnsToRowMajor, orthonormalizeAgainst, projectDoubleComplementInPlace, topSvd,
} from './linalg.ts';
import { matZeros, zeros, type Vec } from './vector.ts';

/** One decomposed (layer, matrix): all arrays row-major float32 as described in the header. */
export interface SpectralState {
  /** W_c, [K, N]. */
  common: Float32Array;
  /** W_u, [E, K, N]. */
  unique: Float32Array;
  /** U_k, [K, r]: top-r left singular vectors of W_c (the K / input side). */
  uk: Float32Array;
  /** V_k, [N, r]: top-r right singular vectors of W_c (the N / output side). */
  vk: Float32Array;
}

export type SpectralInitMode = 'orthogonal_complement' | 'truncated_svd';

export interface SpectralInitOptions {
  rows: number;
  cols: number;
  experts: number;
  rank: number;
  std: number;
  rng: Rng;
  mode: SpectralInitMode;
}

export interface SpectralInitResult extends SpectralState {
  /** Singular values of the dense draw W, descending (length min(K, N)); diagnostics and tests. */
  spectrum: number[];
}

export function checkShape(rows: number, cols: number, experts: number, rank: number): void {
  for (const [name, v] of [['rows', rows], ['cols', cols], ['experts', experts]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`spectral: ${name} must be a positive integer, got ${v}`);
  }
  if (!Number.isInteger(rank) || rank < 1 || rank > Math.min(rows, cols)) {
    throw new Error(`spectral: rank must be an integer in [1, ${Math.min(rows, cols)}], got ${rank}`);
  }
}

/** The dense W ~ N(0, std²) [K, N] whose SVD seeds W_c; drawn from rng.fork('dense'). */
export function denseInitMatrix(rng: Rng, rows: number, cols: number, std: number): Float64Array {
  const stream = rng.fork('dense');
  const w = new Float64Array(rows * cols);
  for (let i = 0; i < w.length; i++) w[i] = stream.normal(0, std);
  return w;
}

function gaussianColumns(rng: Rng, length: number, count: number): Vec[] {
  const out: Vec[] = [];
  for (let j = 0; j < count; j++) {
    const c = zeros(length);
    for (let i = 0; i < length; i++) c[i] = rng.normal();
    out.push(c);
  }
  return out;
}

export function spectralInit(options: SpectralInitOptions): SpectralInitResult {
  const { rows, cols, experts, rank, std, rng, mode } = options;
  checkShape(rows, cols, experts, rank);
  if (!(std > 0)) throw new Error(`spectralInit: std must be > 0, got ${std}`);
  if (mode !== 'orthogonal_complement' && mode !== 'truncated_svd') throw new Error(`spectralInit: unknown mode '${mode}'`);
  const size = rows * cols;
  const w = denseInitMatrix(rng, rows, cols, std);
  const { singularValues, u, v } = topSvd(w, rows, cols, rank, { full: true });
  const common64 = addOuterProducts(matZeros(size), cols, u, singularValues, v);
  const unique = new Float32Array(experts * size);
  const tail = singularValues.slice(rank);
  const work = matZeros(size);
  for (let e = 0; e < experts; e++) {
    work.fill(0);
    if (mode === 'orthogonal_complement') {
      const uTilde = orthonormalizeAgainst(u, gaussianColumns(rng.fork(`unique-left/${e}`), rows, tail.length));
      const vTilde = orthonormalizeAgainst(v, gaussianColumns(rng.fork(`unique-right/${e}`), cols, tail.length));
      addOuterProducts(work, cols, uTilde, tail, vTilde);
    } else {
      const stream = rng.fork(`unique/${e}`);
      for (let i = 0; i < size; i++) work[i] = stream.normal(0, std);
      projectDoubleComplementInPlace(work, rows, cols, u, v);
    }
    unique.set(work, e * size);
  }
  return {
    common: Float32Array.from(common64),
    unique,
    uk: columnsToRowMajor(u, rows),
    vk: columnsToRowMajor(v, cols),
    spectrum: singularValues,
  };
}
