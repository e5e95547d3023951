// Dense float64 linear algebra for the SD-MoE host-side steps (init, re-basing, metrics).
// Invariants: inputs are row-major [rows, cols] (Float32Array or Float64Array) and never mutated;
// column sets are arrays of number[] columns (vector.ts: not Float64Array, whose reads slow down once
// the process has read the GPU back), so Gram–Schmidt and axpy loops run on
// contiguous memory. SVDs go through the Gram matrix of the smaller side (min(rows, cols)², built
// from one float64 copy) and a flat-array symmetric eigensolver (eigen.ts): all eigenpairs when the
// caller wants the whole spectrum (`full`), else only the top r — by the tridiagonal route (O(n³) with
// a small constant, certified a posteriori) or, on Gram matrices of 256 and more, block subspace
// iteration (optionally warm-started from the previous bases) — each falling back to the full solver
// when it cannot certify its result. ml-matrix's SVD/QR (nested arrays; SVD 3.7 s and QR 1.2 s at
// 512²) and its Matrix-object eigensolver (≈ 40 % of a re-basing) are no longer used here. QR is
// classical Gram–Schmidt with DGKS re-orthogonalisation ("twice is enough": orthogonal to working
// precision, positive R diagonal).
// Singular-vector signs are deterministic: every left vector u_j (the rows side) has its
// largest-magnitude component positive (first such index on ties), and v_j follows from it.
import { symmetricEigen, symmetricEigenTop } from './eigen.ts';
import { axpy, dot, matZeros, toVec, zeros, type Mat, type Vec } from './vector.ts';
import { Rng } from '../../base/rng.ts';

export type Dense = Float32Array | Float64Array;

/**
 * Orthonormal eigenpairs of a symmetric n×n row-major matrix, eigenvalues descending: all n values,
 * the first `count` vectors (the callers use no more; the rest are not copied out).
 */
function symmetricEigenDescending(gram: Mat, n: number, count: number): { values: Vec; vectors: Vec[] } {
  const { values, vectors } = symmetricEigen(gram, n);
  return { values, vectors: rowsOfFlat(vectors, count, n) };
}

/** The top k of them, or null when symmetricEigenTop's a-posteriori check fails. */
function symmetricEigenTopDescending(gram: Mat, n: number, k: number): { values: Vec; vectors: Vec[] } | null {
  const top = symmetricEigenTop(gram, n, k);
  return top && { values: top.values, vectors: rowsOfFlat(top.vectors, k, n) };
}

function rowsOfFlat(flat: Mat, count: number, n: number): Vec[] {
  const out: Vec[] = [];
  for (let j = 0; j < count; j++) {
    const row = zeros(n);
    for (let i = 0; i < n; i++) row[i] = flat[j * n + i];
    out.push(row);
  }
  return out;
}

/**
 * A·Aᵀ (rows×rows) when `side` is 'rows', else Aᵀ·A (cols×cols); row-major, float64. Both go through
 * one float64 copy whose rows are the Gram side's vectors (A itself or its transpose), so every
 * entry is a contiguous dot product; 2×2 blocks of entries share their loads (one load per
 * multiply-add instead of two: 1.35–1.84× as fast as the per-row dot-product Gram it replaced on the
 * 'rows' side, medians of 15 interleaved A/B rounds at 64×128 and 128×128, Node 20, load ≈ 9 on 2
 * cores). Each entry is one plain sum in a fixed order, so the result is deterministic and exactly
 * symmetric. Returns the copy too (`x`, n×m): topSvd forms the partner vectors from it.
 */
function gram(a: Dense, rows: number, cols: number, side: 'rows' | 'cols'): { g: Mat; x: Mat } {
  const n = side === 'rows' ? rows : cols;
  const m = side === 'rows' ? cols : rows;
  const x = matZeros(n * m);
  if (side === 'rows') for (let i = 0; i < a.length; i++) x[i] = a[i];
  else for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) x[j * rows + i] = a[i * cols + j];
  const g = matZeros(n * n);
  for (let i = 0; i < n; i += 2) {
    // An odd last row pairs with itself (its duplicate entries are written twice, identically).
    const i1 = Math.min(i + 1, n - 1);
    const xi = i * m;
    const xk = i1 * m;
    for (let j = i; j < n; j += 2) {
      const j1 = Math.min(j + 1, n - 1);
      const xj = j * m;
      const xl = j1 * m;
      let s00 = 0, s01 = 0, s10 = 0, s11 = 0;
      for (let t = 0; t < m; t++) {
        const p = x[xi + t];
        const q = x[xk + t];
        const r = x[xj + t];
        const w = x[xl + t];
        s00 += p * r;
        s01 += p * w;
        s10 += q * r;
        s11 += q * w;
      }
      g[i * n + j] = g[j * n + i] = s00;
      g[i * n + j1] = g[j1 * n + i] = s01;
      g[i1 * n + j] = g[j * n + i1] = s10;
      g[i1 * n + j1] = g[j1 * n + i1] = s11;
    }
  }
  return { g, x };
}

/**
 * Gram–Schmidt with re-orthogonalisation: orthonormalise `columns` (in order) against the orthonormal `basis` and each
 * other, in place of a QR's Q factor with positive diagonal. A column that vanishes after projection
 * (a rank-deficient input) is replaced by the first standard basis vector that is not yet spanned,
 * so the result is always a full orthonormal set.
 */
export function orthonormalizeAgainst(basis: Vec[], columns: readonly ArrayLike<number>[]): Vec[] {
  const done: Vec[] = [...basis];
  const out: Vec[] = [];
  const n = columns.length > 0 ? columns[0].length : 0;
  let nextUnit = 0;
  for (const column of columns) {
    let w = toVec(column);
    let norm0 = Math.sqrt(dot(w, w));
    for (;;) {
      // DGKS criterion: a second pass only when the first one cancelled most of the vector.
      let norm = norm0;
      for (let pass = 0; pass < 2; pass++) {
        const coeffs = done.map((q) => dot(q, w));
        for (let i = 0; i < done.length; i++) if (coeffs[i] !== 0) axpy(-coeffs[i], done[i], w);
        const before = norm;
        norm = Math.sqrt(dot(w, w));
        if (norm > 0.7071 * before) break;
      }
      if (norm > 1e-10 * norm0 && norm > 0) {
        for (let i = 0; i < w.length; i++) w[i] /= norm;
        break;
      }
      if (nextUnit >= n) throw new Error('orthonormalizeAgainst: more columns than the dimension');
      w = zeros(n);
      w[nextUnit++] = 1;
      norm0 = 1;
    }
    done.push(w);
    out.push(w);
  }
  return out;
}

function fixSign(u: Vec, v: Vec): void {
  let best = 0;
  for (let i = 1; i < u.length; i++) if (Math.abs(u[i]) > Math.abs(u[best])) best = i;
  if (u[best] < 0) {
    for (let i = 0; i < u.length; i++) u[i] = -u[i];
    for (let i = 0; i < v.length; i++) v[i] = -v[i];
  }
}

export interface TopSvd {
  /** Singular values, descending: all min(rows, cols) with `full`, else at least the top r. */
  singularValues: Vec;
  /** Σ_j σ_j² = ||A||_F², always exact (the Gram matrix's trace). */
  totalEnergy: number;
  /** Top-r left singular vectors (length rows each). */
  u: Vec[];
  /** Top-r right singular vectors (length cols each). */
  v: Vec[];
  /**
   * Which eigensolver produced them: 'tridiagonal' (eigen.ts symmetricEigenTop), 'subspace' (block
   * subspace iteration converged) or 'full' (every eigenpair, eigen.ts symmetricEigen).
   */
  method: 'tridiagonal' | 'subspace' | 'full';
  /** Subspace iterations until convergence (the 'subspace' method only). */
  iterations?: number;
}

export type TopSvdSolver = 'auto' | 'tridiagonal' | 'subspace';

export interface TopSvdOptions {
  /** Compute every singular value (the full eigensolver; init needs the tail spectrum). */
  full?: boolean;
  /**
   * The top-r route when not `full` (each falls back to the full solver when it cannot certify its
   * result). 'auto' (default): subspace iteration first on large Gram matrices, the tridiagonal route otherwise.
   */
  solver?: TopSvdSolver;
  /**
   * Previous bases (row-major rows×rank and cols×rank, e.g. the U_k, V_k being re-based): subspace
   * iteration starts from them instead of a random block. Only the start changes: convergence is
   * still tested on the residual, and the result is the same top-r (to the tolerance) either way.
   */
  warmStart?: { u: Dense; v: Dense; rank: number };
}

/** G·Q for symmetric row-major G (n×n) and columns Q. */
function gramTimes(g: Mat, n: number, q: Vec[]): Vec[] {
  return q.map((column) => {
    const out = zeros(n);
    for (let i = 0; i < n; i++) {
      // Offsets instead of a subarray view per row (views are allocations).
      const base = i * n;
      let s = 0;
      for (let t = 0; t < n; t++) s += g[base + t] * column[t];
      out[i] = s;
    }
    return out;
  });
}

const SUBSPACE_MAX_ITERATIONS = 60;
/**
 * Smallest Gram size where 'auto' tries subspace iteration first. Measured below it only: at qwen_tiny's
 * 128 the tridiagonal route took 64 CPU-ms against 83 (docs/benchmarks.md, issue 7). An ad-hoc check in
 * review (load ≈ 10) found subspace iteration 1.16× as fast at 256×512, r = 8 with a clear gap (5
 * iterations), but ≈ 12× slower at r = 16 with a weak one (60 iterations).
 */
const SUBSPACE_MIN_SIZE = 256;
const SUBSPACE_TOLERANCE = 1e-11;

/**
 * Top-r eigenpairs of the Gram matrix by block subspace iteration with Rayleigh–Ritz (block 2r, at
 * least r + 8). The full eigensolver is O(n³) with a large constant (about 10 s at n = 1024), while
 * re-basing and the metrics only need r ≪ n vectors; a W_c that is rank r plus training drift has a
 * wide gap after σ_r and converges in a few iterations. Returns null when it does not converge within
 * the cap (no gap): the caller then falls back to the full eigensolver, so accuracy never depends on
 * the gap. The start block is fixed (a seeded stream), so the result is deterministic.
 */
function subspaceEigen(
  g: Mat, n: number, r: number, warm: readonly Vec[] = [],
): { values: Vec; vectors: Vec[]; iterations: number } | null {
  const block = Math.min(n, Math.max(2 * r, r + 8));
  const start = new Rng('sd-subspace-start');
  // Warm start: the previous basis fills the first columns (the rest stay random, so the block still
  // reaches directions the previous basis lacks); orthonormalizeAgainst completes any dependent ones.
  let q = orthonormalizeAgainst([], Array.from({ length: block }, (_, b) => {
    if (b < warm.length) return warm[b];
    const c = zeros(n);
    for (let i = 0; i < n; i++) c[i] = start.normal();
    return c;
  }));
  let scale = 0;
  for (let i = 0; i < n; i++) scale = Math.max(scale, g[i * n + i]);
  if (scale === 0) return null;
  for (let iteration = 0; iteration < SUBSPACE_MAX_ITERATIONS; iteration++) {
    const z = gramTimes(g, n, q);
    const h = zeros(block * block);
    for (let a = 0; a < block; a++) for (let b = a; b < block; b++) h[a * block + b] = h[b * block + a] = dot(q[a], z[b]);
    const ritz = symmetricEigenDescending(h, block, r);
    let converged = true;
    const vectors: Vec[] = [];
    for (let j = 0; j < r && converged; j++) {
      const x = zeros(n);
      const gx = zeros(n);
      ritz.vectors[j].forEach((y, a) => {
        axpy(y, q[a], x);
        axpy(y, z[a], gx);
      });
      axpy(-ritz.values[j], x, gx);
      if (Math.sqrt(dot(gx, gx)) > SUBSPACE_TOLERANCE * scale) converged = false;
      vectors.push(x);
    }
    if (converged) return { values: ritz.values.slice(0, r), vectors: orthonormalizeAgainst([], vectors), iterations: iteration + 1 };
    q = orthonormalizeAgainst([], z);
  }
  return null;
}

/**
 * Top-r singular triplets of a row-major matrix, through the eigenpairs of the Gram matrix on its
 * smaller side. The partner vectors (A v / σ or Aᵀ u / σ) are re-orthonormalised so that a zero or
 * tiny σ still yields an orthonormal basis.
 */
export function topSvd(a: Dense, rows: number, cols: number, r: number, options: TopSvdOptions = {}): TopSvd {
  const small = Math.min(rows, cols);
  if (!Number.isInteger(r) || r < 0 || r > small) throw new Error(`topSvd: rank ${r} outside [0, ${small}]`);
  const side = rows <= cols ? 'rows' : 'cols';
  // x: float64 copy of A (side 'rows') or Aᵀ ('cols'); its rows are the Gram side's vectors.
  const { g, x: sideRows } = gram(a, rows, cols, side);
  let totalEnergy = 0;
  for (let i = 0; i < small; i++) totalEnergy += g[i * small + i];
  const solver = options.solver ?? 'auto';
  const block = Math.max(2 * r, r + 8);
  // Subspace iteration pays off only on large Gram matrices with a narrow block (the tridiagonal
  // route is O(n³) with a small constant; each iteration O(n²·block)); see SUBSPACE_MIN_SIZE.
  const trySubspace = !options.full && r > 0 && (solver === 'subspace' || (solver === 'auto' && small >= SUBSPACE_MIN_SIZE && 4 * block <= small));
  let method: TopSvd['method'] = 'full';
  let found: { values: Vec; vectors: Vec[] } | null = null;
  let iterations: number | undefined;
  if (trySubspace) {
    const warm = options.warmStart ? rowMajorToColumns(side === 'rows' ? options.warmStart.u : options.warmStart.v, small, options.warmStart.rank).slice(0, r) : [];
    const sub = subspaceEigen(g, small, r, warm);
    if (sub) {
      found = sub;
      method = 'subspace';
      iterations = sub.iterations;
    }
  }
  if (!found && !options.full && r > 0) {
    found = symmetricEigenTopDescending(g, small, r);
    if (found) method = 'tridiagonal';
  }
  // r vectors from every route (the full one also gives all the values).
  const { values, vectors: direct } = found ?? symmetricEigenDescending(g, small, r);
  const singularValues = values.map((x) => Math.sqrt(Math.max(x, 0)));
  // Partner vectors Aᵀu (side 'rows') or A v ('cols'): Σ_i x_i · (row i of sideRows), on the
  // float64 copy the Gram was built from (contiguous, one array type).
  const other = side === 'rows' ? cols : rows;
  const partner = direct.map((x, j) => {
    const y = zeros(other);
    // Offsets, not subarray views: a view is an allocation, ~1 µs each in a process with a large heap.
    for (let i = 0; i < small; i++) {
      const c = x[i];
      if (c === 0) continue;
      const base = i * other;
      for (let t = 0; t < other; t++) y[t] += c * sideRows[base + t];
    }
    const s = singularValues[j];
    if (s > 0) for (let i = 0; i < y.length; i++) y[i] /= s;
    return y;
  });
  const partnerOrtho = orthonormalizeAgainst([], partner);
  const u = side === 'rows' ? direct : partnerOrtho;
  const v = side === 'rows' ? partnerOrtho : direct;
  for (let j = 0; j < r; j++) fixSign(u[j], v[j]);
  return { singularValues, totalEnergy, u, v, method, ...(iterations !== undefined ? { iterations } : {}) };
}

/** Columns (each of length n) → row-major n×r Float32Array. */
export function columnsToRowMajor(columns: Vec[], n: number): Float32Array {
  const r = columns.length;
  const out = new Float32Array(n * r);
  for (let j = 0; j < r; j++) for (let i = 0; i < n; i++) out[i * r + j] = columns[j][i];
  return out;
}

/** Row-major n×r → r columns of length n. */
export function rowMajorToColumns(m: Dense, n: number, r: number): Vec[] {
  const cols: Vec[] = [];
  for (let j = 0; j < r; j++) {
    const c = zeros(n);
    for (let i = 0; i < n; i++) c[i] = m[i * r + j];
    cols.push(c);
  }
  return cols;
}

/** Σ_j scale_j · u_j v_jᵀ as a row-major rows×cols float64 matrix (accumulated into `out`). */
export function addOuterProducts(
  out: Mat, cols: number, u: Vec[], scale: ArrayLike<number>, v: Vec[],
): Mat {
  const rows = u.length > 0 ? u[0].length : 0;
  const row = zeros(cols);
  for (let i = 0; i < rows; i++) {
    row.fill(0);
    for (let j = 0; j < u.length; j++) {
      const c = u[j][i] * scale[j];
      if (c !== 0) axpy(c, v[j], row);
    }
    const base = i * cols;
    for (let k = 0; k < cols; k++) out[base + k] += row[k];
  }
  return out;
}

/**
 * In place: M ← (I − U Uᵀ) M (I − V Vᵀ) for row-major M (rows×cols) and orthonormal columns U, V.
 * Returns ||M_before − M_after||_F, the part that was removed.
 */
export function projectDoubleComplementInPlace(m: Mat, rows: number, cols: number, u: Vec[], v: Vec[]): number {
  let removed2 = 0;
  // Row side: c_j = u_jᵀ M (length cols), then M −= Σ_j u_j c_jᵀ.
  const c = u.map((uj) => {
    const cj = zeros(cols);
    for (let i = 0; i < rows; i++) {
      const w = uj[i];
      if (w === 0) continue;
      const base = i * cols;
      for (let k = 0; k < cols; k++) cj[k] += w * m[base + k];
    }
    return cj;
  });
  for (let i = 0; i < rows; i++) {
    const base = i * cols;
    for (let j = 0; j < u.length; j++) {
      const w = u[j][i];
      if (w === 0) continue;
      const cj = c[j];
      for (let k = 0; k < cols; k++) m[base + k] -= w * cj[k];
    }
  }
  for (const cj of c) removed2 += dot(cj, cj); // ||U Uᵀ M||² = Σ_j ||u_jᵀ M||² (orthonormal u)
  // Column side, row by row: d_j = M_i · v_j, then M_i −= Σ_j d_j v_j.
  // A number[] has no row views: each row goes through one reused copy.
  const row = zeros(cols);
  for (let i = 0; i < rows; i++) {
    const base = i * cols;
    for (let k = 0; k < cols; k++) row[k] = m[base + k];
    const d = v.map((vj) => dot(row, vj));
    for (let j = 0; j < v.length; j++) {
      removed2 += d[j] * d[j];
      if (d[j] !== 0) axpy(-d[j], v[j], row);
    }
    for (let k = 0; k < cols; k++) m[base + k] = row[k];
  }
  return Math.sqrt(removed2);
}

export function frobenius(a: Dense): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * a[i];
  return Math.sqrt(s);
}
